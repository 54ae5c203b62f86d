#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets (docs/fuzzing.md) into OUT/<target>/.

Seeds are derived from the bundled demo model (resources/demo-model), from the shared test fixtures when they are
present (../shared/fixtures; never copied into the repository) and from small inputs made here, including one entry
for every parser defect listed in issue #14. Standard library only; spm_train (Debian package sentencepiece) is used
when found, for tokenizer.model files with a normalization table.

usage: make_seeds.py OUT [--fixtures DIR]
"""
import argparse
import json
import os
import random
import shutil
import struct
import subprocess
import sys
import tempfile

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
DEMO = os.path.join(ROOT, "resources", "demo-model")


class Seeds:
    def __init__(self, out):
        self.out = out
        self.count = {}

    def add(self, target, name, data):
        if isinstance(data, str):
            data = data.encode("utf-8")
        d = os.path.join(self.out, target)
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)
        self.count[target] = self.count.get(target, 0) + 1


def read(path):
    with open(path, "rb") as f:
        return f.read()


# ---- safetensors -------------------------------------------------------------------------------------------------

DTYPE_SIZE = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1, "BOOL": 1}


def safetensors(tensors, metadata=None, prefix_delta=0):
    """tensors: list of (name, dtype, shape, bytes). Offsets are laid out contiguously."""
    header = {}
    if metadata is not None:
        header["__metadata__"] = metadata
    data = b""
    for name, dtype, shape, payload in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(payload)]}
        data += payload
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h) + prefix_delta) + h + data


def split_safetensors(blob):
    n = struct.unpack("<Q", blob[:8])[0]
    header = json.loads(blob[8:8 + n])
    return header, blob[8 + n:]


def safetensors_seeds(s, files):
    for label, path in files:
        header, data = split_safetensors(read(path))
        meta = header.pop("__metadata__", None)
        small = []
        for name, e in sorted(header.items(), key=lambda kv: kv[1]["data_offsets"][0]):
            b, en = e["data_offsets"]
            if en - b <= 1024:  # norm weights and biases: the real header structure, a small file
                small.append((name, e["dtype"], e["shape"], data[b:en]))
        s.add("safetensors", label + "-small-tensors.safetensors", safetensors(small, meta))
        if small:
            s.add("safetensors", label + "-one-tensor.safetensors", safetensors(small[:1], meta))
    rnd = random.Random(14)
    s.add("safetensors", "empty-header.safetensors", safetensors([]))
    s.add("safetensors", "metadata-only.safetensors", safetensors([], {"format": "pt", "note": "x"}))
    every = []
    for dtype, size in DTYPE_SIZE.items():
        every.append(("t." + dtype.lower(), dtype, [2, 3], bytes(rnd.randrange(256) for _ in range(6 * size))))
    s.add("safetensors", "every-dtype.safetensors", safetensors(every, {"format": "pt"}))
    s.add("safetensors", "scalar-and-empty.safetensors",
          safetensors([("scalar", "F32", [], struct.pack("<f", 1.5)), ("empty", "F16", [0, 4], b"")]))
    # Issue #14, defect 3: a length prefix one byte short must be refused, not read misaligned.
    one = [("w", "F32", [4], struct.pack("<4f", 1, 2, 3, 4))]
    s.add("safetensors", "defect3-prefix-one-short.safetensors", safetensors(one, prefix_delta=-1))
    s.add("safetensors", "prefix-one-long.safetensors", safetensors(one, prefix_delta=1))
    # A claimed 1 TB tensor and deep JSON nesting: refused quickly.
    huge = json.dumps({"w": {"dtype": "F32", "shape": [1 << 20, 1 << 18], "data_offsets": [0, 1 << 40]}}).encode()
    s.add("safetensors", "claims-1tb.safetensors", struct.pack("<Q", len(huge)) + huge)
    deep = b"[" * 5000 + b"]" * 5000
    s.add("safetensors", "deep-json.safetensors", struct.pack("<Q", len(deep)) + deep)


# ---- config.json -------------------------------------------------------------------------------------------------

def config_seeds(s, fixture_models):
    demo = json.loads(read(os.path.join(DEMO, "config.json")))
    s.add("config", "demo.json", json.dumps(demo, indent=2))
    for label, d in fixture_models:
        p = os.path.join(d, "config.json")
        if os.path.exists(p):
            s.add("config", label + ".json", read(p))

    def variant(name, **changes):
        c = dict(demo)
        for k, v in changes.items():
            if v is None:
                c.pop(k, None)
            else:
                c[k] = v
        s.add("config", name + ".json", json.dumps(c, indent=2))

    variant("mistral-sliding-window", model_type="mistral", sliding_window=256)
    variant("qwen2", model_type="qwen2", attention_bias=True)
    variant("rope-linear", rope_scaling={"type": "linear", "factor": 2.0})
    variant("rope-llama3", rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                                         "high_freq_factor": 4.0, "original_max_position_embeddings": 256})
    variant("head-dim", head_dim=64)
    # Issue #14, defect 3: sizes validated against the checkpoint before anything is allocated from them.
    variant("defect3-layers-1e9", num_hidden_layers=1000000000)
    variant("defect3-fewer-layers-than-weights", num_hidden_layers=demo["num_hidden_layers"] - 1)
    variant("huge-vocab", vocab_size=1 << 40)
    variant("negative-hidden", hidden_size=-256)
    # Issue #14, defect 5: wrong JSON types and rope values are bad input naming the key, not internal errors.
    variant("defect5-rope-type-number", rope_scaling={"type": 3, "factor": 2.0})
    variant("defect5-rope-type-object", rope_scaling={"type": {"a": 1}, "factor": 2.0})
    variant("defect5-rope-type-bool", rope_scaling={"type": True, "factor": 2.0})
    variant("defect5-rope-theta-zero", rope_theta=0.0)
    variant("defect5-rope-theta-negative", rope_theta=-1.0)
    variant("defect5-rope-factor-absurd", rope_scaling={"type": "linear", "factor": 1e300})
    variant("hidden-size-string", hidden_size="256")
    variant("layers-float", num_hidden_layers=4.5)
    variant("no-model-type", model_type=None)
    s.add("config", "top-level-array.json", "[1, 2, 3]")
    s.add("config", "top-level-null.json", "null")


# ---- tokenizers ----------------------------------------------------------------------------------------------------

def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("\xa1"), ord("\xac") + 1)) + \
        list(range(ord("\xae"), ord("\xff") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


def reduced_bpe(vocab, merges_text, keep=300):
    """The byte alphabet, the first `keep` merges and the tokens they make, with the original ids."""
    lines = [l for l in merges_text.split("\n") if l and not l.startswith("#version")]
    merges = lines[:keep]
    wanted = set(bytes_to_unicode().values())
    for m in merges:
        a, b = m.split(" ")
        wanted.add(a + b)
    special = [t for t in vocab if t.startswith("<") and t.endswith(">") or t == "<|endoftext|>"]
    wanted.update(special)
    small = {t: i for t, i in vocab.items() if t in wanted}
    return small, merges


GPT2_REGEX = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"
LLAMA3_REGEX = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|"
                r"\s*[\r\n]+|\s+(?!\S)|\s+")


def tokenizer_json(vocab, merges, pre, normalizer=None, post=None, added=None, merges_as_pairs=False):
    ids = sorted(vocab.values())
    return json.dumps({
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": added or [],
        "normalizer": normalizer,
        "pre_tokenizer": pre,
        "post_processor": post,
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
                  "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False,
                  "vocab": vocab, "merges": [m.split(" ") for m in merges] if merges_as_pairs else merges},
        "_ids": [ids[0], ids[-1]] if ids else [],
    }, ensure_ascii=False, indent=1)


def bpe_seeds(s, bpe_dirs):
    for label, d in bpe_dirs:
        vocab = json.loads(read(os.path.join(d, "vocab.json")))
        merges = read(os.path.join(d, "merges.txt")).decode("utf-8")
        small, kept = reduced_bpe(vocab, merges)
        merges_txt = "#version: 0.2\n" + "\n".join(kept) + "\n"
        s.add("gpt2_bpe", label + ".bpe", json.dumps(small, ensure_ascii=False).encode() + b"\0" + merges_txt.encode())
        byte_level = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}
        s.add("tokenizer_json", label + "-bytelevel.json", tokenizer_json(small, kept, byte_level))
        split = {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": LLAMA3_REGEX}, "behavior": "Isolated", "invert": False},
            {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False}]}
        bos = next((t for t in small if t in ("<s>", "<|endoftext|>")), None)
        post = None
        if bos is not None:
            post = {"type": "TemplateProcessing",
                    "single": [{"SpecialToken": {"id": bos, "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
                    "pair": [], "special_tokens": {bos: {"id": bos, "ids": [small[bos]], "tokens": [bos]}}}
        added = [{"id": max(small.values()) + 1, "content": "<|extra|>", "single_word": False, "lstrip": False,
                  "rstrip": False, "normalized": False, "special": True}]
        s.add("tokenizer_json", label + "-llama3-split.json",
              tokenizer_json(small, kept, split, {"type": "NFC"}, post, added, merges_as_pairs=True))
        gpt2_split = {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": GPT2_REGEX}, "behavior": "Isolated", "invert": False},
            {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False}]}
        s.add("tokenizer_json", label + "-gpt2-split.json", tokenizer_json(small, kept, gpt2_split))
        if label == "gpt2":
            # Issue #14, defect 2: a pattern with catastrophic backtracking must end quickly (bad input or a
            # bounded match), never hang.
            for name, pattern in (("defect2-backtracking", "a*b|a"), ("nested-quantifier", "(a+)+$"),
                                  ("string-pattern", None)):
                p = {"String": " "} if pattern is None else {"Regex": pattern}
                pre = {"type": "Sequence", "pretokenizers": [
                    {"type": "Split", "pattern": p, "behavior": "Isolated", "invert": False},
                    {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False}]}
                s.add("tokenizer_json", name + ".json", tokenizer_json(small, kept, pre))
            s.add("gpt2_bpe", "merge-of-unknown-token.bpe",
                  json.dumps({"a": 0, "b": 1}).encode() + b"\0#version: 0.2\na c\n")
            s.add("gpt2_bpe", "vocab-id-string.bpe", json.dumps({"a": "0", "b": 1}).encode() + b"\0a b\n")
    # Hand-made: the smallest complete tokenizer.json, and the wrong-type cases of issue #14, defect 5.
    tiny_vocab = {c: i for i, c in enumerate(sorted(set(bytes_to_unicode().values())))}
    tiny_vocab["Ġt"] = len(tiny_vocab)
    bl = {"type": "ByteLevel", "add_prefix_space": True, "use_regex": True}
    s.add("tokenizer_json", "tiny.json", tokenizer_json(tiny_vocab, ["Ġ t"], bl))
    s.add("tokenizer_json", "model-not-object.json", json.dumps({"model": 3}))
    s.add("tokenizer_json", "vocab-array.json", json.dumps({"model": {"type": "BPE", "vocab": [1, 2], "merges": []}}))
    s.add("tokenizer_json", "merges-numbers.json",
          json.dumps({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": [1, [2, 3]]}}))


def protobuf_fields(b):
    i = 0
    while i < len(b):
        key, i = varint(b, i)
        field, wire = key >> 3, key & 7
        start = i
        if wire == 0:
            _, i = varint(b, i)
        elif wire == 1:
            i += 8
        elif wire == 2:
            n, i = varint(b, i)
            start = i
            i += n
        elif wire == 5:
            i += 4
        else:
            raise ValueError("unsupported wire type %d" % wire)
        yield field, wire, start, i


def varint(b, i):
    r = s = 0
    while True:
        c = b[i]
        i += 1
        r |= (c & 0x7F) << s
        s += 7
        if c < 0x80:
            return r, i


def charsmap_span(model):
    """(start, end) of the normalizer's precompiled_charsmap inside a ModelProto, or None."""
    for field, wire, start, end in protobuf_fields(model):
        if field == 3 and wire == 2:
            for f2, w2, s2, e2 in protobuf_fields(model[start:end]):
                if f2 == 2 and w2 == 2 and e2 > s2:
                    return start + s2, start + e2
    return None


def sentencepiece_seeds(s, models, text_path):
    for label, path in models:
        s.add("sentencepiece", label + ".model", read(path))
    spm_train = shutil.which("spm_train")
    if not spm_train or not os.path.exists(text_path):
        print("make_seeds: spm_train or %s missing: no tokenizer.model with a normalization table" % text_path,
              file=sys.stderr)
        return
    with tempfile.TemporaryDirectory() as tmp:
        # A small model whose normalizer carries a precompiled charsmap (a custom rule table keeps it small).
        rules = os.path.join(tmp, "rules.tsv")
        with open(rules, "w") as f:
            f.write("41\t61\n42\t62\nFF21\t41\n2160\t49\n")
        text = os.path.join(tmp, "text.txt")
        with open(text_path, encoding="utf-8") as src, open(text, "w", encoding="utf-8") as dst:
            dst.write(src.read(200000))
        prefix = os.path.join(tmp, "m")
        subprocess.run([spm_train, "--input=" + text, "--model_prefix=" + prefix, "--vocab_size=400", "--character_coverage=0.995",
                        "--model_type=bpe", "--normalization_rule_tsv=" + rules, "--byte_fallback=true",
                        "--minloglevel=2"], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        model = read(prefix + ".model")
        s.add("sentencepiece", "charsmap-bpe.model", model)
        subprocess.run([spm_train, "--input=" + text, "--model_prefix=" + prefix + "u", "--vocab_size=400", "--character_coverage=0.995",
                        "--model_type=unigram", "--normalization_rule_tsv=" + rules, "--minloglevel=2"],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        s.add("sentencepiece", "charsmap-unigram.model", read(prefix + "u.model"))
    span = charsmap_span(model)
    if span is None:
        return
    start, end = span
    # Issue #14, defect 1: a damaged charsmap with a plausible length crashed inside sentencepiece's normalizer.
    rnd = random.Random(1)
    trie_size = struct.unpack("<I", model[start:start + 4])[0]
    for k in range(4):
        b = bytearray(model)
        for _ in range(8):
            i = rnd.randrange(start + 4, min(end, start + 4 + trie_size))
            b[i] = rnd.randrange(256)
        s.add("sentencepiece", "defect1-charsmap-trie-%d.model" % k, bytes(b))
    for k, size in enumerate((trie_size - 4, trie_size + 4, end - start - 4, 4)):
        b = bytearray(model)
        b[start:start + 4] = struct.pack("<I", max(size, 0))
        s.add("sentencepiece", "defect1-charsmap-size-%d.model" % k, bytes(b))


# ---- run.json ------------------------------------------------------------------------------------------------------

def run_json_seeds(s):
    conf = {"wbits": 4, "abits": 16, "group_size": 128, "symmetric": False, "zero_in_range": True,
            "method": "affinequant", "preset": "w4a16", "nsamples": 128, "seqlen": 512, "epochs": 2,
            "device": "cpu", "lwc": True, "let": True}
    run = {"status": "complete", "model": "/models/demo", "calibration_text": "/data/calib.txt",
           "configuration": conf, "device": "cpu", "blocks": [{"index": 0, "seconds": 1.5, "loss": 0.01}],
           "quantization_layout": {"model.layers.0.self_attn.q_proj": {"group_size": 128, "bits": 4}},
           "peak_host_memory_bytes": 123456789, "peak_device_memory_bytes": 0, "recoveries": 0,
           "versions": {"affinequant": "0.1.0", "libtorch": "1.13.1"}, "seconds": 12.5,
           "eval": {"text": "/data/heldout.txt", "seqlen": 512, "windows": 8, "fp_perplexity": 22.2,
                    "rtn_perplexity": 25.1, "quant_perplexity": 23.0}}
    s.add("run_json", "complete.json", json.dumps(run, indent=2))
    s.add("run_json", "w4a4.json", json.dumps(dict(run, configuration=dict(conf, abits=4, symmetric=True))))
    s.add("run_json", "minimal.json", json.dumps({"status": "complete", "configuration": {}}))
    s.add("run_json", "unfinished.json", json.dumps(dict(run, status="calibrating")))
    # Issue #14, defect 5: wrong types anywhere are bad input naming the file and key.
    s.add("run_json", "defect5-status-number.json", json.dumps(dict(run, status=3)))
    s.add("run_json", "defect5-status-object.json", json.dumps(dict(run, status={"x": 1})))
    s.add("run_json", "defect5-top-level-array.json", json.dumps([run]))
    s.add("run_json", "defect5-top-level-string.json", json.dumps("complete"))
    s.add("run_json", "defect5-top-level-number.json", "42")
    s.add("run_json", "configuration-array.json", json.dumps(dict(run, configuration=[1, 2])))
    s.add("run_json", "wbits-string.json", json.dumps(dict(run, configuration=dict(conf, wbits="4"))))
    s.add("run_json", "wbits-huge.json", json.dumps(dict(run, configuration=dict(conf, wbits=1 << 40))))
    s.add("run_json", "method-number.json", json.dumps(dict(run, configuration=dict(conf, method=7))))
    s.add("run_json", "model-number.json", json.dumps(dict(run, model=5)))
    s.add("run_json", "truncated.json", json.dumps(run)[:100])


def run_views_seeds(s):
    """Views files as the engine writes them (core/src/run_views.cpp): reports in the metadata, arrays as tensors."""
    def f32(values):
        return struct.pack("<%df" % len(values), *values)

    def i64(values):
        return struct.pack("<%dq" % len(values), *values)

    rows = cols = 4
    matrix = [1.0 if r == c else 0.1 * (r - c) for r in range(rows) for c in range(cols)]
    mask = [1.0 if abs(r - c) <= 1 else 0.0 for r in range(rows) for c in range(cols)]
    tensors = [("t0", "F32", [rows], f32([0.5, 0.4, 0.3, 0.2])),
               ("t1", "F32", [rows, cols], f32(matrix)), ("t2", "F32", [rows, cols], f32(mask)),
               ("t3", "F32", [8], f32([1, 2, 3, 40, 5, 6, 7, 8])), ("t4", "F32", [8], f32([1, 2, 3, 4, 5, 6, 7, 8])),
               ("t5", "F32", [5], f32([-1, -0.5, 0, 0.5, 1])), ("t6", "I64", [4], i64([1, 10, 12, 2])),
               ("t7", "F32", [4], f32([-1, -0.33, 0.33, 1]))]
    events = [{"event": "step", "epoch": 0, "step": 0, "loss": 0.25, "steps_per_epoch": 4},
              {"event": "diagnostics", "epoch": 0, "transform": "out", "size": rows, "row_margins": "t0",
               "min_margin": 0.2, "median_margin": 0.35, "non_dominant_rows": 0, "condition_estimate": "inf",
               "band_width": 1},
              {"event": "snapshot", "epoch": 0, "transform": "out", "rows": rows, "cols": cols, "stride": 1,
               "values": "t1", "mask": "t2"},
              {"event": "recovery", "epoch": 0, "reason": "non-finite loss", "action": "rolled back"},
              {"event": "epoch", "epoch": 0, "epochs": 1, "mean_loss": "nan", "seconds": 0.5, "band_width": 1},
              {"event": "histogram", "layer": "self_attn.q_proj", "bin_edges": "t5", "counts": "t6",
               "clip_low": -0.9, "clip_high": 0.9, "grid": "t7", "clip_low_min": -1, "clip_low_max": -0.8,
               "clip_high_min": 0.8, "clip_high_max": 1, "clipped_below": 1, "clipped_above": 2},
              {"event": "activation", "site": "qkv", "before": "t3", "after": "t4",
               "layers": ["self_attn.q_proj", "self_attn.k_proj"]},
              {"event": "block", "num_blocks": 1, "initial_loss": 0.3, "final_loss": 0.1, "seconds": 2,
               "per_channel_fallback": []}]
    meta = {"format": "affinequant-views", "format_version": "1", "block": "0", "events": json.dumps(events)}
    s.add("run_views", "block.safetensors", safetensors(tensors, meta))
    s.add("run_views", "no-events.safetensors", safetensors([], dict(meta, events="[]")))
    s.add("run_views", "newer-version.safetensors", safetensors(tensors, dict(meta, format_version="2")))
    s.add("run_views", "other-block.safetensors", safetensors(tensors, dict(meta, block="3")))
    wrong = [dict(e, rows=8) if e["event"] == "snapshot" else e for e in events]
    s.add("run_views", "snapshot-size-mismatch.safetensors", safetensors(tensors, dict(meta, events=json.dumps(wrong))))
    twice = [dict(e, after="t3") if e["event"] == "activation" else e for e in events]
    s.add("run_views", "array-used-twice.safetensors", safetensors(tensors, dict(meta, events=json.dumps(twice))))


# ---- GGUF ----------------------------------------------------------------------------------------------------------

GGUF_TYPES = {"u8": 0, "i8": 1, "u16": 2, "i16": 3, "u32": 4, "i32": 5, "f32": 6, "bool": 7, "str": 8, "arr": 9,
              "u64": 10, "i64": 11, "f64": 12}
SCALAR_FMT = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
# ggml type code -> (block elements, block bytes)
GGML = {"F32": (0, 1, 4), "F16": (1, 1, 2), "Q4_0": (2, 32, 18), "Q4_1": (3, 32, 20), "Q5_0": (6, 32, 22),
        "Q5_1": (7, 32, 24), "Q8_0": (8, 32, 34), "Q4_K": (12, 256, 144), "I32": (26, 1, 4), "BF16": (30, 1, 2)}


def gstr(text):
    b = text.encode("utf-8")
    return struct.pack("<Q", len(b)) + b


def gvalue(vtype, value):
    if vtype == 8:
        return gstr(value)
    if vtype == 9:
        etype, items = value
        return struct.pack("<IQ", etype, len(items)) + b"".join(gvalue(etype, v) for v in items)
    return struct.pack(SCALAR_FMT[vtype], value)


def gguf(kvs, tensors, version=3, alignment=32, rnd=None):
    """kvs: list of (key, type, value); tensors: list of (name, dims innermost first, ggml name)."""
    rnd = rnd or random.Random(0)
    out = b"GGUF" + struct.pack("<IQQ", version, len(tensors), len(kvs))
    for key, vtype, value in kvs:
        out += gstr(key) + struct.pack("<I", vtype) + gvalue(vtype, value)
    data = b""
    for name, dims, tname in tensors:
        code, block, nbytes = GGML[tname]
        n = 1
        for d in dims:
            n *= d
        size = n // block * nbytes
        data += b"\0" * (-len(data) % alignment)
        offset = len(data)
        if tname in ("F32",):
            payload = b"".join(struct.pack("<f", rnd.uniform(-1, 1)) for _ in range(n))
        else:
            payload = bytes(rnd.randrange(256) for _ in range(size))
            if block == 32:  # keep the float16 scales finite: d (and m) are the first bytes of each block
                payload = bytearray(payload)
                for b0 in range(0, size, nbytes):
                    payload[b0:b0 + 2] = struct.pack("<e", rnd.uniform(0.001, 0.1))
                    if tname in ("Q4_1", "Q5_1"):
                        payload[b0 + 2:b0 + 4] = struct.pack("<e", rnd.uniform(-0.1, 0.1))
                payload = bytes(payload)
        data += payload
        out += gstr(name) + struct.pack("<I", len(dims)) + b"".join(struct.pack("<Q", d) for d in dims) + \
            struct.pack("<IQ", code, offset)
    out += b"\0" * (-len(out) % alignment)
    return out + data


def gguf_seeds(s):
    T = GGUF_TYPES
    tokens = ["<unk>", "<s>", "</s>"] + ["<0x%02X>" % i for i in range(8)] + ["\u2581the", "\u2581a", "an"]
    kvs = [("general.architecture", T["str"], "llama"), ("general.name", T["str"], "seed"),
           ("general.alignment", T["u32"], 32), ("general.file_type", T["u32"], 7),
           ("llama.block_count", T["u32"], 1), ("llama.context_length", T["u32"], 64),
           ("llama.embedding_length", T["u32"], 64), ("llama.feed_forward_length", T["u32"], 128),
           ("llama.attention.head_count", T["u32"], 4), ("llama.attention.head_count_kv", T["u32"], 2),
           ("llama.rope.freq_base", T["f32"], 10000.0), ("llama.attention.layer_norm_rms_epsilon", T["f32"], 1e-5),
           ("llama.vocab_size", T["u32"], len(tokens)),
           ("tokenizer.ggml.model", T["str"], "llama"), ("tokenizer.ggml.pre", T["str"], "default"),
           ("tokenizer.ggml.tokens", T["arr"], (T["str"], tokens)),
           ("tokenizer.ggml.scores", T["arr"], (T["f32"], [float(-i) for i in range(len(tokens))])),
           ("tokenizer.ggml.token_type", T["arr"], (T["i32"], [2, 3, 3] + [6] * 8 + [1, 1, 1])),
           ("tokenizer.ggml.bos_token_id", T["u32"], 1), ("tokenizer.ggml.add_bos_token", T["bool"], True)]
    tensors = [("token_embd.weight", [64, len(tokens)], "F16"), ("output_norm.weight", [64], "F32"),
               ("blk.0.attn_q.weight", [64, 64], "Q4_0"), ("blk.0.attn_k.weight", [64, 32], "Q4_1"),
               ("blk.0.attn_v.weight", [64, 32], "Q5_0"), ("blk.0.attn_output.weight", [64, 64], "Q5_1"),
               ("blk.0.ffn_up.weight", [64, 128], "Q8_0"), ("blk.0.ffn_down.weight", [128, 64], "BF16")]
    s.add("gguf", "llama-mixed.gguf", gguf(kvs, tensors))
    s.add("gguf", "version2.gguf", gguf(kvs[:4], tensors[:2], version=2))
    s.add("gguf", "metadata-only.gguf", gguf(kvs, []))
    s.add("gguf", "empty.gguf", gguf([], []))
    every = [("k.%s" % name, code, {8: "text", 9: (T["u8"], [1, 2, 3]), 7: False, 6: 0.5, 12: -2.5}.get(code, 7))
             for name, code in T.items()]
    every.append(("k.nested", T["arr"], (T["arr"], [(T["i16"], [1, -1]), (T["str"], ["x", "y"])])))
    s.add("gguf", "every-value-type.gguf", gguf(every, [("t", [32], "F32")]))
    s.add("gguf", "alignment-64.gguf", gguf([("general.alignment", T["u32"], 64)],
                                           [("a", [32], "Q8_0"), ("b", [256], "Q4_K"), ("c", [8], "I32")],
                                           alignment=64))
    s.add("gguf", "alignment-wrong-type.gguf", gguf([("general.alignment", T["str"], "32")], []))
    s.add("gguf", "truncated.gguf", gguf(kvs, tensors)[:700])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out")
    ap.add_argument("--fixtures", default=os.path.join(ROOT, "..", "shared", "fixtures"))
    a = ap.parse_args()
    fx = os.path.normpath(a.fixtures)
    have_fx = os.path.isdir(fx)
    if not have_fx:
        print("make_seeds: no fixtures at %s; seeds from the bundled demo model and hand-made inputs only" % fx,
              file=sys.stderr)
    s = Seeds(a.out)

    st_files = [("demo", os.path.join(DEMO, "model.safetensors"))]
    models = []
    if have_fx:
        for m in ("stories260K-hf", "stories260K-hf-fp16", "stories260K-mha-hf", "tiny-random-opt-hf"):
            d = os.path.join(fx, "models", m)
            if os.path.isdir(d):
                models.append((m, d))
                if os.path.exists(os.path.join(d, "model.safetensors")):
                    st_files.append((m, os.path.join(d, "model.safetensors")))
    safetensors_seeds(s, st_files)
    config_seeds(s, models)

    bpe_dirs = []
    if have_fx:
        for label, d in (("gpt2", os.path.join(fx, "tokenizers", "gpt2")), ("opt", os.path.join(fx, "tokenizers", "opt"))):
            if os.path.exists(os.path.join(d, "vocab.json")):
                bpe_dirs.append((label, d))
    bpe_seeds(s, bpe_dirs)

    spm = [("demo", os.path.join(DEMO, "tokenizer.model"))]
    if have_fx and os.path.exists(os.path.join(fx, "models", "stories260K-hf", "tokenizer.model")):
        spm.append(("stories260K", os.path.join(fx, "models", "stories260K-hf", "tokenizer.model")))
    sentencepiece_seeds(s, spm, os.path.join(ROOT, "resources", "demo-text", "heldout.txt"))

    run_json_seeds(s)
    run_views_seeds(s)
    gguf_seeds(s)
    for target in sorted(s.count):
        print("%-15s %3d seeds" % (target, s.count[target]))


if __name__ == "__main__":
    main()
