#!/bin/bash
# Install what the platform needs on this machine (Debian 12), idempotently:
#   - Debian packages, only those missing (one `apt-get update` first, only if needed);
#   - the virtualenv .venv with the project installed editable, plus its test extras.
# Re-running is cheap: pip is skipped while pyproject.toml is unchanged since the last
# successful install (a stamp file in .venv holds its hash).
#
#   scripts/install.sh
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$REPO/.venv"
STAMP="$VENV/.abaco-install.sha256"
PIP_LOG="$VENV/pip-install.log"

# supervisor: runs the platform processes and restarts them (scripts/stack.sh);
# docker.io: dockerd (a client-only `docker` may exist already, so check packages, not
# commands); mmdebstrap + busybox-static: local base images (no registry reachable);
# curl/procps/iproute2: used by scripts/stack.sh (readiness probe, pgrep, ss);
# nginx-light + openssl: the TLS proxy of the mtls access mode and its test certificates;
# hey + wrk: HTTP load for the benchmarks (bench/ingest.py);
# crun: the OCI runtime of execution containers ([workers] runtime, registered by stack.sh);
# prometheus + prometheus-alertmanager: what the autoscaler reads, and its alert webhook;
# docker-compose + ansible + ansible-lint: the compose and Ansible deployments (tests/deploy);
# chromium: the headless browser of the dashboard's browser tests (tests/browser, Playwright).
PACKAGES=(docker.io supervisor redis-server redis-tools rabbitmq-server mmdebstrap busybox-static
          curl procps iproute2 util-linux python3-venv nginx-light openssl hey wrk
          prometheus prometheus-alertmanager docker-compose ansible ansible-lint chromium crun)

log() { echo "install: $*"; }
die() { echo "install: ERROR: $*" >&2; exit 1; }

is_installed() {
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q '^install ok installed$'
}

missing_packages() {
    local pkg
    for pkg in "${PACKAGES[@]}"; do
        is_installed "$pkg" || echo "$pkg"
    done
}

# Package post-install scripts would start redis/rabbitmq/docker system services on
# their default ports (no systemd here, so via init.d). Those would then look like
# "external" services to stack.sh, so forbid service starts while installing, the
# standard Debian way (policy-rc.d exit 101), unless a policy is already in place.
install_packages() {
    local policy=/usr/sbin/policy-rc.d created_policy=0 aptlog
    [ "$(id -u)" -eq 0 ] || die "packages missing ($*) and not root; run: sudo apt-get install $*"
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' > "$policy"
        chmod 755 "$policy"
        created_policy=1
    fi
    aptlog="$(mktemp)"
    log "apt-get install $*"
    if ! { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
            --no-install-recommends "$@"; } > "$aptlog" 2>&1; then
        [ "$created_policy" -eq 0 ] || rm -f "$policy"
        tail -n 30 "$aptlog" >&2
        die "apt-get failed (full log: $aptlog)"
    fi
    [ "$created_policy" -eq 0 ] || rm -f "$policy"
    rm -f "$aptlog"
}

ensure_packages() {
    local missing
    mapfile -t missing < <(missing_packages)
    if [ "${#missing[@]}" -gt 0 ]; then
        install_packages "${missing[@]}"
    fi
}

ensure_venv() {
    if [ ! -x "$VENV/bin/python" ]; then
        python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
            || die "python3 is $(python3 --version 2>&1); the project needs Python >= 3.11"
        log "creating $VENV"
        python3 -m venv "$VENV" || die "python3 -m venv failed (is python3-venv installed?)"
        rm -f "$STAMP"
    fi
}

# The stamp holds the hash of pyproject.toml at the last successful install; the
# import check catches a venv that was emptied or broken since.
pip_is_current() {
    [ -f "$STAMP" ] \
        && [ "$(cat "$STAMP")" = "$(sha256sum < "$REPO/pyproject.toml")" ] \
        && "$VENV/bin/python" -c 'import importlib.metadata as m; m.version("abaco-actors")' \
            >/dev/null 2>&1
}

ensure_project() {
    if pip_is_current; then
        return 0
    fi
    log "pip install -e '.[test]' (log: $PIP_LOG)"
    if ! (cd "$REPO" && "$VENV/bin/python" -m pip install -q --disable-pip-version-check \
            -e '.[test]') > "$PIP_LOG" 2>&1; then
        tail -n 30 "$PIP_LOG" >&2
        die "pip install failed (full log: $PIP_LOG)"
    fi
    sha256sum < "$REPO/pyproject.toml" > "$STAMP"
}

main() {
    ensure_packages
    ensure_venv
    ensure_project
    log "ok"
}

main "$@"
