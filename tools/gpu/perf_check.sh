#!/usr/bin/env bash
# Calibration speed, memory and accuracy on the GPU machine (issue: calibrate 7B-class models fast on one GPU):
#   1. the one-block benchmark at LLaMA-7B shape, w4a4 and w4a16g128, bf16 mixed precision with the fused
#      kernels, then the reference float32 path (no fused kernels, no mixed precision) on the same block and data;
#   2. a profile (Chrome trace) of a short w4a4 and w4a16g128 calibration;
#   3. accuracy of the fast path on the demo model and on stories260K (float32 vs mixed precision + fused kernels:
#      final block losses and perplexity).
#
#   tools/gpu/perf_check.sh DEBS_DIR FIXTURES_DIR OUT_DIR [STEPS]     STEPS: any of bench,host,ref,profile,demo,stories,whole7b,
#                                                                    llama3,mem70b
#                                                                    (default: all), comma-separated
set -uo pipefail
DEBS=$1 FIX=$2 OUT=$3 STEPS=${4:-bench,host,ref,profile,demo,stories,whole7b,llama3,mem70b}
SRC=$(cd "$(dirname "$0")/../.." && pwd)
mkdir -p "$OUT"
source "$(dirname "$0")/build_cuda.sh" "$DEBS" "$OUT/logs" || exit 1
AQ=$AQ_BUILD/bin/affinequant
B=$AQ_BUILD/bin/aq-bench-calibrate
want() { [[ ",$STEPS," == *",$1,"* ]]; }
DEMO=$SRC/resources/demo-model CAL=$SRC/resources/demo-text/train/northangerabbey.txt EV=$SRC/resources/demo-text/heldout.txt

# The recipes measured: W4A4, the deployable weight-only preset (post-norm vectors) and the paper's weight-only recipe
# (dense post-norm matrices, --ln-matrix).
# BENCH_RECIPES (';'-separated) overrides the list.
IFS=';' read -r -a RECIPES <<< "${BENCH_RECIPES:-w4a4;w4a16g128;w4a16g128 --ln-matrix}"
tag() { echo "$1" | tr -d ' -' ; }
if want bench; then
  for r in "${RECIPES[@]}"; do
    echo "== benchmark $r, LLaMA-7B shape, 128 x 2048 tokens, bf16 mixed precision, fused kernels"
    timeout 200 $B --shape llama-7b --preset $r --nsamples 128 --seqlen 2048 --epochs ${BENCH_EPOCHS:-2} --mixed-precision | tee "$OUT/bench-$(tag "$r").txt"
  done
fi
if want host; then
  echo "== benchmark w4a4, activation buffers in host memory"
  timeout 150 $B --shape llama-7b --preset w4a4 --nsamples 128 --seqlen 2048 --epochs 2 --mixed-precision --buffers-on-host | tee "$OUT/bench-w4a4-host.txt"
fi
if want llama3; then
  for p in w4a4 w4a16g128; do
    echo "== benchmark $p, LLaMA-3-8B shape"
    timeout 200 $B --shape llama3-8b --preset $p --nsamples 128 --seqlen 2048 --epochs 2 --mixed-precision | tee "$OUT/bench-llama3-$p.txt"
  done
fi
if want ref; then
  IFS=';' read -r -a REFS <<< "${REF_RECIPES:-w4a4;w4a16g128;w4a16g128 --ln-matrix}"
  for r in "${REFS[@]}"; do
    echo "== reference float32 path, $r (same block, same data)"
    timeout 280 $B --shape llama-7b --preset $r --nsamples 128 --seqlen 2048 --epochs 2 --no-fused | tee "$OUT/ref-$(tag "$r").txt"
  done
fi
if want profile; then
  for r in "${RECIPES[@]}"; do
    p=$(tag "$r")
    echo "== profile $r"
    timeout 120 $B --shape llama-7b --preset $r --nsamples 8 --seqlen 2048 --epochs 1 --mixed-precision \
      --profile "$OUT/trace-$p.json" > "$OUT/profile-$p.log" 2>&1
    echo "exit $?"
    python3 "$SRC/tools/gpu/trace_summary.py" "$OUT/trace-$p.json" > "$OUT/profile-$p.txt" 2>&1 && head -${PROFILE_LINES:-45} "$OUT/profile-$p.txt" && tail -14 "$OUT/profile-$p.txt"
    gzip -f "$OUT/trace-$p.json"
  done
fi
summary() {
  python3 - "$1" "$2" <<'PY'
import json, sys
run = json.load(open(sys.argv[1] + '/run.json'))
print(sys.argv[2], 'ppl %.4f' % run['eval']['quant_perplexity'], 'fp %.4f' % run['eval']['fp_perplexity'],
      'seconds %.1f' % run['seconds'], 'final block losses', ['%.5g' % b['final_loss'] for b in run['blocks']])
PY
}
if want demo; then
  for p in w4a4 w4a16g128; do
    for mode in ${MODES:-fp32 fast}; do
      flag=""; envv="AQ_FUSED_QUANT=0"   # fp32: the reference path; fused32: float32 with the fused kernels
      [[ $mode == fast ]] && { flag=--mixed-precision; envv="AQ_FUSED_QUANT=1"; }
      [[ $mode == fused32 ]] && envv="AQ_FUSED_QUANT=1"
      env $envv $AQ quantize --model $DEMO --calib $CAL --out /tmp/pc-demo-$p-$mode --preset $p --nsamples 32 --seqlen 512 \
        --device cuda --eval $EV --eval-seqlen 512 --force $flag > /tmp/pc-demo-$p-$mode.log 2>&1
      echo "exit $?"; summary /tmp/pc-demo-$p-$mode "demo $p $mode"
    done
  done | tee "$OUT/accuracy-demo.txt"
fi
if want stories; then
  ST=$FIX/models/stories260K-hf
  for p in w4a4 w4a16g128; do
    for mode in ${MODES:-fp32 fast}; do
      flag=""; envv="AQ_FUSED_QUANT=0"   # fp32: the reference path; fused32: float32 with the fused kernels
      [[ $mode == fast ]] && { flag=--mixed-precision; envv="AQ_FUSED_QUANT=1"; }
      [[ $mode == fused32 ]] && envv="AQ_FUSED_QUANT=1"
      env $envv $AQ quantize --model $ST --calib $CAL --out /tmp/pc-st-$p-$mode --preset $p \
        --nsamples 32 --seqlen 512 --device cuda --eval $FIX/text/wikitext2_test_hf_joined.txt \
        --eval-seqlen 512 --eval-windows 8 --force $flag > /tmp/pc-st-$p-$mode.log 2>&1
      echo "exit $?"; summary /tmp/pc-st-$p-$mode "stories260K $p $mode"
    done
  done | tee "$OUT/accuracy-stories.txt"
fi
if want whole7b; then
  # A whole run, everything included (checkpoint reading, calibration, merge, writing the model), on a LLaMA-7B-shaped
  # checkpoint of WHOLE_LAYERS blocks (default 2), projected to 32 blocks: fixed part + 32 x the mean block time.
  L=${WHOLE_LAYERS:-2}
  echo "== LLaMA-7B shape, $L blocks, w4a4, 128 x 2048 tokens, 20 epochs, whole run"
  $AQ_BUILD/bin/aq-make-synthetic --shape llama-7b --layers $L --out /tmp/syn7-$L \
    --tokenizer $FIX/tokenizers/llama/tokenizer.model > /tmp/syn7-$L.log 2>&1 || tail -3 /tmp/syn7-$L.log
  t0=$(date +%s.%N)
  $AQ quantize --model /tmp/syn7-$L --calib $FIX/text/wikitext2_test_hf_joined.txt --out /tmp/run7-$L --preset w4a4 \
    --nsamples 128 --seqlen 2048 --mixed-precision --device cuda --force > /tmp/run7-$L.log 2>&1
  echo "exit $?"; t1=$(date +%s.%N); tail -2 /tmp/run7-$L.log
  python3 - /tmp/run7-$L $L $t0 $t1 <<'PY' | tee "$OUT/whole-7b.txt"
import json, sys
run = json.load(open(sys.argv[1] + '/run.json'))
layers, wall = int(sys.argv[2]), float(sys.argv[4]) - float(sys.argv[3])
blocks = [b['seconds'] for b in run['blocks']]
per = sum(blocks) / len(blocks)
fixed = wall - sum(blocks)
epochs = [e['seconds'] for b in run['blocks'] for e in b['epochs']]
print(f"LLaMA-7B shape, {layers} blocks, w4a4: wall {wall:.1f} s, block seconds {[round(b, 1) for b in blocks]}, "
      f"mean epoch {sum(epochs) / len(epochs):.3f} s, outside the blocks {fixed:.1f} s; "
      f"projected 32 blocks: {(fixed + 32 * per) / 60:.1f} minutes; final block losses "
      f"{['%.5g' % b['final_loss'] for b in run['blocks']]}")
PY
  rm -rf /tmp/syn7-$L /tmp/run7-$L
fi
if want mem70b; then
  # Host memory must not grow with the number of blocks: 2- and 4-block checkpoints of LLaMA-2-70B shape.
  for L in 2 4; do
    echo "== LLaMA-2-70B shape, $L blocks, w4a4, 128 x 2048 tokens, 1 epoch"
    $AQ_BUILD/bin/aq-make-synthetic --shape llama2-70b --layers $L --out /tmp/syn70-$L \
      --tokenizer $FIX/tokenizers/llama/tokenizer.model > /tmp/syn70-$L.log 2>&1 || { tail -3 /tmp/syn70-$L.log; continue; }
    du -sh /tmp/syn70-$L
    $AQ quantize --model /tmp/syn70-$L --calib $FIX/text/wikitext2_test_hf_joined.txt --out /tmp/run70-$L --preset w4a4 \
      --nsamples 128 --seqlen 2048 --epochs 1 --mixed-precision ${MEM70_FLAGS:-} --device cuda --force > /tmp/run70-$L.log 2>&1
    echo "exit $?"; tail -2 /tmp/run70-$L.log
    python3 - /tmp/run70-$L $L <<'PY'
import json, sys
run = json.load(open(sys.argv[1] + '/run.json'))
print(f"70B shape, {sys.argv[2]} blocks: peak host memory {run['peak_host_memory_bytes'] / 1e9:.2f} GB, "
      f"peak GPU memory {run['peak_device_memory_bytes'] / 1e9:.2f} GB, block seconds",
      [round(b['seconds'], 1) for b in run['blocks']], f"total {run['seconds']:.1f} s")
PY
    rm -rf /tmp/syn70-$L /tmp/run70-$L
  done | tee "$OUT/memory-70b.txt"
fi
