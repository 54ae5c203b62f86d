#!/usr/bin/env bash
# The k-quant grids on CUDA: the demo model calibrated on q4_k, q4_k_m and q3_k, and on q4_k_m and q3_k_m with GPTQ
# rounding, with AffineQuant on the GPU and on the CPU (same seed), each exported to GGUF and verified (verify decodes every weight and requires the calibrated grid's
# values bit for bit); then the GPU run's factors and weights compared with the CPU run's.
#
#   tools/gpu/kquant_check.sh DEBS_DIR OUT_DIR
set -uo pipefail
DEBS=$1 OUT=$2
SRC=$(cd "$(dirname "$0")/../.." && pwd)
mkdir -p "$OUT"
source "$(dirname "$0")/build_cuda.sh" "$DEBS" "$OUT/logs" || exit 1
AQ=$AQ_BUILD/bin/affinequant
nvidia-smi -L
DEMO=$SRC/resources/demo-model CAL=$SRC/resources/demo-text/train/northangerabbey.txt EV=$SRC/resources/demo-text/heldout.txt
for spec in q4_k q4_k_m q3_k "q4_k_m --gptq-rounding" "q3_k_m --gptq-rounding"; do
  set -- $spec
  grid=$1; shift
  tag=$grid${1:+-gptq}
  for dev in cuda:0 cpu; do
    name=$tag-${dev%%:*}
    echo "== $name ($spec)"
    $AQ quantize --model $DEMO --calib $CAL --preset w4a16 --weight-grid $grid "$@" --nsamples 32 --seqlen 256 --epochs 4 \
      --seed 3 --device $dev --eval $EV --eval-windows 16 --eval-seqlen 256 --out /tmp/kq-$name > $OUT/$name.log 2>&1 \
      || { echo "   calibration failed:"; tail -5 $OUT/$name.log; continue; }
    tail -2 $OUT/$name.log
    $AQ export --run /tmp/kq-$name --format gguf --out /tmp/kq-$name.gguf > $OUT/$name-export.log 2>&1 \
      || { echo "   export failed:"; tail -5 $OUT/$name-export.log; continue; }
    $AQ verify --run /tmp/kq-$name --export /tmp/kq-$name.gguf > $OUT/$name-verify.log 2>&1
    echo "   verify: $(tail -1 $OUT/$name-verify.log); $(grep -c 'bit for bit' $OUT/$name-verify.log) linears on the grid bit for bit"
  done
  python3 - /tmp/kq-$tag-cuda /tmp/kq-$tag-cpu <<'PY'
import json, struct, sys
def tensors(path):
    f = open(path, "rb"); n = struct.unpack("<Q", f.read(8))[0]; h = json.loads(f.read(n)); base = 8 + n
    out = {}
    for k, v in h.items():
        if k == "__metadata__": continue
        f.seek(base + v["data_offsets"][0]); b = f.read(v["data_offsets"][1] - v["data_offsets"][0])
        out[k] = struct.unpack("<%df" % (len(b) // 4), b) if v["dtype"] == "F32" else b
    return out
for what in ("model/quantization.safetensors", "model/model.safetensors"):
    a, b = tensors(sys.argv[1] + "/" + what), tensors(sys.argv[2] + "/" + what)
    worst = max((max(abs(x - y) for x, y in zip(a[k], b[k])) for k in a if isinstance(a[k], tuple) and k in b), default=0)
    print("   cuda vs cpu %s: largest difference %.3g" % (what, worst))
PY
done
