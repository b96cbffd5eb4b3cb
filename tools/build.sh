#!/usr/bin/env bash
# Builds the checkers the tests consult into $1 (a cache folder outside the
# clone, see scripts/testbed-deps.sh):
#   bn-checks   kstatus (sigs.k8s.io/cli-utils), Flux's healthCheckExprs
#               evaluator and Prometheus's rule parser, from their Go modules
#   hadolint    the Dockerfile linter, from PyPI (tools/requirements.txt)
#   krew, validate-krew-manifest
#               krew's plugin installer and krew-index's manifest validator
#               (tools/krew, a module of its own: krew pins old Kubernetes
#               libraries that the checkers' newer ones would not build with)
set -euo pipefail
out=${1:?usage: build.sh OUT_DIR}
cd "$(dirname "$0")"
mkdir -p "$out"
echo "building bn-checks into $out" >&2
go build -trimpath -ldflags "-s -w" -o "$out/bn-checks.tmp" .
mv "$out/bn-checks.tmp" "$out/bn-checks"
for tool in krew validate-krew-manifest; do
  echo "building $tool into $out" >&2
  (cd krew && go build -trimpath -ldflags "-s -w" -o "$out/$tool.tmp" "sigs.k8s.io/krew/cmd/$tool")
  mv "$out/$tool.tmp" "$out/$tool"
done
rm -rf "$out/venv"
python3 -m venv "$out/venv"
"$out/venv/bin/pip" install --quiet --disable-pip-version-check -r requirements.txt
ln -sf venv/bin/hadolint "$out/hadolint"
