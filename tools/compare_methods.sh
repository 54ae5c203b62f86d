#!/usr/bin/env bash
# Calibrates one model with rtn, omniquant and affinequant for the main presets and prints a perplexity table.
#
#   tools/compare_methods.sh AFFINEQUANT_BIN MODEL CALIB_TEXT EVAL_TEXT OUT_DIR [options]
#     --device D          (default cpu)
#     --nsamples N        (default 128)   --seqlen N (default 512)
#     --eval-seqlen N     (default 512)   --eval-windows K (default 0 = all)
#     --g128 G --g64 G    group sizes standing in for 128 and 64 on narrow models (default 128 and 64)
#     --presets "LIST"    (default "w4a16g128 w3a16 w2a16g64 w4a4 w6a6")
# Writes OUT_DIR/<preset>-<method>/ runs and OUT_DIR/table.md.
set -euo pipefail
AQ=$1 MODEL=$2 CALIB=$3 EVAL=$4 OUT=$5; shift 5
DEVICE=cpu NSAMPLES=128 SEQLEN=512 EVAL_SEQLEN=512 EVAL_WINDOWS=0 G128=128 G64=64
PRESETS="w4a16g128 w3a16 w2a16g64 w4a4 w6a6"
while [[ $# -gt 0 ]]; do
  case $1 in
    --device) DEVICE=$2;; --nsamples) NSAMPLES=$2;; --seqlen) SEQLEN=$2;; --eval-seqlen) EVAL_SEQLEN=$2;;
    --eval-windows) EVAL_WINDOWS=$2;; --g128) G128=$2;; --g64) G64=$2;; --presets) PRESETS=$2;;
    *) echo "unknown option $1" >&2; exit 2;;
  esac; shift 2
done
mkdir -p "$OUT"
for preset in $PRESETS; do
  group=()
  case $preset in *g128) group=(--group-size $G128);; *g64) group=(--group-size $G64);; esac
  for method in rtn omniquant affinequant; do
    run="$OUT/$preset-$method"
    start=$(date +%s)
    "$AQ" quantize --model "$MODEL" --calib "$CALIB" --out "$run" --preset "$preset" --method $method "${group[@]}" \
      --nsamples $NSAMPLES --seqlen $SEQLEN --eval "$EVAL" --eval-seqlen $EVAL_SEQLEN --eval-windows $EVAL_WINDOWS \
      --device $DEVICE --force --json > "$run.json" 2> "$run.log" || { echo "$preset $method failed:"; tail -3 "$run.log"; continue; }
    echo "$preset $method: $(python3 -c "import json;print(round(json.load(open('$run.json'))['eval']['quant_perplexity'],3))") ($(( $(date +%s) - start )) s)"
  done
done
python3 - "$OUT" "$PRESETS" <<'PY'
import json, os, sys
out, presets = sys.argv[1], sys.argv[2].split()
rows = ["| preset | FP | rtn | omniquant | affinequant | order |", "|---|---|---|---|---|---|"]
for p in presets:
    vals, fp = {}, None
    for m in ("rtn", "omniquant", "affinequant"):
        f = os.path.join(out, f"{p}-{m}.json")
        if os.path.exists(f) and os.path.getsize(f):
            e = json.load(open(f))["eval"]; vals[m] = e["quant_perplexity"]; fp = e["fp_perplexity"]
    cell = lambda m: f"{vals[m]:.3f}" if m in vals else "failed"
    ok = all(m in vals for m in vals) and len(vals) == 3 and vals["affinequant"] <= vals["omniquant"] <= vals["rtn"]
    rows.append(f"| {p} | {fp:.3f} | {cell('rtn')} | {cell('omniquant')} | {cell('affinequant')} | {'as expected' if ok else 'see notes'} |")
open(os.path.join(out, "table.md"), "w").write("\n".join(rows) + "\n")
print("\n".join(rows))
PY
