#!/usr/bin/env bash
# An emulated multi-node cluster on one machine, as root: a head host and three
# compute hosts, each in its own network, UTS and mount namespaces, joined by a
# bridge in a network namespace of its own, on a private subnet that exists only
# inside these namespaces. Nothing is added to the root namespace's network.
#
#   tests/cluster/netcluster.sh up DIR          make the hosts, the network, rsh, hostfile
#   tests/cluster/netcluster.sh slurm DIR       start MUNGE and Slurm on them (after up)
#   tests/cluster/netcluster.sh on DIR HOST CMD...   run CMD on HOST (name or address)
#   tests/cluster/netcluster.sh pids DIR HOST   the processes on HOST (one pid a line)
#   tests/cluster/netcluster.sh kill DIR HOST   kill -9 every process on HOST: a crash
#   tests/cluster/netcluster.sh down DIR        stop and remove everything up/slurm made
#
# Hosts: `head` and `node1` .. `nodeN` (N = NETCLUSTER_NODES, default 3) with
# addresses .1, .2, ... of NETCLUSTER_SUBNET (default 172.31.250.0/24); `up`
# refuses a subnet that overlaps an address or route (other than the default
# route) of the root namespace. Each host is one long-lived holder process
# (`sleep infinity`) in the host's network namespace (`ip netns add`, named
# mcpi-<run id>-<host>) and in private UTS and mount namespaces where the
# hostname is the host's and DIR/etc/<host>.hosts is bind-mounted on /etc/hosts.
# `on` enters all three with `nsenter -t <holder>` (not `ip netns exec`, whose
# private /sys hides /sys/fs/cgroup from slurmd), keeps the environment and the
# working directory, sets SLURM_CONF once `slurm` has run, and sets TMPDIR to
# the host's own /tmp/mcpi-<run id>/<host> (OpenMPI's session directories live
# there, as in a node-local /tmp; `down` removes it). Otherwise the file system
# (/tmp, DIR, the build) is shared by all hosts, as a cluster shares $HOME.
#
# DIR/rsh is an ssh stand-in for OpenMPI's rsh launcher (`--mca plm_rsh_agent
# DIR/rsh`): `rsh [options] HOST COMMAND...` runs COMMAND with `sh -c` on HOST,
# in $HOME with a login-like environment (as ssh would: nothing of the caller's
# environment is passed). DIR/hostfile lists the compute hosts, `slots=` each
# (NETCLUSTER_SLOTS, default the machine's CPUs). Run mpirun on the head host:
#
#   netcluster.sh on DIR head mpirun --hostfile DIR/hostfile --mca plm_rsh_agent DIR/rsh \
#     --mca pml ob1 --mca btl tcp,self \
#     --mca btl_tcp_if_include SUBNET --mca oob_tcp_if_include SUBNET -n 4 --map-by node ...
#
# `up` prints SUBNET on stdout, its progress on stderr.
#
# `slurm` writes DIR/slurm.conf and starts munged (its own key and socket in
# DIR/munge) and slurmctld on the head host and one `slurmd -N <host>` on each
# compute host (spool, TmpFS, pid and log per node with %n, all under DIR); it
# waits until every node is idle (30 s at most per daemon, else it tears the
# whole cluster down and fails, with the logs' ends). Each node declares
# NETCLUSTER_SLOTS CPUs (default: the machine's) and binds tasks to them
# (task/affinity, which needs CPUs that exist), so srun --cpu-bind=cores and
# --cpus-per-task shape the ranks' affinity masks as on a real cluster (the
# nodes share the machine's CPUs). A TaskProlog gives every
# job its own TMPDIR on each host (an Epilog removes it): concurrent OpenMPI
# jobs sharing one race on its session directory. Run the clients on the head
# host: `netcluster.sh on DIR head sbatch ...` (`on` sets SLURM_CONF).
#
# Everything `up` and `slurm` make is recorded in DIR/state before it is made:
# `down` stops the daemons (jobs cancelled, SIGTERM, then SIGKILL), kills every
# process still in the hosts' network namespaces (by pid), deletes the
# namespaces (and with them the bridge and veth pairs), and may be run any
# number of times, also after a failed or interrupted `up`. Logs stay in DIR/log.
set -euo pipefail
PATH=$PATH:/usr/sbin:/sbin

SELF=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)/$(basename "${BASH_SOURCE[0]}")

usage() {
  echo "usage: $0 up|slurm|down DIR | on DIR HOST CMD... | pids|kill DIR HOST" >&2
  exit 2
}
say() { echo "netcluster: $*" >&2; }
die() { say "$*"; exit 1; }

[ $# -ge 2 ] || usage
cmd=$1
shift
case $cmd in
  down) [ -d "$1" ] || exit 0 ;;
  up | slurm) mkdir -p "$1" ;;
  on | pids | kill) [ -d "$1" ] || die "no cluster in $1" ;;
  *) usage ;;
esac
DIR=$(cd "$1" && pwd -P)
shift
STATE=$DIR/state

# wait_until SECONDS CMD...: true once CMD succeeds, false after SECONDS.
wait_until() {
  local end=$((SECONDS + $1))
  shift
  until "$@"; do
    [ $SECONDS -lt "$end" ] || return 1
    sleep 0.1
  done
}

# --- addresses ---------------------------------------------------------------
ip2int() {
  local IFS=. a b c d
  read -r a b c d <<<"$1"
  echo $(((a << 24) | (b << 16) | (c << 8) | d))
}
int2ip() { echo "$((($1 >> 24) & 255)).$((($1 >> 16) & 255)).$((($1 >> 8) & 255)).$(($1 & 255))"; }
# range CIDR: "first last" as integers.
range() {
  local addr=${1%/*} len=32
  [[ $1 == */* ]] && len=${1#*/}
  local n mask
  n=$(ip2int "$addr")
  mask=$(((0xffffffff << (32 - len)) & 0xffffffff))
  echo "$((n & mask)) $(((n & mask) | (~mask & 0xffffffff)))"
}

# Refuses SUBNET if it overlaps any IPv4 address or route of the root namespace
# (every routing table), the default route excepted.
check_subnet() {
  local subnet=$1 lo hi a b cidr
  [[ $subnet =~ ^([0-9]{1,3}\.){3}[0-9]{1,3}/([0-9]|[12][0-9]|3[0-2])$ ]] ||
    die "NETCLUSTER_SUBNET '$subnet' is not an IPv4 CIDR (a.b.c.d/len)"
  [ "${subnet#*/}" -ge 8 ] && [ "${subnet#*/}" -le 29 ] ||
    die "NETCLUSTER_SUBNET $subnet: the prefix must be /8 to /29"
  read -r lo hi < <(range "$subnet")
  while read -r cidr; do
    [ -n "$cidr" ] || continue
    read -r a b < <(range "$cidr")
    if [ "$a" -le "$hi" ] && [ "$lo" -le "$b" ]; then
      die "subnet $subnet overlaps $cidr in the root namespace (ip -4 addr / ip -4 route show table all); set NETCLUSTER_SUBNET to a free one"
    fi
  done < <(
    ip -4 -o addr show | awk '{print $4}'
    ip -4 route show table all | awk '
      $1 ~ /^(unicast|local|broadcast|multicast|throw|unreachable|prohibit|blackhole|nat|anycast)$/ {print $2; next}
      {print $1}' | grep -v '^default$'
  )
}

# --- state ---------------------------------------------------------------------
# The namespace NAME of a host (or "net" for the bridge), from the run id.
ns_of() { echo "mcpi-$(cat "$STATE/id")-$1"; }
# The network namespace NS as /proc shows it (net:[inode]), recorded by `up`
# when it made NS: valid from any mount namespace (the hosts' private mount
# namespaces do not see /run/netns entries made after their own).
netns_id() { cat "$STATE/netns.$1" 2>/dev/null || true; }
# True if process $1 is alive (not a zombie) and in network namespace NS $2.
in_ns() {
  local want
  want=$(netns_id "$2")
  [ -n "$want" ] && [ "$(readlink "/proc/$1/ns/net" 2>/dev/null)" = "$want" ] &&
    [ "$(sed 's/.*) //; s/ .*//' "/proc/$1/stat" 2>/dev/null)" != Z ]
}
# The holder pid of HOST (a name or an address), checked to be ours.
holder() {
  local host=$1 name addr pid
  while read -r name addr; do
    if [ "$host" = "$name" ] || [ "$host" = "$addr" ]; then
      pid=$(cat "$STATE/holder.$name" 2>/dev/null) || break
      [[ $pid =~ ^[0-9]+$ ]] && in_ns "$pid" "$(ns_of "$name")" || break
      echo "$pid"
      return 0
    fi
  done <"$STATE/hosts"
  return 1
}
# Every live process in network namespace NS (the holder too), by /proc.
ns_pids() {
  local want
  want=$(netns_id "$1")
  [ -n "$want" ] || return 0
  want=${want//[/?}
  # (find fails on processes that end meanwhile: not an error)
  { find /proc/[0-9]*/ns/net -maxdepth 0 -lname "${want//]/?}" 2>/dev/null || true; } | cut -d/ -f3
}

# The name of HOST (a name or an address).
name_of() { awk -v h="$1" '$1 == h || $2 == h {print $1; exit}' "$STATE/hosts"; }

on() {
  [ $# -ge 2 ] || usage
  local host=$1 pid
  shift
  pid=$(holder "$host") || die "no host '$host' up in $DIR (hosts: $(awk '{printf "%s ", $1}' "$STATE/hosts" 2>/dev/null))"
  [ ! -f "$DIR/slurm.conf" ] || export SLURM_CONF=$DIR/slurm.conf
  # The host's own temporary directory, as if /tmp were local to each host:
  # OpenMPI's session directories (and what a killed job leaves in them) stay
  # apart and go with `down`.
  TMPDIR=$(cat "$STATE/tmp")/$(name_of "$host")
  export TMPDIR
  exec nsenter -t "$pid" --net --uts --mount --wd="$PWD" -- "$@"
}

# --- up --------------------------------------------------------------------------
hosts_up() {
  local name
  while read -r name _; do holder "$name" >/dev/null || return 1; done <"$STATE/hosts"
}

up() {
  [ "$(id -u)" = 0 ] || die "must run as root (network namespaces need it)"
  local prog
  for prog in ip nsenter unshare setsid; do
    command -v "$prog" >/dev/null || die "$prog not found (iproute2, util-linux)"
  done
  if [ -e "$STATE/id" ]; then
    die "a cluster was made in $DIR: run '$0 down $DIR' first"
  fi
  local subnet=${NETCLUSTER_SUBNET:-172.31.250.0/24} nodes=${NETCLUSTER_NODES:-3}
  local slots=${NETCLUSTER_SLOTS:-$(nproc)}
  [[ $nodes =~ ^[1-9]$ ]] || die "NETCLUSTER_NODES must be 1 to 9"
  [[ $slots =~ ^[1-9][0-9]{0,3}$ ]] || die "NETCLUSTER_SLOTS must be a CPU count"
  check_subnet "$subnet"
  local len=${subnet#*/} base
  read -r base _ < <(range "$subnet")
  [ $((nodes + 2)) -lt $((1 << (32 - len))) ] || die "subnet $subnet too small for $nodes nodes"

  mkdir -p "$STATE" "$DIR/log" "$DIR/etc" "$DIR/run"
  rm -f "$STATE"/*
  local id
  id=$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')
  echo "$id" >"$STATE/id"
  echo "$subnet" >"$STATE/subnet"
  # Per-host temporary directories (TMPDIR on each host), short for socket paths.
  echo "/tmp/mcpi-$id" >"$STATE/tmp"
  # From here on, a failure (or a signal) takes down what was made so far.
  trap 'rc=$?; if [ $rc != 0 ]; then say "up failed: tearing down"; down || true; fi; exit $rc' EXIT
  trap 'exit 130' INT TERM HUP

  local hosts=(head) i
  for ((i = 1; i <= nodes; i++)); do hosts+=("node$i"); done
  : >"$STATE/hosts"
  {
    echo "127.0.0.1 localhost"
    echo "::1 localhost ip6-localhost ip6-loopback"
    for i in "${!hosts[@]}"; do echo "$(int2ip $((base + 1 + i))) ${hosts[$i]}"; done
  } >"$DIR/etc/hosts.all"
  for i in "${!hosts[@]}"; do
    echo "${hosts[$i]} $(int2ip $((base + 1 + i)))" >>"$STATE/hosts"
    mkdir -p "/tmp/mcpi-$id/${hosts[$i]}"
    chmod 1777 "/tmp/mcpi-$id/${hosts[$i]}"
  done

  # The bridge, in a namespace of its own: no host sees it.
  local br
  br=$(ns_of net)
  echo "$br" >>"$STATE/namespaces"
  ip netns add "$br"
  echo "net:[$(stat -L -c %i "/run/netns/$br")]" >"$STATE/netns.$br"
  ip -n "$br" link set lo up
  ip -n "$br" link add br0 type bridge
  ip -n "$br" link set br0 up

  local h ns addr
  for i in "${!hosts[@]}"; do
    h=${hosts[$i]} addr=$(int2ip $((base + 1 + i)))
    ns=$(ns_of "$h")
    echo "$ns" >>"$STATE/namespaces"
    ip netns add "$ns"
    echo "net:[$(stat -L -c %i "/run/netns/$ns")]" >"$STATE/netns.$ns"
    nsenter --net="/run/netns/$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 >/dev/null || true
    # The veth pair is made in the bridge's namespace, its far end directly in
    # the host's: neither end ever exists in the root namespace.
    ip -n "$br" link add "v-$h" type veth peer name eth0 netns "$ns"
    ip -n "$br" link set "v-$h" master br0 up
    ip -n "$ns" link set lo up
    ip -n "$ns" addr add "$addr/$len" dev eth0
    ip -n "$ns" link set eth0 up
    cp "$DIR/etc/hosts.all" "$DIR/etc/$h.hosts"
    # The holder: the host's hostname and /etc/hosts, for as long as it sleeps.
    # (setsid and nsenter exec, unshare without --fork execs: $! is the sleep.)
    setsid nsenter --net="/run/netns/$ns" unshare --uts --mount --propagation private \
      sh -c 'hostname "$1" && mount --bind "$2" /etc/hosts && exec sleep infinity' \
      holder "$h" "$DIR/etc/$h.hosts" </dev/null >>"$DIR/log/holder.$h.log" 2>&1 &
    echo $! >"$STATE/holder.$h"
  done
  local ready=0
  for ((i = 0; i < 100; i++)); do
    ready=1
    for h in "${hosts[@]}"; do
      # ready once its hostname is set (the mount comes before the exec of sleep)
      local pid
      pid=$(cat "$STATE/holder.$h")
      if ! in_ns "$pid" "$(ns_of "$h")" || [ "$(cat "/proc/$pid/comm" 2>/dev/null)" != sleep ]; then
        ready=0
      fi
    done
    [ $ready = 0 ] || break
    sleep 0.05
  done
  [ $ready = 1 ] || { say "hosts not up after 5 s: $(tail -n 5 "$DIR"/log/holder.*.log 2>/dev/null)"; false; }
  # Every host reaches every other by name.
  for h in "${hosts[@]}"; do
    [ "$(on_quiet "$h" hostname)" = "$h" ] || { say "$h: hostname is not $h"; false; }
  done
  for h in "${hosts[@]:1}"; do
    reaches head "$h" || { say "head cannot reach $h"; false; }
  done

  # The ssh stand-in and the hostfile.
  sed -e "s|@SELF@|$SELF|g" -e "s|@DIR@|$DIR|g" >"$DIR/rsh" <<'RSH'
#!/bin/sh
# Written by netcluster.sh: an ssh stand-in for OpenMPI's rsh launcher
# (--mca plm_rsh_agent @DIR@/rsh). 'rsh [options] HOST COMMAND...' runs
# COMMAND with sh -c on HOST, in $HOME, with a fresh login-like environment:
# nothing of the caller's environment is passed, as with ssh.
while [ $# -gt 0 ]; do
  case $1 in
    -[bcDEeFIiJLlmOoPpQRSWw]) shift 2 ;;
    -*) shift ;;
    *) break ;;
  esac
done
[ $# -ge 2 ] || { echo "rsh: usage: rsh [options] HOST COMMAND..." >&2; exit 255; }
host=$1
shift
cd /root 2>/dev/null || cd /
exec env -i HOME=/root USER=root LOGNAME=root SHELL=/bin/sh LANG=C.UTF-8 \
  PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  @SELF@ on @DIR@ "$host" sh -c "$*"
RSH
  chmod 755 "$DIR/rsh"
  : >"$DIR/hostfile"
  for h in "${hosts[@]:1}"; do echo "$h slots=$slots" >>"$DIR/hostfile"; done
  trap - EXIT INT TERM HUP
  say "up: ${hosts[*]} on $subnet (namespaces mcpi-$id-*); hostfile $DIR/hostfile, rsh agent $DIR/rsh"
  echo "$subnet"
}
on_quiet() { (on "$@") 2>/dev/null; }
# reaches FROM TO: a TCP connection from host FROM to port 9 of host TO is
# refused (no ping here): TO answers.
reaches() {
  local err
  err=$( (on "$1" timeout 5 bash -c 'exec 3<>"/dev/tcp/$0/9"' "$2") 2>&1) && return 0
  [[ $err == *refused* ]]
}

# --- slurm -----------------------------------------------------------------------
# The pid recorded for daemon $1 (run/$1.pid), if it is alive in host $2's namespace.
daemon() {
  local pid
  pid=$(cat "$DIR/run/$1.pid" 2>/dev/null) || return 1
  [[ $pid =~ ^[0-9]+$ ]] && in_ns "$pid" "$(ns_of "$2")" || return 1
  echo "$pid"
}
# start HOST NAME CMD...: a daemon on HOST in the foreground, in its own session,
# output in DIR/log/NAME.out, its pid recorded before anything can fail.
start() {
  local host=$1 name=$2
  shift 2
  (on "$host" setsid "$@") </dev/null >>"$DIR/log/$name.out" 2>&1 &
  local pid=$!
  echo $pid >"$DIR/run/$name.pid"
  # Until it has entered the host (or died), it is not recognised as ours.
  wait_until 5 entered "$pid" "$host" || true
}
entered() { in_ns "$1" "$(ns_of "$2")" || ! kill -0 "$1" 2>/dev/null; }
# Lines "NAME HOST" of every daemon `slurm` starts.
daemons() {
  local name
  while read -r name _; do
    [ "$name" = head ] || echo "slurmd.$name $name"
  done <"$STATE/hosts"
  echo "slurmctld head"
  echo "munged head"
}
tails() {
  local log
  for log in "$DIR"/log/*; do
    [ -s "$log" ] && { echo "--- $log (last 20 lines)"; tail -n 20 "$log"; }
  done
  return 0
}
alive_and() { daemon "$1" "$2" >/dev/null || { say "$1 exited; see $DIR/log"; return 2; }; "${@:3}"; }
munge_ok() { on_quiet head sh -c "munge -n -S '$DIR/munge/munge.socket' | unmunge -S '$DIR/munge/munge.socket'" >/dev/null; }
ctld_ok() { on_quiet head scontrol ping | grep -q 'is UP'; }
nodes_idle() {
  local want have
  want=$(($(wc -l <"$STATE/hosts") - 1))
  have=$(on_quiet head sinfo -h -N -t idle -o %N | sort -u | wc -l)
  [ "$have" = "$want" ]
}
# wait_daemon SECONDS WHAT NAME HOST CHECK...: fails (and tears down) if NAME
# dies or CHECK does not succeed within SECONDS.
wait_daemon() {
  local secs=$1 what=$2
  shift 2
  local end=$((SECONDS + secs)) rc
  while :; do
    rc=0
    alive_and "$@" || rc=$?
    [ $rc != 0 ] || return 0
    if [ $rc = 2 ] || [ $SECONDS -ge $end ]; then
      say "$what"
      tails >&2
      down || true
      exit 1
    fi
    sleep 0.1
  done
}

slurm() {
  [ "$(id -u)" = 0 ] || die "must run as root"
  hosts_up || die "no cluster up in $DIR: run '$0 up $DIR' first"
  local prog
  for prog in munged munge unmunge slurmctld slurmd sbatch srun squeue scontrol sinfo setpriv; do
    command -v "$prog" >/dev/null || die "$prog not found: run scripts/setup-slurm.sh as root"
  done
  id munge >/dev/null 2>&1 || die "no 'munge' user: run scripts/setup-slurm.sh as root"
  local line
  while read -r line; do
    set -- $line
    ! daemon "$1" "$2" >/dev/null || die "Slurm is up in $DIR already"
  done < <(daemons)
  # munged refuses a key or socket under a directory others may write to
  # (unless sticky, as /tmp is).
  local d=$DIR mode
  while [ "$d" != / ]; do
    d=$(dirname "$d")
    mode=$(stat -Lc %a "$d")
    if ((8#$mode & 8#022 && !(8#$mode & 8#1000))); then
      die "$d is writable by others (mode $mode): munged would refuse $DIR; use another DIR or chmod go-w $d"
    fi
  done
  chmod 755 "$DIR"

  local subnet nodes=() name addr head_addr
  subnet=$(cat "$STATE/subnet")
  while read -r name addr; do
    if [ "$name" = head ]; then head_addr=$addr; else nodes+=("$name"); fi
  done <"$STATE/hosts"
  local cpus=${NETCLUSTER_SLOTS:-$(nproc)}
  [[ $cpus =~ ^[1-9][0-9]{0,3}$ ]] || die "NETCLUSTER_SLOTS must be a CPU count"
  mkdir -p "$DIR"/slurm/{state,spool,tmp} "$DIR/munge" "$DIR/run" "$DIR/log"
  for name in "${nodes[@]}"; do mkdir -p "$DIR/slurm/spool/$name" "$DIR/slurm/tmp/$name"; done
  chown munge:munge "$DIR/munge"
  chmod 755 "$DIR/munge"
  rm -f "$DIR/munge/munge.key"
  (umask 277 && head -c 1024 /dev/urandom >"$DIR/munge/munge.key")
  chown munge:munge "$DIR/munge/munge.key"

  # Each job gets its own TMPDIR on each host, as sites arrange: concurrent
  # OpenMPI jobs sharing one (a session directory ompi.<host>.<uid> that one
  # job removes when empty while another creates its own in it) fail now and
  # then with "orte_session_dir failed" or a daemon lost at launch.
  # Seen once each, under load: a failed shared-memory open, then a segfault.
  local tmp
  tmp=$(cat "$STATE/tmp")
  cat >"$DIR/slurm/taskprolog" <<PROLOG
#!/bin/sh
# Written by netcluster.sh: the job's own TMPDIR on this host (TaskProlog).
d=$tmp/\${SLURMD_NODENAME:-\$(hostname)}/job\$SLURM_JOB_ID
mkdir -p "\$d" && echo "export TMPDIR=\$d"
# OpenMPI's shared-memory segments too (else /dev/shm, shared by every
# emulated host and named only by host, uid and job).
echo "export OMPI_MCA_btl_vader_backing_directory=\$d"
PROLOG
  cat >"$DIR/slurm/epilog" <<EPILOG
#!/bin/sh
# Written by netcluster.sh: remove the job's TMPDIR on this host (Epilog).
rm -rf "$tmp/\${SLURMD_NODENAME:-\$(hostname)}/job\$SLURM_JOB_ID"
exit 0
EPILOG
  chmod 755 "$DIR/slurm/taskprolog" "$DIR/slurm/epilog"

  {
    cat <<CONF
# Written by tests/cluster/netcluster.sh: a private ${#nodes[@]}-node cluster on
# $subnet, inside the namespaces of the run in $DIR.
ClusterName=mcpi-net
SlurmctldHost=head($head_addr)
SlurmctldPort=6817
SlurmdPort=6818
SlurmUser=root
AuthType=auth/munge
CredType=cred/munge
# cred_expire also delays a requeued job's restart (default 120 s).
AuthInfo=socket=$DIR/munge/munge.socket,cred_expire=5
StateSaveLocation=$DIR/slurm/state
# Per node (%n): the hosts share one file system.
SlurmdSpoolDir=$DIR/slurm/spool/%n
TmpFS=$DIR/slurm/tmp/%n
SlurmdPidFile=$DIR/run/slurmd.%n.pid.slurm
SlurmdLogFile=$DIR/log/slurmd.%n.log
SlurmctldPidFile=$DIR/run/slurmctld.pid.slurm
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmctldDebug=info
SlurmdDebug=info
MailProg=/bin/true
# Each job's own TMPDIR on each host, removed when the job ends.
TaskProlog=$DIR/slurm/taskprolog
Epilog=$DIR/slurm/epilog
ProctrackType=proctrack/linuxproc
# Binding as sites have it (srun --cpu-bind=cores, --cpus-per-task); the
# nodes declare the machine's CPUs (by default), so every mask exists.
TaskPlugin=task/affinity
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=pmix
# The nodes may declare more CPUs than they see.
SlurmdParameters=config_overrides
# Reject at submission a job that can never run here, instead of pending forever.
EnforcePartLimits=ALL
ReturnToService=2
CONF
    while read -r name addr; do
      [ "$name" = head ] || echo "NodeName=$name NodeAddr=$addr NodeHostname=$name CPUs=$cpus State=UNKNOWN"
    done <"$STATE/hosts"
    echo "PartitionName=debug Nodes=ALL Default=YES OverSubscribe=FORCE:4 MaxTime=INFINITE State=UP"
  } >"$DIR/slurm.conf"
  export SLURM_CONF=$DIR/slurm.conf

  # munged in the foreground logs to stderr; one munged serves every host (its
  # socket is a file on the shared file system).
  start head munged setpriv --reuid=munge --regid=munge --init-groups -- \
    munged -F --socket="$DIR/munge/munge.socket" --key-file="$DIR/munge/munge.key" \
    --pid-file="$DIR/munge/munged.pid" --seed-file="$DIR/munge/munged.seed"
  wait_daemon 30 "munged not answering after 30 s" munged head munge_ok
  start head slurmctld slurmctld -D -f "$SLURM_CONF"
  wait_daemon 30 "slurmctld not answering after 30 s" slurmctld head ctld_ok
  for name in "${nodes[@]}"; do
    start "$name" "slurmd.$name" slurmd -D -N "$name" -f "$SLURM_CONF"
  done
  for name in "${nodes[@]}"; do
    wait_daemon 30 "node $name not idle after 30 s: $(on_quiet head sinfo -h -N 2>&1)" "slurmd.$name" "$name" nodes_idle
  done
  say "slurm: slurmctld on head, slurmd on ${nodes[*]}; SLURM_CONF=$SLURM_CONF (on the head host)"
}

# --- down --------------------------------------------------------------------------
no_jobs() { [ -z "$(on_quiet head squeue -h -o %A)" ]; }
daemons_gone() {
  local line
  while read -r line; do
    set -- $line
    ! daemon "$1" "$2" >/dev/null || return 1
  done < <(daemons)
}
namespaces_empty() {
  local ns
  while read -r ns; do [ -z "$(ns_pids "$ns")" ] || return 1; done <"$STATE/namespaces"
}
kill_namespaces() {
  local ns pids
  while read -r ns; do
    pids=$(ns_pids "$ns")
    # shellcheck disable=SC2086
    [ -z "$pids" ] || kill "-$1" $pids 2>/dev/null || true
  done <"$STATE/namespaces"
}

down() {
  [ -e "$STATE/id" ] || return 0
  local rc=0 line
  if [ -s "$STATE/hosts" ] && [ -e "$DIR/slurm.conf" ]; then
    # Jobs first: a stopped slurmd leaves running job steps behind.
    if daemon slurmctld head >/dev/null; then
      on_quiet head sh -c 'squeue -h -o %A | xargs -r scancel' || true
      wait_until 15 no_jobs || say "jobs still there after scancel: $(on_quiet head squeue -h 2>&1)"
    fi
    local pids=()
    while read -r line; do
      set -- $line
      if pid=$(daemon "$1" "$2"); then pids+=("$pid"); fi
    done < <(daemons)
    if [ ${#pids[@]} -gt 0 ]; then
      kill -TERM "${pids[@]}" 2>/dev/null || true
      wait_until 15 daemons_gone || say "daemons ignored SIGTERM for 15 s: SIGKILL"
    fi
  fi
  # Whatever is left on the hosts (holders, ranks, orted, job steps), by pid.
  if [ -s "$STATE/namespaces" ]; then
    kill_namespaces TERM
    if ! wait_until 3 namespaces_empty; then
      kill_namespaces KILL
      wait_until 10 namespaces_empty || { say "processes left in the namespaces"; rc=1; }
    fi
    local ns
    while read -r ns; do
      [ ! -e "/run/netns/$ns" ] || ip netns del "$ns" || rc=1
    done <"$STATE/namespaces"
  fi
  if [ $rc = 0 ]; then
    local tmp
    tmp=$(cat "$STATE/tmp" 2>/dev/null || true)
    [[ $tmp != /tmp/mcpi-$(cat "$STATE/id") ]] || rm -rf "$tmp"
    rm -rf "$STATE" "$DIR"/run/*.pid "$DIR"/run/*.pid.slurm
  fi
  return $rc
}

case $cmd in
  up) up ;;
  slurm) slurm ;;
  down) down ;;
  on) on "$@" ;;
  pids)
    [ $# = 1 ] || usage
    pid=$(holder "$1") || die "no host '$1' up in $DIR"
    ns_pids "$(ns_of "$(name_of "$1")")" | grep -vx "$pid" || true
    ;;
  kill)
    [ $# = 1 ] || usage
    pid=$(holder "$1") || die "no host '$1' up in $DIR"
    victims=$(ns_pids "$(ns_of "$(name_of "$1")")" | grep -vx "$pid" || true)
    # shellcheck disable=SC2086
    [ -z "$victims" ] || kill -KILL $victims 2>/dev/null || true
    echo "$victims" | tr '\n' ' '
    echo
    ;;
esac
