#!/usr/bin/env bash
# Builds the core and command-line programs against the installed PyTorch's CUDA LibTorch (build_cuda.sh), then
# runs the foundation checks: CPU/CUDA perplexity agreement on stories260K, the demo-model
# training (optional) and eval throughput on a synthetic LLaMA-7B-shaped model.
#
#   tools/gpu/foundation_check.sh DEBS_DIR FIXTURES_DIR OUT_DIR [--train-demo DEMO_DATA_DIR]
set -euo pipefail
DEBS=$1 FIX=$2 OUT=$3; shift 3
TRAIN_DEMO=""
if [[ "${1:-}" == "--train-demo" ]]; then TRAIN_DEMO=$2; fi
source "$(dirname "$0")/build_cuda.sh" "$DEBS" "$OUT"
B=$AQ_BUILD
AQ=$B/bin/affinequant
$AQ version
$AQ devices

echo "== stories260K-hf, 8 x 512 windows: CPU float32 vs CUDA"
WT=$FIX/text/wikitext2_test_hf_joined.txt
for spec in "cpu float32" "cuda float32" "cuda float16" "cuda bfloat16"; do
  set -- $spec
  $AQ eval --model $FIX/models/stories260K-hf --text $WT --seqlen 512 --max-windows 8 --device $1 --dtype $2 --json > $OUT/stories-$1-$2.json
  python3 -c "import json;j=json.load(open('$OUT/stories-$1-$2.json'));print('$1 $2', round(j['perplexity'],4), round(j['tokens_per_second']),'tok/s')"
done

if [[ -n "$TRAIN_DEMO" ]]; then
  echo "== demo model training"
  time $B/bin/aq-demo-trainer train --train $TRAIN_DEMO/train.bin --heldout $TRAIN_DEMO/heldout.bin \
    --spm $TRAIN_DEMO/tokenizer.model --out $OUT/demo-model --device cuda --steps ${DEMO_STEPS:-3000} | tee $OUT/demo-train.log
fi

echo "== matrix-multiply rate"
for dt in float16 bfloat16; do $B/bin/aq-matmul-rate --device cuda --dtype $dt --size 8192 --iters 100; done

echo "== synthetic LLaMA-7B-shaped model, eval throughput"
SYN=/tmp/aq-synthetic-7b
if [[ ! -f $SYN/config.json ]]; then
  time $B/bin/aq-make-synthetic --shape llama-7b --out $SYN --tokenizer $FIX/tokenizers/llama/tokenizer.model | tail -1
fi
for dt in float16 bfloat16; do
  $AQ eval --model $SYN --text $WT --seqlen 2048 --max-windows 32 --batch-size ${EVAL_BATCH:-4} --device cuda --dtype $dt --json > $OUT/synthetic7b-$dt.json
  python3 -c "import json;j=json.load(open('$OUT/synthetic7b-$dt.json'));print('7B-shaped $dt:', round(j['tokens_per_second']),'tok/s over',j['windows'],'x',j['seqlen'],'batch',j['batch_size'], 'load', round(j['load_seconds'],1),'s')"
done
