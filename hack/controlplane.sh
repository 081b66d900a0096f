#!/usr/bin/env bash
# Builds the real control plane (etcd, kube-apiserver, kube-controller-manager, kube-scheduler) from
# Go modules and prints the directory that holds the binaries.
#
# Versions live in one place: the wrapper modules hack/controlplane/go.mod (Kubernetes) and
# hack/controlplane/etcd/go.mod (etcd), with their go.sum. The binaries are cached outside the repo in
# a directory keyed by those files, the Go version and this script, so a second run builds nothing:
#   ${MPI_OPERATOR_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mpi-operator}/controlplane/<k8s>-<key>/
# KUBEBUILDER_ASSETS (envtest's convention), when set, names a directory of binaries to use instead;
# nothing is built then.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
mods="$here/controlplane"
binaries=(etcd kube-apiserver kube-controller-manager kube-scheduler)

have_all() {
	local dir=$1 name
	for name in "${binaries[@]}"; do
		[ -x "$dir/$name" ] || return 1
	done
}

if [ -n "${KUBEBUILDER_ASSETS:-}" ]; then
	if ! have_all "$KUBEBUILDER_ASSETS"; then
		echo "KUBEBUILDER_ASSETS=$KUBEBUILDER_ASSETS does not hold all of: ${binaries[*]}" >&2
		exit 1
	fi
	echo "$KUBEBUILDER_ASSETS"
	exit 0
fi

if ! command -v go >/dev/null 2>&1; then
	echo "go is not on PATH: the real control plane is built from Go modules (Go >= 1.26)" >&2
	exit 3
fi

module_version() { (cd "$1" && go list -m -f '{{.Version}}' "$2"); }
k8s_version=$(module_version "$mods" k8s.io/kubernetes)
etcd_version=$(module_version "$mods/etcd" go.etcd.io/etcd/server/v3)
key=$(cat "$mods/go.mod" "$mods/go.sum" "$mods/etcd/go.mod" "$mods/etcd/go.sum" "$0" \
	<(go env GOVERSION GOARCH GOOS) | sha256sum | cut -c1-12)
cache=${MPI_OPERATOR_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mpi-operator}
out="$cache/controlplane/$k8s_version-$key"

if have_all "$out"; then
	echo "$out"
	exit 0
fi

echo "building the control plane: Kubernetes $k8s_version, etcd $etcd_version -> $out" >&2
echo "(first time only: about 15-25 minutes on 2 cores; the Go caches are kept for rebuilds)" >&2
started=$(date +%s)
work=$(mktemp -d "$cache/controlplane/.build-XXXXXX" 2>/dev/null || { mkdir -p "$cache/controlplane"; mktemp -d "$cache/controlplane/.build-XXXXXX"; })
trap 'rm -rf "$work"' EXIT

# /version reports the real release instead of v0.0.0-master.
minor=${k8s_version#v1.}
minor=${minor%%.*}
pkg=k8s.io/component-base/version
ldflags="-s -w -X $pkg.gitVersion=$k8s_version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
ldflags="$ldflags -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"

export CGO_ENABLED=0
(cd "$mods" && go build -trimpath -ldflags "$ldflags" -o "$work/" \
	k8s.io/kubernetes/cmd/kube-apiserver \
	k8s.io/kubernetes/cmd/kube-controller-manager \
	k8s.io/kubernetes/cmd/kube-scheduler)
(cd "$mods/etcd" && go build -trimpath -ldflags "-s -w" -o "$work/etcd" go.etcd.io/etcd/server/v3)

have_all "$work"
{
	echo "kubernetes=$k8s_version"
	echo "etcd=$etcd_version"
	echo "go=$(go env GOVERSION)"
	echo "seconds=$(($(date +%s) - started))"
} >"$work/VERSIONS"
rm -rf "$out"
mv "$work" "$out"
trap - EXIT
echo "built in $(($(date +%s) - started)) s" >&2
echo "$out"
