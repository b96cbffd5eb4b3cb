#!/usr/bin/env bash
# Runs every test of `make test` in three lanes side by side: the e2e suite,
# the reliability suite, and the rest (unit, bench harness, install, upgrade,
# the test bed's own tests, then pytest). Each integration binary starts its
# own test bed (etcd, kube-apiserver, the emulator) on free ports, and the
# beds mostly wait: run one after another, the suites used 4 min of CPU in
# 20 min. Each lane's output is kept in $CARGO_TARGET_DIR/test-output/ and
# printed whole when the lane ends; the last line counts every test.
#
# The binaries are built first (cargo test --no-run) and then run directly,
# from their package's folder as cargo runs them, so that no lane waits on
# cargo's lock of the target folder.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${CARGO_TARGET_DIR:?}" "${MOTO_VENV:?}"
out=$CARGO_TARGET_DIR/test-output
rm -rf "$out"
mkdir -p "$out"

# Every test executable of the workspace: "<package dir> <target name> <path>".
cargo test --workspace --all-targets --no-run --message-format=json 2>"$out/build.txt" |
  python3 -c '
import json, os, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["profile"]["test"]:
        print(os.path.dirname(m["manifest_path"]), m["target"]["name"] + "-" + m["target"]["kind"][0], m["executable"])
' > "$out/binaries.txt" || { cat "$out/build.txt"; exit 1; }

# Runs, one after another, the binaries named in $2... ($1 = only) or all
# but them ($1 = except).
lane() {
  local mode=$1 failed=0 dir name exe
  shift
  while read -r dir name exe; do
    case " $* " in
      *" $name "*) [ "$mode" = only ] || continue ;;
      *) [ "$mode" = except ] || continue ;;
    esac
    echo "     Running $name ($exe)"
    (cd "$dir" && "$exe") || failed=1
  done < "$out/binaries.txt"
  return $failed
}

rest() {
  local failed=0
  lane except e2e-test reliability-test || failed=1
  "$MOTO_VENV/bin/python" -m pytest -q -p no:cacheprovider emulator deploy/argocd deploy/iam || failed=1
  return $failed
}

start() {
  local name=$1
  shift
  ( set +e; "$@" > "$out/$name.txt" 2>&1; echo $? > "$out/$name.rc" ) &
}
start e2e lane only e2e-test
start reliability lane only reliability-test
start rest rest
wait

status=0
for name in rest e2e reliability; do
  echo "===== $name (exit $(cat "$out/$name.rc"))"
  cat "$out/$name.txt"
  [ "$(cat "$out/$name.rc")" = 0 ] || status=1
done
scripts/test-summary.sh "$out/rest.txt" "$out/e2e.txt" "$out/reliability.txt" || status=1
exit $status
