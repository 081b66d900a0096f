#!/usr/bin/env bash
# Installs, from Debian's packages, what the node agent's process runtime needs to run real MPI jobs:
# Open MPI and MPICH (runtime and compiler wrappers, to build the example images' programs), OpenSSH
# server and client, iproute2 (veths, bridge, network namespaces) and util-linux (unshare, nsenter,
# setpriv). Idempotent: when every package is installed already it only says so (no apt-get run).
# Not root or not Debian-like: it says why and exits 0, and the process runtime tests skip.
set -euo pipefail

packages=(
  openmpi-bin libopenmpi-dev     # mpirun.openmpi, orted, mpic++.openmpi
  mpich libmpich-dev             # mpirun.mpich, hydra_pmi_proxy, mpicxx.mpich
  openssh-server openssh-client  # sshd on the workers, ssh from the launcher
  iproute2 util-linux            # ip; unshare, nsenter, setpriv
  g++                            # the compiler behind both MPI wrappers
)

if [[ "$(id -u)" != 0 ]]; then
  echo "install-node-deps: not root; skipping (the process runtime needs root and these packages: ${packages[*]})"
  exit 0
fi
if ! command -v apt-get >/dev/null || ! command -v dpkg-query >/dev/null; then
  echo "install-node-deps: no apt-get/dpkg here; install by hand: ${packages[*]}"
  exit 0
fi

missing=()
for package in "${packages[@]}"; do
  status=$(dpkg-query -W -f '${db:Status-Status}' "$package" 2>/dev/null || true)
  [[ "$status" == installed ]] || missing+=("$package")
done
if (( ${#missing[@]} == 0 )); then
  echo "install-node-deps: all installed (${packages[*]})"
  exit 0
fi

echo "install-node-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
# --no-install-recommends: no documentation or extra tools; policy-rc.d keeps the package scripts from
# starting a host sshd (the runtime starts sshd only inside pods).
policy=/usr/sbin/policy-rc.d
created_policy=0
if [[ ! -e "$policy" ]]; then
  printf '#!/bin/sh\nexit 101\n' > "$policy"
  chmod 0755 "$policy"
  created_policy=1
fi
trap '[[ $created_policy == 1 ]] && rm -f "$policy"' EXIT
apt-get install -y -q --no-install-recommends "${missing[@]}"
