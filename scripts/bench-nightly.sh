#!/usr/bin/env bash
# bench-nightly.sh: what `make bench-nightly` runs (issue 13). For each size N
# in NIGHTLY_SIZES (default "200000"; 1000000 works, allow ~6 GiB of RAM) it
# generates N accounts over 5 trees with 10% cross-tree duplicates and nested
# groups (tools/otdsgen), then day 2 with 1% churn (otdsgen -churn 0.01:
# joiners, leavers, movers, newly disabled), and runs each day through the
# built CLI the Airflow way: extract, transform, pull, plan and apply, each
# its own process with one --run-id per day, against the Highspot stand-in
# with pacing off (rate_per_second 1e6). The stand-in is its own process
# (`otds-highspot sandbox --state`, the after binary's, over loopback REST):
# its decoding of the state file and its serving are the stand-in's cost, not
# ours, so they are reported on their own line and not counted in "whole".
# NIGHTLY_SANDBOX=inprocess runs it inside pull and apply instead (target:
# sandbox), as the figures before session 4 were measured.
# Each stage runs under /usr/bin/time, so the table shows that process's own
# wall time, user+sys CPU and peak RSS; apply's (and pull's) --json summary
# gives the request count. Load averages (uptime) are printed before and after.
#
# Day 1 is applied in full (about 60k creates at 200k, unpaced) because the
# day-2 pull and plan must see day 1's users; the day-1 apply time is in the
# table but it is not the figure the issue's targets are about (day 2 is).
#
# Before/after in the same run: NIGHTLY_BASELINE=/path/to/old/otds-highspot
# runs the same generated trees through that binary too ("before"), and the
# day-2 table gets an after/before ratio per stage. NIGHTLY_REPEAT=3 runs day 2
# three times per binary (each from a copy of that binary's day-1 state, the
# binaries alternating) and shows the median of each column; whole = median of
# the per-repeat sums.
#
# NIGHTLY_FROM=DIR re-measures day 2 only, from a size dir kept by an earlier
# NIGHTLY_KEEP=1 run (DIR/day2 trees, DIR/<before|after>.day1 states; one size).
#
# NIGHTLY_PROFILE=DIR writes a CPU and an allocation profile of every stage
# process there (DIR/<binary>.<day>.<stage>.cpu and .mem, via
# OTDS_HIGHSPOT_CPUPROFILE and OTDS_HIGHSPOT_MEMPROFILE; read with
# `go tool pprof -top BINARY FILE`, and -sample_index=alloc_space for .mem).
#
# Env: NIGHTLY_SANDBOX (process), NIGHTLY_SIZES ("200000"), NIGHTLY_OUT (bench-nightly.txt: the tables),
# NIGHTLY_BASELINE (unset), NIGHTLY_REPEAT (1), NIGHTLY_KEEP=1 keeps the work
# dir (TMPDIR, about 4 KB per account per binary, twice that with repeats).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
case ":$PATH:" in *:/usr/local/go/bin:*) ;; *) [ -d /usr/local/go/bin ] && PATH="$PATH:/usr/local/go/bin" ;; esac
export PATH
command -v /usr/bin/time >/dev/null || { apt-get install -y -q time </dev/null >&2; }
SIZES=(${NIGHTLY_SIZES:-200000})
OUT="${NIGHTLY_OUT:-bench-nightly.txt}"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/bench-nightly.XXXXXX")
cleanup() { sandbox_down; [ "${NIGHTLY_KEEP:-}" = 1 ] && echo "work dir kept: $WORK" >&2 || rm -rf "$WORK"; }
trap cleanup EXIT
trap 'exit 130' INT TERM
log() { echo "bench-nightly: $*" >&2; }

go build -o "$WORK/otds-highspot" ./cmd/otds-highspot
go build -o "$WORK/otdsgen" ./tools/otdsgen
BINS=(after)
BIN_after="$WORK/otds-highspot"
if [ -n "${NIGHTLY_BASELINE:-}" ]; then
  [ -x "$NIGHTLY_BASELINE" ] || { echo "bench-nightly: NIGHTLY_BASELINE=$NIGHTLY_BASELINE is not an executable file (build the old commit first: git worktree add /tmp/old REV && (cd /tmp/old && go build -o /tmp/old.bin ./cmd/otds-highspot))" >&2; exit 2; }
  BINS=(before after)
  BIN_before="$NIGHTLY_BASELINE"
fi
REPEAT=${NIGHTLY_REPEAT:-1}
SANDBOX=${NIGHTLY_SANDBOX:-process}
case "$SANDBOX" in process | inprocess) ;; *) echo "bench-nightly: NIGHTLY_SANDBOX=$SANDBOX: want process or inprocess" >&2; exit 2 ;; esac
export HS_KEY=sandbox-key HS_SECRET=sandbox-secret # the stand-in's built-in credentials
PARTS=("Acme Corp" "Beta GmbH" "Gamma Contractors" "Delta SA" "Epsilon Ltd") # otdsgen's first five partitions

config() { # DIR TREES DAY -> DIR/config-DAY.yaml: that day's trees (under TREES), state under DIR
  local dir=$1 trees=$2 day=$3 t
  {
    echo "version: 1"
    echo "store: {url: $dir/artifacts}"
    echo "extract: {concurrency: 2}"
    echo "trees:"
    for t in 0 1 2 3 4; do
      echo "  - name: t$t"
      echo "    source: ldif"
      echo "    ldif: {path: \"$trees/$day/tree-0$t.ldif\"}"
      echo "    partitions: [\"${PARTS[$t]}\"]"
      echo "    extra_attributes: {territory: oTExtraAttr1, business_unit: oTExtraAttr2}"
    done
    cat <<'YAML'
transform:
  derive:
    role:
      - {value: sales_management, when: {member_of: "Sales Management"}}
      - {value: field_sales, when: {member_of: "Field Sales"}}
      - {value: inside_sales, when: {member_of: "Inside Sales"}}
      - {value: channel, when: {member_of: "Channel Sales"}}
    region:
      - from: country
        map: {US: AMER, CA: AMER, BR: LATAM, DE: EMEA, GB: EMEA, NL: EMEA, FR: EMEA, JP: APAC}
    territory:
      - {from: territory}
    business_unit:
      - {from: business_unit}
highspot:
  create_missing_groups: true
YAML
    if [ "$SANDBOX" = process ]; then
      echo "  target: rest"
      echo "  rest: {base_url: \"http://127.0.0.1:$(cat "$dir/sandbox.port")/v1.0\", api_key: {env: HS_KEY}, api_secret: {env: HS_SECRET}, timeout: 60s}"
    else
      echo "  target: sandbox"
      echo "  sandbox: {surface: rest, state_file: $dir/highspot.json}"
    fi
    cat <<'YAML'
apply:
  rate_per_second: 1000000
  concurrency: 4
policy:
  scope:
    name: sales-roles
    when: 'person.role in ["field_sales", "inside_sales", "sales_management", "channel"]'
  managed_groups: [Sales - Field, Sales - Inside, Sales Management, Audience - Channel, Region - EMEA, Region - AMER, Region - APAC, Audience - Enterprise]
  access:
    - {name: sales-management, when: 'person.role == "sales_management"', groups: [Sales Management, Sales - Field], stop: true}
    - {name: field-sales, when: 'person.role == "field_sales"', groups: [Sales - Field]}
    - {name: inside-sales, when: 'person.role == "inside_sales"', groups: [Sales - Inside]}
    - {name: channel, when: 'person.role == "channel"', groups: [Audience - Channel]}
  audiences:
    - {name: region-amer, when: 'person.region == "AMER"', groups: [Region - AMER]}
    - {name: region-emea, when: 'person.region == "EMEA"', groups: [Region - EMEA]}
    - {name: region-apac, when: 'person.region == "APAC"', groups: [Region - APAC]}
    - {name: enterprise-bu, when: 'person.business_unit == "Enterprise"', groups: [Audience - Enterprise]}
  leavers: {suspend_when_disabled: true, suspend_when_missing: true, suspend_when_out_of_scope: true, grace_days: 0}
  thresholds: []
YAML
  } >"$dir/config-$day.yaml"
}

# stage BIN DIR DAY RUNID NAME TSV: one stage as its own process; appends
# "name wall cpu rss_kib requests" to TSV.
stage() {
  local BIN=$1 dir=$2 day=$3 run=$4 name=$5 tsv=$6 rc=0
  local prof=
  [ -n "${NIGHTLY_PROFILE:-}" ] && mkdir -p "$NIGHTLY_PROFILE" && prof="$NIGHTLY_PROFILE/$(basename "$dir").$day.$name.cpu"
  OTDS_HIGHSPOT_CPUPROFILE=$prof OTDS_HIGHSPOT_MEMPROFILE=${prof:+${prof%.cpu}.mem} /usr/bin/time -o "$dir/time" -f "%e %U %S %M" "$BIN" --config "$dir/config-$day.yaml" --run-id "$run" \
    --json --log-format json --log-level warn "$name" >"$dir/$day-$name.json" 2>"$dir/$day-$name.log" </dev/null || rc=$?
  if [ "$rc" -ne 0 ]; then
    log "$day $name failed (exit $rc); last log lines:"; tail -5 "$dir/$day-$name.log" >&2; exit 1
  fi
  local req
  req=$(grep -o '"requests": *[0-9]*' "$dir/$day-$name.json" | head -1 | grep -o '[0-9]*$' || true)
  read -r wall user sys rss <"$dir/time"
  echo "$name $wall $(awk -v u="$user" -v s="$sys" 'BEGIN{printf "%.2f", u+s}') $rss ${req:--}" >>"$tsv"
  log "$(basename "$dir") $day $name: wall ${wall}s rss $((rss / 1024)) MiB requests ${req:--}"
}

table() { # TITLE TSV...: one table; with several TSVs (repeats), the median of each column
  echo "$1"
  shift
  awk 'function med(a, n,   i, j, t) { for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
         return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2 }
    FNR == 1 { rep++ }
    { if (!($1 in seen)) { seen[$1] = 1; order[++ns] = $1 }
      k = $1 SUBSEP rep; W[k] = $2; C[k] = $3; M[k] = $4; R[k] = $5
      sw[rep] += $2; sc[rep] += $3; if ($4 > sm[rep]) sm[rep] = $4; if ($5 != "-") sr[rep] += $5 }
    END {
      printf "| %-9s | %7s | %7s | %13s | %8s |\n|---|---:|---:|---:|---:|\n", "stage", "wall s", "CPU s", "peak RSS MiB", "requests"
      for (i = 1; i <= ns; i++) { s = order[i]
        for (r = 1; r <= rep; r++) { k = s SUBSEP r; w[r] = W[k]; c[r] = C[k]; m[r] = M[k]; q[r] = R[k] }
        printf "| %-9s | %7.1f | %7.1f | %13.0f | %8s |\n", s, med(w, rep), med(c, rep), med(m, rep) / 1024, q[1] }
      for (r = 1; r <= rep; r++) { w[r] = sw[r]; c[r] = sc[r]; m[r] = sm[r]; q[r] = sr[r] }
      printf "| %-9s | %7.1f | %7.1f | %13.0f | %8d |\n", "**whole**", med(w, rep), med(c, rep), med(m, rep) / 1024, med(q, rep) }' "$@"
  echo
}

ratio() { # TITLE BEFORE-TSVS -- AFTER-TSVS: after/before of the medians per stage (wall, CPU, RSS)
  echo "$1"
  shift
  local b=() a=()
  while [ "$1" != -- ]; do b+=("$1"); shift; done
  shift; a=("$@")
  paste -d' ' <(table x "${b[@]}" | awk -F'|' 'NR > 3 && NF > 5 {gsub(/ /, ""); print $2, $3, $4, $5}') \
    <(table x "${a[@]}" | awk -F'|' 'NR > 3 && NF > 5 {gsub(/ /, ""); print $3, $4, $5}') |
    awk 'BEGIN { printf "| %-9s | %10s | %10s | %10s |\n|---|---:|---:|---:|\n", "stage", "wall a/b", "CPU a/b", "RSS a/b" }
      function r(x, y) { return y > 0 ? sprintf("%.2f", x / y) : "-" }
      { printf "| %-9s | %10s | %10s | %10s |\n", $1, r($5, $2), r($6, $3), r($7, $4) }'
  echo
}

# sandbox_up DIR: starts the stand-in on a free loopback port with its state
# in DIR/highspot.json (under /usr/bin/time: DIR/sandbox.time when it ends),
# writes the port to DIR/sandbox.port and waits until it accepts connections.
SANDBOX_PID=
sandbox_up() {
  local dir=$1 port i
  for i in $(seq 1 20); do
    port=$((20000 + RANDOM % 40000))
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && continue # taken
    echo "$port" >"$dir/sandbox.port"
    /usr/bin/time -o "$dir/sandbox.time" -f "%e %U %S %M" "$WORK/otds-highspot" sandbox --listen "127.0.0.1:$port" \
      --state "$dir/highspot.json" >"$dir/sandbox.log" 2>&1 </dev/null &
    SANDBOX_PID=$!
    for i in $(seq 1 600); do # loading a 1M-user state takes a while
      (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
      kill -0 "$SANDBOX_PID" 2>/dev/null || break
      sleep 0.1
    done
    log "the sandbox did not come up on port $port:"; tail -5 "$dir/sandbox.log" >&2; sandbox_down
  done
  log "no sandbox could be started"; exit 1
}

# sandbox_down: stops the stand-in (SIGTERM: it folds its journal into the
# state file and exits) and waits for it; /usr/bin/time passes the signal on.
sandbox_down() {
  [ -n "${SANDBOX_PID:-}" ] || return 0
  pkill -TERM -P "$SANDBOX_PID" 2>/dev/null || true
  wait "$SANDBOX_PID" 2>/dev/null || true
  SANDBOX_PID=
}

# day BINNAME DIR TREES DAY RUNID TSV: the five stages of one day; with the
# stand-in as a process, its figures go to TSV.sandbox ("wall cpu rss_kib").
day() {
  local bn=$1 dir=$2 trees=$3 d=$4 run=$5 tsv=$6 s binv="BIN_$1"
  mkdir -p "$dir"
  [ "$SANDBOX" = process ] && sandbox_up "$dir"
  config "$dir" "$trees" "$d"
  : >"$tsv"
  for s in extract transform pull plan apply; do stage "${!binv}" "$dir" "$d" "$run" "$s" "$tsv"; done
  if [ "$SANDBOX" = process ]; then
    sandbox_down
    read -r wall user sys rss <"$dir/sandbox.time"
    echo "$wall $(awk -v u="$user" -v s="$sys" 'BEGIN{printf "%.2f", u+s}') $rss" >"$tsv.sandbox"
    rm -f "$dir/sandbox.port" "$dir/sandbox.time"
  fi
}

# standin TSV...: the stand-in's line under a table (median CPU, largest RSS)
standin() {
  [ "$SANDBOX" = process ] || return 0
  local f fs=()
  for f in "$@"; do [ -f "$f.sandbox" ] && fs+=("$f.sandbox"); done
  [ ${#fs[@]} -gt 0 ] || return 0
  sort -n -k2 "${fs[@]}" | awk '{ c[NR] = $2; if ($3 > m) m = $3 } END { printf "stand-in sandbox, its own process (not in whole): CPU %.1f s (median), peak RSS %d MiB\n\n", c[int((NR + 1) / 2)], m / 1024 }'
}

: >"$OUT"
{
  echo "bench-nightly $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(nproc) cores, $(git describe --always --dirty 2>/dev/null)${NIGHTLY_BASELINE:+, before = $NIGHTLY_BASELINE}, day 2 x $REPEAT, sandbox: $SANDBOX"
  echo "load before: $(uptime)"
  echo
} | tee -a "$OUT"
for N in "${SIZES[@]}"; do
  trees="$WORK/n$N"
  if [ -n "${NIGHTLY_FROM:-}" ]; then
    trees="$NIGHTLY_FROM"
    for bn in "${BINS[@]}"; do
      [ -d "$trees/day2" ] && [ -d "$trees/$bn.day1/artifacts" ] || { echo "bench-nightly: NIGHTLY_FROM=$trees needs day2/ and $bn.day1/ (a size dir of a NIGHTLY_KEEP=1 run)" >&2; exit 2; }
    done
    log "N=$N: day 2 only, from the trees and day-1 states in $trees"
  else
    mkdir -p "$trees"
    t0=$SECONDS
    "$WORK/otdsgen" -accounts "$N" -trees 5 -dup-share 0.1 -seed 1 -out "$trees/day1" 2>&1 | sed 's/^/  /' >&2
    "$WORK/otdsgen" -accounts "$N" -trees 5 -dup-share 0.1 -seed 1 -churn 0.01 -out "$trees/day2" 2>&1 | sed 's/^/  /' >&2
    log "N=$N: generated day 1 and day 2 in $((SECONDS - t0))s"
    for bn in "${BINS[@]}"; do
      day "$bn" "$trees/$bn.day1" "$trees" day1 20260101-nightly-day1 "$trees/$bn.day1.tsv"
      rm -rf "$trees/$bn.day1/time" # the state day 2 starts from: artifacts + sandbox state
      table "N=$N day1, $bn: each stage its own process; whole = sum of walls and CPU, largest RSS, sum of requests" "$trees/$bn.day1.tsv" | tee -a "$OUT"
      standin "$trees/$bn.day1.tsv" | tee -a "$OUT"
    done
  fi
  rm -f "$trees"/*.day2.*.tsv "$trees"/*.day2.*.tsv.sandbox # figures of an earlier day 2 in a NIGHTLY_FROM dir
  for r in $(seq 1 "$REPEAT"); do
    for bn in "${BINS[@]}"; do
      rm -rf "$trees/$bn.rep"
      cp -a "$trees/$bn.day1" "$trees/$bn.rep"
      day "$bn" "$trees/$bn.rep" "$trees" day2 20260102-nightly-day2 "$trees/$bn.day2.$r.tsv"
      if [ "$r" = 1 ]; then cp "$trees/$bn.rep/day2-pull.json" "$trees/$bn.day2-pull.json"; cp "$trees/$bn.rep/day2-plan.json" "$trees/$bn.day2-plan.json"; fi
      rm -rf "$trees/$bn.rep"
    done
  done
  for bn in "${BINS[@]}"; do
    changes=$(grep -o '"changes": *[0-9]*' "$trees/$bn.day2-plan.json" | head -1 | grep -o '[0-9]*$' || echo "?")
    users=$(grep -o '"highspot_users": *[0-9]*' "$trees/$bn.day2-pull.json" | head -1 | grep -o '[0-9]*$' || echo "?")
    table "N=$N day2 (1% churn), $bn, median of $REPEAT: pull saw $users Highspot users, plan $changes changes (plan includes history); whole = sum of walls and CPU, largest RSS, sum of requests" "$trees/$bn".day2.*.tsv | tee -a "$OUT"
    standin "$trees/$bn".day2.*.tsv | tee -a "$OUT"
  done
  if [ ${#BINS[@]} = 2 ]; then
    ratio "N=$N day2, after/before of the medians (below 1 = better)" "$trees"/before.day2.*.tsv -- "$trees"/after.day2.*.tsv | tee -a "$OUT"
  fi
  [ "${NIGHTLY_KEEP:-}" = 1 ] || [ -n "${NIGHTLY_FROM:-}" ] || rm -rf "$trees"
done
echo "load after: $(uptime)" | tee -a "$OUT"
echo "results in $OUT"
