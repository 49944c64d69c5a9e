#!/usr/bin/env bash
# bench-nightly.sh: what `make bench-nightly` runs (issue 13). For each size N
# in NIGHTLY_SIZES (default "200000"; 1000000 works, allow ~6 GiB of RAM) it
# generates N accounts over 5 trees with 10% cross-tree duplicates and nested
# groups (cmd/otdsgen), then day 2 with 1% churn (otdsgen -churn 0.01:
# joiners, leavers, movers, newly disabled), and runs each day through the
# built CLI the Airflow way: extract, transform, pull, plan and apply, each
# its own process with one --run-id per day, against the in-process Highspot
# sandbox (state_file in the work dir) with pacing off (rate_per_second 1e6).
# Each stage runs under /usr/bin/time, so the table shows that process's own
# wall time, user+sys CPU and peak RSS; apply's (and pull's) --json summary
# gives the request count. Load averages (uptime) are printed before and after.
#
# Day 1 is applied in full (about 60k creates at 200k, unpaced) because the
# day-2 pull and plan must see day 1's users; the day-1 apply time is in the
# table but it is not the figure the issue's targets are about (day 2 is).
#
# Env: NIGHTLY_SIZES ("200000"), NIGHTLY_OUT (bench-nightly.txt: the tables),
# NIGHTLY_KEEP=1 keeps the work dir (TMPDIR, about 4 KB per account).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
case ":$PATH:" in *:/usr/local/go/bin:*) ;; *) [ -d /usr/local/go/bin ] && PATH="$PATH:/usr/local/go/bin" ;; esac
export PATH
command -v /usr/bin/time >/dev/null || { apt-get install -y -q time </dev/null >&2; }
SIZES=(${NIGHTLY_SIZES:-200000})
OUT="${NIGHTLY_OUT:-bench-nightly.txt}"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/bench-nightly.XXXXXX")
cleanup() { [ "${NIGHTLY_KEEP:-}" = 1 ] && echo "work dir kept: $WORK" >&2 || rm -rf "$WORK"; }
trap cleanup EXIT
trap 'exit 130' INT TERM
log() { echo "bench-nightly: $*" >&2; }

go build -o "$WORK/otds-highspot" ./cmd/otds-highspot
go build -o "$WORK/otdsgen" ./cmd/otdsgen
BIN="$WORK/otds-highspot"
PARTS=("Acme Corp" "Beta GmbH" "Gamma Contractors" "Delta SA" "Epsilon Ltd") # otdsgen's first five partitions

config() { # DIR DAY -> config.yaml for that day's trees
  local dir=$1 day=$2 t
  {
    echo "version: 1"
    echo "store: {url: $dir/artifacts}"
    echo "extract: {concurrency: 2}"
    echo "trees:"
    for t in 0 1 2 3 4; do
      echo "  - name: t$t"
      echo "    source: ldif"
      echo "    ldif: {path: \"$dir/$day/tree-0$t.ldif\"}"
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
  target: sandbox
  create_missing_groups: true
YAML
    echo "  sandbox: {surface: rest, state_file: $dir/highspot.json}"
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

# stage DIR DAY RUNID NAME: one stage as its own process; appends
# "name wall cpu rss_kib requests" to DIR/DAY.tsv.
stage() {
  local dir=$1 day=$2 run=$3 name=$4 rc=0
  /usr/bin/time -o "$dir/time" -f "%e %U %S %M" "$BIN" --config "$dir/config-$day.yaml" --run-id "$run" \
    --json --log-format json --log-level warn "$name" >"$dir/$day-$name.json" 2>"$dir/$day-$name.log" </dev/null || rc=$?
  if [ "$rc" -ne 0 ]; then
    log "$day $name failed (exit $rc); last log lines:"; tail -5 "$dir/$day-$name.log" >&2; exit 1
  fi
  local req
  req=$(grep -o '"requests": *[0-9]*' "$dir/$day-$name.json" | head -1 | grep -o '[0-9]*$' || true)
  read -r wall user sys rss <"$dir/time"
  echo "$name $wall $(awk -v u="$user" -v s="$sys" 'BEGIN{printf "%.2f", u+s}') $rss ${req:--}" >>"$dir/$day.tsv"
  log "$day $name: wall ${wall}s rss $((rss / 1024)) MiB requests ${req:--}"
}

table() { # TSV TITLE
  echo "$2"
  awk 'BEGIN { printf "| %-9s | %7s | %7s | %13s | %8s |\n|---|---:|---:|---:|---:|\n", "stage", "wall s", "CPU s", "peak RSS MiB", "requests" }
    { printf "| %-9s | %7.1f | %7.1f | %13.0f | %8s |\n", $1, $2, $3, $4 / 1024, $5; w += $2; c += $3; if ($4 > m) m = $4; if ($5 != "-") r += $5 }
    END { printf "| %-9s | %7.1f | %7.1f | %13.0f | %8d |\n", "**whole**", w, c, m / 1024, r }' "$1"
  echo
}

: >"$OUT"
{
  echo "bench-nightly $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(nproc) cores, $(git describe --always --dirty 2>/dev/null)"
  echo "load before: $(uptime)"
  echo
} | tee -a "$OUT"
for N in "${SIZES[@]}"; do
  dir="$WORK/n$N"
  mkdir -p "$dir"
  t0=$SECONDS
  "$WORK/otdsgen" -accounts "$N" -trees 5 -dup-share 0.1 -seed 1 -out "$dir/day1" 2>&1 | sed 's/^/  /' >&2
  "$WORK/otdsgen" -accounts "$N" -trees 5 -dup-share 0.1 -seed 1 -churn 0.01 -out "$dir/day2" 2>&1 | sed 's/^/  /' >&2
  log "N=$N: generated day 1 and day 2 in $((SECONDS - t0))s"
  for day in day1 day2; do
    config "$dir" "$day"
    run="20260101-nightly-$day"
    [ "$day" = day2 ] && run="20260102-nightly-$day"
    for s in extract transform pull plan apply; do stage "$dir" "$day" "$run" "$s"; done
    changes=$(grep -o '"changes": *[0-9]*' "$dir/$day-plan.json" | head -1 | grep -o '[0-9]*$' || echo "?")
    users=$(grep -o '"highspot_users": *[0-9]*' "$dir/$day-pull.json" | head -1 | grep -o '[0-9]*$' || echo "?")
    table "$dir/$day.tsv" "N=$N $day (run $run): pull saw $users Highspot users, plan $changes changes; each stage its own process (plan includes history); whole = sum of walls and CPU, largest RSS, sum of requests" | tee -a "$OUT"
  done
done
echo "load after: $(uptime)" | tee -a "$OUT"
echo "results in $OUT"
