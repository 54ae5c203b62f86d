#!/usr/bin/env python3
"""Produces the golden logits in tests/data from the independent Python references in ../shared/fixtures/scripts
(float64, Hugging Face transformers semantics). Run with Debian's python3 (python3-torch, python3-numpy):

    /usr/bin/python3 tests/golden/make_golden.py ../shared/fixtures tests/data

The C++ tests compare the project's forward pass against these files; they are not produced by the project's code.
"""
import json, math, os, sys

fixtures, out = sys.argv[1], sys.argv[2]
sys.path.insert(0, os.path.join(fixtures, 'scripts'))
import torch  # noqa: E402
from hf_llama_ref import HFLlama  # noqa: E402
from hf_opt_ref import HFOpt  # noqa: E402

torch.manual_seed(0)


def scaled_inv_freq(c, hd):
    """rope_scaling as transformers computes it (linear and llama3 types), float64."""
    inv = 1.0 / (c['rope_theta'] ** (torch.arange(0, hd, 2, dtype=torch.float64) / hd))
    rs = c.get('rope_scaling') or {}
    kind = rs.get('rope_type', rs.get('type'))
    if kind == 'linear':
        return inv / rs['factor']
    if kind == 'llama3':
        f, lo, hi, old = rs['factor'], rs['low_freq_factor'], rs['high_freq_factor'], rs['original_max_position_embeddings']
        out = []
        for x in inv.tolist():
            wl = 2 * math.pi / x
            if wl < old / hi:
                out.append(x)
            elif wl > old / lo:
                out.append(x / f)
            else:
                s = (old / wl - lo) / (hi - lo)
                out.append((1 - s) * x / f + s * x)
        return torch.tensor(out, dtype=torch.float64)
    return inv


class ScaledLlama(HFLlama):
    """The fixture reference with its rotary frequencies replaced by the scaled ones."""

    def logits(self, ids):
        c = self.c
        hd = c['hidden_size'] // c['num_attention_heads']
        inv = scaled_inv_freq(c, hd)
        orig_pow = torch.Tensor.__rpow__

        # The reference computes inv = 1 / (theta ** (arange/hd)); substitute by patching arange's result path.
        theta = c['rope_theta']
        target = (torch.arange(0, hd, 2, dtype=torch.float64) / hd)

        def patched(self_t, other):
            if isinstance(other, float) and other == theta and self_t.shape == target.shape and torch.equal(self_t, target):
                return 1.0 / inv
            return orig_pow(self_t, other)
        torch.Tensor.__rpow__ = patched
        try:
            return super().logits(ids)
        finally:
            torch.Tensor.__rpow__ = orig_pow


def record(name, model_dir, logits_fn, ids, config_patch=None, vocab_subset=None):
    lg = logits_fn(ids)
    full = lg.shape[-1] <= 4096
    cols = list(range(lg.shape[-1])) if full else vocab_subset
    data = {
        'model': model_dir,
        'config_patch': config_patch,
        'ids': ids,
        'columns': None if full else cols,
        'logits': lg[:, cols].tolist(),
        'logsumexp': torch.logsumexp(lg, -1).tolist(),
        'argmax': lg.argmax(-1).tolist(),
    }
    with open(os.path.join(out, name + '.json'), 'w') as f:
        json.dump(data, f)
    print(name, tuple(lg.shape))


stories = os.path.join(fixtures, 'models/stories260K-hf')
ids = [1] + torch.randint(3, 512, (47,)).tolist()
record('golden_stories260K', 'models/stories260K-hf', HFLlama(stories).logits, ids)

for label, patch in [('linear', {'rope_type': 'linear', 'factor': 2.0}),
                     ('llama3', {'rope_type': 'llama3', 'factor': 8.0, 'low_freq_factor': 1.0,
                                 'high_freq_factor': 8.0, 'original_max_position_embeddings': 1024})]:
    m = ScaledLlama(stories)
    m.c = dict(m.c, rope_scaling=patch)
    record('golden_stories260K_rope_' + label, 'models/stories260K-hf', m.logits, ids, {'rope_scaling': patch})

opt = os.path.join(fixtures, 'models/tiny-random-opt-hf')
opt_ids = [2] + torch.randint(4, 50272, (23,)).tolist()
subset = sorted(set(opt_ids + torch.randint(0, 50272, (200,)).tolist() + list(range(16))))
record('golden_tiny_opt', 'models/tiny-random-opt-hf', HFOpt(opt).logits, opt_ids, vocab_subset=subset)

# Perplexity of the bundled demo model on its held-out text (16 windows of 256 tokens), with the fixture's float64
# reference forward pass and Python sentencepiece: the figure tst_perplexity checks the project's evaluation against.
import sentencepiece as spm  # noqa: E402
demo = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'resources', 'demo-model')
heldout = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'resources', 'demo-text', 'heldout.txt')
m = HFLlama(demo)
sp = spm.SentencePieceProcessor(model_file=os.path.join(demo, 'tokenizer.model'))
ids = [1] + sp.encode(open(heldout, encoding='utf-8').read())
seqlen, n = 256, 16
nll = []
for s in range(n):
    seg = ids[s * seqlen:(s + 1) * seqlen]
    lp = torch.log_softmax(m.logits(seg), -1)
    nll.append(float(-lp[torch.arange(seqlen - 1), torch.tensor(seg[1:])].mean()))
ppl = math.exp(sum(nll) / n)
with open(os.path.join(out, 'golden_demo_ppl.json'), 'w') as f:
    json.dump({'seqlen': seqlen, 'windows': n, 'text_tokens': len(ids), 'perplexity': ppl, 'window_nll': nll}, f, indent=1)
print('demo perplexity', ppl)
