#!/bin/bash
# Start, stop and inspect the local stack: the Docker engine, Redis, RabbitMQ, the
# platform processes (actors/services/__init__.py's list: api, spawner, health, ..., autoscaler;
# and nginx as `tls`, the HTTPS listener on [auth] tls_listen in every access mode), which run
# under supervisord: each is restarted at once when it exits (actors/supervision.py); and
# Prometheus and AlertManager on [autoscaler] prometheus_listen and alertmanager_listen.
#
#   scripts/stack.sh up       start whatever is not running yet, wait until the API answers
#   scripts/stack.sh down     stop what this script started (never anything else)
#   scripts/stack.sh status   one line per component
#   scripts/stack.sh docker   only make sure a Docker engine answers (used by `make images`)
#   scripts/stack.sh rabbitmqctl ARGS...   rabbitmqctl against the stack's RabbitMQ node
#   scripts/stack.sh pid NAME  the pid of a platform process (as supervisord reports it)
#
# Settings come from abaco.conf plus ABACO_<SECTION>_<KEY> overrides, resolved by
# `python -m actors.config`; ABACO_CONF defaults to the repository's abaco.conf.
# Services that already answer (a system Redis, a dockerd started by hand, ...) are used
# as they are and left alone by `down`. What this script starts is recorded in pidfiles
# under <data_dir>/pids (RabbitMQ's own pidfile is <data_dir>/rabbitmq/pid, supervisord's
# pids/supervisord.pid); `down` stops exactly those. STACK_DOCKERD_ARGS adds flags to a
# dockerd this script starts (which also registers crun when it is installed).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$REPO/.venv"
PLATFORM=()              # filled by load_config from `python -m actors.services`, then tls (nginx, every mode)
START_TIMEOUT="${STACK_START_TIMEOUT:-120}"  # seconds dockerd, RabbitMQ or the API may take to answer (one deadline each)
STOP_TIMEOUT=20         # seconds a platform process gets between SIGTERM and SIGKILL
WORKER_STOP_TIMEOUT=15  # seconds the workers get between SIGTERM and SIGKILL
# Erlang distribution (the RabbitMQ node and the rabbitmqctl CLI) on loopback only.
ERL_DIST_LOOPBACK="-kernel inet_dist_use_interface {127,0,0,1}"

export ABACO_CONF="${ABACO_CONF:-$REPO/abaco.conf}"
cd "$REPO"  # relative paths in ABACO_* overrides resolve against the working directory

log() { echo "stack: $*"; }
warn() { echo "stack: WARNING: $*" >&2; }
die() { echo "stack: ERROR: $*" >&2; exit 1; }

usage() { sed -n '2,20p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }

# ---------------------------------------------------------------------------- settings

load_config() {
    local out
    [ -x "$VENV/bin/python" ] || die "no virtualenv at $VENV; run 'make install' first"
    out="$("$VENV/bin/python" -m actors.config data_dir run_dir log_dir general.instance \
        store.redis_host store.redis_port rabbit.host rabbit.port \
        web.host web.port tls_cert_dir auth.tls_listen \
        autoscaler.prometheus_listen autoscaler.alertmanager_listen autoscaler.listen \
        logstream.host logstream.port dashboard.host dashboard.port)" \
        || die "cannot read the settings (ABACO_CONF=$ABACO_CONF)"
    { read -r DATA; read -r RUN_DIR; read -r LOG_DIR; read -r INSTANCE
      read -r REDIS_HOST; read -r REDIS_PORT; read -r RABBIT_HOST; read -r RABBIT_PORT
      read -r WEB_HOST; read -r WEB_PORT; read -r TLS_DIR; read -r TLS_LISTEN
      read -r PROM_LISTEN; read -r ALERT_LISTEN; read -r AUTOSCALER_LISTEN
      read -r LOGSTREAM_HOST; read -r LOGSTREAM_PORT; read -r DASHBOARD_HOST; read -r DASHBOARD_PORT; } <<< "$out"
    PIDS="$DATA/pids"
    # The one list of platform processes lives in actors/services/__init__.py.
    out="$("$VENV/bin/python" -m actors.services)" || die "cannot list the platform processes"
    mapfile -t PLATFORM < <(cut -d' ' -f1 <<< "$out")
    PLATFORM+=(tls)
    SUPERVISOR_CONF="$DATA/supervisor/supervisord.conf"
    SUPERVISOR_SOCK="$RUN_DIR/supervisor.sock"
    SUPERVISOR_PIDFILE="$PIDS/supervisord.pid"
    RABBIT_DIR="$DATA/rabbitmq"
    RABBIT_PIDFILE="$RABBIT_DIR/pid"
    # One RabbitMQ node per instance; a second stack on this machine needs its own
    # [general] instance (RabbitMQ refuses a node name that is already running).
    RABBIT_NODE="$INSTANCE@localhost"
}

ensure_dirs() {
    mkdir -p "$DATA" "$DATA/redis" "$RABBIT_DIR" "$RUN_DIR" "$LOG_DIR" "$PIDS/workers"
    chmod 700 "$DATA/redis"  # the stores (tokens, clients, state) are for the platform only
    [ -d "$DATA/keys" ] || mkdir -m 700 "$DATA/keys"  # signing keys: owner only
}

# make_credentials: the Redis password and the RabbitMQ user of this data directory,
# made once (0600, in keys/; actors/credentials.py) and never replaced.
make_credentials() {
    "$VENV/bin/python" -m actors.credentials || die "cannot make the service credentials in $DATA/keys"
}

# load_credentials: REDIS_PASSWORD, RABBIT_USER, RABBIT_PASSWORD, RABBIT_VHOST as every
# process resolves them (abaco.conf or ABACO_* settings, else the files in keys/).
# They stay in shell variables: commands get them on stdin or in their environment,
# never on a command line that `ps` shows.
load_credentials() {
    local out
    out="$("$VENV/bin/python" -m actors.config store.redis_password rabbit.user rabbit.password rabbit.vhost)" \
        || die "cannot read the service credentials"
    { read -r REDIS_PASSWORD; read -r RABBIT_USER; read -r RABBIT_PASSWORD; read -r RABBIT_VHOST; } <<< "$out"
}

# ----------------------------------------------------------------------------- processes

# pid_alive PID [PATTERN]: the process exists, is not a zombie (a child that died at
# start stays a zombie of this script until reaped) and, if PATTERN (an extended regex)
# is given, its command line matches: a pidfile can outlive its process and the pid be
# reused by something we must not touch.
pid_alive() {
    local pid="$1" pattern="${2:-}" state
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    state="$(ps -o stat= -p "$pid" 2>/dev/null)" || return 1
    [[ -n "$state" && "$state" != Z* ]] || return 1
    [ -z "$pattern" ] || tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -Eq -- "$pattern"
}

# pidfile_pid FILE PATTERN: print the pid FILE names if that process is alive and matches.
pidfile_pid() {
    local pid
    [ -s "$1" ] || return 1
    pid="$(tr -dc '0-9' < "$1")"
    pid_alive "$pid" "$2" || return 1
    echo "$pid"
}

# wait_until SECONDS PID CHECK...: run CHECK until it succeeds (status 0), until the
# process PID is gone (status 1) or until SECONDS have passed (status 1).
wait_until() {
    local deadline=$((SECONDS + $1)) pid="$2"
    shift 2
    while [ "$SECONDS" -lt "$deadline" ]; do
        "$@" && return 0
        pid_alive "$pid" || return 1
        sleep 0.5
    done
    return 1
}

# wait_gone PID SECONDS: wait for the process to exit; status 1 if it is still there.
wait_gone() {
    local deadline=$((SECONDS + $2))
    while pid_alive "$1"; do
        [ "$SECONDS" -lt "$deadline" ] || return 1
        sleep 0.2
    done
}

# launch LOG CMD...: start CMD in a session of its own, so that a Ctrl-C in the terminal
# that ran `make up` never reaches it and `down` can signal its whole process group.
# Sets LAUNCHED_PID. $! is CMD's own pid: a background child of a non-interactive shell
# is not a process group leader, so setsid calls setsid() in place instead of forking.
launch() {
    local logfile="$1"
    shift
    # Logs are the platform's only: they may hold user names, ids and request lines.
    (umask 077; : >> "$logfile")
    chmod 600 "$logfile"
    echo "=== $(date -Is) stack.sh starts: $*" >> "$logfile"
    setsid "$@" >> "$logfile" 2>&1 < /dev/null &
    LAUNCHED_PID=$!
}

# fail_start NAME PID LOG: explain why NAME did not come up, show its log, exit.
fail_start() {
    local name="$1" pid="$2" logfile="$3"
    if pid_alive "$pid"; then
        echo "stack: ERROR: $name (pid $pid) did not become ready within ${START_TIMEOUT}s" >&2
    else
        echo "stack: ERROR: $name exited during start-up" >&2
    fi
    echo "----- last lines of $logfile -----" >&2
    tail -n 30 "$logfile" >&2 || true
    echo "-----" >&2
    die "$name failed to start; 'scripts/stack.sh down' stops whatever did start"
}

# stop_process NAME PID SECONDS: SIGTERM, then SIGKILL to its process group (all our
# processes lead their own session) if it has not exited after SECONDS.
stop_process() {
    local name="$1" pid="$2"
    log "stopping $name (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    if ! wait_gone "$pid" "$3"; then
        warn "$name (pid $pid) ignored SIGTERM for $3 s; sending SIGKILL"
        kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
        wait_gone "$pid" 5 || warn "$name (pid $pid) is still there after SIGKILL"
    fi
}

# listener_pid PORT: pid of the process listening on the local TCP PORT, if any.
listener_pid() {
    ss -Hltnp "sport = :$1" 2>/dev/null | grep -o 'pid=[0-9]*' | head -n 1 | cut -d= -f2
}

port_listens() { [ -n "$(ss -Hltn "sport = :$1" 2>/dev/null)" ]; }

# --------------------------------------------------------------------------------- docker

docker_answers() { timeout 10 docker info > /dev/null 2>&1; }

dockerd_pid() { pidfile_pid "$PIDS/dockerd.pid" 'dockerd'; }

# crun cannot place containers in cgroups on a hybrid host (v1 controllers plus a cgroup2
# mount at /sys/fs/cgroup/unified) while any controller is still attached to cgroup2 (it
# refuses: "cgroups in hybrid mode not supported"). Such a leftover controller (hugetlb, when
# no v1 hierarchy was mounted for it) is unused there, so give it its own v1 hierarchy, as
# systemd does on hybrid hosts. Idempotent; nothing to do on pure v1 or pure v2 hosts.
ensure_crun_cgroups() {
    local unified=/sys/fs/cgroup/unified ctl
    [ -f "$unified/cgroup.controllers" ] && command -v crun > /dev/null || return 0
    for ctl in $(cat "$unified/cgroup.controllers"); do
        grep -q "^$ctl\b" /proc/cgroups || continue
        if mkdir -p "/sys/fs/cgroup/$ctl" && mount -t cgroup -o "$ctl" cgroup "/sys/fs/cgroup/$ctl"; then
            log "cgroups: mounted the $ctl controller as a v1 hierarchy (crun needs cgroup2 free of controllers)"
        else
            log "cgroups: could not move $ctl off cgroup2; crun containers will fail on this host"
        fi
    done
}

ensure_dockerd() {
    local extra=()
    ensure_crun_cgroups
    if docker_answers; then
        log "dockerd: running ($(dockerd_pid > /dev/null && echo started by this project || echo external))"
        return 0
    fi
    command -v dockerd > /dev/null || die "dockerd not found; run 'make install'"
    read -r -a extra <<< "${STACK_DOCKERD_ARGS:-}"
    # crun, registered for [workers] runtime = crun (faster container starts than runc).
    if command -v crun > /dev/null && [[ " ${extra[*]} " != *" --add-runtime crun="* ]]; then
        extra+=(--add-runtime "crun=$(command -v crun)")
    fi
    # No bridge and no iptables rules: actor containers use network none or host only,
    # and this machine's firewall is not ours to change. The pidfile marks it as ours.
    launch "$LOG_DIR/dockerd.log" dockerd --bridge=none --iptables=false \
        --pidfile "$PIDS/dockerd.pid" "${extra[@]}"
    log "dockerd: starting (pid $LAUNCHED_PID, log $LOG_DIR/dockerd.log)"
    wait_until "$START_TIMEOUT" "$LAUNCHED_PID" docker_answers \
        || fail_start dockerd "$LAUNCHED_PID" "$LOG_DIR/dockerd.log"
}

stop_dockerd() {
    local pid
    if ! pid="$(dockerd_pid)"; then
        rm -f "$PIDS/dockerd.pid"
        return 0
    fi
    stop_process dockerd "$pid" 30  # dockerd gives running containers 15 s itself
}

remove_containers() {
    local ids
    if ! docker_answers; then
        warn "docker does not answer; containers labelled abaco.instance=$INSTANCE not checked"
        return 0
    fi
    ids="$(docker ps -aq --filter "label=abaco.instance=$INSTANCE")"
    [ -n "$ids" ] || return 0
    log "removing $(wc -l <<< "$ids") container(s) labelled abaco.instance=$INSTANCE"
    xargs -r docker rm -f <<< "$ids" > /dev/null
}

# ---------------------------------------------------------------------------------- redis

# redis_cli SECONDS ARGS...: redis-cli against the stack's Redis, with the password in
# its environment (REDISCLI_AUTH), not on its command line.
redis_cli() {
    local seconds="$1"
    shift
    if [ -n "$REDIS_PASSWORD" ]; then
        REDISCLI_AUTH="$REDIS_PASSWORD" timeout "$seconds" redis-cli --no-auth-warning \
            -h "$REDIS_HOST" -p "$REDIS_PORT" "$@"
    else
        timeout "$seconds" redis-cli -h "$REDIS_HOST" -p "$REDIS_PORT" "$@"
    fi
}

redis_answers() { [ "$(redis_cli 5 ping 2>/dev/null)" = PONG ]; }

# redis_open: a client without the password gets answers (no requirepass).
redis_open() {
    [ "$(timeout 5 redis-cli -h "$REDIS_HOST" -p "$REDIS_PORT" ping 2>/dev/null)" = PONG ]
}

# redis_conf_value VALUE: VALUE in double quotes, as redis.conf reads it.
redis_conf_value() {
    local value="${1//\\/\\\\}"
    echo "\"${value//\"/\\\"}\""
}

# write_redis_conf: redis.conf in the data directory (0600: it holds the password),
# rewritten on every 'up'. Append-only file, fsynced before each write is acknowledged:
# every acknowledged write survives a shutdown or a crash (kill -9, power loss). Not
# daemonized, so that LAUNCHED_PID is redis itself.
write_redis_conf() {
    local conf="$DATA/redis/redis.conf"
    (umask 077; : > "$conf")
    chmod 600 "$conf"
    {
        echo "# written by scripts/stack.sh on every 'up'; edit abaco.conf instead"
        echo "bind $REDIS_HOST"
        echo "port $REDIS_PORT"
        echo "appendonly yes"
        echo "appendfsync always"
        echo "dir $(redis_conf_value "$DATA/redis")"
        echo "daemonize no"
        echo "pidfile $(redis_conf_value "$PIDS/redis.pid")"
        [ -z "$REDIS_PASSWORD" ] || echo "requirepass $(redis_conf_value "$REDIS_PASSWORD")"
    } > "$conf"
}

redis_pid() { pidfile_pid "$PIDS/redis.pid" 'redis-server'; }

ensure_redis() {
    write_redis_conf
    if redis_answers; then
        log "redis: running on $REDIS_HOST:$REDIS_PORT ($(redis_pid > /dev/null && echo started by this project || echo external))"
        require_redis_password
        return 0
    fi
    launch "$LOG_DIR/redis.log" redis-server "$DATA/redis/redis.conf"
    log "redis: starting on $REDIS_HOST:$REDIS_PORT (pid $LAUNCHED_PID)"
    wait_until "$START_TIMEOUT" "$LAUNCHED_PID" redis_answers \
        || fail_start redis "$LAUNCHED_PID" "$LOG_DIR/redis.log"
}

# require_redis_password: our Redis, started by an older version without a password,
# takes it now (on stdin); an external one is only warned about.
require_redis_password() {
    [ -n "$REDIS_PASSWORD" ] && redis_open || return 0
    if ! redis_pid > /dev/null; then
        warn "the external Redis on $REDIS_HOST:$REDIS_PORT needs no password"
        return 0
    fi
    log "redis: setting the password of the running server"
    # (redis-cli says its AUTH failed: the server has no password yet.)
    printf '%s' "$REDIS_PASSWORD" | redis_cli 10 -x config set requirepass 2> /dev/null | grep -qx OK \
        || die "cannot set the password of the Redis on $REDIS_HOST:$REDIS_PORT"
}

# SHUTDOWN through the port when our redis is the one listening there (settings may
# have changed since `up`); SIGTERM otherwise, which Redis handles the same way.
stop_redis() {
    local pid
    if ! pid="$(redis_pid)"; then
        rm -f "$PIDS/redis.pid"
        return 0
    fi
    log "stopping redis (pid $pid)"
    if [ "$(redis_cli 5 info server 2>/dev/null | tr -d '\r' | sed -n 's/^process_id://p')" = "$pid" ]; then
        redis_cli 30 shutdown > /dev/null 2>&1 || true
    else
        kill -TERM "$pid" 2>/dev/null || true
    fi
    wait_gone "$pid" 60 || { warn "redis (pid $pid) did not exit; sending SIGKILL"; kill -KILL "$pid"; }
}

# ------------------------------------------------------------------------------- rabbitmq

# set_rabbit_env: RABBIT_ENV = the environment (NAME=value words for env) that points
# RabbitMQ, server or CLI, at this stack's node and files. The Debian wrappers switch to
# the rabbitmq user and keep the environment. The distribution port follows the AMQP
# port, as RabbitMQ's default would if the listener were not set in rabbitmq.conf, so
# two stacks on different ports do not collide. The node name is the one recorded at
# start, in case the settings changed since.
set_rabbit_env() {
    local node
    node="$(cat "$RABBIT_DIR/nodename" 2>/dev/null || echo "$RABBIT_NODE")"
    RABBIT_ENV=(
        RABBITMQ_NODENAME="$node"
        RABBITMQ_CONFIG_FILE="$RABBIT_DIR/rabbitmq"
        RABBITMQ_MNESIA_BASE="$RABBIT_DIR/mnesia"
        RABBITMQ_LOG_BASE="$RABBIT_DIR/log"
        RABBITMQ_PID_FILE="$RABBIT_PIDFILE"
        RABBITMQ_DIST_PORT=$((RABBIT_PORT + 20000))
        RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="$ERL_DIST_LOOPBACK"
        RABBITMQ_CTL_ERL_ARGS="$ERL_DIST_LOOPBACK"
        ERL_EPMD_ADDRESS=127.0.0.1
    )
}

# rabbit_env CMD...: run CMD (rabbitmqctl) in that environment.
rabbit_env() {
    set_rabbit_env
    env "${RABBIT_ENV[@]}" "$@"
}

rabbit_pid() { pidfile_pid "$RABBIT_PIDFILE" 'beam'; }

rabbit_answers() { port_listens "$RABBIT_PORT"; }

# The server runs as the rabbitmq user: its directory must be that user's, and every
# parent directory must be searchable by it (a private temp dir would not be).
prepare_rabbit_dir() {
    id rabbitmq > /dev/null 2>&1 || die "no rabbitmq user; run 'make install'"
    cat > "$RABBIT_DIR/rabbitmq.conf" <<EOF
# written by scripts/stack.sh on every 'up'; edit abaco.conf instead
listeners.tcp.default = $RABBIT_HOST:$RABBIT_PORT
loopback_users.guest = true
# Version 2 classic queues: their index recovers from an unclean stop (version 1's did
# not always, under redelivery load after a restart).
classic_queue.default_version = 2
EOF
    echo "$RABBIT_NODE" > "$RABBIT_DIR/nodename"
    chown -R rabbitmq:rabbitmq "$RABBIT_DIR"
    runuser -u rabbitmq -- test -w "$RABBIT_DIR" \
        || die "user rabbitmq cannot write $RABBIT_DIR; make its parent directories searchable (chmod o+x)"
}

ensure_rabbitmq() {
    if rabbit_answers; then
        log "rabbitmq: running on port $RABBIT_PORT ($(rabbit_pid > /dev/null && echo started by this project || echo external))"
        return 0
    fi
    prepare_rabbit_dir
    set_rabbit_env
    launch "$LOG_DIR/rabbitmq.log" env "${RABBIT_ENV[@]}" rabbitmq-server
    log "rabbitmq: starting node $RABBIT_NODE on $RABBIT_HOST:$RABBIT_PORT (log $LOG_DIR/rabbitmq.log)"
    wait_until "$START_TIMEOUT" "$LAUNCHED_PID" rabbit_answers \
        || fail_start rabbitmq "$LAUNCHED_PID" "$LOG_DIR/rabbitmq.log"
    # The listener opens late in the boot; `wait` also confirms the broker app is up.
    rabbit_env timeout 60 rabbitmqctl -q wait "$RABBIT_PIDFILE" --timeout 60 > /dev/null \
        || fail_start rabbitmq "$LAUNCHED_PID" "$LOG_DIR/rabbitmq.log"
}

# ensure_rabbit_user: on our node (new, restarted, or made by an older version), at every
# 'up': the platform's user with its current password (given on stdin) and every
# permission on the vhost, and no guest user. An external broker is left as it is.
ensure_rabbit_user() {
    local users verb
    rabbit_pid > /dev/null || return 0
    [ "$RABBIT_USER" != guest ] || die "[rabbit] user is guest; set another one or leave it empty"
    users="$(rabbit_env timeout 60 rabbitmqctl -s list_users | cut -f1)" \
        || die "cannot list the RabbitMQ users"
    verb=add_user
    ! grep -qxF -- "$RABBIT_USER" <<< "$users" || verb=change_password
    printf '%s\n' "$RABBIT_PASSWORD" | rabbit_env timeout 60 rabbitmqctl -q "$verb" -- "$RABBIT_USER" > /dev/null \
        || die "cannot set the RabbitMQ user $RABBIT_USER"
    if ! rabbit_env timeout 60 rabbitmqctl -s list_vhosts name | grep -qxF -- "$RABBIT_VHOST"; then
        rabbit_env timeout 60 rabbitmqctl -q add_vhost -- "$RABBIT_VHOST" > /dev/null \
            || die "cannot add the vhost $RABBIT_VHOST"
    fi
    rabbit_env timeout 60 rabbitmqctl -q set_permissions -p "$RABBIT_VHOST" -- "$RABBIT_USER" '.*' '.*' '.*' \
        > /dev/null || die "cannot give $RABBIT_USER the vhost $RABBIT_VHOST"
    if grep -qxF guest <<< "$users"; then
        log "rabbitmq: deleting the default guest user"
        rabbit_env timeout 60 rabbitmqctl -q delete_user guest > /dev/null || die "cannot delete the guest user"
    fi
}

stop_rabbitmq() {
    local pid
    pid="$(rabbit_pid)" || return 0
    log "stopping rabbitmq (pid $pid)"
    # `rabbitmqctl stop PIDFILE` returns once the node's OS process has exited.
    rabbit_env timeout 90 rabbitmqctl -q stop "$RABBIT_PIDFILE" >> "$LOG_DIR/rabbitmq.log" 2>&1 \
        || kill -TERM "$pid" 2>/dev/null || true
    wait_gone "$pid" 30 || { warn "rabbitmq (pid $pid) did not exit; sending SIGKILL"; kill -KILL "$pid"; }
}

# ------------------------------------------------------------- prometheus and alertmanager

# Both are rendered from prometheus/ into the data directory on every 'up'
# (actors/prometheus_config.py) and run in the foreground, so LAUNCHED_PID is theirs. One
# that already answers on the address is used as it is (external) and left alone by 'down'.

prometheus_answers() { curl -sf --max-time 5 "http://$PROM_LISTEN/-/ready" > /dev/null 2>&1; }

prometheus_pid() { pidfile_pid "$PIDS/prometheus.pid" 'prometheus'; }

ensure_prometheus() {
    local dir="$DATA/prometheus" pid
    mkdir -p "$dir/data"
    "$VENV/bin/python" -m actors.prometheus_config prometheus "$dir" > /dev/null \
        || die "cannot render Prometheus's configuration into $dir"
    if prometheus_answers; then
        log "prometheus: running on $PROM_LISTEN ($(prometheus_pid > /dev/null && echo started by this project || echo external))"
        # ours reads the configuration rendered just now
        if pid="$(prometheus_pid)"; then kill -HUP "$pid" 2>/dev/null || true; fi
        return 0
    fi
    if port_listens "${PROM_LISTEN##*:}"; then
        # Not essential: the autoscaler then reads the queues and stores directly.
        warn "port ${PROM_LISTEN##*:} is taken by pid $(listener_pid "${PROM_LISTEN##*:}"); Prometheus not started (set [autoscaler] prometheus_listen)"
        return 0
    fi
    launch "$LOG_DIR/prometheus.log" prometheus --config.file="$dir/prometheus.yml" \
        --storage.tsdb.path="$dir/data" --storage.tsdb.retention.time=2d \
        --web.listen-address="$PROM_LISTEN"
    echo "$LAUNCHED_PID" > "$PIDS/prometheus.pid"
    log "prometheus: starting on $PROM_LISTEN (pid $LAUNCHED_PID, log $LOG_DIR/prometheus.log)"
    wait_until "$START_TIMEOUT" "$LAUNCHED_PID" prometheus_answers \
        || fail_start prometheus "$LAUNCHED_PID" "$LOG_DIR/prometheus.log"
}

stop_prometheus() {
    local pid
    if pid="$(prometheus_pid)"; then
        stop_process prometheus "$pid" "$STOP_TIMEOUT"
    fi
    rm -f "$PIDS/prometheus.pid"
}

alertmanager_answers() { curl -sf --max-time 5 "http://$ALERT_LISTEN/-/ready" > /dev/null 2>&1; }

alertmanager_pid() { pidfile_pid "$PIDS/alertmanager.pid" 'alertmanager'; }

ensure_alertmanager() {
    local dir="$DATA/alertmanager"
    mkdir -p "$dir/data"
    "$VENV/bin/python" -m actors.prometheus_config alertmanager "$dir" > /dev/null \
        || die "cannot render AlertManager's configuration into $dir"
    if alertmanager_answers; then
        log "alertmanager: running on $ALERT_LISTEN ($(alertmanager_pid > /dev/null && echo started by this project || echo external))"
        return 0
    fi
    if port_listens "${ALERT_LISTEN##*:}"; then
        warn "port ${ALERT_LISTEN##*:} is taken by pid $(listener_pid "${ALERT_LISTEN##*:}"); AlertManager not started (set [autoscaler] alertmanager_listen)"
        return 0
    fi
    # No cluster listener: it would bind port 9094 on every interface.
    launch "$LOG_DIR/alertmanager.log" prometheus-alertmanager --config.file="$dir/alertmanager.yml" \
        --storage.path="$dir/data" --web.listen-address="$ALERT_LISTEN" --cluster.listen-address=
    echo "$LAUNCHED_PID" > "$PIDS/alertmanager.pid"
    log "alertmanager: starting on $ALERT_LISTEN (pid $LAUNCHED_PID, log $LOG_DIR/alertmanager.log)"
    wait_until "$START_TIMEOUT" "$LAUNCHED_PID" alertmanager_answers \
        || fail_start alertmanager "$LAUNCHED_PID" "$LOG_DIR/alertmanager.log"
}

stop_alertmanager() {
    local pid
    if pid="$(alertmanager_pid)"; then
        stop_process alertmanager "$pid" "$STOP_TIMEOUT"
    fi
    rm -f "$PIDS/alertmanager.pid"
}

# ---------------------------------------------------------------------- platform processes
#
# The platform processes (PLATFORM: actors/services/__init__.py's list, then nginx as tls)
# run under one supervisord per data directory, configured by actors/supervision.py in
# <data_dir>/supervisor/supervisord.conf: each is restarted at once when it exits, each
# logs to <log_dir>/NAME.log. supervisord itself is recorded in pids/supervisord.pid.

supervisord_pid() { pidfile_pid "$SUPERVISOR_PIDFILE" 'supervisord'; }

# supervisorctl ARGS...: against this data directory's supervisord (its socket is 0700).
supervisorctl_() { timeout 60 supervisorctl -c "$SUPERVISOR_CONF" "$@"; }

supervisor_answers() { supervisorctl_ pid > /dev/null 2>&1; }

# platform_pid NAME: the pid of NAME's running process, as supervisord reports it.
platform_pid() {
    local pid
    supervisord_pid > /dev/null || return 1
    pid="$(supervisorctl_ pid "$1" 2>/dev/null | tr -dc '0-9')" || true
    [ -n "$pid" ] && [ "$pid" != 0 ] && pid_alive "$pid" || return 1
    echo "$pid"
}

# platform_state NAME: RUNNING, STARTING, BACKOFF, FATAL, EXITED, STOPPED, ... or UNKNOWN.
platform_state() {
    local line
    line="$(supervisorctl_ status "$1" 2>/dev/null)" || true
    set -- $line
    echo "${2:-UNKNOWN}"
}

# prepare_tls: a test CA with server and client (`admin`) certificates unless the
# certificate directory has them, and nginx's configuration (0600: in the mtls mode it holds
# the secret nginx shows the API).
prepare_tls() {
    [ -f "$TLS_DIR/ca.pem" ] && [ -f "$TLS_DIR/server.pem" ] \
        || "$REPO/scripts/make_certs.sh" "$TLS_DIR" admin
    (umask 077; "$VENV/bin/python" -m actors.tls_proxy > "$RUN_DIR/nginx.conf.new") \
        || die "cannot render nginx's configuration (see above)"
    mv "$RUN_DIR/nginx.conf.new" "$RUN_DIR/nginx.conf"
    # nginx would create its logs 0644; they hold request lines and addresses: the platform's only.
    (umask 077; : >> "$LOG_DIR/nginx-access.log"; : >> "$LOG_DIR/nginx-error.log")
    chmod 600 "$LOG_DIR/nginx-access.log" "$LOG_DIR/nginx-error.log"
}

# write_supervisor_conf: the supervisord configuration for the current settings.
write_supervisor_conf() {
    mkdir -p "$(dirname "$SUPERVISOR_CONF")"
    (umask 077; "$VENV/bin/python" -m actors.supervision --bin "$VENV/bin" > "$SUPERVISOR_CONF.new") \
        || die "cannot render the supervisord configuration (see above)"
    mv "$SUPERVISOR_CONF.new" "$SUPERVISOR_CONF"
}

# check_ports: the API's and nginx's ports must be free when we are about to start them,
# or whatever holds them would answer the readiness probe for ours.
check_ports() {
    if port_listens "$WEB_PORT"; then
        die "port $WEB_PORT is taken (by pid $(listener_pid "$WEB_PORT")); stop it or set [web] port"
    fi
    if port_listens "${TLS_LISTEN##*:}"; then
        die "port ${TLS_LISTEN##*:} is taken (by pid $(listener_pid "${TLS_LISTEN##*:}")); stop it or set [auth] tls_listen"
    fi
}

# start_supervised: supervisord with every platform process, or, when ours already runs,
# the new configuration (changed programs restart) and any program that had stopped.
start_supervised() {
    local pid
    command -v supervisord > /dev/null || die "supervisord not found; run 'make install'"
    stop_unsupervised
    prepare_tls
    if pid="$(supervisord_pid)"; then
        write_supervisor_conf
        log "supervisord: running (pid $pid); applying the configuration"
        supervisorctl_ update > /dev/null || die "supervisorctl update failed"
        supervisorctl_ start all > /dev/null 2>&1 || true   # "already started" is not an error
        return 0
    fi
    stop_orphans
    check_ports
    write_supervisor_conf
    rm -f "$SUPERVISOR_PIDFILE"
    # supervisord creates the programs' logs itself, and with nodaemon it does not apply its
    # own umask setting to them: it starts with this one. Logs an older run left readable
    # are closed too (they hold user names, ids and request lines).
    chmod go-rwx "$LOG_DIR"/*.log 2>/dev/null || true
    local mask
    mask="$(umask)"
    umask 077
    launch "$LOG_DIR/supervisord.out" supervisord -c "$SUPERVISOR_CONF"
    umask "$mask"
    log "supervisord: starting ${PLATFORM[*]} (pid $LAUNCHED_PID, logs in $LOG_DIR)"
    wait_until "$START_TIMEOUT" "$LAUNCHED_PID" supervisor_answers \
        || fail_start supervisord "$LAUNCHED_PID" "$LOG_DIR/supervisord.out"
}

# all_running: every program RUNNING; a program that gave up (FATAL) fails the start.
all_running() {
    local name state
    for name in "${PLATFORM[@]}"; do
        state="$(platform_state "$name")"
        if [ "$state" = FATAL ]; then
            fail_start "$name" 0 "$LOG_DIR/$name.log"
        fi
        [ "$state" = RUNNING ] || return 1
    done
}

api_url() { echo "http://$WEB_HOST:$WEB_PORT"; }

# The API is up when GET /actors answers 200 (no auth) or asks for credentials: 401, or
# Abaco's 400 "No JWT or nonce provided." ([web] compat = abaco).
api_answers() {
    local code
    code="$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$(api_url)/actors" || true)"
    [ "$code" = 200 ] || [ "$code" = 401 ] || [ "$code" = 400 ]
}

wait_for_platform() {
    local pid
    pid="$(supervisord_pid)" || fail_start supervisord 0 "$LOG_DIR/supervisord.out"
    wait_until "$START_TIMEOUT" "$pid" all_running \
        || fail_start "the platform processes" "$pid" "$LOG_DIR/supervisord.log"
    wait_until "$START_TIMEOUT" "$pid" api_answers || fail_start api "$pid" "$LOG_DIR/api.log"
    log "api: answering at $(api_url)"
}

# stop_supervised: every program gets SIGTERM (its whole process group) and
# [supervision] STOP_GRACE seconds, then SIGKILL; then supervisord exits.
stop_supervised() {
    local pid
    pid="$(supervisord_pid)" || { rm -f "$SUPERVISOR_PIDFILE"; stop_orphans; return 0; }
    log "stopping the platform processes and supervisord (pid $pid)"
    supervisorctl_ shutdown > /dev/null 2>&1 || kill -TERM "$pid" 2>/dev/null || true
    if ! wait_gone "$pid" $((STOP_TIMEOUT + 15)); then
        warn "supervisord (pid $pid) did not exit; sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$SUPERVISOR_PIDFILE"
}

# stop_orphans: the programs of a supervisord that died (it crashes when the disk fills up
# under its logs; or kill -9) keep running and holding their ports. They carry its socket in
# SUPERVISOR_SERVER_URL, so they are found and stopped; the spawner's workers (which carry
# it too) are left alone, as a spawner restart leaves them.
stop_orphans() {
    local proc pid cmd pids=()
    for proc in /proc/[0-9]*; do
        pid="${proc#/proc/}"
        tr '\0' '\n' < "$proc/environ" 2>/dev/null \
            | grep -qxF "SUPERVISOR_SERVER_URL=unix://$SUPERVISOR_SOCK" || continue
        cmd="$(tr '\0' ' ' < "$proc/cmdline" 2>/dev/null)" || continue
        if [[ "$cmd" =~ bin/abaco-[a-z-]+( |$) && ! "$cmd" =~ abaco-worker ]] \
                || [[ "$cmd" == "nginx: master"* ]]; then
            pids+=("$pid")
        fi
    done
    # nginx rewrites its environment with its process title: its master is in its pid file.
    if pid="$(pidfile_pid "$RUN_DIR/nginx.pid" 'nginx: master')"; then
        pids+=("$pid")
    fi
    [ "${#pids[@]}" -gt 0 ] || return 0
    warn "supervisord is gone; stopping the ${#pids[@]} process(es) it left running: ${pids[*]}"
    kill -TERM "${pids[@]}" 2>/dev/null || true
    for pid in "${pids[@]}"; do
        wait_gone "$pid" "$STOP_TIMEOUT" || kill -KILL "$pid" 2>/dev/null || true
    done
}

# stop_unsupervised: platform processes an older version of this script started on their
# own (pids/NAME.pid) are stopped, so the supervised ones can take their ports.
stop_unsupervised() {
    local name pid pattern
    for name in "${PLATFORM[@]}"; do
        pattern="abaco-$name"
        [ "$name" != tls ] || pattern=nginx
        if pid="$(pidfile_pid "$PIDS/$name.pid" "$pattern")"; then
            stop_process "$name (unsupervised)" "$pid" "$STOP_TIMEOUT"
        fi
        rm -f "$PIDS/$name.pid"
    done
}

# Workers are started by the spawner, each leading its own session, with pidfiles in
# pids/workers. They all get SIGTERM at once and share one grace period.
stop_workers() {
    local file pid pids=() deadline
    for file in "$PIDS"/workers/*.pid; do
        [ -e "$file" ] || continue
        if pid="$(pidfile_pid "$file" 'actors\.services\.worker|abaco-worker')"; then
            pids+=("$pid")
            kill -TERM "$pid" 2>/dev/null || true
        fi
    done
    if [ "${#pids[@]}" -gt 0 ]; then
        log "stopping ${#pids[@]} worker(s): ${pids[*]}"
        deadline=$((SECONDS + WORKER_STOP_TIMEOUT))
        for pid in "${pids[@]}"; do
            if ! wait_gone "$pid" $((deadline > SECONDS ? deadline - SECONDS : 0)); then
                warn "worker pid $pid ignored SIGTERM; sending SIGKILL"
                kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
            fi
        done
    fi
    rm -f "$PIDS"/workers/*.pid
}

# -------------------------------------------------------------------------------- status

# row COMPONENT STATE PID OWNER ADDRESS
row() { printf '%-11s %-8s %-8s %-10s %s\n' "$@"; }

# service_row NAME ANSWERS OURPID EXTERNALPID ADDRESS: one row for a shared service.
service_row() {
    local name="$1" answers="$2" ours="$3" external="$4" address="$5"
    if [ -n "$ours" ]; then
        row "$name" "$([ "$answers" = yes ] && echo running || echo starting)" "$ours" project "$address"
    elif [ "$answers" = yes ]; then
        row "$name" running "${external:--}" external "$address"
    else
        row "$name" stopped - - "$address"
    fi
}

yes_if() { "$@" && echo yes || echo no; }

status() {
    local name pid file workers=() address
    row COMPONENT STATE PID OWNER ADDRESS
    service_row supervisord "$(yes_if supervisor_answers)" "$(supervisord_pid || true)" "" \
        "unix:$SUPERVISOR_SOCK"
    service_row dockerd "$(yes_if docker_answers)" "$(dockerd_pid || true)" \
        "$(pgrep -xo dockerd || true)" "${DOCKER_HOST:-unix:///var/run/docker.sock}"
    service_row redis "$(yes_if redis_answers)" "$(redis_pid || true)" \
        "$(listener_pid "$REDIS_PORT")" "$REDIS_HOST:$REDIS_PORT"
    service_row rabbitmq "$(yes_if rabbit_answers)" "$(rabbit_pid || true)" \
        "$(listener_pid "$RABBIT_PORT")" "amqp://$RABBIT_HOST:$RABBIT_PORT"
    service_row prometheus "$(yes_if prometheus_answers)" "$(prometheus_pid || true)" \
        "$(listener_pid "${PROM_LISTEN##*:}")" "http://$PROM_LISTEN"
    service_row alertmgr "$(yes_if alertmanager_answers)" "$(alertmanager_pid || true)" \
        "$(listener_pid "${ALERT_LISTEN##*:}")" "http://$ALERT_LISTEN"
    for name in "${PLATFORM[@]}"; do
        case "$name" in
            api) address="$(api_url) unix:$RUN_DIR/api.sock" ;;
            tls) address="https://$TLS_LISTEN" ;;
            logstream) address="http://$LOGSTREAM_HOST:$LOGSTREAM_PORT" ;;
            dashboard) address="http://$DASHBOARD_HOST:$DASHBOARD_PORT" ;;
            autoscaler) address="http://$AUTOSCALER_LISTEN" ;;
            *) address=- ;;
        esac
        if pid="$(platform_pid "$name")"; then
            row "$name" "$(platform_state "$name" | tr 'A-Z' 'a-z')" "$pid" supervised "$address"
        elif supervisord_pid > /dev/null; then
            row "$name" "$(platform_state "$name" | tr 'A-Z' 'a-z')" - supervised "$address"
        elif [ "$name" = api ] && port_listens "$WEB_PORT"; then
            row "$name" running "$(listener_pid "$WEB_PORT")" external "$address"
        else
            row "$name" stopped - - "$address"
        fi
    done
    for file in "$PIDS"/workers/*.pid; do
        if pid="$(pidfile_pid "$file" 'actors\.services\.worker|abaco-worker')"; then
            workers+=("$pid")
        fi
    done
    row workers "${#workers[@]}" "$(IFS=,; echo "${workers[*]:--}")" project "pids/workers"
}

# ---------------------------------------------------------------------------------- main

up() {
    ensure_dirs
    make_credentials
    load_credentials
    ensure_dockerd
    ensure_redis
    ensure_rabbitmq
    ensure_rabbit_user
    start_supervised
    wait_for_platform
    ensure_prometheus
    ensure_alertmanager
}

down() {
    stop_supervised
    stop_unsupervised
    stop_alertmanager
    stop_prometheus
    stop_workers
    remove_containers
    stop_rabbitmq
    stop_redis
    stop_dockerd
    log "down"
}

main() {
    case "${1:-}" in
        up) load_config; up; status ;;
        down) load_config; load_credentials; down ;;
        status) load_config; load_credentials; status ;;
        docker) load_config; ensure_dirs; ensure_dockerd ;;
        rabbitmqctl) shift; load_config; rabbit_env rabbitmqctl "$@" ;;
        pid) load_config; platform_pid "${2:?usage: stack.sh pid NAME}" ;;
        -h|--help|help) usage ;;
        *) usage >&2; exit 2 ;;
    esac
}

main "$@"
