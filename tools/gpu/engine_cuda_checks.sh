#!/usr/bin/env bash
# CUDA-specific engine checks on the GPU machine: out-of-memory message, bf16 mixed precision against float32 on the
# demo model, and the one-block calibration benchmark at LLaMA-7B shape.
#
#   tools/gpu/engine_cuda_checks.sh DEBS_DIR OUT_DIR        (SKIP_BENCH=1 skips the benchmark)
set -uo pipefail
DEBS=$1 OUT=$2
SRC=$(cd "$(dirname "$0")/../.." && pwd)
source "$(dirname "$0")/build_cuda.sh" "$DEBS" "$OUT/logs" || exit 1
AQ=$AQ_BUILD/bin/affinequant
DEMO=$SRC/resources/demo-model CAL=$SRC/resources/demo-text/train/northangerabbey.txt EV=$SRC/resources/demo-text/heldout.txt

echo "== out of memory on CUDA (nsamples far too large)"
$AQ quantize --model $DEMO --calib $CAL --out /tmp/oom --preset w4a4 --nsamples 400000 --seqlen 512 --device cuda --force
echo "exit status $?"

echo "== demo w4a4, float32 vs bf16 mixed precision (32 x 512 tokens, 20 epochs)"
for mp in fp32 bf16; do
  flag=""; [[ $mp == bf16 ]] && flag=--mixed-precision
  $AQ quantize --model $DEMO --calib $CAL --out /tmp/mp-$mp --preset w4a4 --nsamples 32 --seqlen 512 --device cuda \
    --eval $EV --eval-seqlen 512 --force $flag > /tmp/mp-$mp.log 2>&1
  echo "exit status $?"; tail -2 /tmp/mp-$mp.log
  python3 - /tmp/mp-$mp $mp <<'PY'
import json, sys
run = json.load(open(sys.argv[1] + '/run.json'))
print(sys.argv[2], 'ppl %.4f' % run['eval']['quant_perplexity'], 'seconds %.1f' % run['seconds'],
      'final block losses', ['%.5g' % b['final_loss'] for b in run['blocks']],
      'peak GPU %.2f GB' % (run['peak_device_memory_bytes'] / 1e9))
PY
done

[[ -n "${SKIP_BENCH:-}" ]] && exit 0
echo "== benchmark: LLaMA-7B-shaped block, 128 x 2048 tokens"
B=$AQ_BUILD/bin/aq-bench-calibrate
timeout 250 $B --shape llama-7b --preset w4a4 --nsamples 128 --seqlen 2048 --epochs 2 --mixed-precision
timeout 200 $B --shape llama-7b --preset w4a16g128 --nsamples 128 --seqlen 2048 --epochs 2 --mixed-precision
