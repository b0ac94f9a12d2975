#!/bin/bash
# Run the platform as the docker-compose services of docker-compose.yml.
#
#   scripts/compose.sh up       check the prerequisites, make the credentials and the settings
#                               file, start every service, wait until each is healthy
#   scripts/compose.sh down     stop and remove the services' containers, then the actor
#                               containers and cgroups of the instance
#   scripts/compose.sh status   docker-compose ps of the stack
#   scripts/compose.sh check    only check the prerequisites
#
# Settings come from abaco.conf plus ABACO_<SECTION>_<KEY> overrides, as for `make up`; every
# ABACO_* variable of the caller goes into <data_dir>/compose.env, which every service reads.
# The compose project is abaco-<instance>, so stacks of different instances (and the `make up`
# stack, which runs no containers of its own) never collide; give each its own ports.
# COMPOSE_START_TIMEOUT (seconds, default 300) bounds the wait for the services to be healthy;
# ABACO_COMPOSE_HEALTH_INTERVAL (default 15s) sets how often their health checks run.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$REPO/.venv"
COMPOSE_FILE="$REPO/docker-compose.yml"
START_TIMEOUT="${COMPOSE_START_TIMEOUT:-300}"
IMAGES=(abaco/core:local abaco/redis:local abaco/rabbitmq:local)
export ABACO_CONF="${ABACO_CONF:-$REPO/abaco.conf}"
cd "$REPO"

log() { echo "compose: $*"; }
die() { echo "compose: ERROR: $*" >&2; exit 1; }

usage() { sed -n '2,16p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }

# preflight: every prerequisite, each failure naming what is missing and how to get it.
preflight() {
    command -v docker > /dev/null || die "docker (the client) is missing: apt-get install docker.io"
    timeout 20 docker info > /dev/null 2>&1 \
        || die "the Docker engine does not answer at ${DOCKER_HOST:-unix:///var/run/docker.sock} (docker info failed)"
    command -v docker-compose > /dev/null || die "docker-compose is missing: apt-get install docker-compose"
    local image
    for image in "${IMAGES[@]}"; do
        docker image inspect "$image" > /dev/null 2>&1 \
            || die "the image $image is missing: build it with 'make images-compose'"
    done
    [ -x "$VENV/bin/python" ] || die "no virtualenv at $VENV: run 'make install'"
}

load_config() {
    local out
    out="$("$VENV/bin/python" -m actors.config data_dir general.instance web.api_server \
        web.port store.redis_port rabbit.port auth.tls_listen logstream.port dashboard.port autoscaler.listen)" \
        || die "cannot read the settings (ABACO_CONF=$ABACO_CONF)"
    { read -r DATA; read -r INSTANCE; read -r API_URL; read -r WEB_PORT; read -r REDIS_PORT; read -r RABBIT_PORT
      read -r TLS_LISTEN; read -r LOGSTREAM_PORT; read -r DASHBOARD_PORT; read -r AUTOSCALER_LISTEN; } <<< "$out"
    PROJECT="abaco-$INSTANCE"
    ENV_FILE="$DATA/compose.env"
}

compose() {
    ABACO_GENERAL_DATA_DIR="$DATA" ABACO_COMPOSE_ENV="$ENV_FILE" ABACO_COMPOSE_PROJECT="$PROJECT" \
        docker-compose --ansi never -p "$PROJECT" -f "$COMPOSE_FILE" "$@"
}

# write_env: every ABACO_* setting of the caller, the instance and the absolute data
# directory, one per line (0600: settings may name paths and hosts that are the platform's).
write_env() {
    local tmp="$ENV_FILE.new"
    (umask 077
     { echo "# written by scripts/compose.sh up; every service of $PROJECT reads it"
       env | grep -E '^ABACO_[A-Z0-9_]+=' | grep -vE '^ABACO_(CONF|COMPOSE_[A-Z_]*|GENERAL_DATA_DIR|GENERAL_INSTANCE)=' | sort
       echo "ABACO_GENERAL_INSTANCE=$INSTANCE"
       echo "ABACO_GENERAL_DATA_DIR=$DATA"
     } > "$tmp")
    mv "$tmp" "$ENV_FILE"
}

# health STATE of every container of the project, "name state" per line.
states() {
    local id
    for id in $(compose ps -q); do
        docker inspect -f '{{index .Config.Labels "com.docker.compose.service"}} {{if .State.Health}}{{.State.Health.Status}}{{else}}{{.State.Status}}{{end}}' "$id"
    done
}

# wait_healthy SERVICE...: until every one is healthy (one deadline for the whole start).
wait_healthy() {
    local out want="$#"
    while :; do
        out="$(states 2>/dev/null | grep -E "^($(IFS='|'; echo "$*")) " || true)"
        if [ "$(grep -c ' healthy$' <<< "$out")" -eq "$want" ]; then
            return 0
        fi
        if [ "$SECONDS" -ge "$DEADLINE" ]; then
            echo "$out" >&2
            compose logs --tail 20 "$@" >&2 || true
            die "not healthy within ${START_TIMEOUT}s: $* (see above)"
        fi
        sleep 2
    done
}

# start SERVICE...: create or keep them, then wait until they are healthy. In stages (the
# stores first), so that a slow health check on a busy machine delays the start instead of
# failing it (docker-compose gives up on a dependency that is not healthy yet).
start() {
    log "starting $*"
    compose up -d --no-deps "$@"
    wait_healthy "$@"
}

# check_free: before a first start, the stack's ports must be free (another stack, `make up`
# on the same settings, say, would answer in its place).
check_free() {
    local port
    [ -z "$(compose ps -q 2>/dev/null)" ] || return 0
    for port in "$WEB_PORT" "$REDIS_PORT" "$RABBIT_PORT" "${TLS_LISTEN##*:}" "$LOGSTREAM_PORT" "$DASHBOARD_PORT" \
            "${AUTOSCALER_LISTEN##*:}"; do
        [ -z "$(ss -Hltn "sport = :$port" 2>/dev/null)" ] \
            || die "port $port is taken; give this stack its own ports (ABACO_WEB_PORT, ABACO_STORE_REDIS_PORT, ABACO_RABBIT_PORT, ABACO_AUTH_TLS_LISTEN, ABACO_LOGSTREAM_PORT, ABACO_DASHBOARD_PORT, ABACO_AUTOSCALER_LISTEN)"
    done
}

# check_searchable: RabbitMQ runs as its own user in its container and must reach its files.
check_searchable() {
    local dir="$DATA"
    while [ "$dir" != / ]; do
        [ "$(( $(stat -c '%a' "$dir" | sed 's/.*\(.\)$/\1/') & 1 ))" = 1 ] \
            || die "$dir is not searchable by other users (the rabbitmq user of its container); chmod o+x it"
        dir="$(dirname "$dir")"
    done
}

up() {
    preflight
    load_config
    [ -d "$DATA" ] || mkdir -m 755 -p "$DATA"
    check_searchable
    check_free
    "$VENV/bin/python" -m actors.credentials || die "cannot make the service credentials in $DATA/keys"
    write_env
    log "project $PROJECT (data $DATA)"
    DEADLINE=$((SECONDS + START_TIMEOUT))
    compose up --no-start --remove-orphans
    start redis rabbitmq watchdog
    start api
    # Then every other platform process (actors/services/__init__.py's list) and nginx.
    start tls $("$VENV/bin/python" -m actors.services | cut -d' ' -f1 | grep -vx api)
    log "all services healthy; the API is at $API_URL"
}

down() {
    load_config
    if command -v docker-compose > /dev/null && [ -f "$ENV_FILE" ]; then
        log "stopping project $PROJECT"
        compose down --remove-orphans --timeout 20
    fi
    local ids
    ids="$(docker ps -aq --filter "label=abaco.instance=$INSTANCE" 2>/dev/null || true)"
    if [ -n "$ids" ]; then
        log "removing $(wc -l <<< "$ids") actor container(s) of instance $INSTANCE"
        xargs -r docker rm -f <<< "$ids" > /dev/null
    fi
    # The workers died with the spawner's container; their cgroups stay behind.
    "$VENV/bin/python" -c "import sys; from actors.runtime import cgroups; cgroups.remove('/' + sys.argv[1])" \
        "$INSTANCE" || true
    log "down"
}

main() {
    case "${1:-}" in
        up) up ;;
        down) down ;;
        status) preflight; load_config; compose ps ;;
        check) preflight; log "prerequisites present" ;;
        -h|--help|help) usage ;;
        *) usage >&2; exit 2 ;;
    esac
}

main "$@"
