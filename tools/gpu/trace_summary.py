#!/usr/bin/env python3
"""Summarises a Chrome trace written by the LibTorch profiler: GPU time per kernel name (top 40), memory copies,
and how busy the GPU was between its first and last kernel.

    trace_summary.py TRACE.json
"""
import collections
import json
import sys

trace = json.load(open(sys.argv[1]))
events = trace["traceEvents"] if isinstance(trace, dict) else trace
gpu = [e for e in events if e.get("ph") == "X" and e.get("cat") in ("kernel", "gpu_memcpy", "gpu_memset")]
# Restrict to the training steps when the trace marks them (user scope "aq::train_step"): the GPU work launched
# inside those scopes, matched through the runtime and driver calls' correlation ids (cuBLASLt launches its matrix
# kernels through the driver API).
steps = [e for e in events if e.get("ph") == "X" and e.get("name") == "aq::train_step" and e.get("cat") != "gpu_user_annotation"]
if steps and "--all" not in sys.argv:
    windows = sorted((e["ts"], e["ts"] + e["dur"]) for e in steps)
    def inside(ts):
        return any(a <= ts <= b for a, b in windows)
    corr = {e["args"]["correlation"] for e in events
            if e.get("cat") in ("cuda_runtime", "cuda_driver") and "correlation" in e.get("args", {}) and inside(e["ts"])}
    gpu = [e for e in gpu if e.get("args", {}).get("correlation") in corr]
    cpu_span = windows[-1][1] - windows[0][0]
    print(f"{len(steps)} training steps: {cpu_span / 1e3 / len(steps):.2f} ms per step on the host timeline "
          f"(sum of scopes {sum(b - a for a, b in windows) / 1e3 / len(steps):.2f} ms per step)")
if not gpu:
    sys.exit("no GPU events in the trace")
by_name = collections.defaultdict(lambda: [0.0, 0])
for e in gpu:
    name = e["name"] if e["cat"] == "kernel" else e["cat"] + ": " + e["name"]
    by_name[name][0] += e["dur"]
    by_name[name][1] += 1
total = sum(v[0] for v in by_name.values())
intervals = sorted((e["ts"], e["ts"] + e["dur"]) for e in gpu)
busy, cur_s, cur_e = 0.0, None, None
for s, t in intervals:
    if cur_e is None or s > cur_e:
        if cur_e is not None:
            busy += cur_e - cur_s
        cur_s, cur_e = s, t
    else:
        cur_e = max(cur_e, t)
busy += cur_e - cur_s
span = intervals[-1][1] - intervals[0][0]
print(f"GPU events {len(gpu)}, kernel+copy time {total / 1e3:.1f} ms, busy {busy / 1e3:.1f} ms of a {span / 1e3:.1f} ms span "
      f"({100 * busy / span:.0f}% busy)")
print(f"{'ms':>9} {'%':>5} {'calls':>7}  name")
for name, (dur, n) in sorted(by_name.items(), key=lambda kv: -kv[1][0])[:40]:
    print(f"{dur / 1e3:9.2f} {100 * dur / total:5.1f} {n:7d}  {name[:110]}")

# GPU time by kind of work, per training step when the trace marks the steps.
def kind(name):
    n = name.lower()
    if "aq::detail::fq" in n:
        return "fused fake quantization"
    if "sdpa" in n or "flash" in n or "fmha" in n:
        return "attention"
    if any(k in n for k in ("getf2", "getrf", "laswp", "pivinfo", "displace", "trsm", "magma", "offsetpointer")):
        return "LU inverses"
    if "gemv" in n:
        return "matrix-vector products"
    if "nvjet" in n or "xmma" in n or "cutlass" in n or "gemm" in n:
        return "matrix products"
    if "multi_tensor" in n:
        return "optimizer"
    if "reduce" in n:
        return "reductions"
    if "copy" in n or "memcpy" in n:
        return "copies and casts"
    if "fill" in n or "memset" in n:
        return "fills"
    if "elementwise" in n:
        return "other elementwise"
    return "other"
per = max(len(steps), 1)
kinds = collections.defaultdict(lambda: [0.0, 0])
for name, (dur, n) in by_name.items():
    kinds[kind(name)][0] += dur
    kinds[kind(name)][1] += n
print(f"\nby kind{' (per training step)' if steps else ''}: {'ms':>7} {'kernels':>8}")
for k, (dur, n) in sorted(kinds.items(), key=lambda kv: -kv[1][0]):
    print(f"  {k:28s} {dur / 1e3 / per:7.3f} {n / per:8.1f}")
print(f"  {'total':28s} {total / 1e3 / per:7.3f} {sum(v[1] for v in kinds.values()) / per:8.1f}")
