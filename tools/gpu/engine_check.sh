#!/usr/bin/env bash
# Builds with CUDA LibTorch (build_cuda.sh) and runs the method comparison (tools/compare_methods.sh) on the GPU:
# rtn / omniquant / affinequant, calibration text disjoint from the evaluation text.
#
#   tools/gpu/engine_check.sh DEBS_DIR FIXTURES_DIR OUT_DIR demo|stories "PRESETS" [NSAMPLES SEQLEN]
set -euo pipefail
DEBS=$1 FIX=$2 OUT=$3 WHICH=$4 PRESETS=$5 NS=${6:-32} SL=${7:-512}
SRC=$(cd "$(dirname "$0")/../.." && pwd)
source "$(dirname "$0")/build_cuda.sh" "$DEBS" "$OUT/logs"
AQ=$AQ_BUILD/bin/affinequant
if [[ $WHICH == stories ]]; then
  bash "$SRC/tools/compare_methods.sh" $AQ $FIX/models/stories260K-hf $FIX/text/wikitext2_valid_tokens.txt \
    $FIX/text/wikitext2_test_hf_joined.txt /tmp/cmp-stories --device cuda --nsamples $NS --seqlen $SL \
    --eval-seqlen 512 --eval-windows 8 --g128 32 --g64 16 --presets "$PRESETS"
  cp /tmp/cmp-stories/table.md $OUT/table-stories.md
else
  bash "$SRC/tools/compare_methods.sh" $AQ $SRC/resources/demo-model $SRC/resources/demo-text/train/northangerabbey.txt \
    $SRC/resources/demo-text/heldout.txt /tmp/cmp-demo --device cuda --nsamples $NS --seqlen $SL --eval-seqlen 512 \
    --presets "$PRESETS"
  cp /tmp/cmp-demo/table.md $OUT/table-demo.md
  for f in /tmp/cmp-demo/*-affinequant/run.json; do cp $f $OUT/$(basename $(dirname $f))-run.json; done
fi
