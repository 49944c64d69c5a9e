#!/usr/bin/env bash
# demo.sh: what `make demo` runs (after `make build`). Day 1 and day 2 of the
# main job on the embedded default: the bundled fixture trees (LDIF), artifacts
# under .demo/artifacts, the in-process Highspot sandbox. No credentials, no
# services. Safe to re-run: it clears only the folder a previous demo made.
set -euo pipefail
cd "$(dirname "$0")/.."
DIR="${DEMO_DIR:-.demo}"
bin/otds-highspot demo --dir "$DIR" --log-format "${LOG_FORMAT:-text}" --log-level "${LOG_LEVEL:-warn}" </dev/null
echo
echo "Next: open the review report printed above (plan show prints where it is), or"
echo "  OTDS_HIGHSPOT_STORE=$DIR/artifacts bin/otds-highspot runs list"
echo "  OTDS_HIGHSPOT_STORE=$DIR/artifacts bin/otds-highspot plan show"
echo "  OTDS_HIGHSPOT_STORE=$DIR/artifacts bin/otds-highspot explain john.doe@acme.com"
