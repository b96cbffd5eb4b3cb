#!/usr/bin/env bash
# Builds kube-apiserver, etcd, kubectl and helm from this module into $1 (a
# cache folder keyed by the Kubernetes version, outside the clone).
set -euo pipefail
out=${1:?usage: build.sh OUT_DIR}
cd "$(dirname "$0")"
K8S_VERSION=$(awk '$1=="k8s.io/kubernetes"{print $2; exit}' go.mod)
HELM_VERSION=$(awk '$1=="helm.sh/helm/v3"{print $2; exit}' go.mod)
major=${K8S_VERSION#v}; minor=${major#*.}; minor=${minor%%.*}; major=${major%%.*}
ld="-s -w"
# Without these every binary calls itself v0.0.0-master and `kubectl version` fails.
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ld+=" -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor"
  ld+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
done
# helm's own Makefile sets these: its version, and the Kubernetes version that
# `helm template` and `helm lint` assume (v1.20 otherwise).
helm_ld="$ld -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION"
helm_ld+=" -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
for pkg in helm.sh/helm/v3/pkg/chartutil helm.sh/helm/v3/pkg/lint/rules; do
  helm_ld+=" -X $pkg.k8sVersionMajor=$major -X $pkg.k8sVersionMinor=$minor"
done
mkdir -p "$out"
# helm v3's cmd/helm is a main package with nothing exported, so it is built
# from its import path (a `tool` line in go.mod), not wrapped in ./cmd/helm.
for cmd in etcd:./cmd/etcd kube-apiserver:./cmd/kube-apiserver kubectl:./cmd/kubectl \
  helm:helm.sh/helm/v3/cmd/helm; do
  name=${cmd%%:*} pkg=${cmd#*:} flags=$ld
  [ "$name" = helm ] && flags=$helm_ld
  echo "building $name ($([ "$name" = helm ] && echo "$HELM_VERSION" || echo "$K8S_VERSION")) into $out" >&2
  go build -trimpath -ldflags "$flags" -o "$out/$name.tmp" "$pkg"
  mv "$out/$name.tmp" "$out/$name"
done
