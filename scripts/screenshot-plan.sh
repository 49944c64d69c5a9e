#!/usr/bin/env bash
# screenshot-plan.sh OUTDIR: render plan.html of a ready and of a blocked
# plan with headless Chromium, for reviewing the approval document. It builds
# the binary, plays day 1 and day 2 of the embedded demo configuration in a
# temp folder (day 2 with a zero suspension limit, so its plan is blocked,
# then the override plan, which is ready), and writes OUTDIR/plan-ready.png
# and OUTDIR/plan-blocked.png (and the two HTML files). Installs the Debian
# package chromium with apt-get when it is missing. Nothing outside the temp
# folder and OUTDIR is touched.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib.sh
. scripts/lib.sh
OUT="${1:?usage: scripts/screenshot-plan.sh OUTDIR}"
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
install_apt_pkg chromium chromium

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
go build -o "$WORK/otds-highspot" ./cmd/otds-highspot
BIN="$WORK/otds-highspot"
# The embedded demo configuration, pointed at the temp folder.
cp fixtures/demo/config.yaml "$WORK/day1.yaml"
sed -i "s#url: ./artifacts#url: $WORK/artifacts#; s#sandbox: {surface: rest}#sandbox: {surface: rest, state_file: $WORK/hs.json}#" "$WORK/day1.yaml"
sed "s#fixtures:otds/trees.ldif#fixtures:otds/day2/trees.ldif#g; s#{op: suspend_user, max_count: 5, max_percent: 20}#{op: suspend_user, max_count: 0}#" "$WORK/day1.yaml" >"$WORK/day2.yaml"

run() { "$BIN" --log-level warn --log-format text "$@" </dev/null >>"$WORK/log" 2>&1; }
run --config "$WORK/day1.yaml" --run-id 20261101T000000Z-0001 run || die "day 1 failed: $(cat "$WORK/log")"
rc=0
run --config "$WORK/day2.yaml" --run-id 20261102T000000Z-0002 run --until plan || rc=$?
[ "$rc" = 5 ] || die "day 2: exit $rc, want 5 (blocked): $(cat "$WORK/log")"
run --config "$WORK/day2.yaml" --run-id 20261102T000000Z-0003 plan --from-run 20261102T000000Z-0002 --allow suspend_user=1 ||
	die "override plan failed: $(cat "$WORK/log")"

shot() { # RUN_ID NAME
	local html
	html="$(find "$WORK/artifacts/_runs/$1/plan" -name plan.html | head -n1)"
	[ -n "$html" ] || die "no plan.html for run $1"
	cp "$html" "$OUT/$2.html"
	chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking \
		--disable-component-update --disable-sync --user-data-dir="$(mktemp -d -p "$WORK")" \
		--screenshot="$OUT/$2.png" --window-size=1280,2000 "file://$OUT/$2.html" </dev/null >>"$WORK/chromium.log" 2>&1 ||
		die "chromium failed: $(tail -n 20 "$WORK/chromium.log")"
	log "wrote $OUT/$2.png"
}
shot 20261102T000000Z-0003 plan-ready
shot 20261102T000000Z-0002 plan-blocked
