#!/usr/bin/env python3
"""Prints the table `make bench` ends with, from criterion's saved estimates:
kernel variant, samples/s per core, ns/sample, speedup over the naive baseline;
then the stream set-up costs and their share of a default batch."""
import json
import os
import sys
from pathlib import Path

root = Path(os.environ.get("CARGO_TARGET_DIR", "target")) / "criterion"
DEFAULT_BATCH = 1e7


def estimate(bench_dir):
    """(mean ns per iteration, elements per iteration or None)."""
    new = bench_dir / "new"
    mean = json.loads((new / "estimates.json").read_text())["mean"]["point_estimate"]
    throughput = json.loads((new / "benchmark.json").read_text()).get("throughput") or {}
    return mean, throughput.get("Elements")


# The names benches/kernel.rs uses; criterion keeps results of renamed benches.
KNOWN = {"avx512", "avx2", "portable", "scalar", "naive-rand_xoshiro-f64"}
kernels = {}
for d in sorted((root / "kernel").glob("*/")):
    if d.name in KNOWN and (d / "new").is_dir():
        ns, n = estimate(d)
        kernels[d.name] = ns / n
if not kernels:
    sys.exit(f"no kernel results under {root}: run `cargo bench --bench kernel` first")

naive = kernels.get("naive-rand_xoshiro-f64")
print("| kernel | samples/s per core | ns/sample | speedup over naive |")
print("|---|---:|---:|---:|")
for name, ns in sorted(kernels.items(), key=lambda kv: kv[1]):
    speedup = f"{naive / ns:.1f}×" if naive else "–"
    print(f"| {name} | {1e9 / ns:.2e} | {ns:.3f} | {speedup} |")

fastest = min(ns for name, ns in kernels.items() if not name.startswith("naive"))
batch_ns = DEFAULT_BATCH * fastest
print()
print(f"| stream set-up | time | share of a 1e7-sample batch at {1e9 / fastest:.2e} samples/s |")
print("|---|---:|---:|")
for d in sorted((root / "setup").glob("*/"), key=lambda p: p.name):
    runs = [d] if (d / "new").is_dir() else sorted(
        (p for p in d.glob("*/") if (p / "new").is_dir()), key=lambda p: float(p.name))
    for r in runs:
        ns, _ = estimate(r)
        label = d.name if r == d else f"{d.name} {int(r.name):,}"
        share = f"{100 * ns / batch_ns:.3f}%" if "per-batch" in d.name else "once per rank"
        print(f"| {label} | {ns / 1e3:.1f} µs | {share} |")
