#!/usr/bin/env bash
# Entrypoint of the Intel MPI and MPICH images.
# On the launcher (K_MPI_JOB_ROLE=launcher) it waits until its own host name and every host in
# /etc/mpi/hostfile resolve: the headless Service publishes a worker only once it is Ready, and the Hydra
# process manager aborts on a name that does not resolve. It never fails the job: after the last retry it
# says so and carries on. Then it runs the container's arguments.
set -u

if [[ -f /opt/intel/oneapi/setvars.sh ]]; then
  # shellcheck disable=SC1091  # present only in the Intel image
  source /opt/intel/oneapi/setvars.sh
fi

readonly max_retries=10
readonly first_delay_ms=100
# Written by the operator's ConfigMap mount; MPI_HOSTFILE only exists so tests can point elsewhere.
readonly hostfile="${MPI_HOSTFILE:-/etc/mpi/hostfile}"

# wait_for_dns HOST: try nslookup, then up to max_retries more times, sleeping 0.1 s, 0.2 s, 0.4 s, ...
wait_for_dns() {
  local host="$1" retries=0 delay_ms=$first_delay_ms
  until nslookup "$host" >/dev/null 2>&1; do
    if (( retries == max_retries )); then
      echo "Couldn't resolve ${host}; continuing without it"
      return 0
    fi
    sleep "$(printf '%d.%03d' $((delay_ms / 1000)) $((delay_ms % 1000)))"
    echo "Couldn't resolve ${host}... Retrying"
    retries=$((retries + 1))
    delay_ms=$((delay_ms * 2))
  done
  echo "Resolved ${host}"
}

if [[ "${K_MPI_JOB_ROLE:-}" == "launcher" ]]; then
  wait_for_dns "${HOSTNAME}"
  if [[ -r "$hostfile" ]]; then
    # Host is the text before the first ':' (Intel/MPICH "host:slots"); also cut at a blank for
    # Open MPI's "host slots=N" form.
    while IFS= read -r line || [[ -n "$line" ]]; do
      host="${line%%:*}"
      host="${host%%[[:space:]]*}"
      if [[ -n "$host" ]]; then
        wait_for_dns "$host"
      fi
    done < "$hostfile"
  fi
fi

exec "$@"
