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
# Environment (all optional; each script documents its SAMPLES, REPEATS, RANKS,
# THREADS):
#   BATCH_SIZE  samples per batch (default: mcpi's, 1e7)
#   LAUNCHER    srun (with PMIx) or mpirun (default srun)
#   MCPI        the binary (default: mcpi on PATH, else $SLURM_SUBMIT_DIR/target/release/mcpi)
#   RESULTS     report directory (default $SLURM_SUBMIT_DIR/results/slurm)
#   CHECKPOINT_INTERVAL  time between checkpoints (default 60s)
#   MCPI_SLURM_DIR  the directory of this file (default: see above)
#
# Defines job, nodes, tasks, cpus_per_task (below), results, mcpi, launcher;
# `run RANKS REPEAT SAMPLES [THREADS PER_NODE]` (one run); `sweep SAMPLES
# [per-rank]` (a scaling sweep and its summary); `hybrid SAMPLES` (ranks x
# threads at the job's cores, and its summary).
#
# Threads: every rank runs a thread per CPU of its task, the job's
# --cpus-per-task (-c; 1 without it) unless `hybrid` sets them. Since Slurm
# 22.05 srun no longer takes -c from the job, so every step is given it:
# `srun --cpus-per-task=N --cpu-bind=cores` (each task bound to its N cores) and
# `mcpi run --threads auto`, which reads the step's SLURM_CPUS_PER_TASK. mpirun
# is told the same: `mpirun --map-by slot:PE=N --bind-to core` and `mcpi run
# --threads N` (with one thread per rank mpirun keeps its own placement, a rank
# per slot: binding to cores would refuse a rank per hardware thread).
#
# Long jobs: the scripts ask for USR1 120 s before the time limit
# (#SBATCH --signal=B:USR1@120); the running step stops with a checkpoint, the
# job requeues itself (#SBATCH --requeue) and resumes, until it completes.

job=${SLURM_JOB_ID:?not inside a Slurm job: submit with sbatch}
nodes=${SLURM_JOB_NUM_NODES:-1}
# The CPUs of each task, -c (1 without it): each rank's threads (see above).
cpus_per_task=${SLURM_CPUS_PER_TASK:-1}
[[ $cpus_per_task =~ ^[1-9][0-9]*$ ]] || cpus_per_task=1

# The job's tasks, what a run uses and a sweep goes up to. A job sized in tasks
# (-n, --ntasks-per-node) has SLURM_NTASKS. One sized only in nodes (-N,
# --exclusive, or nothing: Slurm's default of one task on one node) has none:
# then a rank per CPU Slurm gave it, SLURM_JOB_CPUS_PER_NODE ("64(x3),32": 3
# nodes of 64 CPUs, one of 32), divided per node by SLURM_CPUS_PER_TASK (-c),
# else (no such variable) a task per node. That
# count is exported as SLURM_NTASKS, as -n would have set it, so that srun steps
# and the reports (slurm.tasks) see it under either launcher.
# node_tasks: the tasks on each node, space-separated (nothing if Slurm's
# variable does not read): SLURM_TASKS_PER_NODE ("2(x3),1") for a job sized in
# tasks, else SLURM_JOB_CPUS_PER_NODE divided by the CPUs per task.
node_tasks() {
  local counts=${SLURM_TASKS_PER_NODE:-} per=1 group n k list=()
  [ "$in_tasks" = 1 ] || counts=${SLURM_JOB_CPUS_PER_NODE:-} per=$cpus_per_task
  for group in ${counts//,/ }; do
    [[ $group =~ ^([0-9]+)(\(x([0-9]+)\))?$ ]] || return 0
    n=$((BASH_REMATCH[1] / per)) k=${BASH_REMATCH[3]:-1}
    while ((k-- > 0)); do list+=("$n"); done
  done
  echo "${list[*]}"
}
job_tasks() {
  local n sum=0
  for n in $(node_tasks); do sum=$((sum + n)); done
  echo $((sum > 0 ? sum : nodes))
}
if [ -n "${SLURM_NTASKS:-}" ]; then
  in_tasks=1 tasks=$SLURM_NTASKS sized="SLURM_NTASKS=$tasks"
else
  in_tasks=0
  tasks=$(job_tasks) sized="no task count given: a rank per CPU, SLURM_JOB_CPUS_PER_NODE=${SLURM_JOB_CPUS_PER_NODE:-} SLURM_CPUS_PER_TASK=${SLURM_CPUS_PER_TASK:-1}"
  export SLURM_NTASKS=$tasks
fi
echo "$me: job $job, tasks $tasks, nodes $nodes ($sized)" >&2
results=${RESULTS:-$SLURM_SUBMIT_DIR/results/slurm}
mcpi=${MCPI:-$(command -v mcpi || echo "$SLURM_SUBMIT_DIR/target/release/mcpi")}
[ -x "$mcpi" ] || { echo "$me: no mcpi at '$mcpi': set MCPI, put mcpi on PATH or build it (cargo build --release) in the submit directory" >&2; exit 2; }
launcher=${LAUNCHER:-srun}
case $launcher in
  srun | mpirun) ;;
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

# run RANKS REPEAT SAMPLES [THREADS PER_NODE]: one mcpi run, its report named
# by job, nodes, ranks, threads per rank (-t<threads>, when more than one) and
# repeat, its checkpoint beside it. Threads per rank: THREADS, else the job's
# CPUs per task. With THREADS, PER_NODE ranks go on each node and mpirun binds
# every rank to its cores whatever the threads (`hybrid`: each shape placed
# alike). After a requeue, runs already complete are skipped and a stopped one
# resumes from its checkpoint (replacing its partial report).
run() {
  local threads=${4:-$cpus_per_task} shape=-n$1 rc=0 resume=() launch
  [ "$threads" = 1 ] || shape+=-t$threads
  local out=$results/$study-j$job-N$nodes$shape-r$2
  if grep -qs '"complete": true' "$out.json"; then
    echo "$me: $out.json is complete already" >&2
    return 0
  fi
  [ "$requeue" = 0 ] || requeue_now
  [ ! -e "$out.ckpt.h5" ] || resume=(--resume "$out.ckpt.h5" --force)
  if [ "$launcher" = srun ]; then
    launch=(srun --mpi=pmix -n "$1" --cpus-per-task="$threads" --cpu-bind=cores "$mcpi" run --threads auto)
  else
    launch=(mpirun -n "$1")
    if [ -n "${5:-}" ]; then
      launch+=(--map-by "ppr:$5:node:PE=$threads" --bind-to core)
    elif [ "$threads" != 1 ]; then
      launch+=(--map-by "slot:PE=$threads" --bind-to core)
    fi
    launch+=("$mcpi" run --threads "$threads")
  fi
  echo "$me: $launcher, $1 ranks x $threads thread$([ "$threads" = 1 ] || echo s), $3 samples, repeat $2${resume:+, resumed}" >&2
  "${launch[@]}" --samples "$3" ${BATCH_SIZE:+--batch-size "$BATCH_SIZE"} \
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
# rank counts. Then the summary (below): the speed-up and efficiency tables.
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
  summary
}

# hybrid SAMPLES: hybrid MPI + threads at a fixed core count, the job's (tasks x
# CPUs per task). `repeats` rounds, each a run of SAMPLES samples on every
# shape: threads per rank 1, 2, 4, ... dividing a node's cores, and a node's
# cores (THREADS, spaces or commas, overrides), with as many ranks as fill the
# cores, the same on every node. Then the summary, whose hybrid table compares
# the shapes. Refused (exit 2) before any run: nodes with different core counts,
# a THREADS that does not divide a node's cores, fewer than 2 cores a node, and
# -c under mpirun (its slots are the job's tasks, so a rank of one thread needs
# a task of one CPU: size the job with --ntasks-per-node).
hybrid() {
  local per_node=() cores counts=${THREADS:-} t i
  read -ra per_node <<<"$(node_tasks)"
  if [ ${#per_node[@]} = 0 ] || [ "$(printf '%s\n' "${per_node[@]}" | sort -u | wc -l)" != 1 ]; then
    echo "$me: the nodes have different task counts (${per_node[*]:-unknown}): size the job with -N and --ntasks-per-node" >&2
    exit 2
  fi
  cores=$((per_node[0] * cpus_per_task))
  if [ "$launcher" = mpirun ] && [ "$cpus_per_task" != 1 ]; then
    echo "$me: LAUNCHER=mpirun takes a rank per task (its slots): size the job with --ntasks-per-node=$cores and no -c" >&2
    exit 2
  fi
  if [ "$cores" -lt 2 ]; then
    echo "$me: $cores core per node leaves nothing to vary: give the job more (e.g. --ntasks-per-node=4)" >&2
    exit 2
  fi
  if [ -z "$counts" ]; then
    for ((t = 1; t < cores; t *= 2)); do [ $((cores % t)) != 0 ] || counts+="$t "; done
    counts+=$cores
  fi
  for t in ${counts//,/ }; do
    if ! [[ $t =~ ^[1-9][0-9]*$ ]] || [ $((cores % t)) != 0 ]; then
      echo "$me: THREADS='${THREADS:-}': $t does not divide the $cores cores of a node" >&2
      exit 2
    fi
  done
  echo "$me: hybrid, ${#per_node[@]} node(s) of $cores cores, threads per rank ${counts//,/ }" >&2
  for ((i = 1; i <= repeats; i++)); do
    for t in ${counts//,/ }; do
      run $((${#per_node[@]} * cores / t)) "$i" "$1" "$t" $((cores / t))
    done
  done
  summary
}

# The summary of this job's runs: the tables (in the job log too), as Markdown
# and CSV, and the plot; derived files, which a rerun replaces.
summary() {
  "$mcpi" study "$results/$study-j$job"-*.json --force --markdown "$results/$study-j$job.md" \
    --csv "$results/$study-j$job.csv" --plot "$results/$study-j$job.svg"
}
