#!/usr/bin/env bash
# A strong and a weak scaling sweep on this machine with mpirun, then the table
# and plot of both (`make scaling`). Rank counts: 1, 2, 4, ... up to the online
# (logical) CPUs, plus twice that, which is oversubscribed (marked * in the
# table, hollow in the plot). Strong: SAMPLES in total at every rank count. Weak:
# SAMPLES_PER_RANK (a number such as 5e9 or 5000000000) on every rank. REPEATS
# runs each; the table shows medians and ranges.
# Writes everything to results/scaling-<UTC time>/.
set -euo pipefail

MCPI=${MCPI:?set MCPI to the mcpi binary}
SAMPLES=${SAMPLES:-2e10}
SAMPLES_PER_RANK=${SAMPLES_PER_RANK:-5e9}
REPEATS=${REPEATS:-3}
cpus=$(getconf _NPROCESSORS_ONLN) # as mcpi counts them for "oversubscribed"
export OMPI_MCA_rmaps_base_oversubscribe=1 # for the 2 x cpus runs
if [ "$(id -u)" = 0 ]; then export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1; fi

if [ -z "${RANKS:-}" ]; then
  RANKS=""
  for ((r = 1; r <= cpus; r *= 2)); do RANKS+="$r "; done
  case " $RANKS " in *" $cpus "*) ;; *) RANKS+="$cpus " ;; esac
  RANKS+="$((2 * cpus))"
fi

out="results/scaling-$(date -u +%Y%m%dT%H%M%S)"
mkdir -p "$out"
per_rank=$(printf '%.0f' "$SAMPLES_PER_RANK") # 5e9 -> 5000000000 for shell arithmetic
echo "scaling: ranks $RANKS; strong $SAMPLES samples, weak $SAMPLES_PER_RANK per rank, $REPEATS repeats -> $out" >&2
for rep in $(seq 1 "$REPEATS"); do
  for n in $RANKS; do
    echo "scaling: repeat $rep, $n rank(s)" >&2
    mpirun -n "$n" "$MCPI" run --quiet --samples "$SAMPLES" --label strong-scaling \
      --output "$out/strong-n$n-r$rep" >/dev/null
    mpirun -n "$n" "$MCPI" run --quiet --samples "$((per_rank * n))" --label weak-scaling \
      --output "$out/weak-n$n-r$rep" >/dev/null
  done
done
"$MCPI" study "$out" --csv "$out/scaling.csv" --markdown "$out/scaling.md" --plot "$out/scaling.svg"
