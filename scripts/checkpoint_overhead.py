#!/usr/bin/env python3
"""What checkpoints cost a whole run: one rank, `--samples 1e10 --batch-size 1e3`
(10^7 batches), timed with and without `--checkpoint-interval 0.5s`, the runs
interleaved (the machine may be shared: drift hits both alike), and the medians
compared. `make bench-checkpoint` runs it after the criterion benchmark.

Environment: MCPI (the binary), REPEATS (3), SAMPLES (1e10), BATCH (1e3),
INTERVAL (0.5s), MCPI_BENCH_DIR (where checkpoints go: results/), and BASE, a
second mcpi binary (an older build, say) measured the same way, interleaved."""
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

mcpi = os.environ.get("MCPI", "target/release/mcpi")
base = os.environ.get("BASE")
repeats = int(os.environ.get("REPEATS", "3"))
samples = os.environ.get("SAMPLES", "1e10")
batch = os.environ.get("BATCH", "1e3")
interval = os.environ.get("INTERVAL", "0.5s")
where = Path(os.environ.get("MCPI_BENCH_DIR", "results"))
where.mkdir(parents=True, exist_ok=True)

binaries = [("this", mcpi)] + ([("base", base)] if base else [])
variants = [(name, binary, ck) for name, binary in binaries for ck in (False, True)]
walls = {(name, ck): [] for name, _, ck in variants}
cpus = {(name, ck): [] for name, _, ck in variants}


def children_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime

for r in range(repeats):
    # Rotate the order each round, so no variant always runs first.
    for name, binary, ck in variants[r % len(variants):] + variants[: r % len(variants)]:
        d = Path(tempfile.mkdtemp(prefix="mcpi-ckbench-", dir=where))
        args = [binary, "run", "-q", "--samples", samples, "--batch-size", batch,
                "--output", str(d / "r"), "--threads", "1"]
        if ck:
            args += ["--checkpoint", str(d / "ck.h5"), "--checkpoint-interval", interval]
        t, c = time.perf_counter(), children_cpu()
        run = subprocess.run(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        wall, cpu = time.perf_counter() - t, children_cpu() - c
        if run.returncode not in (0, 3):
            sys.exit(f"{' '.join(args)}: exit {run.returncode}: {run.stderr.strip()}")
        shutil.rmtree(d)
        walls[(name, ck)].append(wall)
        cpus[(name, ck)].append(cpu)
        label = f"{name}, {'checkpoints every ' + interval if ck else 'no checkpoints'}"
        print(f"  round {r + 1}: {label}: {wall:.2f} s wall, {cpu:.2f} s CPU", flush=True)

print()
print(f"one rank, --samples {samples} --batch-size {batch}, {repeats} interleaved runs each")
print("(CPU: user + system seconds of the process, all its threads; less hit than wall")
print("time by other work on a shared machine)")
print()
print("| binary | checkpoints | median wall | runs | overhead (medians) | median CPU | CPU overhead |")
print("|---|---|---:|---|---:|---:|---:|")
verdict = None
for name, _ in binaries:
    plain = statistics.median(walls[(name, False)])
    with_ck = statistics.median(walls[(name, True)])
    over = with_ck / plain - 1
    cpu_plain = statistics.median(cpus[(name, False)])
    cpu_ck = statistics.median(cpus[(name, True)])
    runs = lambda ck: ", ".join(f"{w:.2f}" for w in walls[(name, ck)])
    print(f"| {name} | none | {plain:.2f} | {runs(False)} | | {cpu_plain:.2f} | |")
    print(f"| {name} | every {interval} | {with_ck:.2f} | {runs(True)} | {100 * over:+.1f}% "
          f"| {cpu_ck:.2f} | {100 * (cpu_ck / cpu_plain - 1):+.1f}% |")
    if name == "this":
        verdict = over
print()
print(f"{'PASS' if verdict <= 0.05 else 'FAIL'}: checkpoints every {interval} add "
      f"{100 * verdict:+.1f}% to the run's wall time (at most 5% wanted; on a shared "
      "machine, run again with more REPEATS when the runs spread widely)")
