#!/usr/bin/env bash
# Builds the operator's image from the Dockerfile with the first builder found:
# docker (BuildKit), podman or buildah; IMAGE_BUILDER=NAME picks one. The
# Dockerfile uses BuildKit's cache mounts, which all three support.
# Usage: IMAGE=registry/batchnotify:tag scripts/image.sh [extra build args]
set -euo pipefail
cd "$(dirname "$0")/.."
image=${IMAGE:-batchnotify:latest}

builders=(docker podman buildah)
if [ -n "${IMAGE_BUILDER:-}" ]; then
  builders=("$IMAGE_BUILDER")
fi
# A docker client without a reachable daemon cannot build: try the next one.
usable() {
  command -v "$1" >/dev/null 2>&1 || return 1
  if [ "$1" = docker ]; then docker info >/dev/null 2>&1 || { echo "make image: docker is installed but its daemon does not answer; trying the next builder" >&2; return 1; }; fi
}
builder=
for b in "${builders[@]}"; do
  if usable "$b"; then
    builder=$b
    break
  fi
done
if [ -z "$builder" ]; then
  echo "make image: no usable image builder (looked for: ${builders[*]})." >&2
  echo "Install docker (with BuildKit), podman or buildah, or build the Dockerfile" >&2
  echo "elsewhere, e.g. in CI: docker build -t $image ." >&2
  exit 127
fi

case $builder in
  docker) cmd=(docker build) ; export DOCKER_BUILDKIT=1 ;;
  podman) cmd=(podman build --format docker) ;;
  buildah) cmd=(buildah build --format docker) ;;
  *) cmd=("$builder" build) ;;
esac
echo "== $builder: building $image from Dockerfile" >&2
"${cmd[@]}" --file Dockerfile --tag "$image" "$@" .
echo "== built $image; push it with: $builder push $image" >&2
