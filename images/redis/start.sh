#!/bin/sh
# Start Redis as the platform's store, the way scripts/stack.sh does on the host:
# on ABACO_STORE_REDIS_HOST:ABACO_STORE_REDIS_PORT, append-only file fsynced on every write,
# files in <data_dir>/redis, the password of <data_dir>/keys/redis.password (made by
# `python -m actors.credentials`), written into a 0600 redis.conf, never on a command line.
set -eu
# `abaco-redis health` (the container's health check): the port listens (read from
# /proc/net/tcp: no client, no process table, nothing to start).
if [ "${1:-}" = health ]; then
    port_hex="$(printf '%04X' "${ABACO_STORE_REDIS_PORT:-6379}")"
    grep -q "^ *[0-9]*: [0-9A-F]*:$port_hex [0-9A-F]*:0000 0A " /proc/net/tcp /proc/net/tcp6 2>/dev/null \
        || { echo "nothing listens on port ${ABACO_STORE_REDIS_PORT:-6379}" >&2; exit 1; }
    exit 0
fi
DATA="${ABACO_GENERAL_DATA_DIR:?ABACO_GENERAL_DATA_DIR is not set}"
HOST="${ABACO_STORE_REDIS_HOST:-127.0.0.1}"
PORT="${ABACO_STORE_REDIS_PORT:-6379}"
PASSWORD_FILE="$DATA/keys/redis.password"
[ -s "$PASSWORD_FILE" ] || { echo "abaco-redis: $PASSWORD_FILE is missing (run python -m actors.credentials)" >&2; exit 1; }
mkdir -p "$DATA/redis"
chmod 700 "$DATA/redis"
umask 077
{
    echo "# written by abaco-redis at every start"
    echo "bind $HOST"
    echo "port $PORT"
    echo "appendonly yes"
    echo "appendfsync always"
    echo "dir \"$DATA/redis\""
    echo "daemonize no"
    printf 'requirepass "%s"\n' "$(head -n 1 "$PASSWORD_FILE")"
} > "$DATA/redis/redis-compose.conf"
exec redis-server "$DATA/redis/redis-compose.conf"
