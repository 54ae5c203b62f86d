#!/usr/bin/env python3
"""Sums a CPU trace written by `aq-bench-calibrate --device cpu --profile TRACE.json` by operator: self time (time
in the operator minus the operators it called), calls, and share of the traced time, top 40; then the same grouped
into the categories docs/benchmarks.md uses.

    cpu_trace_summary.py TRACE.json
"""
import collections
import json
import sys

trace = json.load(open(sys.argv[1]))
events = trace["traceEvents"] if isinstance(trace, dict) else trace
spans = [e for e in events if e.get("ph") == "X" and "dur" in e]
by_thread = collections.defaultdict(list)
for e in spans:
    by_thread[(e.get("pid"), e.get("tid"))].append(e)

self_time = collections.Counter()
calls = collections.Counter()
total = 0.0
for evs in by_thread.values():
    evs.sort(key=lambda e: (e["ts"], -e["dur"]))
    stack = []  # [end, name, child time]
    def close_until(ts):
        global total
        while stack and stack[-1][0] <= ts:
            end, name, child, dur = stack.pop()
            self_time[name] += dur - child
            if stack:
                stack[-1][2] += dur
            else:
                total += dur
    for e in evs:
        close_until(e["ts"])
        calls[e["name"]] += 1
        stack.append([e["ts"] + e["dur"], e["name"], 0.0, float(e["dur"])])
    close_until(float("inf"))

if total <= 0:
    sys.exit("no operator spans in the trace")
print(f"traced time {total / 1e3:.1f} ms (outermost operators, all threads)")
print(f"{'operator':48s} {'self ms':>10s} {'share':>7s} {'calls':>8s}")
for name, t in self_time.most_common(40):
    print(f"{name[:48]:48s} {t / 1e3:10.1f} {100 * t / total:6.1f}% {calls[name]:8d}")

CATEGORIES = [
    ("matrix products", ("mm", "bmm", "addmm", "matmul", "linear", "baddbmm", "dot", "mv")),
    ("inverses and factorisations", ("linalg", "inverse", "lu", "solve", "cholesky", "eig", "svd")),
    ("softmax / exp / sigmoid / silu", ("softmax", "exp", "sigmoid", "silu", "log_softmax")),
    ("reductions (max, min, sum, mean, norm)", ("max", "min", "sum", "mean", "norm", "amax", "amin", "pow", "rsqrt")),
    ("copies and layout", ("copy", "contiguous", "clone", "to", "_to_copy", "cat", "stack", "index", "transpose",
                           "permute", "view", "reshape", "expand", "narrow", "slice", "select", "t", "empty",
                           "zeros", "ones", "fill", "resize", "as_strided", "unsqueeze", "squeeze", "repeat",
                           "flatten", "detach", "alias", "split", "chunk", "triu", "tril", "masked_fill", "where")),
    ("elementwise arithmetic", ("add", "sub", "mul", "div", "neg", "clamp", "round", "abs", "sign", "ge", "le", "gt",
                                "lt", "eq", "ne", "logical", "isfinite", "maximum", "minimum", "addcmul", "addcdiv",
                                "sqrt", "lerp", "rsub", "reciprocal")),
]

def category(name):
    base = name.split("::")[-1].lstrip("_").rstrip("_")
    if name.startswith("aq::") or "FusedFakeQuant" in name:
        return "fused fake quantization" if "Fused" in name else "engine scopes"
    if "Backward" in name or "backward" in name:
        return "autograd backward nodes (self time)"
    for cat, keys in CATEGORIES:
        for k in keys:
            if base == k or base.startswith(k + "_") or base.startswith(k):
                return cat
    return "other"

groups = collections.Counter()
for name, t in self_time.items():
    groups[category(name)] += t
print()
print(f"{'category':48s} {'self ms':>10s} {'share':>7s}")
for cat, t in groups.most_common():
    print(f"{cat:48s} {t / 1e3:10.1f} {100 * t / total:6.1f}%")
