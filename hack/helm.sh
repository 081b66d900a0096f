#!/usr/bin/env bash
# Builds helm (v4) from its Go module and prints the path of the binary; the chart tests run it.
#
# The version lives in one place: the wrapper module hack/helm/go.mod, with its go.sum. The binary is
# cached outside the repo in a directory keyed by those files, the Go version and this script, so a
# second run builds nothing:
#   ${MPI_OPERATOR_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mpi-operator}/helm/<version>-<key>/helm
# HELM_BIN (the name helm itself gives its own path in a plugin's environment), when set, names a helm v4
# binary to use instead; nothing is built then.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
mod="$here/helm"

if [ -n "${HELM_BIN:-}" ]; then
	if [ ! -x "$HELM_BIN" ]; then
		echo "HELM_BIN=$HELM_BIN is not an executable file" >&2
		exit 1
	fi
	if ! "$HELM_BIN" version --short 2>/dev/null | grep -q '^v4\.'; then
		echo "HELM_BIN=$HELM_BIN is not helm v4 ($("$HELM_BIN" version --short 2>&1 | head -1))" >&2
		exit 1
	fi
	echo "$HELM_BIN"
	exit 0
fi

if ! command -v go >/dev/null 2>&1; then
	echo "go is not on PATH: helm is built from its Go module (Go >= 1.26)" >&2
	exit 3
fi

version=$(cd "$mod" && go list -m -f '{{.Version}}' helm.sh/helm/v4)
key=$(cat "$mod/go.mod" "$mod/go.sum" "$0" <(go env GOVERSION GOARCH GOOS) | sha256sum | cut -c1-12)
cache=${MPI_OPERATOR_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mpi-operator}
out="$cache/helm/$version-$key"

if [ -x "$out/helm" ]; then
	echo "$out/helm"
	exit 0
fi

echo "building helm $version -> $out (first time only: a few minutes on 2 cores)" >&2
started=$(date +%s)
mkdir -p "$cache/helm"
work=$(mktemp -d "$cache/helm/.build-XXXXXX")
trap 'rm -rf "$work"' EXIT

# `helm version` reports the release instead of the source's "v4.3" (as helm's own Makefile sets it).
pkg=helm.sh/helm/v4/internal/version
ldflags="-s -w -X $pkg.version=$version -X $pkg.gitTreeState=clean"
(cd "$mod" && CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$work/helm" helm.sh/helm/v4/cmd/helm)

"$work/helm" version --short >/dev/null
{
	echo "helm=$version"
	echo "go=$(go env GOVERSION)"
	echo "seconds=$(($(date +%s) - started))"
} >"$work/VERSIONS"
rm -rf "$out"
mv "$work" "$out"
trap - EXIT
echo "built in $(($(date +%s) - started)) s" >&2
echo "$out/helm"
