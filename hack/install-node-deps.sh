#!/usr/bin/env bash
# Installs what the node agent's process runtime needs to run real MPI jobs:
# - from Debian's packages: Open MPI and MPICH (runtime and compiler wrappers, to build the example images'
#   programs), libfabric (the fabric library Intel MPI's ranks load), OpenSSH server and client, iproute2
#   (veths, bridge, network namespaces) and util-linux (unshare, nsenter, setpriv);
# - from PyPI, with $PYTHON's pip: the MPI builds images.yaml maps (Open MPI 5, MPICH 5, Intel MPI), each in
#   a prefix of its own under ~/.cache/mpi-operator/pypi/, keyed by the pinned versions
#   (mpi_operator/nodeagent/process/pypi.py).
# Idempotent and offline when everything is there: no apt-get run, no pip run.
# Not root or not Debian-like: it says why and exits 0, and the process runtime tests skip.
set -euo pipefail

packages=(
  openmpi-bin libopenmpi-dev     # mpirun.openmpi, orted, mpic++.openmpi
  mpich libmpich-dev             # mpirun.mpich, hydra_pmi_proxy, mpicxx.mpich
  libfabric1                     # Intel MPI's ranks (PyPI's impi-rt wants a libfabric it does not ship)
  openssh-server openssh-client  # sshd on the workers, ssh from the launcher
  iproute2 util-linux            # ip; unshare, nsenter, setpriv
  g++                            # the compiler behind the MPI wrappers
)
python="${PYTHON:-python3}"

install_debian_packages() {
  if ! command -v apt-get >/dev/null || ! command -v dpkg-query >/dev/null; then
    echo "install-node-deps: no apt-get/dpkg here; install by hand: ${packages[*]}"
    return 0
  fi
  local missing=() package status
  for package in "${packages[@]}"; do
    status=$(dpkg-query -W -f '${db:Status-Status}' "$package" 2>/dev/null || true)
    [[ "$status" == installed ]] || missing+=("$package")
  done
  if (( ${#missing[@]} == 0 )); then
    echo "install-node-deps: all installed (${packages[*]})"
    return 0
  fi
  echo "install-node-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  # --no-install-recommends: no documentation or extra tools; policy-rc.d keeps the package scripts from
  # starting a host sshd (the runtime starts sshd only inside pods).
  local policy=/usr/sbin/policy-rc.d created_policy=0
  if [[ ! -e "$policy" ]]; then
    printf '#!/bin/sh\nexit 101\n' > "$policy"
    chmod 0755 "$policy"
    created_policy=1
  fi
  apt-get install -y -q --no-install-recommends "${missing[@]}" || { [[ $created_policy == 1 ]] && rm -f "$policy"; return 1; }
  if [[ $created_policy == 1 ]]; then rm -f "$policy"; fi
}

if [[ "$(id -u)" != 0 ]]; then
  echo "install-node-deps: not root; skipping (the process runtime needs root and these packages: ${packages[*]})"
  exit 0
fi
install_debian_packages
# The repository root on sys.path, so the installer reads this checkout's images.yaml.
cd "$(dirname "$0")/.."
"$python" -c "import sys; from mpi_operator.nodeagent.process.pypi import main; sys.exit(main())"
