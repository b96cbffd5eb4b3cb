#!/usr/bin/env bash
# Builds the previous release named in tests/upgrade/previous-release, once,
# into a cache outside the clone keyed by its commit (issue #24's upgrade
# test runs it, stops it and starts this build over its live objects):
#   $cache/release-<commit>/batchnotify   its operator binary (debug)
#   $cache/release-<commit>/crd.yaml      its BatchNotification CRD
#   $cache/release-<commit>/src/          its source, as `git archive` gives it
# The build has a target directory of its own ($cache/release-target, kept
# for the next release): cargo takes a package at another path with the same
# name and version for the same unit, so in the shared one it would find
# this build's outputs "fresh" and build nothing. A warm run only checks
# that the binary is there.
set -euo pipefail
cd "$(dirname "$0")/.."
cache=${BATCHNOTIFY_CACHE:-$HOME/.cache/batchnotify}
target=$cache/release-target
commit=$(sed -n 's/^commit: *//p' tests/upgrade/previous-release)
[ -n "$commit" ] || { echo "tests/upgrade/previous-release names no commit" >&2; exit 1; }
dir=$cache/release-$commit
if [ -x "$dir/batchnotify" ] && [ -f "$dir/crd.yaml" ]; then
  exit 0
fi
git cat-file -e "$commit^{commit}" 2>/dev/null || {
  echo "the previous release $commit is not in this clone's history (a shallow clone? git fetch --unshallow)" >&2
  exit 1
}
echo "== building the previous release ${commit:0:12} into $dir" >&2
start=$SECONDS
rm -rf "$dir"
mkdir -p "$dir/src"
git archive "$commit" | tar -x -C "$dir/src"
git show "$commit:crds/batchnotify.dev_batchnotifications.yaml" > "$dir/crd.yaml.tmp"
(cd "$dir/src" && CARGO_TARGET_DIR=$target cargo build --quiet --locked -p batchnotify --bin batchnotify)
cp "$target/debug/batchnotify" "$dir/batchnotify.tmp"
mv "$dir/crd.yaml.tmp" "$dir/crd.yaml"
mv "$dir/batchnotify.tmp" "$dir/batchnotify"
echo "== previous release built in $((SECONDS - start)) s" >&2
