#!/bin/bash
# Make a test certificate authority, a server certificate for 127.0.0.1/localhost and
# client certificates, for the mtls access mode (images/nginx/).
#
#   scripts/make_certs.sh DIR [CLIENT_CN ...]     (default client: alice)
#   scripts/make_certs.sh --server-only DIR       (the CA and server certificate, no client)
#
# DIR gets ca.pem/ca.key, server.pem/server.key and <cn>.pem/<cn>.key for each client.
# An existing CA in DIR is reused, so more clients can be added later. Keys are 0600.
# SERVER_SANS adds names to the server certificate (e.g. SERVER_SANS="DNS:abaco.lab,IP:10.0.0.5").
set -euo pipefail

server_only=0
if [ "${1:-}" = --server-only ]; then server_only=1; shift; fi
dir="${1:?usage: scripts/make_certs.sh [--server-only] DIR [CLIENT_CN ...]}"
shift
clients=("${@:-alice}")
[ "$server_only" = 0 ] || clients=()
mkdir -p "$dir"
cd "$dir"
umask 077

if [ ! -f ca.pem ]; then
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 365 \
        -subj "/O=Abaco test/CN=Abaco test CA" -keyout ca.key -out ca.pem 2>/dev/null
fi

# sign NAME SUBJECT EXTENSIONS: a key and a certificate signed by the CA.
sign() {
    local name="$1" subject="$2" ext="$3"
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "$subject" \
        -keyout "$name.key" -out "$name.csr" 2>/dev/null
    printf '%s\n' "$ext" > "$name.ext"
    openssl x509 -req -in "$name.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -days 30 \
        -extfile "$name.ext" -out "$name.pem" 2>/dev/null
    rm -f "$name.csr" "$name.ext"
}

[ -f server.pem ] || sign server "/O=Abaco test/CN=localhost" \
    "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1${SERVER_SANS:+,$SERVER_SANS}
extendedKeyUsage=serverAuth"
for cn in "${clients[@]}"; do
    sign "$cn" "/O=Abaco test/CN=$cn" "extendedKeyUsage=clientAuth"
done
chmod 644 ./*.pem
echo "certificates in $dir: ca.pem server.pem ${clients[*]/%/.pem}"
