#!/usr/bin/env bash
# Data-parallel calibration on this machine's CPU: one rank with every thread against ranks that split the threads
# (Gloo over the loopback), same seed and global batch, rounds interleaved so that drift in the machine's speed hits
# both alike. Prints a Markdown table: wall time, the calibration's own seconds, held-out perplexity, final block losses.
#
#   tools/distributed_scaling.sh [STEPS] [THREADS]      STEPS: demo,stories (default both); THREADS: default nproc
#   ROUNDS=2 (rounds per step)
set -uo pipefail
SRC=$(cd "$(dirname "$0")/.." && pwd)
STEPS=${1:-demo,stories}
THREADS=${2:-$(nproc)}
ROUNDS=${ROUNDS:-2}
FIX=${FIXTURES:-$SRC/../shared/fixtures}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
CALIB=$SRC/resources/demo-text/train/northangerabbey.txt
HELDOUT=$SRC/resources/demo-text/heldout.txt
[ -f "$SRC/build/CMakeCache.txt" ] || (cd "$SRC" && cmake --preset default >/dev/null)
cmake --build "$SRC/build" --target affinequant >/dev/null || exit 1
AQ=$SRC/build/bin/affinequant
want() { [[ ",$STEPS," == *",$1,"* ]]; }

# run LABEL ARGS...: one calibration, one table row
run() {
    local label=$1; shift
    local out=$WORK/out
    rm -rf "$out"
    local t0 t1
    t0=$(date +%s.%N)
    env -u AQ_THREADS -u OMP_NUM_THREADS -u OPENBLAS_NUM_THREADS "$AQ" quantize --out "$out" "$@" >"$WORK/log" 2>&1 ||
        { echo "| $label | failed: $(tail -1 "$WORK/log") |"; return 1; }
    t1=$(date +%s.%N)
    local ppl
    ppl=$("$AQ" eval --model "$out/model" --text "$HELDOUT" --seqlen 256 --json 2>/dev/null |
        python3 -c 'import json,sys; print("%.4f" % json.load(sys.stdin)["perplexity"])')
    python3 - "$label" "$t0" "$t1" "$out/run.json" "$ppl" <<'PY'
import json, sys
label, t0, t1, rj, ppl = sys.argv[1:]
r = json.load(open(rj))
losses = " / ".join("%.5g" % b["final_loss"] for b in r["blocks"])
print(f"| {label} | {float(t1) - float(t0):.1f} | {r['seconds']:.1f} | {ppl} | {losses} |")
PY
}

compare() {  # compare NAME ARGS...: ROUNDS rounds of 1 rank x THREADS threads, then 2 ranks x THREADS/2 threads
    local name=$1; shift
    echo
    echo "$name"
    echo
    echo "| run | wall s | run.json seconds | held-out perplexity (256-token windows) | final block losses |"
    echo "|---|---|---|---|---|"
    local half=$(( THREADS / 2 > 0 ? THREADS / 2 : 1 ))
    for i in $(seq 1 "$ROUNDS"); do
        run "1 rank x $THREADS threads #$i" "$@" --threads "$THREADS"
        run "2 ranks x $half thread(s) #$i" "$@" --nproc 2 --threads "$half"
    done
}

want demo && compare "demo model, w4a4, 32 x 512 tokens, 20 epochs, global batch 2" \
    --model "$SRC/resources/demo-model" --calib "$CALIB" --preset w4a4 --nsamples 32 --seqlen 512 --epochs 20 \
    --batch-size 2
if want stories; then
    if [ -d "$FIX/models/stories260K-hf" ]; then
        compare "stories260K, w4a4, 32 x 512 tokens, 5 epochs, global batch 2" \
            --model "$FIX/models/stories260K-hf" --calib "$CALIB" --preset w4a4 --nsamples 32 --seqlen 512 \
            --epochs 5 --batch-size 2
    else
        echo "(stories260K-hf not found under $FIX: skipped)"
    fi
fi
