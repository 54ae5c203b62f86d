#!/usr/bin/env bash
# What deployability costs: for each weight-only preset, the presets' deployable default (vector post-norm transforms
# that fold into stock weights, zero inside every group's range) against the paper's recipe (--ln-matrix: dense
# post-norm matrices that only this program's own evaluation applies). Each configuration is calibrated on the demo
# model and evaluated on the held-out text: perplexity, and KL divergence to the full-precision model with top-1
# agreement (`affinequant eval --reference`). Prints a Markdown table.
#
#   tools/deployability_cost.sh [--bin build/bin/affinequant] [--work DIR] [--presets "w4a16g128 ..."]
#                               [--nsamples 16] [--seqlen 256] [--epochs 10] [--eval-seqlen 256] [--out FILE]
#
# Needs a built affinequant (tools/install-deps.sh && cmake --preset default && cmake --build --preset default).
# The defaults keep the whole table to about 15 minutes on 2 cores; the presets' own settings (128 samples, 20 or
# 40 epochs) take many times longer.
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=build/bin/affinequant
WORK=${TMPDIR:-/tmp}/aq-deployability
PRESETS="w4a16g128 w4a16 w3a16g128 w3a16 w2a16g128 w2a16g64 w2a16"
NSAMPLES=16
SEQLEN=256
EPOCHS=10
EVAL_SEQLEN=256
OUT=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --bin) BIN=$2; shift 2 ;;
    --work) WORK=$2; shift 2 ;;
    --presets) PRESETS=$2; shift 2 ;;
    --nsamples) NSAMPLES=$2; shift 2 ;;
    --seqlen) SEQLEN=$2; shift 2 ;;
    --epochs) EPOCHS=$2; shift 2 ;;
    --eval-seqlen) EVAL_SEQLEN=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) echo "unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
[[ -x $BIN ]] || { echo "no $BIN: build the project first" >&2; exit 2; }

MODEL=resources/demo-model
CALIB=resources/demo-text/train/northangerabbey.txt
HELDOUT=resources/demo-text/heldout.txt
mkdir -p "$WORK"

# A JSON number from `affinequant ... --json` output, by a dotted path.
field() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1]));
for k in sys.argv[2].split("."): d=d[k]
print(d)' "$1" "$2"; }

fp=$("$BIN" eval --model "$MODEL" --text "$HELDOUT" --seqlen "$EVAL_SEQLEN" --json 2>/dev/null)
echo "$fp" > "$WORK/fp.json"
FP_PPL=$(field "$WORK/fp.json" perplexity)

table="| preset | post-norm transforms | loads in | perplexity | KL to FP (nats) | top-1 agreement | calibration s |
|---|---|---|---|---|---|---|
| full precision | | | $(printf '%.4f' "$FP_PPL") | 0 | 1 | |"
for preset in $PRESETS; do
  for variant in deployable paper; do
    run="$WORK/$preset-$variant"
    extra=()
    loads="transformers, vLLM, llama.cpp"
    label="vectors (fold)"
    if [[ $variant == paper ]]; then
      extra=(--ln-matrix)
      loads="AffineQuant Studio only"
      label="dense matrices (--ln-matrix)"
    fi
    echo "== $preset $variant" >&2
    start=$(date +%s.%N)
    "$BIN" quantize --model "$MODEL" --calib "$CALIB" --out "$run" --force --preset "$preset" \
      --nsamples "$NSAMPLES" --seqlen "$SEQLEN" --epochs "$EPOCHS" "${extra[@]}" > "$run.log" 2>&1
    secs=$(python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.0f}')" "$start" "$(date +%s.%N)")
    "$BIN" eval --model "$run/model" --reference "$MODEL" --text "$HELDOUT" --seqlen "$EVAL_SEQLEN" --json \
      > "$run-eval.json" 2>/dev/null
    ppl=$(field "$run-eval.json" perplexity)
    kl=$(field "$run-eval.json" reference.mean_kl)
    top1=$(field "$run-eval.json" reference.top1_agreement)
    table+="
| $preset | $label | $loads | $(printf '%.4f' "$ppl") | $(printf '%.4f' "$kl") | $(printf '%.4f' "$top1") | $secs |"
  done
done
header="Demo model, calibration on $(basename "$CALIB"): $NSAMPLES x $SEQLEN tokens, $EPOCHS epochs, affinequant;
held-out text in windows of $EVAL_SEQLEN tokens ($(field "$WORK/fp.json" windows) windows)."
echo
echo "$header"
echo
echo "$table"
if [[ -n $OUT ]]; then
  printf '%s\n\n%s\n' "$header" "$table" > "$OUT"
fi
