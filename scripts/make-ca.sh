#!/usr/bin/env bash
# A private CA and one certificate for a lab cluster, for `--tls-cert/--tls-key/--ca-file`.
#   scripts/make-ca.sh DIR NAME [NAME…]
# NAMEs are the host names and IP addresses peers use to reach the coordinator and workers
# (all go into the one certificate, so the same files serve every host). Writes DIR/ca.pem
# (give to --ca-file everywhere), DIR/ca.key (keep it safe, or delete it), DIR/server.pem and
# DIR/server.key (--tls-cert and --tls-key on every host). Valid 825 days.
set -euo pipefail
DIR=${1:?usage: make-ca.sh DIR NAME [NAME…]}; shift
[ $# -ge 1 ] || { echo "make-ca.sh: give at least one host name or IP address" >&2; exit 2; }
command -v openssl >/dev/null || { echo "make-ca.sh: openssl is needed (apt-get install openssl)" >&2; exit 1; }
mkdir -p "$DIR"
umask 077
SAN=""
for name in "$@"; do
    if [[ $name =~ ^[0-9.]+$ || $name == *:* ]]; then SAN+="IP:$name,"; else SAN+="DNS:$name,"; fi
done
SAN=${SAN%,}
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$DIR/ca.key" -out "$DIR/ca.pem" -days 825 \
    -subj "/CN=longrope lab CA" -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
openssl req -newkey rsa:2048 -nodes -keyout "$DIR/server.key" -out "$DIR/server.csr" -subj "/CN=$1" 2>/dev/null
printf 'subjectAltName=%s\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth,clientAuth\n' "$SAN" > "$DIR/server.ext"
openssl x509 -req -in "$DIR/server.csr" -CA "$DIR/ca.pem" -CAkey "$DIR/ca.key" -CAcreateserial -out "$DIR/server.pem" \
    -days 825 -sha256 -extfile "$DIR/server.ext" 2>/dev/null
rm -f "$DIR/server.csr" "$DIR/server.ext" "$DIR/ca.srl"
chmod 644 "$DIR/ca.pem" "$DIR/server.pem"
echo "make-ca.sh: $DIR/ca.pem (trust: --ca-file), $DIR/server.pem + $DIR/server.key (serve: --tls-cert/--tls-key) for $SAN"
