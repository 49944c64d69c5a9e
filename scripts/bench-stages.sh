#!/usr/bin/env bash
# bench-stages.sh: a same-run A/B of single stages, cheaper than a whole
# bench-nightly when one change touches one or two stages (issue 13).
#
#   BENCH_STAGES="extract transform" BENCH_REPEAT=3 \
#     scripts/bench-stages.sh SIZE_DIR BINARY_A BINARY_B
#
# SIZE_DIR is a size dir kept by `NIGHTLY_KEEP=1 make bench-nightly`
# (<work dir>/n200000: day2/ trees and after.day1/ = day 1's store, config
# and Highspot stand-in state). Each repeat runs, for A then for B, the day-2
# BENCH_STAGES (in order, each its own process under /usr/bin/time, one
# --run-id) on a fresh copy of the day-1 store and stand-in state, with the
# stand-in in-process (target: sandbox), and prints each process's wall
# time, user+sys CPU and peak RSS; the medians per binary and stage end the
# output. The machine is shared and noisy: compare CPU, within one run.
# Stages after extract need the ones before them (plan needs transform and
# pull). The copies live under TMPDIR and are removed as the run goes.
set -euo pipefail

if [ $# -ne 3 ]; then
  echo "usage: BENCH_STAGES=\"extract transform\" BENCH_REPEAT=3 $0 SIZE_DIR BINARY_A BINARY_B" >&2
  exit 2
fi
base=$(cd "$1" && pwd) a=$2 b=$3
stages=${BENCH_STAGES:-extract transform}
reps=${BENCH_REPEAT:-3}
for f in "$base/after.day1/config-day1.yaml" "$base/after.day1/artifacts" "$base/day2"; do
  [ -e "$f" ] || { echo "bench-stages: $f is missing: SIZE_DIR must be a size dir kept by NIGHTLY_KEEP=1 make bench-nightly" >&2; exit 2; }
done
for bin in "$a" "$b"; do
  [ -x "$bin" ] || { echo "bench-stages: $bin is not an executable (build one with go build -o FILE ./cmd/otds-highspot)" >&2; exit 2; }
done

work=$(mktemp -d "${TMPDIR:-/tmp}/bench-stages.XXXXXX")
trap 'rm -rf "$work"' EXIT
results=$work/results
for r in $(seq 1 "$reps"); do
  for bin in "$a" "$b"; do
    side=A
    [ "$bin" = "$b" ] && side=B
    d=$work/$side.$r
    mkdir -p "$d"
    cp -a "$base/after.day1/artifacts" "$d/artifacts"
    cp "$base/after.day1/highspot.json" "$d/" 2>/dev/null || true
    sed -e "s#store: {url: [^}]*}#store: {url: $d/artifacts}#" \
      -e "s#path: \"[^\"]*/day1/#path: \"$base/day2/#" \
      -e "s#^  target: rest#  target: sandbox#" \
      -e "s#^  rest: {base_url.*#  sandbox: {surface: rest, state_file: $d/highspot.json}#" \
      -e "s#state_file: [^}]*}#state_file: $d/highspot.json}#" \
      "$base/after.day1/config-day1.yaml" >"$d/config.yaml"
    for s in $stages; do
      if ! /usr/bin/time -o "$d/time" -f "%e %U %S %M" "$bin" --config "$d/config.yaml" --run-id 20260102-bench-stages \
        --log-level warn "$s" >"$d/$s.out" 2>"$d/$s.log" </dev/null; then
        echo "bench-stages: $side ($bin) $s failed; last log lines:" >&2
        tail -5 "$d/$s.log" >&2
        exit 1
      fi
      read -r wall user sys rss <"$d/time"
      cpu=$(awk -v u="$user" -v s="$sys" 'BEGIN { printf "%.2f", u + s }')
      printf "%s rep %d %-9s wall %7.2f s  cpu %7.2f s  peak rss %5d MiB\n" "$side" "$r" "$s" "$wall" "$cpu" $((rss / 1024))
      echo "$side $s $wall $cpu $((rss / 1024))" >>"$results"
    done
    rm -rf "$d"
  done
done

echo
echo "A = $a, B = $b; medians of $reps (load now: $(cut -d' ' -f1-3 /proc/loadavg))"
printf "%-9s %8s %8s %8s %8s %7s\n" stage "A wall" "B wall" "A cpu" "B cpu" "cpu B/A"
for s in $stages; do
  med() { grep "^$1 $s " "$results" | awk -v c="$2" '{print $c}' | sort -n | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }
  aw=$(med A 3) bw=$(med B 3) ac=$(med A 4) bc=$(med B 4)
  printf "%-9s %8s %8s %8s %8s %7s\n" "$s" "$aw" "$bw" "$ac" "$bc" "$(awk -v a="$ac" -v b="$bc" 'BEGIN { printf "%.2f", b / a }')"
done
