#!/usr/bin/env bash
# Data-parallel calibration on the GPU machine: the CUDA build compiles the NCCL path and LibTorch 2.x's c10d API;
# two ranks against one on the demo model, on the CPU (Gloo) and on CUDA (NCCL with a GPU per rank, Gloo through
# host copies otherwise), with final block losses and perplexities side by side. DEBS_DIR: see build_cuda.sh.
#
#   tools/gpu/distributed_check.sh DEBS_DIR OUT_DIR
set -uo pipefail
DEBS=$1 OUT=$2
SRC=$(cd "$(dirname "$0")/../.." && pwd)
mkdir -p "$OUT"
source "$(dirname "$0")/build_cuda.sh" "$DEBS" "$OUT/logs" || exit 1
grep -E "data-parallel|nccl.h|gloo" "$OUT/logs/cmake.log"
AQ=$AQ_BUILD/bin/affinequant
nvidia-smi -L
DEMO=$SRC/resources/demo-model CAL=$SRC/resources/demo-text/train/northangerabbey.txt EV=$SRC/resources/demo-text/heldout.txt
COMMON="--model $DEMO --calib $CAL --preset w4a4 --nsamples 32 --seqlen 256 --epochs 4 --batch-size 2 --seed 3
        --eval $EV --eval-windows 16 --eval-seqlen 256 --force"
summary() {  # final block losses and perplexity of a run
  python3 - "$1" <<'PY'
import json, sys
r = json.load(open(sys.argv[1] + "/run.json"))
print("   final block losses", " ".join("%.6g" % b["final_loss"] for b in r["blocks"]),
      "| perplexity %.4f" % r["eval"]["quant_perplexity"], "| data_parallel", r.get("data_parallel"))
PY
}
run() {  # NAME, then the environment and options
  local name=$1; shift
  echo "== $name"
  if env "$@" --out "$OUT/$name" > "$OUT/$name.log" 2>&1; then
    tail -2 "$OUT/$name.log"; summary "$OUT/$name"
  else
    echo "   failed:"; tail -5 "$OUT/$name.log"
  fi
}
run cpu-1rank $AQ quantize $COMMON --device cpu --threads 8
run cpu-2ranks $AQ quantize $COMMON --device cpu --nproc 2 --threads 8
run cuda-1rank $AQ quantize $COMMON --device cuda:0
# Two ranks on one GPU: NCCL refuses that, so the ranks go through Gloo by themselves; forcing NCCL is refused.
run cuda-2ranks-one-gpu $AQ quantize $COMMON --devices cuda:0,cuda:0
run cuda-2ranks-one-gpu-forced-nccl AQ_DIST_BACKEND=nccl $AQ quantize $COMMON --devices cuda:0,cuda:0
if [[ $(nvidia-smi -L | wc -l) -ge 2 ]]; then
  run cuda-2ranks-nccl $AQ quantize $COMMON --devices cuda:0,cuda:1
fi
run cuda-2ranks-gloo AQ_DIST_BACKEND=gloo $AQ quantize $COMMON --devices cuda:0,cuda:0
if command -v torchrun >/dev/null; then
  run cpu-2ranks-torchrun torchrun --nproc-per-node 2 --no-python $AQ quantize $COMMON --device cpu --threads 8
  run cuda-2ranks-torchrun-gloo AQ_DIST_BACKEND=gloo torchrun --nproc-per-node 2 --no-python $AQ quantize $COMMON --device cuda:0
fi
