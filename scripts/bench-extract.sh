#!/usr/bin/env bash
# scripts/bench-extract.sh [N ...]: extract benchmark, called by `make bench`.
# For each N (default 100000 400000) it generates N accounts in 4 partitions
# plus groups (one of N/2 members, the rest of 200) with awk, loads them into a
# private slapd (its own dir and port, stopped by PID on exit), then runs
# BENCH_RUNS times (default 3 up to 100k, 1 above), alternating: `ldapsearch -E pr=1000/noprompt`
# (all attributes of every user and group) and the Go extract stage
# (tools/benchextract: ldap source -> Parquet tables in a file
# store, page size 1000) against the same server. It prints one table: N,
# median entries/s of each, the median of the per-run ratios, and the
# extractor's largest peak RSS (getrusage). Targets (issue 3): ratio >= 0.8,
# peak RSS < 200 MB and flat from 100k to 400k; a missed target is reported,
# not an error. Exits non-zero only when something fails (generation, slapd,
# a search, a count mismatch).
#
# Env: BENCH_RUNS (3 for N <= 100000, else 1), BENCH_SLAPD_PORT (38489), BENCH_PROFILE_DIR (when set,
# the last extract run of each N writes cpu-N.prof and mem-N.prof there),
# TMPDIR (work files, about 600 bytes per account). GOMEMLIMIT, when set,
# applies to the extractor like to any Go program (e.g. GOMEMLIMIT=150MiB).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SIZES=("$@")
[ ${#SIZES[@]} -eq 0 ] && SIZES=(100000 400000)
PORT=${BENCH_SLAPD_PORT:-38489}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/bench-extract.XXXXXX")
cleanup() {
  "$ROOT/scripts/slapd.sh" down --dir "$WORK/slapd" >/dev/null 2>&1 || true # stops the PID in its pid file
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM # run the EXIT trap (stop slapd) when interrupted
log() { echo "bench-extract: $*" >&2; }
(cd "$ROOT" && go build -o "$WORK/benchextract" ./tools/benchextract)
BASE="ou=IdentityProviders,dc=identity,dc=opentext,dc=net"
URL="ldap://127.0.0.1:$PORT"

gen() { # N -> LDIF on stdout (entryUUID etc. assigned by slapadd)
  awk -v n="$1" -v base="$BASE" 'BEGIN {
    print "dn: dc=identity,dc=opentext,dc=net\nobjectClass: dcObject\nobjectClass: organization\ndc: identity\no: bench\n"
    print "dn: " base "\nobjectClass: organizationalUnit\nou: IdentityProviders\n"
    print "dn: ou=ServiceAccounts,dc=identity,dc=opentext,dc=net\nobjectClass: organizationalUnit\nou: ServiceAccounts\n"
    for (p = 0; p < 4; p++) {
      print "dn: ou=P" p "," base "\nobjectClass: organizationalUnit\nou: P" p "\n"
      print "dn: ou=Root,ou=P" p "," base "\nobjectClass: organizationalUnit\nou: Root\n"
    }
    for (i = 0; i < n; i++) {
      p = i % 4
      printf "dn: cn=user%07d,ou=Root,ou=P%d,%s\nobjectClass: oTPerson\ncn: user%07d\ngivenName: Given%d\nsn: Surname%d\ndisplayName: Given%d Surname%d\nmail: user%07d@p%d.example.com\nemployeeNumber: E%07d\ntitle: Account Executive\noTDepartment: Sales\noTCompany: Company %d\nc: US\nl: City%d\noTExternalID3: user%07d@p%d.example.com\noTExtraAttr1: T%d\n\n", i, p, base, i, i, i, i, i, i, p, i, p, i % 100, i, p, i % 50
    }
    # one big group (N/2 members) and groups of 200
    printf "dn: cn=Big,ou=Root,ou=P0,%s\nobjectClass: oTGroup\ncn: Big\n", base
    for (i = 0; i < n / 2; i++) printf "oTMember: cn=user%07d,ou=Root,ou=P%d,%s\n", i, i % 4, base
    print ""
    for (g = 0; g * 200 < n; g++) {
      p = g % 4
      printf "dn: cn=G%d,ou=Root,ou=P%d,%s\nobjectClass: oTGroup\ncn: G%d\n", g, p, base, g
      for (k = 0; k < 200 && g * 200 + k < n; k++) { i = g * 200 + k; printf "oTMember: cn=user%07d,ou=Root,ou=P%d,%s\n", i, i % 4, base }
      print ""
    }
  }'
}

# median of the numbers on stdin
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

search() { # -> number of entries returned
  ldapsearch -LLL -x -H "$URL" -D "cn=Directory Manager" -w secret -b "$BASE" -E pr=1000/noprompt \
    '(|(objectClass=oTPerson)(objectClass=oTGroup))' '*' entryUUID createTimestamp modifyTimestamp | grep -c '^dn:'
}

TABLE="$WORK/table.txt"
printf '%-8s %-8s %-18s %-18s %-7s %-14s\n' N runs ldapsearch_eps extract_eps ratio peak_rss_MB >"$TABLE"
for N in "${SIZES[@]}"; do
  t0=$SECONDS
  gen "$N" >"$WORK/data.ldif"
  "$ROOT/scripts/slapd.sh" down --dir "$WORK/slapd" >/dev/null 2>&1 || true
  "$ROOT/scripts/slapd.sh" up --data "$WORK/data.ldif" --port "$PORT" --dir "$WORK/slapd" 2>/dev/null
  rm -f "$WORK/data.ldif"
  log "N=$N: generated and loaded in $((SECONDS - t0))s"
  RUNS=${BENCH_RUNS:-$([ "$N" -le 100000 ] && echo 3 || echo 1)}
  search >/dev/null # warm the server cache once
  : >"$WORK/ls.txt"; : >"$WORK/go.txt"; : >"$WORK/ratio.txt"; : >"$WORK/rss.txt"
  for run in $(seq 1 "$RUNS"); do
    a=$(date +%s.%N)
    entries=$(search)
    b=$(date +%s.%N)
    lseps=$(awk -v n="$entries" -v a="$a" -v b="$b" 'BEGIN { printf "%.0f", n / (b - a) }')
    prof=()
    if [ -n "${BENCH_PROFILE_DIR:-}" ] && [ "$run" -eq "$RUNS" ]; then
      mkdir -p "$BENCH_PROFILE_DIR"
      prof=(-cpuprofile "$BENCH_PROFILE_DIR/cpu-$N.prof" -memprofile "$BENCH_PROFILE_DIR/mem-$N.prof")
    fi
    rm -rf "$WORK/out" && mkdir -p "$WORK/out"
    # The CLI caps the Go heap at 120 MiB per tree read at once during extract
    # (unless GOMEMLIMIT is set); measure the extractor the same way.
    line=$(GOMEMLIMIT="${GOMEMLIMIT:-120MiB}" "$WORK/benchextract" -url "$URL" -out "$WORK/out" -page 1000 "${prof[@]}")
    val() { sed -n "s/.*$1=\([0-9.]*\).*/\1/p" <<<"$line"; }
    got=$(($(val accounts) + $(val groups)))
    if [ "$got" -ne "$entries" ]; then
      log "N=$N run $run: extract read $got entries, ldapsearch $entries"
      exit 1
    fi
    goeps=$(val entries_per_s)
    rss=$(val peak_rss_kb)
    echo "$lseps" >>"$WORK/ls.txt"; echo "$goeps" >>"$WORK/go.txt"; echo "$rss" >>"$WORK/rss.txt"
    awk -v g="$goeps" -v l="$lseps" 'BEGIN { printf "%.2f\n", g / l }' >>"$WORK/ratio.txt"
    log "N=$N run $run: ldapsearch $lseps/s, extract $goeps/s ($line)"
  done
  rss=$(sort -g "$WORK/rss.txt" | tail -1)
  printf '%-8s %-8s %-18s %-18s %-7s %-14s\n' "$N" "$RUNS" "$(median <"$WORK/ls.txt")" "$(median <"$WORK/go.txt")" \
    "$(median <"$WORK/ratio.txt")" "$((rss / 1024))" >>"$TABLE"
  "$ROOT/scripts/slapd.sh" down --dir "$WORK/slapd" >/dev/null 2>&1
done
echo "extract from slapd (targets: ratio >= 0.80 of ldapsearch, peak RSS < 200 MB and flat with N)"
cat "$TABLE"
