#!/bin/bash
# Build the images of the docker-compose stack locally; no image registry and no network
# inside `docker build` are needed.
#
#   images/deploy.sh core       abaco/core:local: the platform, every process (FROM abaco/python3-base:local)
#   images/deploy.sh services   abaco/redis:local and abaco/rabbitmq:local (from Debian packages)
#   images/deploy.sh all        both
#   add --force to rebuild even what is up to date
#
# abaco/core:local: the project's dependencies are `pip wheel`-ed on the host into a
# wheelhouse (build/core/wheels, kept between builds and refreshed when pyproject.toml
# changes), the Debian packages nginx and openssl are fetched with the host's apt into
# build/core/debs (resolved against the base image's own package list), and the Dockerfile
# at the top installs both with no network. Redis and RabbitMQ: a base made with mmdebstrap
# (slow, made once) plus a small layer with the start script of images/{redis,rabbitmq}.
# Every image made by `docker build` carries the hash of its inputs and is rebuilt only
# when that changes.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(dirname "$HERE")"
BUILD="$REPO/build/core"
LABEL="org.abaco.inputs-sha256"
FORCE=0
WHAT=""
# The Debian packages the core image adds to the Python base: nginx (the `tls` process),
# openssl (scripts/make_certs.sh), curl and procps (health checks, debugging).
CORE_DEBS=(nginx-light openssl curl procps)
PIP_INSTALLER="pip==26.3"

usage() { sed -n '2,19p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }

for arg in "$@"; do
    case "$arg" in
        --force) FORCE=1 ;;
        core|services|all) WHAT="$arg" ;;
        -h|--help) usage; exit 0 ;;
        *) echo "unknown argument: $arg" >&2; usage >&2; exit 2 ;;
    esac
done
[ -n "$WHAT" ] || { usage >&2; exit 2; }

log() { echo "== $*" >&2; }
die() { echo "images/deploy.sh: ERROR: $*" >&2; exit 1; }

exists() { docker image inspect "$1" >/dev/null 2>&1; }
image_id() { docker image inspect -f '{{.Id}}' "$1"; }
image_label() { docker image inspect -f "{{index .Config.Labels \"$LABEL\"}}" "$1" 2>/dev/null || true; }

timeout 20 docker info >/dev/null 2>&1 || die "the Docker engine does not answer (docker info); start it (make images does)"

# build_labelled TAG HASH CONTEXT [DOCKERFILE]: docker build unless the label matches.
build_labelled() {
    local tag="$1" hash="$2" context="$3" dockerfile="${4:-}" old out args=()
    if [ "$FORCE" = 0 ] && exists "$tag" && [ "$(image_label "$tag")" = "$hash" ]; then
        log "$tag is up to date"; return
    fi
    [ -z "$dockerfile" ] || args=(-f "$dockerfile")
    log "building $tag"
    old="$(docker image inspect -f '{{.Id}}' "$tag" 2>/dev/null || true)"
    if ! out="$(docker build --quiet --network none --label "$LABEL=$hash" -t "$tag" "${args[@]}" "$context" 2>&1)"; then
        echo "$out" >&2
        die "docker build of $tag failed"
    fi
    if [ -n "$old" ] && [ "$old" != "$(image_id "$tag")" ]; then docker rmi "$old" >/dev/null 2>&1 || true; fi
    log "$tag built ($(docker image inspect -f '{{.Size}}' "$tag" | awk '{printf "%d MB", $1/1e6}'))"
}

# debootstrap_base TAG PACKAGES...: a Debian bookworm image holding PACKAGES, made once.
debootstrap_base() {
    local tag="$1" packages tarball
    shift
    if exists "$tag" && [ "$FORCE" = 0 ]; then log "$tag exists"; return; fi
    command -v mmdebstrap >/dev/null || die "mmdebstrap missing: run 'make install'"
    packages="$(IFS=,; echo "$*")"
    mkdir -p "$REPO/build"
    tarball="$REPO/build/${tag//[\/:]/-}.tar"
    log "building $tag with mmdebstrap (Debian bookworm: $packages); a few minutes, once"
    # Services must not start while their packages install (as scripts/install.sh does on the host).
    mmdebstrap --quiet --variant=minbase --include="$packages" \
        --essential-hook='printf "#!/bin/sh\nexit 101\n" > "$1/usr/sbin/policy-rc.d"; chmod 755 "$1/usr/sbin/policy-rc.d"' \
        --customize-hook='rm -f "$1/usr/sbin/policy-rc.d"' \
        --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
        --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/info/*' \
        --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-include=/usr/share/locale/locale.alias' \
        bookworm "$tarball" || die "mmdebstrap failed for $tag"
    # Imported from a file: a pipe left idle while mmdebstrap works can be closed by the engine.
    docker import --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'ENV LANG=C.UTF-8' "$tarball" "$tag" >/dev/null || die "docker import of $tag failed"
    rm -f "$tarball"
    log "$tag built"
}

# service_image NAME BASE: abaco/NAME:local = BASE + images/NAME (its Dockerfile and start script).
service_image() {
    local name="$1" base="$2" hash
    hash="$({ image_id "$base"; (cd "$HERE/$name" && sha256sum ./*); } | sha256sum | cut -d' ' -f1)"
    build_labelled "abaco/$name:local" "$hash" "$HERE/$name"
}

build_services() {
    debootstrap_base abaco/redis-base:local redis-server
    debootstrap_base abaco/rabbitmq-base:local rabbitmq-server
    service_image redis abaco/redis-base:local
    service_image rabbitmq abaco/rabbitmq-base:local
}

# ---------------------------------------------------------------------------------- core

# host_pip ARGS...: the host's pip, without its warnings about index locations of the
# host's pip configuration that do not exist (they say nothing about this build).
host_pip() {
    "$(host_python)" -m pip "$@" 2> >(grep -v 'is ignored: it is neither a file nor a directory' >&2)
}

host_python() {
    if [ -x "$REPO/.venv/bin/python" ]; then echo "$REPO/.venv/bin/python"; else echo python3; fi
}

# The wheelhouse: the project's dependencies (not the project: its sources are copied into
# the image) and pip's own wheel, for the base image's Python. Remade when pyproject.toml
# or that Python changes.
ensure_wheels() {
    local py base_version host_version stamp want
    py="$(host_python)"
    base_full="$(docker run --rm --network none abaco/python3-base:local \
        python3 -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])')"
    base_version="${base_full%.*}"
    host_version="$("$py" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
    [ "$base_version" = "$host_version" ] \
        || die "the host's Python is $host_version and the base image's $base_version: wheels would not match"
    stamp="$BUILD/wheels/.inputs"
    want="$( { sha256sum < "$REPO/pyproject.toml"; echo "$base_full"; echo "$PIP_INSTALLER"; } | sha256sum | cut -d' ' -f1)"
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
        log "wheelhouse build/core/wheels is up to date ($(find "$BUILD/wheels" -name '*.whl' | wc -l) wheels)"
        return
    fi
    log "pip: the project's wheel and its dependencies' for Python $base_full into build/core/wheels"
    rm -rf "$BUILD/wheels"
    mkdir -p "$BUILD/wheels"
    # The project's own wheel carries the console scripts (abaco-api, ...) and the dependencies;
    # they are resolved for the base's Python (its full version: markers such as
    # python_full_version < "3.11.3" differ from the host's) and its platform.
    host_pip wheel --quiet --disable-pip-version-check --no-deps -w "$BUILD/wheels" "$REPO" \
        || die "pip wheel of the project failed"
    host_pip download --quiet --disable-pip-version-check --only-binary=:all: \
        --python-version "$base_full" --implementation cp --abi "cp${base_version/./}" --abi abi3 --abi none \
        --platform "manylinux_2_36_$(uname -m)" --platform "manylinux2014_$(uname -m)" --platform any \
        -d "$BUILD/wheels" "$(ls "$BUILD"/wheels/abaco_actors-*.whl)" "$PIP_INSTALLER" \
        || die "cannot fetch the wheels of the project's dependencies"
    # pip evaluates some markers (python_full_version) with the host's Python: let the base's
    # own pip say what is still missing, and fetch that, until nothing is.
    local missing tries=0
    while missing="$(missing_requirement)"; [ -n "$missing" ]; do
        tries=$((tries + 1))
        [ "$tries" -le 10 ] || die "the wheelhouse still lacks $missing"
        log "the base's Python also needs $missing"
        host_pip download --quiet --disable-pip-version-check --only-binary=:all: --no-deps \
            --python-version "$base_full" --implementation cp --abi "cp${base_version/./}" --abi abi3 --abi none \
            --platform "manylinux_2_36_$(uname -m)" --platform "manylinux2014_$(uname -m)" --platform any \
            -d "$BUILD/wheels" "$missing" || die "cannot fetch $missing"
    done
    echo "$want" > "$stamp"
    log "wheelhouse ready: $(find "$BUILD/wheels" -name '*.whl' | wc -l) wheels"
}

# missing_requirement: the first requirement the base image's pip cannot satisfy from the
# wheelhouse (nothing when it can install the project offline).
missing_requirement() {
    docker run --rm --network none -v "$BUILD/wheels:/wheels:ro" abaco/python3-base:local sh -c \
        'python3 "$(ls /wheels/pip-*.whl)/pip" install --dry-run --quiet --no-index --find-links /wheels \
             --disable-pip-version-check --root-user-action=ignore --break-system-packages --ignore-installed \
             /wheels/abaco_actors-*.whl 2>&1' \
        | sed -n 's/.*No matching distribution found for \([^ ]*\).*/\1/p' | head -n 1
}

# The .deb files of CORE_DEBS and whatever they need that the base image lacks: the
# host's apt resolves them against the base image's dpkg status file and downloads them.
ensure_debs() {
    local stamp want state
    stamp="$BUILD/debs/.inputs"
    want="$( { image_id abaco/python3-base:local; echo "${CORE_DEBS[*]}"; } | sha256sum | cut -d' ' -f1)"
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
        log "Debian packages in build/core/debs are up to date"
        return
    fi
    log "apt: ${CORE_DEBS[*]} and their dependencies missing from abaco/python3-base:local"
    rm -rf "$BUILD/debs" "$BUILD/apt"
    mkdir -p "$BUILD/debs/partial" "$BUILD/apt"
    state="$BUILD/apt/status"
    docker run --rm --network none abaco/python3-base:local cat /var/lib/dpkg/status > "$state"
    local fetch=(apt-get install -q -y --download-only --no-install-recommends
                 -o Dir::State::status="$state" -o Dir::Cache::archives="$BUILD/debs"
                 -o Debug::NoLocking=1 "${CORE_DEBS[@]}")
    # Package lists may be missing or stale (a fresh machine): refresh them once and retry.
    if ! "${fetch[@]}" > "$BUILD/apt/log" 2>&1 \
            && ! { apt-get update -q >> "$BUILD/apt/log" 2>&1 && "${fetch[@]}" >> "$BUILD/apt/log" 2>&1; }; then
        tail -n 20 "$BUILD/apt/log" >&2
        die "apt-get could not fetch ${CORE_DEBS[*]} (is the host's apt configured?)"
    fi
    rm -rf "$BUILD/debs/partial" "$BUILD/debs/lock"
    echo "$want" > "$stamp"
    log "$(find "$BUILD/debs" -name '*.deb' | wc -l) Debian packages ready"
}

build_core() {
    exists abaco/python3-base:local || die "abaco/python3-base:local is missing: run 'make images' first"
    ensure_wheels
    ensure_debs
    local hash
    # The inputs: the base, the Dockerfile, what .dockerignore lets into the context.
    hash="$( {
        image_id abaco/python3-base:local
        cd "$REPO"
        sha256sum Dockerfile .dockerignore abaco.conf pyproject.toml build/core/wheels/.inputs build/core/debs/.inputs
        find actors scripts/make_certs.sh images/nginx images/core -type f ! -name '*.pyc' ! -path '*/__pycache__/*' -print0 \
            | sort -z | xargs -0 sha256sum
    } | sha256sum | cut -d' ' -f1)"
    build_labelled abaco/core:local "$hash" "$REPO" "$REPO/Dockerfile"
}

case "$WHAT" in
    core) build_core ;;
    services) build_services ;;
    all) build_core; build_services ;;
esac
log "done: $(docker images --format '{{.Repository}}:{{.Tag}}' | grep -E '^abaco/(core|redis|rabbitmq):local$' | sort | tr '\n' ' ')"
