#!/usr/bin/env bash
# Runs every Go fuzz target for a bounded time, one after another.
#   FUZZTIME   time per target (default 30s; any `go test -fuzztime` value)
#   FUZZ       only the targets whose name matches this regexp (default all)
# A failure leaves the crasher under <package>/testdata/fuzz/<Target>/: fix
# the bug and commit the file as a regression seed (`make test` runs it).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"
FUZZTIME="${FUZZTIME:-30s}"
FUZZ="${FUZZ:-.}"
targets=(
  ./extract/ldap:FuzzDecodeResponse
  ./extract/ldap:FuzzClient
  ./extract/ldif:FuzzSource
  ./extract/entry:FuzzNormDN
  ./internal/validate:FuzzEmail
  ./internal/validate:FuzzCleanText
  ./extract/otdsrest:FuzzREST
  ./load/highspot:FuzzRESTResponses
  ./load/highspot:FuzzSCIMResponses
  ./load/highspot/wire:FuzzDecode
  ./internal/config:FuzzParse
  ./extract/entry:FuzzDNCache
  ./transform:FuzzClean
  ./internal/artifact:FuzzDictRoundTrip
)
failed=()
for t in "${targets[@]}"; do
  pkg="${t%%:*}" name="${t##*:}"
  [[ "$name" =~ $FUZZ ]] || continue
  echo "== $pkg $name ($FUZZTIME)"
  if ! go test "$pkg" -run '^$' -fuzz "^${name}\$" -fuzztime "$FUZZTIME" -parallel 1; then
    failed+=("$pkg:$name")
  fi
done
if ((${#failed[@]})); then
  echo "fuzz: failures in ${failed[*]} (crashers are under each package's testdata/fuzz/)" >&2
  exit 1
fi
echo "fuzz: all targets ran $FUZZTIME without a failure"
