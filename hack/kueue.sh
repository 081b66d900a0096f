#!/usr/bin/env bash
# Builds Kueue (sigs.k8s.io/kueue) from its Go module and prints the directory that holds it:
#   kueue        the manager binary (cmd/kueue)
#   kueue.yaml   Kueue's own install manifest, rendered by kustomize from the module's config/default
#   VERSIONS     what was built, with which Go, in how many seconds
#
# The version lives in one place: the wrapper module hack/kueue/go.mod, with its go.sum. The output is
# cached outside the repo in a directory keyed by those files, the Go version and this script, so a
# second run builds nothing:
#   ${MPI_OPERATOR_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mpi-operator}/kueue/<version>-<key>/
# KUBECTL names the kubectl that renders the manifest (default: the repo's .venv, else PATH).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
mod="$here/kueue"

if ! command -v go >/dev/null 2>&1; then
	echo "go is not on PATH: Kueue is built from its Go module (Go >= 1.25)" >&2
	exit 3
fi
kubectl=${KUBECTL:-}
if [ -z "$kubectl" ]; then
	if [ -x "$here/../.venv/bin/kubectl" ]; then kubectl="$here/../.venv/bin/kubectl"; else kubectl=kubectl; fi
fi

version=$(cd "$mod" && go list -m -f '{{.Version}}' sigs.k8s.io/kueue)
key=$(cat "$mod/go.mod" "$mod/go.sum" "$0" <(go env GOVERSION GOARCH GOOS) | sha256sum | cut -c1-12)
cache=${MPI_OPERATOR_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mpi-operator}
out="$cache/kueue/$version-$key"

if [ -x "$out/kueue" ] && [ -s "$out/kueue.yaml" ]; then
	echo "$out"
	exit 0
fi

echo "building Kueue $version -> $out" >&2
echo "(first time only: about 8 minutes on 2 cores; the Go caches are kept for rebuilds)" >&2
started=$(date +%s)
mkdir -p "$cache/kueue"
work=$(mktemp -d "$cache/kueue/.build-XXXXXX")
trap 'rm -rf "$work"' EXIT

# The module cache is read-only: kustomize reads config/ in place.
source_dir=$(cd "$mod" && go mod download sigs.k8s.io/kueue && go list -m -f '{{.Dir}}' sigs.k8s.io/kueue)
"$kubectl" kustomize "$source_dir/config/default" >"$work/kueue.yaml"

# The manager logs its version at start; without -X it says v0.0.0-main.
export CGO_ENABLED=0
(cd "$mod" && go build -trimpath -ldflags "-s -w -X sigs.k8s.io/kueue/pkg/version.GitVersion=$version" \
	-o "$work/kueue" sigs.k8s.io/kueue/cmd/kueue)

{
	echo "kueue=$version"
	echo "go=$(go env GOVERSION)"
	echo "seconds=$(($(date +%s) - started))"
} >"$work/VERSIONS"
rm -rf "$out"
mv "$work" "$out"
trap - EXIT
echo "built in $(($(date +%s) - started)) s" >&2
echo "$out"
