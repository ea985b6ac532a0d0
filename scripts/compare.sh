#!/usr/bin/env bash
# Side-by-side throughput of mcpi and what typical alternatives reach, all on
# this machine in one go, for the README's ratios. Runs one after another:
#   a. benches/compare/pi_avx512.c   hand-written AVX-512 C, one core (if avx512f)
#   b. mcpi, one rank                 same kernel (avx512, else auto)
#      and, if the CPU has AVX2, benches/compare/pi_avx2.c beside mcpi --kernel avx2
#   c. benches/compare/pi_mpi.c      typical scalar C MPI code, NP ranks
#   d. mcpi, NP ranks
#   e. benches/compare/pi_pool.py    Python multiprocessing.Pool, NP processes
#   f. mcpi, NP ranks × 1 thread and 1 rank × NP threads (--map-by slot:PE=NP
#      --bind-to core), interleaved three times (the machine's speed drifts);
#      the median of each, and their ratio
# then prints a Markdown table. Each part runs for about 5 s: sample counts are
# per rank/process, so the time does not grow with NP.
# Env: MCPI (default target/release/mcpi; build it first), NP (default nproc).
set -euo pipefail

cd "$(dirname "$0")/.."
MCPI=${MCPI:-target/release/mcpi}
NP=${NP:-$(nproc)}
[ -x "$MCPI" ] || { echo "compare: no $MCPI; run 'cargo build --release' first" >&2; exit 1; }

# mpirun refuses root unless told; NP may exceed the cores OpenMPI counts.
if [ "$(id -u)" = 0 ]; then
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi
export OMPI_MCA_rmaps_base_oversubscribe=1

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

rows=()  # program|ranks|samples/s in all|reference row for the ratio
row() { rows+=("$1|$2|$3|$4"); }
# Throughput figure: field $2 of a benchmark's one-line output.
field() { echo "$1" | awk -v f="$2" '{ print $f }'; }
# A table row from mcpi's JSON report at PREFIX.json, and a one-line summary.
mcpi_row() {  # PREFIX REF
  local k n rate per_rank pi
  read -r k n rate per_rank pi <<<"$(python3 -c 'import json, sys
r = json.load(open(sys.argv[1]))
print(*(r[k] for k in ("kernel", "ranks", "samples_per_second", "samples_per_second_per_rank", "pi_estimate")))' "$1.json")"
  printf 'mcpi %s %s ranks %.4e samples/s (%.4e per rank, pi ~ %.6f)\n' "$k" "$n" "$rate" "$per_rank" "$pi"
  row "mcpi, kernel $k" "$n" "$rate" "$2"
}

kernel=auto
if grep -qw avx512f /proc/cpuinfo; then
  kernel=avx512
  gcc -O3 -mavx512f benches/compare/pi_avx512.c -o "$TMP/pi_avx512"
fi
mpicc -O3 -march=x86-64-v2 benches/compare/pi_mpi.c -o "$TMP/pi_mpi"

if [ "$kernel" = avx512 ]; then
  out=$("$TMP/pi_avx512" 10000000000); echo "$out"
  row "C, hand-written AVX-512 (pi_avx512.c)" 1 "$(field "$out" 2)" one
fi

"$MCPI" run --samples 1e10 --kernel "$kernel" --output "$TMP/one" >/dev/null
mcpi_row "$TMP/one" one

if grep -qw avx2 /proc/cpuinfo; then
  gcc -O3 -mavx2 benches/compare/pi_avx2.c -o "$TMP/pi_avx2"
  out=$("$TMP/pi_avx2" 6000000000); echo "$out"
  row "C, hand-written AVX2 (pi_avx2.c)" 1 "$(field "$out" 2)" avx2
  "$MCPI" run --samples 6e9 --kernel avx2 --output "$TMP/avx2" >/dev/null
  mcpi_row "$TMP/avx2" avx2
fi

out=$(mpirun -n "$NP" "$TMP/pi_mpi" $((NP * 1000000000))); echo "$out"
row "C MPI, scalar xoshiro256++ (pi_mpi.c)" "$NP" "$(field "$out" 4)" all

mpirun -n "$NP" "$MCPI" run --samples $((NP * 10000000000)) --kernel "$kernel" \
  --output "$TMP/all" >/dev/null
mcpi_row "$TMP/all" all

# f. Hybrid against pure MPI on the same cores, side by side.
for i in 1 2 3; do
  mpirun -n "$NP" "$MCPI" run --threads 1 --samples $((NP * 10000000000)) \
    --kernel "$kernel" --output "$TMP/ranks$i" -q >/dev/null
  mpirun -n 1 --map-by "slot:PE=$NP" --bind-to core "$MCPI" run --threads "$NP" \
    --samples $((NP * 10000000000)) --kernel "$kernel" --output "$TMP/threads$i" -q >/dev/null
done
read -r by_ranks by_threads <<<"$(python3 -c 'import json, statistics, sys
med = lambda p: statistics.median(json.load(open(f"{sys.argv[1]}/{p}{i}.json"))["samples_per_second"] for i in (1, 2, 3))
print(med("ranks"), med("threads"))' "$TMP")"
printf 'mcpi %s ranks x 1 thread %.4e samples/s, 1 rank x %s threads %.4e samples/s: threads/ranks %.3f\n' \
  "$NP" "$by_ranks" "$NP" "$by_threads" "$(python3 -c "print($by_threads / $by_ranks)")"
row "mcpi, $NP ranks × 1 thread (median of 3)" "$NP" "$by_ranks" all
row "mcpi, 1 rank × $NP threads (median of 3)" "$NP" "$by_threads" all

out=$(python3 benches/compare/pi_pool.py $((NP * 30000000)) "$NP"); echo "$out"
row "Python multiprocessing.Pool (pi_pool.py)" "$NP" "$(field "$out" 4)" all

echo
python3 - "$(lscpu | sed -n 's/^Model name: *//p' | head -1)" "$NP" "${rows[@]}" <<'PY'
import sys

cpu, np, rows = sys.argv[1], sys.argv[2], [r.split("|") for r in sys.argv[3:]]

def fmt(v):
    m, e = f"{v:.2e}".split("e")
    return f"{m}e{int(e)}"

# mcpi's per-core rate under the same conditions: one rank, or NP ranks.
# (The first mcpi row of each: the hybrid rows are compared with the NP-rank one.)
mcpi = {}
for name, n, total, ref in rows:
    if name.startswith("mcpi"):
        mcpi.setdefault(ref, float(total) / int(n))
print(f"CPU: {cpu}, {np} ranks/procs for the parallel rows\n")
print("| program | ranks/procs | samples/s in all | samples/s per core | mcpi per core ÷ this per core |")
print("|---|---:|---:|---:|---:|")
for name, n, total, ref in rows:
    per_core = float(total) / int(n)
    print(f"| {name} | {n} | {fmt(float(total))} | {fmt(per_core)} | {mcpi[ref] / per_core:.2f} |")
print("\nThe ratio compares with mcpi on the same number of ranks (1 or all)"
      " and, for the AVX2 row, with mcpi's avx2 kernel. For the hybrid rows,"
      " ranks/procs is the cores (ranks × threads).")
PY
