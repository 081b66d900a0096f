#!/usr/bin/env bash
# Entrypoint of the Intel MPI and MPICH images.
# On the launcher (K_MPI_JOB_ROLE=launcher) it waits, bounded, until its own host name and every host in
# /etc/mpi/hostfile resolve and the other hosts accept TCP on their ssh port (wait-for-hosts): the headless
# Service publishes a worker only once it is Ready, and the Hydra process manager aborts on a name that does
# not resolve. It never fails the job: after the budget it says so and carries on. Then it runs the
# container's arguments.
set -u

if [[ -f /opt/intel/oneapi/setvars.sh ]]; then
  # shellcheck disable=SC1091  # present only in the Intel image
  source /opt/intel/oneapi/setvars.sh
fi

if [[ "${K_MPI_JOB_ROLE:-}" == "launcher" && -z "${MPI_OPERATOR_HOSTS_WAITED:-}" ]]; then
  wait-for-hosts
  export MPI_OPERATOR_HOSTS_WAITED=1   # the mpirun wrapper need not wait again
fi

exec "$@"
