#!/usr/bin/env bash
# Builds kube-apiserver, etcd and kubectl from this module into $1 (a cache
# folder keyed by the Kubernetes version, outside the clone).
set -euo pipefail
out=${1:?usage: build.sh OUT_DIR}
cd "$(dirname "$0")"
K8S_VERSION=$(awk '$1=="k8s.io/kubernetes"{print $2; exit}' go.mod)
major=${K8S_VERSION#v}; minor=${major#*.}; minor=${minor%%.*}; major=${major%%.*}
ld="-s -w"
# Without these every binary calls itself v0.0.0-master and `kubectl version` fails.
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ld+=" -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor"
  ld+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
done
mkdir -p "$out"
for cmd in etcd kube-apiserver kubectl; do
  echo "building $cmd ($K8S_VERSION) into $out" >&2
  go build -trimpath -ldflags "$ld" -o "$out/$cmd.tmp" "./cmd/$cmd"
  mv "$out/$cmd.tmp" "$out/$cmd"
done
