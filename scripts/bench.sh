#!/usr/bin/env bash
# bench.sh: what `make bench` runs. Each benchmark is built as a test binary
# and run once under /usr/bin/time so the table shows wall time and peak RSS
# of the whole process next to the benchmark's own metrics. Comparisons are
# made inside one run (ldapsearch vs extract; the ideal 20 s vs apply) because
# the machines are shared and noisy: quote ratios and medians, not absolutes.
#
#   BENCH=resolve,plan make bench     # a subset: extract,artifact,resolve,plan,apply
#   EXTRACT_SIZES="100000 400000"     # accounts for the extract benchmark
set -euo pipefail
cd "$(dirname "$0")/.."
case ":$PATH:" in *:/usr/local/go/bin:*) ;; *) [ -d /usr/local/go/bin ] && PATH="$PATH:/usr/local/go/bin" ;; esac
export PATH
BENCH="${BENCH:-artifact,resolve,plan,apply,extract}"
OUT="${BENCH_OUT:-bench-results.txt}"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
command -v /usr/bin/time >/dev/null || { apt-get install -y -q time </dev/null >&2; }

want() { case ",$BENCH," in *",$1,"*) return 0 ;; esac; return 1; }

# gobench NAME PKG PATTERN: one run of a Go benchmark, with wall time and peak RSS.
gobench() {
	local name="$1" pkg="$2" pattern="$3" bin="$TMP/$1.test"
	go test -c -o "$bin" "$pkg"
	echo "== $name ($pkg -bench $pattern)"
	(cd "$pkg" && /usr/bin/time -f "$name: wall %e s, peak RSS %M KB" "$bin" \
		-test.run '^$' -test.bench "$pattern" -test.benchtime 1x -test.benchmem) 2>&1 | tee -a "$OUT"
}

: >"$OUT"
date -u +"bench run %Y-%m-%dT%H:%M:%SZ on $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT"
want artifact && gobench artifact ./internal/artifact 'WriteAccounts|ReadAccounts'
want resolve && gobench resolve ./transform 'Resolve1M'
want plan && gobench plan ./transform/plan 'Plan1M'
want apply && gobench apply ./load/apply 'Apply2000'
if want extract; then
	echo "== extract (ldapsearch vs otds-highspot extract on the same slapd)" | tee -a "$OUT"
	scripts/bench-extract.sh ${EXTRACT_SIZES:-100000 400000} 2>&1 | tee -a "$OUT"
fi
echo "results in $OUT"
