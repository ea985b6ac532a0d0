"""The Python task-framework baseline mcpi is compared against (scripts/compare.sh).

It stands for the Monte Carlo pi examples of Flame, Ray and multiprocessing:
N equal tasks, each a pure-Python loop over random.Random(seed), mapped onto a
pool of N processes, counts summed. Only the timed map is counted, not pool
start-up. Standard library only.

Usage: python3 pi_pool.py [total samples, default 2e7] [processes, default all CPUs]
"""

import multiprocessing
import os
import random
import sys
import time


def count(task):
    seed, samples = task
    r = random.Random(seed)
    c = 0
    for _ in range(samples):
        x = r.random()
        y = r.random()
        if x * x + y * y < 1:
            c += 1
    return c


def main():
    total = int(float(sys.argv[1])) if len(sys.argv) > 1 else 20_000_000
    procs = int(sys.argv[2]) if len(sys.argv) > 2 else os.cpu_count()
    tasks = [(i, total // procs + (i < total % procs)) for i in range(procs)]
    with multiprocessing.Pool(processes=procs) as pool:
        start = time.perf_counter()
        inside = sum(pool.map(count, tasks))
        secs = time.perf_counter() - start
    print(f"python-pool {procs} procs {total / secs:.4e} samples/s (pi ~ {4 * inside / total:.6f})")


if __name__ == "__main__":
    main()
