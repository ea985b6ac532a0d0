#!/usr/bin/env bash
# Makes sure ReFrame (reframe/requirements.txt: reframe-hpc 4.10.4, pinned with
# its dependencies) is installed in a virtual environment of its own, for
# `make reframe` and the tests: VENV (default: reframe-venv in the build
# directory, $CARGO_TARGET_DIR or target/). pip runs only inside it; nothing
# is installed system-wide but, as root on Debian/Ubuntu, python3-venv with
# apt when Python cannot make a virtual environment. Otherwise it says exactly
# what to install and stops. A venv that already holds these versions is left
# as it is (a stamp records the requirements it was made from).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd -P)
requirements=$root/reframe/requirements.txt
venv=${VENV:-${CARGO_TARGET_DIR:-$root/target}/reframe-venv}
stamp=$venv/.mcpi-requirements

if [ -x "$venv/bin/reframe" ] && cmp -s "$requirements" "$stamp"; then
  exit 0
fi

# Debian's python3 makes a venv only with python3-venv (ensurepip) installed.
python=${PYTHON:-python3}
can_venv() { "$python" -c 'import ensurepip, venv' 2>/dev/null; }
if ! command -v "$python" >/dev/null; then
  missing=python3
elif ! can_venv; then
  missing=python3-venv
else
  missing=
fi
if [ -n "$missing" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "setup-reframe: installing python3 python3-venv"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends python3 python3-venv >/dev/null
    # apt's venv module belongs to apt's python3.
    can_venv || python=/usr/bin/python3
  else
    cat >&2 <<MSG
setup-reframe: $python cannot make a virtual environment ($missing missing)
  Debian/Ubuntu:  sudo apt-get install --no-install-recommends python3 python3-venv
  HPC cluster:    module load python   (3.8 or later; names vary: see 'module avail')
MSG
    exit 1
  fi
fi

# Never remove a directory that is not a virtual environment (a mistyped VENV).
if [ -e "$venv" ] && [ ! -e "$venv/pyvenv.cfg" ]; then
  echo "setup-reframe: $venv exists and is not a virtual environment: remove it or set VENV" >&2
  exit 1
fi
echo "setup-reframe: installing $(grep -m1 '^reframe-hpc' "$requirements") into $venv"
rm -rf "$venv"
"$python" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$requirements"
"$venv/bin/reframe" --version >/dev/null
cp "$requirements" "$stamp"
