#!/usr/bin/env bash
# test.sh: what `make test` runs. Installs and starts the real test services
# (OpenLDAP slapd with the OTDS-like fixtures, versitygw as the S3 server) on
# 127.0.0.1, runs lint + unit + integration tests, and always stops the
# services it started. Works on a fresh machine (installs what it needs), with
# CI=true and no stdin.
set -euo pipefail
cd "$(dirname "$0")/.."
case ":$PATH:" in *:/usr/local/go/bin:*) ;; *) [ -d /usr/local/go/bin ] && PATH="$PATH:/usr/local/go/bin" ;; esac
export PATH

GO_TEST_FLAGS="${GO_TEST_FLAGS:--count=1 -timeout 30m}"
GO_TEST_TAGS="${GO_TEST_TAGS:-duckdb}"  # duckdb: the DuckDB layout test (cgo, pinned duckdb-go)

cleanup() {
	scripts/slapd.sh down || true
	scripts/versitygw.sh down || true
}
trap cleanup EXIT

echo "== go mod download"
go mod download

echo "== lint"
scripts/lint.sh

echo "== services"
# tmux: the terminal test drives the binary in a real terminal.
. scripts/lib.sh
install_apt_pkg tmux tmux
scripts/slapd.sh up --tls
scripts/versitygw.sh up
eval "$(scripts/slapd.sh env)"
eval "$(scripts/versitygw.sh env)"

echo "== go test"
# Every Arrow buffer the tests free is poisoned, and a buffer freed twice
# panics (internal/artifact/pool.go), so a use after free changes bytes that
# the tests compare instead of passing by luck.
export OTDS_HIGHSPOT_ARROW_POOL="${OTDS_HIGHSPOT_ARROW_POOL:-check}"
# -v goes to a log; the terminal gets the package lines, failures and skips.
LOG="$(mktemp /tmp/otds-highspot-test.XXXXXX.log)"
set +e
# shellcheck disable=SC2086
go test -v $GO_TEST_FLAGS ${GO_TEST_TAGS:+-tags "$GO_TEST_TAGS"} ./... </dev/null 2>&1 | tee "$LOG" |
	grep -E --line-buffered '^(ok|FAIL|panic:|\?|\s*--- (FAIL|SKIP))'
status=${PIPESTATUS[0]}
set -e
# The services are up, so no integration test may skip: a skip here would hide
# a broken service script behind a green run.
if skipped="$(grep -E -- '--- SKIP: Test[A-Za-z0-9_]*Integration' "$LOG")"; then
	echo "integration tests skipped although the services are running:" >&2
	echo "$skipped" >&2
	status=1
fi
if [ "$status" -ne 0 ]; then
	echo "== failures (context from $LOG)"
	grep -E -B25 -- '^\s*--- FAIL' "$LOG" | grep -vE '^\s*--- PASS|^=== (RUN|PAUSE|CONT)' | tail -300
fi
passed=$(grep -c -- '--- PASS' "$LOG" || true)
failed=$(grep -c -- '--- FAIL' "$LOG" || true)
echo "full test log: $LOG"
echo "$passed passed, $failed failed"
exit "$status"
