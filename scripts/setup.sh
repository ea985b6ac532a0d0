#!/usr/bin/env bash
# Makes sure the system parts mcpi builds and runs against are here: OpenMPI
# (mpirun, headers), HDF5 (library, headers, h5dump), libclang (for the mpi
# crate's bindings), pkg-config, and cargo. As root on Debian/Ubuntu it installs
# what is missing with apt; otherwise it says exactly what to install and stops.
set -euo pipefail

packages=(libopenmpi-dev openmpi-bin libhdf5-dev hdf5-tools libclang-dev pkg-config)
missing=()
have_pc() { command -v pkg-config >/dev/null && pkg-config --exists "$1"; }
command -v mpirun >/dev/null || missing+=(openmpi-bin)
have_pc ompi || missing+=(libopenmpi-dev)
have_pc hdf5 || missing+=(libhdf5-dev)
command -v h5dump >/dev/null || missing+=(hdf5-tools)
compgen -G '/usr/lib/llvm-*/lib/libclang.so*' >/dev/null \
  || [ -n "${LIBCLANG_PATH:-}" ] || missing+=(libclang-dev)
command -v pkg-config >/dev/null || missing+=(pkg-config)

if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "setup: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
  else
    cat >&2 <<MSG
setup: missing: ${missing[*]}
  Debian/Ubuntu:  sudo apt-get install --no-install-recommends ${packages[*]}
  HPC cluster:    module load openmpi hdf5 llvm   (names vary: see 'module avail')
                  and make sure pkg-config finds them (PKG_CONFIG_PATH) or set
                  HDF5_DIR and LIBCLANG_PATH.
MSG
    exit 1
  fi
fi

if ! command -v cargo >/dev/null; then
  echo "setup: cargo not found: install Rust 1.89 or later from https://rustup.rs (or 'module load rust')" >&2
  exit 1
fi
rust_minor=$(cargo --version | sed -n 's/^cargo 1\.\([0-9]*\).*/\1/p')
if [ -z "$rust_minor" ] || [ "$rust_minor" -lt 89 ]; then
  echo "setup: $(cargo --version) is too old: mcpi needs Rust 1.89 or later (rustup update)" >&2
  exit 1
fi
