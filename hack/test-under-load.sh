#!/usr/bin/env bash
# The suite under load (issue 14 item 5): `make test` N times in a row (default 2) while stress-ng keeps one
# core busy, so a test that depends on the machine's speed shows. Installs stress-ng from Debian's packages
# when missing (root only). Prints each run's wall time and exit code; exits non-zero if any run failed.
# Usage: hack/test-under-load.sh [runs]   (STRESS_CPUS=1 by default)
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2
runs="${1:-2}"
cpus="${STRESS_CPUS:-1}"

if ! command -v stress-ng >/dev/null; then
  if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null; then
    echo "test-under-load: stress-ng is missing; install it (Debian: apt-get install stress-ng)" >&2
    exit 2
  fi
  echo "test-under-load: installing stress-ng"
  DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null &&
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends stress-ng >/dev/null || exit 2
fi

stress-ng --cpu "$cpus" --timeout 0 --quiet &
stress=$!
trap 'kill "$stress" 2>/dev/null; wait "$stress" 2>/dev/null' EXIT

failed=0
for ((run = 1; run <= runs; run++)); do
  start=$(date +%s)
  make test
  rc=$?
  echo "test-under-load: run $run of $runs: exit $rc after $(( $(date +%s) - start )) s (stress-ng --cpu $cpus;" \
       "load average $(cut -d' ' -f1-3 /proc/loadavg))"
  (( rc == 0 )) || failed=1
done
exit "$failed"
