#!/usr/bin/env bash
# A private single-node Slurm cluster for the tests, as root:
#
#   tests/slurm/cluster.sh up DIR     start munged, slurmctld and slurmd
#   tests/slurm/cluster.sh down DIR   cancel its jobs, stop its daemons
#
# Everything lives in DIR: slurm.conf, the MUNGE key and socket, Slurm's state
# and spool, pid files (run/) and logs (log/). Nothing in /etc, /run or /var is
# used, so a system Slurm or MUNGE (if any) is left alone. Submit to it with
# SLURM_CONF=DIR/slurm.conf. The node is this host with CPUS CPUs (default: the
# cores, at least 4, so that 4-rank jobs run on a 2-core CI machine); ports are
# the first free pair from SLURM_PORT (default 26817). `up` fails, after
# stopping what it started, if a daemon does not come up within 30 s. `down`
# stops exactly the processes `up` recorded, waits for them and escalates to
# SIGKILL; it may be run any number of times, also after a failed `up`.
# Needs scripts/setup-slurm.sh (slurmctld, slurmd, slurm-client, munge).
set -euo pipefail

usage() { echo "usage: $0 up|down DIR" >&2; exit 2; }
[ $# -eq 2 ] || usage
cmd=$1
[ "$cmd" = down ] && [ ! -d "$2" ] && exit 0
mkdir -p "$2"
DIR=$(cd "$2" && pwd -P)
export SLURM_CONF=$DIR/slurm.conf
PATH=$PATH:/usr/sbin:/sbin

say() { echo "cluster.sh: $*" >&2; }

# The pid `up` recorded for daemon $1, if that process is still running (not a
# zombie) and is ours: its command line names a file in DIR (guards against a
# recycled pid).
ours() {
  local pid
  pid=$(cat "$DIR/run/$1.pid" 2>/dev/null) || return 1
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  [ "$(sed 's/.*) //; s/ .*//' "/proc/$pid/stat" 2>/dev/null)" != Z ] || return 1
  [[ $(tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline") == *"$DIR/"* ]] || return 1
  echo "$pid"
}

# wait_until SECONDS CMD...: true once CMD succeeds, false after SECONDS.
wait_until() {
  local end=$((SECONDS + $1))
  shift
  until "$@"; do
    [ $SECONDS -lt "$end" ] || return 1
    sleep 0.1
  done
}

down() {
  [ -d "$DIR/run" ] || return 0
  # Jobs first: a stopped slurmd leaves running job steps behind.
  if ours slurmctld >/dev/null && ours slurmd >/dev/null; then
    squeue -h -o %A 2>/dev/null | xargs -r scancel 2>/dev/null || true
    wait_until 20 no_jobs || say "jobs still running after scancel: $(squeue -h 2>&1)"
  fi
  local name pids=()
  for name in slurmd slurmctld munged; do
    if pid=$(ours "$name"); then pids+=("$pid"); fi
  done
  if [ ${#pids[@]} -gt 0 ]; then
    kill -TERM "${pids[@]}" 2>/dev/null || true
    if ! wait_until 15 none_alive; then
      say "SIGKILL to daemons that ignored SIGTERM for 15 s"
      for name in slurmd slurmctld munged; do
        if pid=$(ours "$name"); then kill -KILL "$pid" 2>/dev/null || true; fi
      done
      wait_until 10 none_alive || { say "daemons still alive: $(cat "$DIR"/run/*.pid)"; return 1; }
    fi
  fi
  rm -f "$DIR"/run/*.pid
}
no_jobs() { [ -z "$(squeue -h -o %A 2>/dev/null)" ]; }
none_alive() {
  local name
  for name in slurmd slurmctld munged; do ! ours "$name" >/dev/null || return 1; done
}

# Print the last lines of every log (for a failed `up`).
tails() {
  local log
  for log in "$DIR"/log/*; do
    [ -s "$log" ] && { echo "--- $log (last 20 lines)"; tail -n 20 "$log"; }
  done
  return 0
}

fail() {
  say "$*"
  tails >&2
  down || true
  exit 1
}

# start NAME LOG CMD...: run a daemon in the foreground, in its own session, with
# its stdout and stderr in LOG, and record its pid before anything can fail.
start() {
  local name=$1 log=$2
  shift 2
  setsid "$@" </dev/null >>"$log" 2>&1 &
  echo $! >"$DIR/run/$name.pid"
}

alive_and() { ours "$1" >/dev/null || fail "$1 exited; see $DIR/log"; "${@:2}"; }
munge_ok() { munge -n -S "$DIR/munge/munge.socket" 2>/dev/null | unmunge -S "$DIR/munge/munge.socket" >/dev/null 2>&1; }
ctld_ok() { scontrol ping 2>/dev/null | grep -q 'is UP'; }
node_ok() { [ "$(sinfo -h -N -n "$host" -o %t 2>/dev/null)" = idle ]; }
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

up() {
  [ "$(id -u)" = 0 ] || { say "must run as root (slurmd and the MUNGE key need it)"; exit 1; }
  local prog
  for prog in munged munge unmunge slurmctld slurmd sbatch srun squeue scontrol sinfo setpriv; do
    command -v "$prog" >/dev/null || { say "$prog not found: run scripts/setup-slurm.sh as root"; exit 1; }
  done
  id munge >/dev/null 2>&1 || { say "no 'munge' user: run scripts/setup-slurm.sh as root"; exit 1; }
  if ours slurmctld >/dev/null || ours slurmd >/dev/null || ours munged >/dev/null; then
    say "a cluster is already up in $DIR: run '$0 down $DIR' first"
    exit 1
  fi

  # munged refuses a key, seed or socket under a directory others may write to
  # (unless it has the sticky bit, as /tmp does).
  local d=$DIR mode
  while [ "$d" != / ]; do
    d=$(dirname "$d")
    mode=$(stat -Lc %a "$d")
    if ((8#$mode & 8#022 && !(8#$mode & 8#1000))); then
      say "$d is writable by others (mode $mode): munged would refuse $DIR; use another DIR or chmod go-w $d"
      exit 1
    fi
  done
  chmod go-w "$DIR"

  host=$(hostname -s)
  local cpus=${CPUS:-$(($(nproc) > 4 ? $(nproc) : 4))}
  local port=${SLURM_PORT:-26817} tries=0
  until port_free "$port" && port_free $((port + 1)); do
    port=$((port + 2)) tries=$((tries + 1))
    [ $tries -lt 50 ] || { say "no two free ports from ${SLURM_PORT:-26817}"; exit 1; }
  done

  mkdir -p "$DIR"/{run,log,state,spool,munge}
  # munged (as user munge) refuses a key or socket directory others may write to.
  chown munge:munge "$DIR/munge"
  chmod 755 "$DIR/munge"
  rm -f "$DIR/munge/munge.key"
  (umask 277 && head -c 1024 /dev/urandom >"$DIR/munge/munge.key")
  chown munge:munge "$DIR/munge/munge.key"

  cat >"$SLURM_CONF" <<CONF
# Written by tests/slurm/cluster.sh: a private one-node cluster in $DIR.
ClusterName=mcpi-test
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$port
SlurmdPort=$((port + 1))
SlurmUser=root
AuthType=auth/munge
CredType=cred/munge
# cred_expire also delays a requeued job's restart (default 120 s).
AuthInfo=socket=$DIR/munge/munge.socket,cred_expire=5
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/run/slurmctld.pid
SlurmdPidFile=$DIR/run/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
MailProg=/bin/true
ProctrackType=proctrack/linuxproc
# No binding: task/affinity cannot lay out tasks on CPUs the node declares but
# the machine lacks ("Unable to layout tasks on given cpus" for 4 tasks on 2
# cores); srun --cpu-bind=cores says "lacks support for cpu binding" and runs.
# The emulated cluster (tests/cluster/netcluster.sh), whose nodes declare the
# real CPUs, binds.
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=pmix
# The node may declare more CPUs than the machine has.
SlurmdParameters=config_overrides
# Reject at submission a job that can never run here, instead of pending forever.
EnforcePartLimits=ALL
ReturnToService=2
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES OverSubscribe=FORCE:4 MaxTime=INFINITE State=UP
CONF

  # munged in the foreground logs to stderr, not to --log-file.
  start munged "$DIR/log/munged.log" setpriv --reuid=munge --regid=munge --init-groups -- \
    munged -F --socket="$DIR/munge/munge.socket" --key-file="$DIR/munge/munge.key" \
    --pid-file="$DIR/munge/munged.pid" \
    --seed-file="$DIR/munge/munged.seed"
  wait_until 30 alive_and munged munge_ok || fail "munged not answering after 30 s"
  start slurmctld "$DIR/log/slurmctld.out" slurmctld -D -f "$SLURM_CONF"
  wait_until 30 alive_and slurmctld ctld_ok || fail "slurmctld not answering after 30 s"
  start slurmd "$DIR/log/slurmd.out" slurmd -D -f "$SLURM_CONF"
  wait_until 30 alive_and slurmd node_ok || fail "node $host not idle after 30 s: $(sinfo -h -N 2>&1)"
  say "up: node $host, $cpus CPUs, ports $port-$((port + 1)); export SLURM_CONF=$SLURM_CONF"
}

case $cmd in
  up) up ;;
  down) down ;;
  *) usage ;;
esac
