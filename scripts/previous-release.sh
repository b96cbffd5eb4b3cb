#!/usr/bin/env bash
# Builds the previous release named in tests/upgrade/previous-release, once,
# into a cache outside the clone keyed by its commit (issue #24's upgrade
# test runs it, stops it and starts this build over its live objects):
#   $cache/release-<commit>/batchnotify   its operator binary (debug)
#   $cache/release-<commit>/crd.yaml      its BatchNotification CRD
#   $cache/release-<commit>/src/          its source, as `git archive` gives it
# With --release it also builds the optimised binary the scale bench
# measures beside this build (issue #27): $cache/release-<commit>/batchnotify-release.
# With --print it prints the path of the binary it built (or found).
# The build has a target directory of its own ($cache/release-target, kept
# for the next release): cargo takes a package at another path with the same
# name and version for the same unit, so in the shared one it would find
# this build's outputs "fresh" and build nothing. A warm run only checks
# that the binary is there.
set -euo pipefail
cd "$(dirname "$0")/.."
release=false print=false
for arg in "$@"; do
  case $arg in
    --release) release=true ;;
    --print) print=true ;;
    *) echo "usage: $0 [--release] [--print]" >&2; exit 2 ;;
  esac
done
cache=${BATCHNOTIFY_CACHE:-$HOME/.cache/batchnotify}
target=$cache/release-target
commit=$(sed -n 's/^commit: *//p' tests/upgrade/previous-release)
[ -n "$commit" ] || { echo "tests/upgrade/previous-release names no commit" >&2; exit 1; }
dir=$cache/release-$commit
if $release; then binary=$dir/batchnotify-release; else binary=$dir/batchnotify; fi
done_already() { [ -x "$binary" ] && [ -f "$dir/crd.yaml" ]; }
if ! done_already; then
  git cat-file -e "$commit^{commit}" 2>/dev/null || {
    echo "the previous release $commit is not in this clone's history (a shallow clone? git fetch --unshallow)" >&2
    exit 1
  }
  echo "== building the previous release ${commit:0:12} ($($release && echo release || echo debug)) into $dir" >&2
  start=$SECONDS
  if [ ! -f "$dir/src/Cargo.toml" ]; then
    rm -rf "$dir"
    mkdir -p "$dir/src"
    git archive "$commit" | tar -x -C "$dir/src"
  fi
  git show "$commit:crds/batchnotify.dev_batchnotifications.yaml" > "$dir/crd.yaml.tmp"
  if $release; then
    (cd "$dir/src" && CARGO_TARGET_DIR=$target cargo build --quiet --locked --release -p batchnotify --bin batchnotify)
    cp "$target/release/batchnotify" "$binary.tmp"
  else
    (cd "$dir/src" && CARGO_TARGET_DIR=$target cargo build --quiet --locked -p batchnotify --bin batchnotify)
    cp "$target/debug/batchnotify" "$binary.tmp"
  fi
  mv "$dir/crd.yaml.tmp" "$dir/crd.yaml"
  mv "$binary.tmp" "$binary"
  echo "== previous release built in $((SECONDS - start)) s" >&2
fi
if $print; then echo "$binary"; fi
