#!/usr/bin/env python3
"""Perplexity of an exported model loaded with stock Hugging Face transformers, with the protocol of
`affinequant eval`: the whole text tokenized once with BOS, disjoint windows of SEQLEN tokens (the remainder dropped,
at most MAX_WINDOWS, 0 = all), PPL = exp(mean over windows of the mean next-token cross-entropy).

    hf_export_ppl.py --model EXPORT_DIR --text FILE --seqlen N [--max-windows K] [--dtype float16|bfloat16|float32]
                     [--device cuda] [--json OUT.json]

Tokenization: tokenizer.model through the sentencepiece package (as affinequant does for sentencepiece models), else
transformers' AutoTokenizer. The model must load without missing weights (a missing tensor would be silently
initialised at random); unexpected tensors (the post_matrix extension) are reported.
"""
import argparse
import json
import math
import os
import sys

import torch
import transformers
from transformers import AutoModelForCausalLM

ap = argparse.ArgumentParser()
ap.add_argument('--model', required=True)
ap.add_argument('--text', required=True)
ap.add_argument('--seqlen', type=int, required=True)
ap.add_argument('--max-windows', type=int, default=0)
ap.add_argument('--dtype', default='float16')
ap.add_argument('--device', default='cuda')
ap.add_argument('--json')
a = ap.parse_args()

dtype = {'float16': torch.float16, 'bfloat16': torch.bfloat16, 'float32': torch.float32}[a.dtype]
cfg = json.load(open(os.path.join(a.model, 'config.json')))
text = open(a.text, encoding='utf-8').read()
spm_path = os.path.join(a.model, 'tokenizer.model')
if os.path.exists(spm_path):
    import sentencepiece as spm
    ids = [cfg.get('bos_token_id', 1)] + spm.SentencePieceProcessor(model_file=spm_path).encode(text)
    tokenizer = 'sentencepiece ' + spm_path
else:
    from transformers import AutoTokenizer
    tok = AutoTokenizer.from_pretrained(a.model)
    ids = tok(text)['input_ids']
    if tok.bos_token_id is not None and (not ids or ids[0] != tok.bos_token_id):
        ids = [tok.bos_token_id] + ids
    tokenizer = 'AutoTokenizer'

# transformers 5 names the argument dtype; 4.x calls it torch_dtype.
major = int(transformers.__version__.split('.')[0])
kw = {'dtype': dtype} if major >= 5 else {'torch_dtype': dtype}
model, info = AutoModelForCausalLM.from_pretrained(a.model, output_loading_info=True, **kw)
model = model.to(a.device).eval()
missing = list(info.get('missing_keys', []))
unexpected = list(info.get('unexpected_keys', []))
mismatched = [str(m) for m in info.get('mismatched_keys', [])]
if missing or mismatched:
    print(f'LOAD PROBLEM: missing {missing[:8]} mismatched {mismatched[:8]}', file=sys.stderr)

n = len(ids) // a.seqlen
if a.max_windows > 0:
    n = min(n, a.max_windows)
nll = []
with torch.no_grad():
    for w in range(n):
        seg = torch.tensor([ids[w * a.seqlen:(w + 1) * a.seqlen]], device=a.device)
        logits = model(seg).logits.float()
        lp = torch.log_softmax(logits[0, :-1], -1)
        nll.append(float(-lp.gather(-1, seg[0, 1:].unsqueeze(-1)).mean()))
ppl = math.exp(sum(nll) / n)
result = {
    'model': a.model, 'class': type(model).__name__, 'transformers': transformers.__version__,
    'torch': torch.__version__, 'dtype': a.dtype, 'device': a.device, 'tokenizer': tokenizer,
    'text_tokens': len(ids), 'seqlen': a.seqlen, 'windows': n, 'perplexity': ppl,
    'attention_bias': getattr(model.config, 'attention_bias', None), 'mlp_bias': getattr(model.config, 'mlp_bias', None),
    'missing_keys': missing, 'unexpected_keys': unexpected, 'mismatched_keys': mismatched,
}
print(json.dumps({k: v for k, v in result.items() if k not in ('unexpected_keys',)}))
if a.json:
    json.dump(result, open(a.json, 'w'), indent=1)
sys.exit(1 if missing or mismatched else 0)
