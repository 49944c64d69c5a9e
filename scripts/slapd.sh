#!/usr/bin/env bash
# scripts/slapd.sh: a scratch OpenLDAP slapd holding the OTDS-like fixture
# (fixtures/otds), for the LDAP source's integration tests, the demo and the
# extract benchmark. Listens on 127.0.0.1 only; stopped by its own PID.
#
#   scripts/slapd.sh up   [--data FILE] [--port N] [--dir D] [--tls]
#   scripts/slapd.sh down [--dir D]
#   scripts/slapd.sh env  [--port N] [--dir D]      # prints export lines
#
# Defaults: --data fixtures/otds/trees.ldif, --port $OTDS_SLAPD_PORT or 38389,
# --dir .services/slapd (gitignored). --tls also generates a self-signed CA and
# server certificate (openssl) and listens on ldaps://127.0.0.1:PORT+1 too,
# StartTLS on the plain port. Installs slapd/ldap-utils with apt when missing.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
FIX="$ROOT/fixtures/otds"
CMD=${1:-}
[ $# -gt 0 ] && shift
DATA="$FIX/trees.ldif"
PORT=${OTDS_SLAPD_PORT:-38389}
DIR="$ROOT/.services/slapd"
TLS=0
while [ $# -gt 0 ]; do
  case "$1" in
    --data) DATA=$(cd "$(dirname "$2")" && pwd)/$(basename "$2"); shift 2 ;;
    --port) PORT=$2; shift 2 ;;
    --dir) mkdir -p "$2"; DIR=$(cd "$2" && pwd); shift 2 ;;
    --tls) TLS=1; shift ;;
    *) echo "slapd.sh: unknown argument $1 (see the header of scripts/slapd.sh)" >&2; exit 2 ;;
  esac
done
TLSPORT=$((PORT + 1))

log() { echo "slapd.sh: $*" >&2; }

ensure_installed() {
  if command -v slapd >/dev/null 2>&1 || [ -x /usr/sbin/slapd ]; then
    return
  fi
  log "installing slapd and ldap-utils with apt-get"
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq slapd ldap-utils >/dev/null
}

PATH="$PATH:/usr/sbin"

running_pid() {
  local f="$DIR/slapd.pid"
  [ -s "$f" ] || return 1
  local pid
  pid=$(cat "$f")
  kill -0 "$pid" 2>/dev/null || return 1
  echo "$pid"
}

make_certs() {
  local c="$DIR/tls"
  mkdir -p "$c"
  openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=otds-highspot test CA" \
    -keyout "$c/ca.key" -out "$c/ca.pem" >/dev/null 2>&1
  openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" \
    -keyout "$c/server.key" -out "$c/server.csr" >/dev/null 2>&1
  printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >"$c/ext.cnf"
  openssl x509 -req -in "$c/server.csr" -CA "$c/ca.pem" -CAkey "$c/ca.key" -CAcreateserial \
    -days 30 -extfile "$c/ext.cnf" -out "$c/server.pem" >/dev/null 2>&1
  chmod 600 "$c/server.key"
}

up() {
  ensure_installed
  if pid=$(running_pid); then
    log "already running (pid $pid) in $DIR; run '$0 down --dir $DIR' first"
    exit 1
  fi
  [ -r "$DATA" ] || { log "data file $DATA not readable"; exit 2; }
  rm -rf "$DIR/slapd.d" "$DIR/data" "$DIR/dm" "$DIR/tls"
  mkdir -p "$DIR/slapd.d" "$DIR/data" "$DIR/dm"
  local tlscfg="" urls="ldap://127.0.0.1:$PORT/"
  if [ "$TLS" = 1 ]; then
    make_certs
    tlscfg="olcTLSCACertificateFile: $DIR/tls/ca.pem
olcTLSCertificateFile: $DIR/tls/server.pem
olcTLSCertificateKeyFile: $DIR/tls/server.key
"
    urls="$urls ldaps://127.0.0.1:$TLSPORT/"
  fi
  # map size: 10x the data file, at least 100 MiB
  local size maxsize
  size=$(stat -c %s "$DATA")
  maxsize=$((size * 10))
  [ "$maxsize" -lt 104857600 ] && maxsize=104857600
  TLSCFG="$tlscfg" awk -v dir="$DIR" -v schema="$FIX/schema.ldif" -v maxsize="$maxsize" '
    { gsub(/@DIR@/, dir); gsub(/@SCHEMA@/, schema); gsub(/@MAXSIZE@/, maxsize) }
    /^@TLS@$/ { printf "%s\n", ENVIRON["TLSCFG"]; next }
    { print }' "$FIX/slapd-config.ldif" >"$DIR/config.ldif"
  slapadd -n0 -F "$DIR/slapd.d" -l "$DIR/config.ldif" >/dev/null
  slapadd -n1 -F "$DIR/slapd.d" -l "$DATA" -q
  slapadd -n2 -F "$DIR/slapd.d" -l "$FIX/directory-manager.ldif" -q
  slapd -F "$DIR/slapd.d" -h "$urls"
  local i=0
  while ! running_pid >/dev/null && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
  pid=$(running_pid) || { log "slapd did not start; see 'slapd -d 1 -F $DIR/slapd.d'"; exit 1; }
  # slapd binds its ports before it writes the pid file but calls listen()
  # later, in its listener thread: until then a client gets "connection
  # refused". Wait until the port accepts a connection (30 s under load).
  i=0
  while ! (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
  (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null || { log "slapd (pid $pid) does not accept connections on 127.0.0.1:$PORT after 30 s; see 'slapd -d 1 -F $DIR/slapd.d'"; exit 1; }
  echo "$PORT" >"$DIR/port"
  echo "$TLS" >"$DIR/tls.enabled"
  log "slapd pid $pid on ldap://127.0.0.1:$PORT (dir $DIR, data $DATA)"
}

down() {
  local pid
  if ! pid=$(running_pid); then
    log "not running in $DIR"
    return 0
  fi
  kill "$pid"
  local i=0
  while kill -0 "$pid" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
  log "stopped pid $pid"
}

env_() {
  [ -s "$DIR/port" ] && PORT=$(cat "$DIR/port")
  echo "export OTDS_TEST_LDAP_URL=ldap://127.0.0.1:$PORT"
  echo "export OTDS_TEST_LDAP_BIND_DN='cn=Directory Manager'"
  echo "export OTDS_TEST_LDAP_PASSWORD=secret"
  echo "export OTDS_TEST_LDAP_READER_DN='cn=otds-reader,ou=ServiceAccounts,dc=identity,dc=opentext,dc=net'"
  echo "export OTDS_TEST_LDAP_READER_PASSWORD=reader-secret"
  if [ -s "$DIR/tls.enabled" ] && [ "$(cat "$DIR/tls.enabled")" = 1 ]; then
    echo "export OTDS_TEST_LDAPS_URL=ldaps://127.0.0.1:$((PORT + 1))"
    echo "export OTDS_TEST_LDAP_CA_FILE=$DIR/tls/ca.pem"
  fi
}

case "$CMD" in
  up) up ;;
  down) down ;;
  env) env_ ;;
  *) echo "usage: $0 up|down|env [--data FILE] [--port N] [--dir D] [--tls]" >&2; exit 2 ;;
esac
