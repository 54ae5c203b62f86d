#!/usr/bin/env bash
# Calibration speed before and after a change, on the same GPU in one lease: builds the baseline source (BASE_TGZ, a
# `git archive` of the baseline commit; this tree's benchmark program and GPU scripts are copied over it so that both
# take the same options) and this tree, runs perf_check.sh's benchmark with the baseline, then perf_check.sh STEPS with
# this tree.
#
#   git archive --format=tar.gz -o .gpu/base.tgz BASELINE_COMMIT
#   tools/gpu/speed_compare.sh DEBS_DIR FIXTURES_DIR OUT_DIR BASE_TGZ [STEPS]     (STEPS: default bench)
set -uo pipefail
DEBS=$1 FIX=$2 OUT=$3 BASE=$4 STEPS=${5:-bench}
SRC=$(cd "$(dirname "$0")/../.." && pwd)
B=/tmp/aq-baseline-src
rm -rf $B && mkdir -p $B && tar xzf "$BASE" -C $B || exit 1
cp "$SRC/tools/bench_calibrate.cpp" $B/tools/ && cp "$SRC"/tools/gpu/*.sh "$SRC"/tools/gpu/*.py $B/tools/gpu/
echo "==== baseline"
AQ_BUILD_DIR=/tmp/aq-build-baseline bash $B/tools/gpu/perf_check.sh "$DEBS" "$FIX" "$OUT/baseline" bench
echo "==== this tree"
bash "$SRC/tools/gpu/perf_check.sh" "$DEBS" "$FIX" "$OUT/new" "$STEPS"
echo "==== seconds per epoch, baseline -> this tree"
for f in "$OUT"/new/bench-*.txt; do
  n=$(basename "$f")
  printf '%-32s %s -> %s\n' "$n" "$(grep -o 'seconds per epoch [0-9.]*' "$OUT/baseline/$n" | awk '{print $4}')" \
    "$(grep -o 'seconds per epoch [0-9.]*' "$f" | awk '{print $4}')"
done
