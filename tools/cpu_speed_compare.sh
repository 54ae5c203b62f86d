#!/usr/bin/env bash
# Calibration speed on the CPU, before and after a change, in one run on one machine: builds the command-line program
# of BASELINE (a commit) beside this tree's, then times the same calibrations with each, alternating, and prints a
# table. Also times this tree's program under thread-count environment settings. Run it on a quiet machine.
#
#   tools/cpu_speed_compare.sh [BASELINE] [STEPS]
#
# BASELINE: default 6de1549 (the engine before the CPU work). STEPS, comma-separated, default all:
#   stories   stories260K w4a4, 32 x 512 tokens, 5 epochs, baseline vs this tree (REPEAT runs each, default 2)
#   spread    the same with seeds 1 and 3 (the calibration samples differ): the run-to-run spread, both programs
#   demo2     the demo model w4a4, 32 x 512 tokens, 2 epochs, baseline vs this tree (REPEAT runs each, alternating)
#   demo      the demo model w4a4, 32 x 512 tokens, 20 epochs, end to end, this tree (REPEAT runs)
#   teaching  the demo model with the teaching preset, end to end, this tree (REPEAT runs)
#   rounding  stories260K w4a4, 32 x 512, 5 epochs, seeds 1 to 3, this tree with its products and quantizer in other
#             arithmetic orders (AQ_CPU_GEMM=blas: OpenBLAS instead of oneDNN; AQ_CPU_PARALLEL=0 AQ_FUSED_QUANT=0: ATen's
#             attention and products, the reference quantizer): how far rounding alone moves the results
#   threads   stories260K w4a4, 32 x 512, 2 epochs under OMP_NUM_THREADS / OPENBLAS_NUM_THREADS settings, this tree
#             (REPEAT rounds of every setting, interleaved; the median of each setting's calibration seconds at the end)
#   profile   where a step's time goes: aq-bench-calibrate --profile at the stories260K and demo shapes (w4a4,
#             32 x 512), with this tree's CPU paths and with them off (AQ_FUSED_QUANT=0 AQ_CPU_PARALLEL=0), summed by
#             tools/cpu_trace_summary.py
# Needs ../shared/fixtures beside the checkout (or FIXTURES=DIR). The baseline is built in build-cpu-bench/ (kept
# between runs); this tree's program is the README's build (build/, configured with the default preset if absent).
set -euo pipefail
SRC=$(cd "$(dirname "$0")/.." && pwd)
BASE=${1:-6de1549}
STEPS=${2:-stories,spread,rounding,demo2,demo,teaching,threads,profile}
REPEAT=${REPEAT:-2}
FIX=${FIXTURES:-$SRC/../shared/fixtures}
WORK=$SRC/build-cpu-bench
STORIES=$FIX/models/stories260K-hf
CALIB=$SRC/resources/demo-text/train/northangerabbey.txt
HELDOUT=$SRC/resources/demo-text/heldout.txt
mkdir -p "$WORK"

build() {  # build SOURCE_DIR BUILD_DIR: the command-line program only, same build type as the default preset
    cmake -S "$1" -B "$2" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DAQ_BUILD_GUI=OFF -DAQ_BUILD_TESTS=OFF \
        -DAQ_BUILD_TOOLS=OFF >/dev/null
    cmake --build "$2" --target affinequant >/dev/null
}

echo "== building $BASE and this tree (command-line program only)"
base_rev=$(git -C "$SRC" rev-parse --verify "$BASE^{commit}")
if [ ! -x "$WORK/base-$base_rev/build/bin/affinequant" ]; then
    rm -rf "$WORK/base-$base_rev" && mkdir -p "$WORK/base-$base_rev/src"
    git -C "$SRC" archive "$base_rev" | tar x -C "$WORK/base-$base_rev/src"
    build "$WORK/base-$base_rev/src" "$WORK/base-$base_rev/build"
fi
OLD=$WORK/base-$base_rev/build/bin/affinequant
[ -f "$SRC/build/CMakeCache.txt" ] || (cd "$SRC" && cmake --preset default >/dev/null)
cmake --build "$SRC/build" --target affinequant aq-bench-calibrate >/dev/null
NEW=$SRC/build/bin/affinequant

# time_run LABEL PROGRAM ARGS...: prints "LABEL wall user sys calibration-seconds perplexity"
time_run() {
    local label=$1 prog=$2; shift 2
    local out=$WORK/run-out
    rm -rf "$out"
    local t0 t1
    t0=$(date +%s.%N)
    /usr/bin/time -f "%U %S" -o "$WORK/time.txt" "$prog" quantize --out "$out" "$@" >"$WORK/log.txt" 2>&1 ||
        { echo "$label: failed"; tail -5 "$WORK/log.txt"; return 1; }
    t1=$(date +%s.%N)
    local ppl
    ppl=$("$NEW" eval --model "$out/model" --text "$HELDOUT" --seqlen 256 --json 2>/dev/null |
        python3 -c 'import json,sys; print("%.4f" % json.load(sys.stdin)["perplexity"])')
    python3 - "$label" "$t0" "$t1" "$WORK/time.txt" "$out/run.json" "$ppl" <<'EOF'
import json, sys
label, t0, t1, tf, rj, ppl = sys.argv[1:]
user, sysc = open(tf).read().split()[-2:]
r = json.load(open(rj))
losses = [b.get("final_loss", b.get("loss")) for b in r.get("blocks", [])]
print(f"| {label} | {float(t1) - float(t0):.1f} | {float(user):.1f} | {float(sysc):.1f} | {r['seconds']:.1f} | {ppl} | "
      + " / ".join(f"{l:.5g}" for l in losses if l is not None) + " |")
EOF
}

header() { echo "| run | wall s | user s | sys s | run.json seconds | held-out perplexity | final block losses |"
           echo "|---|---|---|---|---|---|---|"; }

if [[ $STEPS == *stories* ]]; then
    echo "== stories260K w4a4, 32 x 512, 5 epochs: $BASE vs this tree, $REPEAT runs each, alternating"
    header
    for i in $(seq "$REPEAT"); do
        time_run "$BASE #$i" "$OLD" --model "$STORIES" --calib "$CALIB" --preset w4a4 --nsamples 32 --seqlen 512 --epochs 5
        time_run "this tree #$i" "$NEW" --model "$STORIES" --calib "$CALIB" --preset w4a4 --nsamples 32 --seqlen 512 --epochs 5
    done
fi
if [[ $STEPS == *spread* ]]; then
    echo "== stories260K w4a4, 32 x 512, 5 epochs, seeds 1 and 3: $BASE and this tree"
    header
    for seed in 1 3; do
        time_run "$BASE, seed $seed" "$OLD" --model "$STORIES" --calib "$CALIB" --preset w4a4 --nsamples 32 --seqlen 512 \
            --epochs 5 --seed $seed
        time_run "this tree, seed $seed" "$NEW" --model "$STORIES" --calib "$CALIB" --preset w4a4 --nsamples 32 \
            --seqlen 512 --epochs 5 --seed $seed
    done
fi
if [[ $STEPS == *demo2* ]]; then
    echo "== demo model w4a4, 32 x 512, 2 epochs: $BASE vs this tree, $REPEAT runs each, alternating"
    header
    for i in $(seq "$REPEAT"); do
        time_run "$BASE #$i" "$OLD" --model "$SRC/resources/demo-model" --calib "$CALIB" --preset w4a4 --nsamples 32 \
            --seqlen 512 --epochs 2
        time_run "this tree #$i" "$NEW" --model "$SRC/resources/demo-model" --calib "$CALIB" --preset w4a4 --nsamples 32 \
            --seqlen 512 --epochs 2
    done
fi
if [[ $STEPS == *demo,* || $STEPS == *demo ]]; then
    echo "== demo model w4a4, 32 x 512, 20 epochs, this tree, $REPEAT runs"
    header
    for i in $(seq "$REPEAT"); do
        time_run "demo w4a4 #$i" "$NEW" --model "$SRC/resources/demo-model" --calib "$CALIB" --preset w4a4 --nsamples 32 \
            --seqlen 512 --epochs 20
    done
fi
if [[ $STEPS == *teaching* ]]; then
    echo "== demo model, teaching preset, this tree, $REPEAT runs"
    header
    for i in $(seq "$REPEAT"); do
        time_run "demo teaching #$i" "$NEW" --model "$SRC/resources/demo-model" --calib "$CALIB" --preset teaching
    done
fi
if [[ $STEPS == *rounding* ]]; then
    echo "== stories260K w4a4, 32 x 512, 5 epochs, this tree in other arithmetic orders"
    header
    for seed in 1 2 3; do
        for e in "AQ_CPU_GEMM=blas" "AQ_CPU_PARALLEL=0 AQ_FUSED_QUANT=0"; do
            env $e bash -c "$(declare -f time_run); WORK=$WORK NEW=$NEW HELDOUT=$HELDOUT time_run '$e, seed $seed' \
                $NEW --model $STORIES --calib $CALIB --preset w4a4 --nsamples 32 --seqlen 512 --epochs 5 --seed $seed"
        done
    done
fi
if [[ $STEPS == *threads* ]]; then
    echo "== stories260K w4a4, 32 x 512, 2 epochs, this tree, thread settings in the environment ($REPEAT rounds;"
    echo "   each round runs every setting once, in an order rotated by one per round, so drift reaches all alike)"
    header
    settings=("" "OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1" "OMP_NUM_THREADS=1" "OMP_NUM_THREADS=2" "OMP_NUM_THREADS=4"
        "OPENBLAS_NUM_THREADS=1" "OPENBLAS_NUM_THREADS=2" "OMP_NUM_THREADS=2 OPENBLAS_NUM_THREADS=2"
        "OMP_NUM_THREADS=8 OPENBLAS_NUM_THREADS=8")
    n=${#settings[@]}
    rm -f "$WORK"/threads-*.txt
    for i in $(seq "$REPEAT"); do
        for j in $(seq 0 $((n - 1))); do
            k=$(((j + i - 1) % n))
            e=${settings[$k]}
            env $e bash -c "$(declare -f time_run); WORK=$WORK NEW=$NEW HELDOUT=$HELDOUT time_run '${e:-no setting} #$i' \
                $NEW --model $STORIES --calib $CALIB --preset w4a4 --nsamples 32 --seqlen 512 --epochs 2" |
                tee -a "$WORK/threads-$k.txt"
        done
    done
    for k in $(seq 0 $((n - 1))); do
        e=${settings[$k]}
        cut -d'|' -f6 "$WORK/threads-$k.txt" | sort -n |
            awk -v s="${e:-no setting}" '{v[NR]=$1} END {printf "| %s: median | | | | %.1f | | |\n", s, v[int((NR+1)/2)]}'
    done
fi
if [[ $STEPS == *profile* ]]; then
    for shape in stories260k demo; do
        for paths in "this tree's CPU paths" "fused quantization and parallel attention/linear off"; do
            env=(X=1)
            [[ $paths == *off* ]] && env=(AQ_FUSED_QUANT=0 AQ_CPU_PARALLEL=0)
            echo "== profile: $shape, w4a4, 32 x 512, $paths"
            env "${env[@]}" "$SRC/build/bin/aq-bench-calibrate" --shape $shape --device cpu --preset w4a4 --nsamples 32 \
                --seqlen 512 --epochs 2 --profile "$WORK/trace.json" | grep -E "seconds per epoch"
            python3 "$SRC/tools/cpu_trace_summary.py" "$WORK/trace.json" | sed -n '/^category/,$p'
        done
    done
fi
