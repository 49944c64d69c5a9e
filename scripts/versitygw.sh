#!/usr/bin/env bash
# versitygw.sh up|down|env|status: the real S3 test service (versitygw, posix
# backend) on 127.0.0.1 for the store's integration tests.
#
#   up      install versitygw v1.8.0 if missing, start it, create the buckets
#   down    stop exactly the process this script started (its pid file)
#   env     print `export ...` lines for the tests (eval them)
#   status  exit 0 when running
#
# Everything lives under .services/ (gitignored): the binary in bin/, data in
# versitygw/, pid in versitygw.pid, log in versitygw.log. Idempotent.
#
# Override with env: OTDS_VGW_PORT (default 39070), OTDS_VGW_ACCESS_KEY,
# OTDS_VGW_SECRET_KEY, OTDS_VGW_BUCKET, OTDS_VGW_LOCK_BUCKET.
set -eu

. "$(dirname "$0")/lib.sh"

VGW_VERSION="v1.8.0"
VGW_PORT="${OTDS_VGW_PORT:-39070}"
VGW_HOST="127.0.0.1"
VGW_ACCESS="${OTDS_VGW_ACCESS_KEY:-otdstest}"
VGW_SECRET="${OTDS_VGW_SECRET_KEY:-otdstest-secret}"
VGW_BUCKET="${OTDS_VGW_BUCKET:-otds-test}"
VGW_LOCK_BUCKET="${OTDS_VGW_LOCK_BUCKET:-otds-test-lock}"
VGW_STATE="$SERVICES_DIR/versitygw"
VGW_PID="$SERVICES_DIR/versitygw.pid"
VGW_LOG="$SERVICES_DIR/versitygw.log"
VGW_ENDPOINT="http://$VGW_HOST:$VGW_PORT"

vgw_env() {
	cat <<EOT
export OTDS_TEST_S3_ENDPOINT=$VGW_ENDPOINT
export OTDS_TEST_S3_BUCKET=$VGW_BUCKET
export OTDS_TEST_S3_LOCK_BUCKET=$VGW_LOCK_BUCKET
export OTDS_TEST_S3_REGION=us-east-1
export AWS_ACCESS_KEY_ID=$VGW_ACCESS
export AWS_SECRET_ACCESS_KEY=$VGW_SECRET
export AWS_REGION=us-east-1
EOT
}

create_bucket() { # NAME [extra admin flags]
	local name="$1" out
	shift
	# The posix backend keeps each bucket as a directory under data/.
	[ -d "$VGW_STATE/data/$name" ] && return 0
	if ! out="$("$VGW_BIN" admin --access "$VGW_ACCESS" --secret "$VGW_SECRET" \
		--endpoint-url "$VGW_ENDPOINT" create-bucket --owner "$VGW_ACCESS" --bucket "$name" "$@" </dev/null 2>&1)"; then
		case "$out" in
		*BucketAlreadyOwnedByYou* | *BucketAlreadyExists*) return 0 ;;
		esac
		die "create bucket $name: $out"
	fi
	log "created bucket $name $*"
}

vgw_up() {
	VGW_BIN="$(install_go_tool versitygw "github.com/versity/versitygw/cmd/versitygw@$VGW_VERSION")"
	if pid_running "$VGW_PID" versitygw; then
		port_open "$VGW_HOST" "$VGW_PORT" || die "versitygw (pid $(cat "$VGW_PID")) runs but $VGW_HOST:$VGW_PORT is closed; run '$0 down' and retry (log: $VGW_LOG)"
	else
		if port_open "$VGW_HOST" "$VGW_PORT"; then
			die "$VGW_HOST:$VGW_PORT is already taken by another process; set OTDS_VGW_PORT to a free port"
		fi
		mkdir -p "$VGW_STATE/data" "$VGW_STATE/versions"
		: >"$VGW_LOG"
		# Without --admin-port the admin API (create-bucket) shares the S3 port.
		start_daemon "$VGW_PID" "$VGW_LOG" "$VGW_BIN" \
			--port "$VGW_HOST:$VGW_PORT" \
			--access "$VGW_ACCESS" --secret "$VGW_SECRET" --region us-east-1 --quiet \
			posix --versioning-dir "$VGW_STATE/versions" "$VGW_STATE/data"
		if ! wait_port "$VGW_HOST" "$VGW_PORT" 60 "$VGW_PID"; then
			tail -n 30 "$VGW_LOG" >&2 || true
			stop_pidfile "$VGW_PID" versitygw
			die "versitygw did not start on $VGW_HOST:$VGW_PORT (log: $VGW_LOG)"
		fi
		log "versitygw $VGW_VERSION up at $VGW_ENDPOINT (pid $(cat "$VGW_PID"))"
	fi
	create_bucket "$VGW_BUCKET"
	create_bucket "$VGW_LOCK_BUCKET" --object-lock-enabled-for-bucket
}

case "${1:-}" in
up) vgw_up ;;
down) stop_pidfile "$VGW_PID" versitygw ;;
env) vgw_env ;;
status) pid_running "$VGW_PID" versitygw && port_open "$VGW_HOST" "$VGW_PORT" ;;
*)
	echo "usage: $0 up|down|env|status" >&2
	exit 2
	;;
esac
