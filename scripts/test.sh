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
scripts/slapd.sh up
scripts/versitygw.sh up
eval "$(scripts/slapd.sh env)"
eval "$(scripts/versitygw.sh env)"

echo "== go test"
# shellcheck disable=SC2086
go test $GO_TEST_FLAGS ${GO_TEST_TAGS:+-tags "$GO_TEST_TAGS"} ./... </dev/null
