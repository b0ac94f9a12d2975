#!/bin/sh
# Start RabbitMQ as the platform's broker: one node per instance, listening on
# ABACO_RABBIT_HOST:ABACO_RABBIT_PORT only, files in <data_dir>/rabbitmq, Erlang
# distribution on loopback (port AMQP + 20000, as scripts/stack.sh does). The platform's
# user, password and vhost come from <data_dir>/keys/rabbit.credentials (made by
# `python -m actors.credentials`); no guest user is made. Runs as the image's rabbitmq user.
set -eu
# `abaco-rabbitmq health` (the container's health check): the port listens (read from
# /proc/net/tcp: no client, no process table, nothing to start).
if [ "${1:-}" = health ]; then
    port_hex="$(printf '%04X' "${ABACO_RABBIT_PORT:-5672}")"
    grep -q "^ *[0-9]*: [0-9A-F]*:$port_hex [0-9A-F]*:0000 0A " /proc/net/tcp /proc/net/tcp6 2>/dev/null \
        || { echo "nothing listens on port ${ABACO_RABBIT_PORT:-5672}" >&2; exit 1; }
    exit 0
fi
DATA="${ABACO_GENERAL_DATA_DIR:?ABACO_GENERAL_DATA_DIR is not set}"
INSTANCE="${ABACO_GENERAL_INSTANCE:-abaco}"
HOST="${ABACO_RABBIT_HOST:-127.0.0.1}"
PORT="${ABACO_RABBIT_PORT:-5672}"
VHOST="${ABACO_RABBIT_VHOST:-/}"
CREDENTIALS="$DATA/keys/rabbit.credentials"
[ -s "$CREDENTIALS" ] || { echo "abaco-rabbitmq: $CREDENTIALS is missing (run python -m actors.credentials)" >&2; exit 1; }
USER_NAME="$(sed -n 1p "$CREDENTIALS")"
PASSWORD="$(sed -n 2p "$CREDENTIALS")"
DIR="$DATA/rabbitmq-compose"
mkdir -p "$DIR"
umask 077
cat > "$DIR/rabbitmq.conf" <<CONF
# written by abaco-rabbitmq at every start
listeners.tcp.default = $HOST:$PORT
default_user = $USER_NAME
default_pass = $PASSWORD
default_vhost = $VHOST
default_permissions.configure = .*
default_permissions.read = .*
default_permissions.write = .*
classic_queue.default_version = 2
CONF
chown -R rabbitmq:rabbitmq "$DIR"
export RABBITMQ_NODENAME="$INSTANCE@localhost"
export RABBITMQ_CONFIG_FILE="$DIR/rabbitmq"
export RABBITMQ_MNESIA_BASE="$DIR/mnesia"
export RABBITMQ_LOG_BASE="$DIR/log"
export RABBITMQ_PID_FILE="$DIR/pid"
export RABBITMQ_DIST_PORT=$((PORT + 20000))
export RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
export RABBITMQ_CTL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
export ERL_EPMD_ADDRESS=127.0.0.1
export HOME=/var/lib/rabbitmq
exec rabbitmq-server
