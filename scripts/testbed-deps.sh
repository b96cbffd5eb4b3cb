#!/usr/bin/env bash
# Installs what the test bed needs, once, into a cache outside the clone keyed
# by version: the control plane (kube-apiserver, etcd, kubectl built from
# controlplane/), the emulator's virtualenv (emulator/requirements.txt),
# the checkers the tests consult (tools/: kstatus, Flux, Prometheus rules,
# hadolint, krew) and the Amazon States Language validator (npm asl-validator,
# pinned with its whole tree by tools/asl-validator/package-lock.json).
#
# Where each lands ($cache is $BATCHNOTIFY_CACHE, default ~/.cache/batchnotify):
#   $cache/controlplane-<k8s version>/      etcd, kube-apiserver, kubectl
#   $cache/moto-<moto version>/bin/python   the emulator's Python
#   $cache/checks/                          bn-checks, hadolint, krew, validate-krew-manifest
#   $cache/asl-validator-<version>/node_modules/.bin/asl-validator
#       run as `asl-validator --json-path FILE` (exit 0: a valid definition);
#       BATCHNOTIFY_ASL_VALIDATOR overrides the folder.
# A warm run only compares stamps; a cold run builds (about 3–7 min on 2 cores).
set -euo pipefail
cd "$(dirname "$0")/.."
cache=${BATCHNOTIFY_CACHE:-$HOME/.cache/batchnotify}

k8s=$(awk '$1=="k8s.io/kubernetes"{print $2; exit}' controlplane/go.mod)
moto=$(sed -n 's/^moto\[server\]==//p' emulator/requirements.txt)
grep -q "KUBERNETES_VERSION: &str = \"$k8s\"" testbed/src/lib.rs ||
  { echo "testbed/src/lib.rs KUBERNETES_VERSION differs from controlplane/go.mod ($k8s)" >&2; exit 1; }
grep -q "MOTO_VERSION: &str = \"$moto\"" testbed/src/lib.rs ||
  { echo "testbed/src/lib.rs MOTO_VERSION differs from emulator/requirements.txt ($moto)" >&2; exit 1; }

stamp_of() { cat "$@" | sha256sum | cut -c1-16; }

cp_dir=${BATCHNOTIFY_CONTROLPLANE_BIN:-$cache/controlplane-$k8s}
cp_stamp=$(stamp_of controlplane/go.mod controlplane/go.sum controlplane/build.sh controlplane/cmd/*/main.go)
if [ "$(cat "$cp_dir/.stamp" 2>/dev/null)" != "$cp_stamp" ]; then
  command -v go >/dev/null || { echo "go is needed to build the control plane" >&2; exit 1; }
  echo "== building the control plane $k8s into $cp_dir (cold: a few minutes)" >&2
  start=$SECONDS
  controlplane/build.sh "$cp_dir"
  echo "$cp_stamp" > "$cp_dir/.stamp"
  echo "== control plane built in $((SECONDS - start)) s" >&2
fi

venv=${BATCHNOTIFY_MOTO_VENV:-$cache/moto-$moto}
venv_stamp=$(stamp_of emulator/requirements.txt)
if [ "$(cat "$venv/.stamp" 2>/dev/null)" != "$venv_stamp" ]; then
  echo "== installing moto $moto into $venv" >&2
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r emulator/requirements.txt
  echo "$venv_stamp" > "$venv/.stamp"
fi

tools_dir=${BATCHNOTIFY_TOOLS:-$cache/checks}
tools_stamp=$(stamp_of tools/go.mod tools/go.sum tools/*.go tools/build.sh tools/requirements.txt tools/krew/go.mod tools/krew/go.sum)
if [ "$(cat "$tools_dir/.stamp" 2>/dev/null)" != "$tools_stamp" ]; then
  command -v go >/dev/null || { echo "go is needed to build tools/" >&2; exit 1; }
  echo "== building the checkers into $tools_dir (cold: about a minute)" >&2
  start=$SECONDS
  tools/build.sh "$tools_dir"
  echo "$tools_stamp" > "$tools_dir/.stamp"
  echo "== checkers built in $((SECONDS - start)) s" >&2
fi

asl_version=$(sed -n 's/^ *"asl-validator": "\([^"]*\)".*/\1/p' tools/asl-validator/package.json)
asl_dir=${BATCHNOTIFY_ASL_VALIDATOR:-$cache/asl-validator-$asl_version}
asl_stamp=$(stamp_of tools/asl-validator/package.json tools/asl-validator/package-lock.json)
if [ "$(cat "$asl_dir/.stamp" 2>/dev/null)" != "$asl_stamp" ]; then
  command -v npm >/dev/null || { echo "npm (node 20 or later) is needed for asl-validator" >&2; exit 1; }
  echo "== installing asl-validator $asl_version into $asl_dir" >&2
  rm -rf "$asl_dir"
  mkdir -p "$asl_dir"
  cp tools/asl-validator/package.json tools/asl-validator/package-lock.json "$asl_dir/"
  # npm ci: exactly the lock's versions and integrity hashes, or it fails.
  (cd "$asl_dir" && npm ci --no-audit --no-fund --loglevel=error)
  "$asl_dir/node_modules/.bin/asl-validator" --version >/dev/null
  echo "$asl_stamp" > "$asl_dir/.stamp"
fi
