# shellcheck shell=bash
# slurm/common.sh: what every job script in slurm/ shares, sourced once by each
# after it has set `me` (its name, for messages), `study` (the first word of its
# report names), `label` (mcpi --label) and `repeats`. Not a job script itself.
#
# Where it is found: sbatch runs a copy of the job script from its spool
# directory, so `dirname $0` is of no use. The scripts look in MCPI_SLURM_DIR if
# it is set (and only there), else beside the script as submitted (scontrol's
# Command=, relative to the submit directory), else in $SLURM_SUBMIT_DIR/slurm
# and $SLURM_SUBMIT_DIR; if none has it, they stop with exit status 2.
#
# Environment (all optional; each script documents its SAMPLES, REPEATS, RANKS):
#   BATCH_SIZE  samples per batch (default: mcpi's, 1e7)
#   LAUNCHER    srun (with PMIx) or mpirun (default srun)
#   MCPI        the binary (default: mcpi on PATH, else $SLURM_SUBMIT_DIR/target/release/mcpi)
#   RESULTS     report directory (default $SLURM_SUBMIT_DIR/results/slurm)
#   CHECKPOINT_INTERVAL  time between checkpoints (default 60s)
#   MCPI_SLURM_DIR  the directory of this file (default: see above)
#
# Defines job, nodes, tasks (below), results, mcpi, launcher; `run RANKS REPEAT SAMPLES`
# (one run); `sweep SAMPLES [per-rank]` (a scaling sweep and its summary).
#
# Long jobs: the scripts ask for USR1 120 s before the time limit
# (#SBATCH --signal=B:USR1@120); the running step stops with a checkpoint, the
# job requeues itself (#SBATCH --requeue) and resumes, until it completes.

job=${SLURM_JOB_ID:?not inside a Slurm job: submit with sbatch}
nodes=${SLURM_JOB_NUM_NODES:-1}

# The job's tasks, what a run uses and a sweep goes up to. A job sized in tasks
# (-n, --ntasks-per-node) has SLURM_NTASKS. One sized only in nodes (-N,
# --exclusive, or nothing: Slurm's default of one task on one node) has none:
# then a rank per CPU Slurm gave it, SLURM_JOB_CPUS_PER_NODE ("64(x3),32": 3
# nodes of 64 CPUs, one of 32), divided per node by SLURM_CPUS_PER_TASK (-c),
# else (no such variable) a task per node. That
# count is exported as SLURM_NTASKS, as -n would have set it, so that srun steps
# and the reports (slurm.tasks) see it under either launcher.
job_tasks() {
  local per_task=${SLURM_CPUS_PER_TASK:-1} group sum=0
  [[ $per_task =~ ^[1-9][0-9]*$ ]] || per_task=1
  for group in ${SLURM_JOB_CPUS_PER_NODE//,/ }; do
    [[ $group =~ ^([0-9]+)(\(x([0-9]+)\))?$ ]] || { sum=0; break; }
    sum=$((sum + BASH_REMATCH[1] / per_task * ${BASH_REMATCH[3]:-1}))
  done
  echo $((sum > 0 ? sum : nodes))
}
if [ -n "${SLURM_NTASKS:-}" ]; then
  tasks=$SLURM_NTASKS sized="SLURM_NTASKS=$tasks"
else
  tasks=$(job_tasks) sized="no task count given: a rank per CPU, SLURM_JOB_CPUS_PER_NODE=${SLURM_JOB_CPUS_PER_NODE:-} SLURM_CPUS_PER_TASK=${SLURM_CPUS_PER_TASK:-1}"
  export SLURM_NTASKS=$tasks
fi
echo "$me: job $job, tasks $tasks, nodes $nodes ($sized)" >&2
results=${RESULTS:-$SLURM_SUBMIT_DIR/results/slurm}
mcpi=${MCPI:-$(command -v mcpi || echo "$SLURM_SUBMIT_DIR/target/release/mcpi")}
[ -x "$mcpi" ] || { echo "$me: no mcpi at '$mcpi': set MCPI, put mcpi on PATH or build it (cargo build --release) in the submit directory" >&2; exit 2; }
launcher=${LAUNCHER:-srun}
case $launcher in
  srun) launch=(srun --mpi=pmix -n) ;;
  mpirun) launch=(mpirun -n) ;;
  *) echo "$me: LAUNCHER must be srun or mpirun, not '$launcher'" >&2; exit 2 ;;
esac
mkdir -p "$results"

# USR1 (the time-limit warning, or scancel --signal=USR1 --batch) reaches this
# shell only: pass it on to the running step, whose ranks stop at a batch
# boundary with a checkpoint (exit 75), then requeue the job, which resumes.
# TERM (scancel): pass on USR1 too (srun and mpirun end a step they get TERM
# for), and do not requeue. Both launchers forward USR1 to every rank.
step='' requeue=0 sig=0
trap 'sig=1 requeue=1; [ -z "$step" ] || kill -USR1 "$step" 2>/dev/null || true' USR1
trap 'sig=1 requeue=0; [ -z "$step" ] || kill -USR1 "$step" 2>/dev/null || true' TERM
requeue_now() {
  echo "$me: stopped with a checkpoint: requeueing job $job to continue" >&2
  scontrol requeue "$job" && exit 0
  echo "$me: requeue refused: submit again to continue from the checkpoints" >&2
  exit 75
}

# run RANKS REPEAT SAMPLES: one mcpi run, its report named by job, nodes, ranks,
# repeat, its checkpoint beside it. After a requeue, runs already complete are
# skipped and a stopped one resumes from its checkpoint (replacing its partial
# report).
run() {
  local out=$results/$study-j$job-N$nodes-n$1-r$2 rc=0 resume=()
  if grep -qs '"complete": true' "$out.json"; then
    echo "$me: $out.json is complete already" >&2
    return 0
  fi
  [ "$requeue" = 0 ] || requeue_now
  [ ! -e "$out.ckpt.h5" ] || resume=(--resume "$out.ckpt.h5" --force)
  # A log with no checkpoint naming it: the run died inside its first
  # checkpoint. Nothing to resume; mcpi would refuse to start over on it.
  [ -e "$out.ckpt.h5" ] || rm -f "$out.ckpt.h5.log"
  echo "$me: $launcher, $1 ranks, $3 samples, repeat $2${resume:+, resumed}" >&2
  "${launch[@]}" "$1" "$mcpi" run --samples "$3" ${BATCH_SIZE:+--batch-size "$BATCH_SIZE"} \
    --label "$label" --output "$out" --checkpoint "$out.ckpt.h5" \
    --checkpoint-interval "${CHECKPOINT_INTERVAL:-60s}" ${resume[@]+"${resume[@]}"} &
  step=$!
  # A trapped signal interrupts `wait` while the step goes on: wait again (bash
  # keeps the status of a child that ended meanwhile).
  while :; do
    sig=0 rc=0
    wait "$step" || rc=$?
    [ "$sig" = 1 ] || break
  done
  step=''
  if [ "$rc" = 75 ] && [ "$requeue" = 1 ]; then requeue_now; fi
  return "$rc"
}

# sweep SAMPLES [per-rank]: `repeats` rounds, each a run on every rank count in
# turn (RANKS, spaces or commas, or 1, 2, 4, ... below the task count and the
# task count), of SAMPLES samples, or with per-rank SAMPLES times the ranks
# (then SAMPLES must be a plain integer). Repeating whole rounds rather than
# each rank count back to back spreads a slow spell of the machine over the
# rank counts. Then the summary of this job's runs: the speed-up and efficiency
# table (in the job log too), as Markdown and CSV, and the plot; derived files,
# which a rerun replaces.
sweep() {
  local counts=${RANKS:-} i r
  if [ -z "$counts" ]; then
    for ((r = 1; r < tasks; r *= 2)); do counts+="$r "; done
    counts+=$tasks
  fi
  for ((i = 1; i <= repeats; i++)); do
    for r in ${counts//,/ }; do
      if [ "${2:-}" = per-rank ]; then run "$r" "$i" "$(($1 * r))"; else run "$r" "$i" "$1"; fi
    done
  done
  "$mcpi" study "$results/$study-j$job"-*.json --force --markdown "$results/$study-j$job.md" \
    --csv "$results/$study-j$job.csv" --plot "$results/$study-j$job.svg"
}
