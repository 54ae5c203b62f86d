#!/usr/bin/env bash
# Export acceptance on the GPU machine: builds with CUDA LibTorch (build_cuda.sh), calibrates the demo model and
# stories260K-hf with a deployable configuration (--no-ln-matrix; --zero-in-range), exports --format hf, and checks
# that stock Hugging Face transformers loads the export and computes the perplexity `affinequant eval` computes on the
# same files and windows (within 0.5%). Also verifies every packed export on CUDA and records which third-party loaders
# for the packed formats exist on the machine and what transformers says when asked to load them.
#
#   tools/gpu/export_check.sh DEBS_DIR FIXTURES_DIR OUT_DIR [NSAMPLES]     (EXPORT_CASES=demo: the demo model only)
#
# Writes OUT_DIR/export-check.md (the table) and OUT_DIR/export-check.json (every figure); build logs in OUT_DIR/logs.
set -uo pipefail
DEBS=$1 FIX=$2 OUT=$3 NS=${4:-32}
SRC=$(cd "$(dirname "$0")/../.." && pwd)
source "$(dirname "$0")/build_cuda.sh" "$DEBS" "$OUT/logs" || exit 1
AQ=$AQ_BUILD/bin/affinequant
W=/tmp/aq-export-check
rm -rf $W && mkdir -p $W
python3 -c 'import transformers, torch; print("== transformers", transformers.__version__, "torch", torch.__version__)'

# name | model | calibration text | evaluation text | seqlen | windows | quantize options
CASES=(
  "demo|$SRC/resources/demo-model|$SRC/resources/demo-text/train/northangerabbey.txt|$SRC/resources/demo-text/heldout.txt|512|0|--preset w4a16g128"
  "stories|$FIX/models/stories260K-hf|$FIX/text/wikitext2_valid_tokens.txt|$FIX/text/wikitext2_test_hf_joined.txt|512|32|--preset w4a16g128 --group-size 32"
)
for c in "${CASES[@]}"; do
  IFS='|' read -r NAME MODEL CAL EV SL WIN QOPTS <<< "$c"
  [[ ",${EXPORT_CASES:-demo,stories}," == *",$NAME,"* ]] || continue
  RUN=$W/$NAME-run
  echo "== $NAME: calibrate ($QOPTS --no-ln-matrix --zero-in-range, $NS x $SL tokens, CUDA)"
  $AQ quantize --model $MODEL --calib $CAL --out $RUN $QOPTS --no-ln-matrix --zero-in-range --nsamples $NS \
    --seqlen $SL --device cuda --force > $W/$NAME-quantize.log 2>&1 || { tail -5 $W/$NAME-quantize.log; continue; }
  $AQ export --run $RUN --format hf --out $W/$NAME-hf --force --json > $W/$NAME-export.json || continue
  for dt in float16 float32; do
    $AQ eval --model $W/$NAME-hf --text $EV --seqlen $SL --max-windows $WIN --device cuda --dtype $dt --json \
      > $W/$NAME-aq-$dt.json || echo "affinequant eval failed ($NAME $dt)"
    python3 $SRC/tools/gpu/hf_export_ppl.py --model $W/$NAME-hf --text $EV --seqlen $SL --max-windows $WIN \
      --dtype $dt --device cuda --json $W/$NAME-hf-$dt.json > /dev/null || echo "transformers failed ($NAME $dt)"
  done
  $AQ verify --export $W/$NAME-hf --run $RUN --text $EV --seqlen $SL --max-windows 8 --device cuda --json \
    > $W/$NAME-verify-hf.json || echo "verify reported problems ($NAME hf)"
  for f in awq gptq compressed-tensors; do
    if $AQ export --run $RUN --format $f --out $W/$NAME-$f --force > $W/$NAME-export-$f.log 2>&1; then
      $AQ verify --export $W/$NAME-$f --run $RUN --text $EV --seqlen $SL --max-windows 8 --device cuda --json \
        > $W/$NAME-verify-$f.json || echo "verify reported problems ($NAME $f)"
    else
      echo "$NAME $f: $(tail -1 $W/$NAME-export-$f.log)"
    fi
  done
done

# Which loaders of the packed formats are installed, and what transformers does with each packed export.
python3 - $W > $W/loaders.json <<'PY'
import importlib.util, json, os, sys
w = sys.argv[1]
mods = ['awq', 'gptqmodel', 'auto_gptq', 'optimum', 'compressed_tensors', 'vllm', 'autoround']
out = {'installed': {m: importlib.util.find_spec(m) is not None for m in mods}, 'transformers_load': {}}
from transformers import AutoModelForCausalLM
for f in ('awq', 'gptq', 'compressed-tensors'):
    d = os.path.join(w, 'demo-' + f)
    if not os.path.isdir(d):
        continue
    try:
        AutoModelForCausalLM.from_pretrained(d)
        out['transformers_load'][f] = 'loaded'
    except Exception as e:  # the missing backend is the expected answer here
        out['transformers_load'][f] = f'{type(e).__name__}: {str(e).splitlines()[0][:300]}'
print(json.dumps(out, indent=1))
PY

python3 - $W $OUT <<'PY'
import json, os, sys
w, out = sys.argv[1], sys.argv[2]
def load(name):
    p = os.path.join(w, name)
    return json.load(open(p)) if os.path.exists(p) and os.path.getsize(p) else None
rows = ['| model | dtype | windows x seqlen | affinequant eval | transformers | difference | within 0.5% |',
        '|---|---|---|---|---|---|---|']
summary = {'cases': {}, 'loaders': load('loaders.json')}
ok_all = True
for name in [n for n in ('demo', 'stories') if n in os.environ.get('EXPORT_CASES', 'demo,stories').split(',')]:
    case = {'export': load(f'{name}-export.json'), 'verify': {}}
    for dt in ('float16', 'float32'):
        a, h = load(f'{name}-aq-{dt}.json'), load(f'{name}-hf-{dt}.json')
        if not a or not h:
            rows.append(f'| {name} | {dt} | - | {a and a["perplexity"]} | {h and h["perplexity"]} | - | FAILED |')
            ok_all = False
            continue
        d = h['perplexity'] / a['perplexity'] - 1
        ok = abs(d) < 0.005 and not h['missing_keys'] and a['windows'] == h['windows'] and a['text_tokens'] == h['text_tokens']
        ok_all &= ok
        rows.append(f'| {name} | {dt} | {a["windows"]} x {a["seqlen"]} | {a["perplexity"]:.4f} | {h["perplexity"]:.4f} '
                    f'({h["class"]}) | {100 * d:+.3f}% | {"yes" if ok else "NO"} |')
        case[dt] = {'affinequant': a['perplexity'], 'transformers': h['perplexity'], 'relative_difference': d,
                    'windows': a['windows'], 'seqlen': a['seqlen'], 'text_tokens': [a['text_tokens'], h['text_tokens']],
                    'missing_keys': h['missing_keys'], 'unexpected_keys': h['unexpected_keys'],
                    'attention_bias': h['attention_bias'], 'mlp_bias': h['mlp_bias']}
    for f in ('hf', 'awq', 'gptq', 'compressed-tensors'):
        v = load(f'{name}-verify-{f}.json')
        if v:
            case['verify'][f] = {k: v[k] for k in ('ok', 'max_weight_diff', 'max_logit_diff', 'mean_kl', 'top1_agreement',
                                                   'run_perplexity', 'export_perplexity', 'problems')}
            ok_all &= bool(v['ok'])
        elif f == 'hf' or name == 'demo':
            # Every format must export and verify, except the packed formats of stories260K (172-wide FFN: partial
            # groups, refused by design).
            case['verify'][f] = None
            ok_all = False
    summary['cases'][name] = case
vrows = ['| model | format | verify | max weight diff | max logit diff | mean KL | top-1 | ppl run | ppl export |',
         '|---|---|---|---|---|---|---|---|---|']
for name, case in summary['cases'].items():
    for f, v in case['verify'].items():
        if v is None:
            vrows.append(f'| {name} | {f} | NOT EXPORTED | - | - | - | - | - | - |')
            continue
        vrows.append(f'| {name} | {f} | {"ok" if v["ok"] else "PROBLEMS"} | {v["max_weight_diff"]:.3g} | '
                     f'{v["max_logit_diff"]:.3g} | {v["mean_kl"]:.3g} | {v["top1_agreement"]:.4f} | '
                     f'{v["run_perplexity"]:.4f} | {v["export_perplexity"]:.4f} |')
text = '\n'.join(rows) + '\n\n' + '\n'.join(vrows) + '\n\nloaders: ' + json.dumps(summary['loaders']) + '\n'
summary['all_within_0.5_percent'] = ok_all
open(os.path.join(out, 'export-check.md'), 'w').write(text)
json.dump(summary, open(os.path.join(out, 'export-check.json'), 'w'), indent=1)
print(text)
print('ACCEPTANCE', 'PASSED' if ok_all else 'FAILED')
PY
