#!/usr/bin/env bash
# Makes sure the Slurm and MUNGE programs the Slurm tests need are here:
# slurmctld, slurmd, the client commands (sbatch, srun, squeue, scontrol) and
# munged. As root on Debian/Ubuntu it installs what is missing with apt, without
# starting any system daemon; otherwise it says exactly what to install and stops.
# The tests start their own private daemons (tests/slurm/cluster.sh); the system
# ones are not used, and the packages leave them stopped.
set -euo pipefail

packages=(slurmctld slurmd slurm-client munge iproute2)
missing=()
# slurmctld, slurmd and munged live in /usr/sbin, often not on a user's PATH.
have() { PATH=$PATH:/usr/sbin:/sbin command -v "$1" >/dev/null; }
have slurmctld || missing+=(slurmctld)
have slurmd || missing+=(slurmd)
have sbatch || missing+=(slurm-client)
have munged || missing+=(munge)
have ip || missing+=(iproute2) # the emulated multi-node cluster's namespaces
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
  cat >&2 <<MSG
setup-slurm: missing: ${missing[*]}
  Debian/Ubuntu:  sudo apt-get install --no-install-recommends ${packages[*]}
  (the Slurm tests start a private cluster as root; on an HPC cluster submit the
  scripts in slurm/ to the real one instead)
MSG
  exit 1
fi

# Package scripts start munged, slurmctld and slurmd through invoke-rc.d or
# deb-systemd-invoke, both of which ask /usr/sbin/policy-rc.d first: exit 101
# ("action forbidden") keeps every service stopped. An existing policy (Docker
# images ship one) is set aside and put back afterwards, whatever happens.
policy=/usr/sbin/policy-rc.d
saved=$policy.setup-slurm-saved
restore() {
  if [ -e "$saved" ] || [ -L "$saved" ]; then mv -f "$saved" "$policy"; else rm -f "$policy"; fi
}
# A saved policy left by a run that was killed outright is the site's real one:
# put it back before setting it aside again.
if [ -e "$saved" ] || [ -L "$saved" ]; then mv -f "$saved" "$policy"; fi
if [ -e "$policy" ] || [ -L "$policy" ]; then mv -f "$policy" "$saved"; fi
trap restore EXIT
trap 'exit 130' INT TERM HUP
printf '#!/bin/sh\n# scripts/setup-slurm.sh: start no service while it installs\nexit 101\n' >"$policy"
chmod 755 "$policy"

echo "setup-slurm: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
