#!/usr/bin/env bash
# lint.sh: gofmt must have nothing to say, go vet must pass, shipped deploy
# files must parse (the Airflow DAG compiles with python3 -m py_compile).
set -euo pipefail
cd "$(dirname "$0")/.."
case ":$PATH:" in *:/usr/local/go/bin:*) ;; *) [ -d /usr/local/go/bin ] && PATH="$PATH:/usr/local/go/bin" ;; esac

unformatted="$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './.services/*'))"
if [ -n "$unformatted" ]; then
	echo "gofmt would change these files (run 'make fmt'):" >&2
	echo "$unformatted" >&2
	exit 1
fi
go vet ./...
# staticcheck from the Go module proxy, installed once into .services/bin.
. scripts/lib.sh
STATICCHECK="$(install_go_tool staticcheck honnef.co/go/tools/cmd/staticcheck@v0.8.2)"
"$STATICCHECK" ./...
if command -v python3 >/dev/null 2>&1; then
	for f in deploy/airflow/*.py; do
		[ -e "$f" ] || continue
		python3 -m py_compile "$f"
	done
fi
echo "lint: ok"
