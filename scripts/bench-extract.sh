#!/usr/bin/env bash
# scripts/bench-extract.sh [N ...]: extract benchmark. For each N (default
# 100000 400000) it generates N accounts in 4 partitions plus groups (one of
# N/2 members, the rest of 200), loads them into a private slapd, then times
# `ldapsearch -E pr=1000/noprompt` and the Go extract stage (ldap source ->
# Parquet in a file store) against the same server, and prints entries/s for
# both, the ratio and the extractor's peak RSS (/usr/bin/time or getrusage).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SIZES=("$@")
[ ${#SIZES[@]} -eq 0 ] && SIZES=(100000 400000)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/bench-extract.XXXXXX")
PORT=${BENCH_SLAPD_PORT:-38489}
trap '"$ROOT/scripts/slapd.sh" down --dir "$WORK/slapd" >/dev/null 2>&1 || true; rm -rf "$WORK"' EXIT
go build -o "$WORK/benchextract" "$ROOT/extract/internal/benchextract"
BASE="ou=IdentityProviders,dc=identity,dc=opentext,dc=net"

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

printf '%-8s %-10s %-14s %-14s %-7s %-10s\n' N entries ldapsearch/s extract/s ratio peak_rss
for N in "${SIZES[@]}"; do
  gen "$N" >"$WORK/data.ldif"
  "$ROOT/scripts/slapd.sh" down --dir "$WORK/slapd" >/dev/null 2>&1 || true
  "$ROOT/scripts/slapd.sh" up --data "$WORK/data.ldif" --port "$PORT" --dir "$WORK/slapd" 2>/dev/null
  # warm the server cache once
  ldapsearch -LLL -x -H "ldap://127.0.0.1:$PORT" -D "cn=Directory Manager" -w secret -b "$BASE" -E pr=1000/noprompt '(objectClass=oTPerson)' 1.1 >/dev/null
  t0=$(date +%s.%N)
  entries=$(ldapsearch -LLL -x -H "ldap://127.0.0.1:$PORT" -D "cn=Directory Manager" -w secret -b "$BASE" -E pr=1000/noprompt \
    '(|(objectClass=oTPerson)(objectClass=oTGroup))' '*' entryUUID createTimestamp modifyTimestamp | grep -c '^dn:')
  t1=$(date +%s.%N)
  rm -rf "$WORK/out" && mkdir -p "$WORK/out"
  /usr/bin/time -f 'RSS_KB=%M' -o "$WORK/time.txt" "$WORK/benchextract" -url "ldap://127.0.0.1:$PORT" -out "$WORK/out" -page 1000 >"$WORK/go.txt"
  rss=$(sed -n 's/RSS_KB=//p' "$WORK/time.txt")
  goeps=$(sed -n 's/.*entries_per_s=\([0-9]*\).*/\1/p' "$WORK/go.txt")
  lseps=$(awk -v n="$entries" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f", n / (b - a) }')
  ratio=$(awk -v g="$goeps" -v l="$lseps" 'BEGIN { printf "%.2f", g / l }')
  printf '%-8s %-10s %-14s %-14s %-7s %-10s\n' "$N" "$entries" "$lseps" "$goeps" "$ratio" "$((rss / 1024)) MB"
  "$ROOT/scripts/slapd.sh" down --dir "$WORK/slapd" >/dev/null 2>&1
done
