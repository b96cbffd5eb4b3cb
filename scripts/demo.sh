#!/usr/bin/env bash
# `make demo`: the AWS Step Functions sample "Manage a Batch Job" as a
# BatchNotification, end to end on this machine. Installs what is missing,
# builds the operator, starts the test bed (etcd + kube-apiserver + the moto
# AWS emulator) and the operator, applies examples/sample.yaml, and shows the
# run succeed and its SNS notification arrive at an SQS subscriber; then a run
# whose Batch job fails, and its failure notification. Deletes everything
# afterwards (also on Ctrl-C, or on error).
#
#   DEMO_KEEP=1 (make demo KEEP=1)  leave the bed, the operator and the objects
#                                   running; print the export lines to use them.
#
# Exits non-zero if any expected step does not happen: it doubles as a smoke test.
set -euo pipefail
cd "$(dirname "$0")/.."

cache=${BATCHNOTIFY_CACHE:-$HOME/.cache/batchnotify}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$cache/target}
moto=$(sed -n 's/^moto\[server\]==//p' emulator/requirements.txt)
py=${BATCHNOTIFY_MOTO_VENV:-$cache/moto-$moto}/bin/python
bin=$CARGO_TARGET_DIR/debug
keep=${DEMO_KEEP:-}
[ "$keep" = 0 ] && keep=
ns=demo
ok_name=manage-a-batch-job
fail_name=nightly-must-fail
started=$(date +%s.%N)

# The machine's AWS settings must not reach the emulator's clients (a CA
# bundle or a profile broke them); proxies must not see loopback.
unset AWS_CA_BUNDLE AWS_PROFILE AWS_DEFAULT_PROFILE AWS_SESSION_TOKEN AWS_ROLE_ARN \
  AWS_WEB_IDENTITY_TOKEN_FILE AWS_CONTAINER_CREDENTIALS_FULL_URI AWS_CONTAINER_CREDENTIALS_RELATIVE_URI
export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
export NO_PROXY=127.0.0.1,localhost${NO_PROXY:+,$NO_PROXY} no_proxy=127.0.0.1,localhost${no_proxy:+,$no_proxy}

if [ -t 1 ] && [ -z "${NO_COLOR:-}" ]; then
  B=$'\e[1m' D=$'\e[2m' G=$'\e[32m' R=$'\e[31m' Y=$'\e[33m' C=$'\e[36m' N=$'\e[0m'
else
  B='' D='' G='' R='' Y='' C='' N=''
fi

step_no=0
step() { step_no=$((step_no + 1)); printf '\n%s==> %d/7  %s%s\n' "$B" "$step_no" "$*" "$N"; }
say() { printf '    %s\n' "$*"; }
note() { printf '    %s%s%s\n' "$D" "$*" "$N"; }
good() { printf '    %sok%s  %s\n' "$G" "$N" "$*"; }
# Shows a command, then runs it (indented) under a time limit.
show() {
  local limit=$1
  shift
  printf '    %s$ %s%s\n' "$C" "$*" "$N"
  timeout --foreground "$limit" "$@" 2>&1 | sed 's/^/      /'
}
elapsed() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }

work=$(mktemp -d "${TMPDIR:-/tmp}/batchnotify-demo.XXXXXX")
bed_pid='' op_pid='' finished=''

fail() {
  printf '\n%sFAILED: %s%s\n' "$R" "$*" "$N" >&2
  if [ -s "$work/operator.log" ]; then
    printf '%s--- last lines of the operator log (%s)%s\n' "$D" "$work/operator.log" "$N" >&2
    tail -n 15 "$work/operator.log" >&2
  fi
  printf '%sLogs kept in %s%s\n' "$D" "$work" "$N" >&2
  exit 1
}

stop_pid() { # pid, seconds: SIGTERM, then SIGKILL if it does not exit in time
  local pid=$1 limit=$2 i
  kill -TERM "$pid" 2>/dev/null || return 0
  for ((i = 0; i < limit * 10; i++)); do
    kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  [ -n "$finished" ] && exit "$rc"
  if [ -n "$keep" ] && [ "$rc" = 0 ]; then exit 0; fi
  if [ -n "$op_pid" ] && [ -n "$bed_pid" ]; then
    # Ctrl-C or an error: let the finalizers delete the AWS side, briefly.
    timeout 15 kubectl delete batchnotifications --all -n "$ns" --timeout=10s >/dev/null 2>&1 || true
  fi
  [ -n "$op_pid" ] && stop_pid "$op_pid" 15
  # The bed's guard stops etcd, kube-apiserver and moto when the testbed process exits.
  [ -n "$bed_pid" ] && stop_pid "$bed_pid" 10
  [ "$rc" = 0 ] && rm -rf "$work"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

printf '%sbatchnotify demo%s: the AWS Step Functions sample "Manage a Batch Job" as a Kubernetes\n' "$B" "$N"
printf 'resource, against a local kube-apiserver and the moto AWS emulator. Logs: %s\n' "$work"

step "Installing what is missing (scripts/testbed-deps.sh; cold: a few minutes)"
timeout --foreground 3600 scripts/testbed-deps.sh || fail "scripts/testbed-deps.sh"
good "control plane and AWS emulator in $cache"

step "Building the operator and the test bed (cargo build; cold: a few minutes)"
timeout --foreground 3600 cargo build -p batchnotify -p batchnotify-testbed \
  --bin batchnotify --bin testbed || fail "cargo build"

step "Starting the test bed: etcd + kube-apiserver + moto, on free loopback ports"
t0=$(date +%s.%N)
"$bin/testbed" --log-dir "$work/testbed-logs" >"$work/env" 2>"$work/testbed.log" &
bed_pid=$!
for ((i = 0; i < 1200; i++)); do
  grep -q '^export PATH=' "$work/env" 2>/dev/null && break
  kill -0 "$bed_pid" 2>/dev/null || fail "the test bed exited: $(tail -n 3 "$work/testbed.log")"
  sleep 0.1
done
grep -q '^export PATH=' "$work/env" || fail "the test bed did not start within 120 s ($work/testbed.log)"
# shellcheck disable=SC1091
source "$work/env"
good "up in $(elapsed "$t0") s: $(sed -n 's/^# ready: \(.*\) ; Ctrl-C.*/\1/p' "$work/testbed.log")"

step "Installing the CRD and starting the operator"
show 30 kubectl apply --server-side -f crds/batchnotify.dev_batchnotifications.yaml ||
  fail "apply the CRD"
# Polled, not `kubectl wait --for=condition=Established`: that fails at once
# on a CRD whose status has no conditions yet, moments after the apply.
established() {
  kubectl get crd/batchnotifications.batchnotify.dev \
    -o 'jsonpath={.status.conditions[?(@.type=="Established")].status}' 2>/dev/null
}
for _ in $(seq 1 125); do [ "$(established)" = True ] && break; sleep 0.2; done
[ "$(established)" = True ] || fail "the CRD was not established"
say "crd/batchnotifications.batchnotify.dev established"
show 15 kubectl create namespace "$ns" || fail "create namespace $ns"
say "the operator runs as its own IAM user, whose only policy is deploy/iam/operator-policy.json"
say "(the emulator enforces it, as AWS would: every action the operator needs is in that file)"
read -r op_key op_secret < <(timeout 30 "$py" scripts/demo_aws.py principal batchnotify-demo \
  deploy/iam/operator-policy.json) || fail "create the operator's IAM user"
port=$("$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
printf '    %s$ batchnotify run --namespace %s --admin-addr 127.0.0.1:%s --poll-min 200ms%s\n' \
  "$C" "$ns" "$port" "$N"
AWS_ACCESS_KEY_ID=$op_key AWS_SECRET_ACCESS_KEY=$op_secret NO_COLOR=1 "$bin/batchnotify" run --namespace "$ns" --admin-addr "127.0.0.1:$port" \
  --poll-min 200ms >"$work/operator.log" 2>&1 &
op_pid=$!
ready=
for ((i = 0; i < 300; i++)); do
  kill -0 "$op_pid" 2>/dev/null || fail "the operator exited"
  if "$py" -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=1)' \
    "http://127.0.0.1:$port/readyz" 2>/dev/null; then
    ready=1
    break
  fi
  sleep 0.1
done
[ -n "$ready" ] || fail "the operator was not ready within 30 s"
good "operator ready (pid $op_pid; /metrics, /healthz, /readyz on 127.0.0.1:$port; log $work/operator.log)"
# Also warms the API server up: its first write of a new resource type takes
# about 2 s, which would otherwise show up as the operator's time below.
say "the API server checks the unedited sample against the CRD's schema and validation rules:"
show 30 kubectl create --dry-run=server -n "$ns" -f examples/sample.yaml || fail "examples/sample.yaml is not valid"

# Applies examples/sample.yaml as $1, with the emulator's default subnets and
# security group, and a new SQS queue subscribed to the managed topic; sets
# `queue_url` and `applied_at`.
apply_sample() {
  local name=$1 arn
  read -r queue_url arn < <(timeout 30 "$py" scripts/demo_aws.py queue "$name-notified") ||
    fail "create the SQS queue"
  timeout 30 "$py" scripts/demo_aws.py manifest examples/sample.yaml "$name" "$arn" ${2:+"$2"} \
    >"$work/$name.json" 2>"$work/$name.note" || fail "build the manifest: $(cat "$work/$name.note")"
  say "examples/sample.yaml as \"$name\", with the placeholders filled in for the emulator:"
  note "  $(cat "$work/$name.note")"
  [ -z "${2:-}" ] || note "  and spec.messages.failure: \"$2\" (fields of the run, rendered by Step Functions)"
  note "  and spec.topic.managed.subscriptions: sqs → $arn, so we can read the notification"
  note "  (spec.run.trigger \"1\" starts one run: each new value of it starts exactly one more)"
  applied_at=$(date +%s.%N)
  show 30 kubectl apply -n "$ns" -f "$work/$name.json" || fail "kubectl apply $name"
}

# Prints the conditions and the last run of BatchNotification $1 as they change
# (a watch: no state is missed), until the run has an outcome or $2 seconds pass.
follow() {
  local name=$1 limit=$2 jp fd wpid line
  local -A last=()
  local c
  jp=''
  for c in Ready Reconciling Stalled RunSucceeded; do
    jp+="{.status.conditions[?(@.type==\"$c\")].status}|{.status.conditions[?(@.type==\"$c\")].reason}|"
  done
  jp+='{.status.lastRun.status}|{.status.lastRun.outcome}|{.status.lastRun.name}|'
  jp+='{.status.conditions[?(@.type=="Ready")].message}{"\n"}'
  say "status as it changes ($C\$ kubectl get batchnotification $name -n $ns --watch$N …):"
  exec {fd}< <(exec kubectl get batchnotification "$name" -n "$ns" --watch -o jsonpath="$jp" 2>>"$work/watch.log")
  wpid=$!
  local deadline=$(($(date +%s) + limit)) outcome=''
  local rs rr ks kr ss sr us ur es eo en rm key val
  while [ -z "$outcome" ]; do
    local left=$((deadline - $(date +%s)))
    [ "$left" -gt 0 ] || break
    IFS='|' read -r -t "$left" -u "$fd" rs rr ks kr ss sr us ur es eo en rm || break
    if [ -z "$rs$us$es" ] && [ -z "${last[none]:-}" ]; then
      last[none]=1
      printf '    %s%6.1fs%s  %s\n' "$D" "$(elapsed "$applied_at")" "$N" \
        "no status yet: the operator is creating the AWS resources"
    fi
    for key in Ready Reconciling Stalled RunSucceeded execution; do
      case $key in
        Ready) val="$rs|$rr" ;;
        Reconciling) val="$ks|$kr" ;;
        Stalled) val="$ss|$sr" ;;
        RunSucceeded) val="$us|$ur" ;;
        execution) val="$es|$eo" ;;
      esac
      [ "$val" = '|' ] && continue
      [ "${last[$key]:-}" = "$val" ] && continue
      last[$key]=$val
      local colour=$N
      case ${val%%|*} in True | SUCCEEDED) colour=$G ;; False | FAILED | TIMED_OUT | ABORTED) colour=$Y ;; esac
      [ "$key" = Reconciling ] || [ "$key" = Stalled ] && [ "${val%%|*}" = False ] && colour=$N
      local detail=${val#*|}
      case $key in
        Ready) detail+=${rm:+ — $rm} ;;
        execution) detail=${eo:+outcome $eo · }$en ;;
      esac
      printf '    %s%6.1fs%s  %-13s %s%-9s%s %s\n' "$D" "$(elapsed "$applied_at")" "$N" \
        "$key" "$colour" "${val%%|*}" "$N" "$detail"
    done
    [ -n "$eo" ] && [ -n "$us" ] && [ "$us" != Unknown ] && outcome=$eo
  done
  kill "$wpid" 2>/dev/null || true
  exec {fd}<&-
  [ -n "$outcome" ] || fail "$name: no run outcome within $limit s"
}

# jsonpath $2 of BatchNotification $1.
get() { timeout 15 kubectl get batchnotification "$1" -n "$ns" -o jsonpath="$2"; }
condition() { get "$1" "{.status.conditions[?(@.type==\"$2\")].$3}"; }

expect() { # what, actual, wanted
  [ "$2" = "$3" ] || fail "$1 is '$2', expected '$3'"
  good "$1 = $3"
}

# Shows -o wide, the Events, and the notification the SQS queue received; checks them.
evidence() {
  local name=$1 event=$2 message=$3
  show 15 kubectl get batchnotifications -n "$ns" -o wide || fail "kubectl get -o wide"
  show 15 kubectl events -n "$ns" --for "batchnotification/$name" || fail "kubectl events"
  local reasons
  reasons=$(timeout 15 kubectl get events -n "$ns" --field-selector "involvedObject.name=$name" \
    -o jsonpath='{.items[*].reason}')
  for r in Created RunStarted "$event"; do
    [[ " $reasons " == *" $r "* ]] || fail "no $r Event for $name (got: $reasons)"
  done
  good "Events Created, RunStarted, $event"
  say "the SNS notification, as the SQS subscriber received it:"
  timeout 40 "$py" scripts/demo_aws.py receive "$queue_url" 30 >"$work/$name.received" ||
    fail "no notification reached $queue_url within 30 s"
  sed "s/^/    $G|$N /" "$work/$name.received"
  grep -qF "  Message: $message" "$work/$name.received" || fail "the message is not '$message'"
  good "notification received"
}

step "The sample succeeds: examples/sample.yaml → Ready → a run → the success notification"
apply_sample "$ok_name"
follow "$ok_name" 60
ok_queue=$queue_url
expect "Ready" "$(condition "$ok_name" Ready status)" True
expect "lastRun.status" "$(get "$ok_name" '{.status.lastRun.status}')" SUCCEEDED
expect "lastRun.outcome" "$(get "$ok_name" '{.status.lastRun.outcome}')" Succeeded
expect "RunSucceeded" "$(condition "$ok_name" RunSucceeded status)" True
evidence "$ok_name" RunSucceeded "Batch job submitted through Step Functions succeeded"

step "A job that fails: the same sample as \"$fail_name\""
say "Why it fails: the emulator ends every Batch job whose job or job-definition name contains"
say "\"must-fail\" as FAILED (emulator/moto_launcher.py). The managed job definition is named"
say "after the object (bn-<cluster>-<namespace>-<name>-<hash>), so this object's job fails —"
say "as a container exiting non-zero would on AWS. The state machine catches the failure and"
say "publishes the failure message; the execution itself SUCCEEDS (it delivered the notification)."
failure_template='Batch job {jobName} ({jobId}) {status}: {statusReason}, exit code {exitCode} - logs {logStreamName}'
apply_sample "$fail_name" "$failure_template"
follow "$fail_name" 60
expect "Ready" "$(condition "$fail_name" Ready status)" True
expect "RunSucceeded" "$(condition "$fail_name" RunSucceeded status)" False
expect "RunSucceeded reason" "$(condition "$fail_name" RunSucceeded reason)" JobFailed
expect "lastRun.outcome" "$(get "$fail_name" '{.status.lastRun.outcome}')" Failed
expect "lastRun.error" "$(get "$fail_name" '{.status.lastRun.error}')" States.TaskFailed
say "RunSucceeded message: $(condition "$fail_name" RunSucceeded message)"
get "$fail_name" '{.status.lastRun.cause}' >"$work/cause.json"
say "lastRun.cause: $("$py" scripts/demo_aws.py cause <"$work/cause.json")"
job_id=$(get "$fail_name" '{.status.lastRun.batchJobId}')
say "AWS Batch: $(timeout 30 "$py" scripts/demo_aws.py job "$job_id")" || fail "describe job $job_id"
failure_message="Batch job BatchJobNotification ($job_id) FAILED: $(get "$fail_name" '{.status.lastRun.jobStatusReason}'), exit code $(get "$fail_name" '{.status.lastRun.exitCode}') - logs $(get "$fail_name" '{.status.lastRun.logStreamName}')"
evidence "$fail_name" RunFailed "$failure_message"

say "the operator's metrics ($C\$ curl -s 127.0.0.1:$port/metrics$N, some of them):"
timeout 10 "$py" -c 'import sys, urllib.request; sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode())' \
  "http://127.0.0.1:$port/metrics" >"$work/metrics.txt" || fail "GET /metrics"
grep -E '^batchnotify_(runs|managed_objects|reconciles)' "$work/metrics.txt" | sed 's/^/      /' ||
  fail "no batchnotify_runs / managed_objects / reconciles series in /metrics"

if [ -n "$keep" ]; then
  finished=1
  step "Kept running (DEMO_KEEP=1)"
  say "Use it from another shell:"
  sed 's/^/      /' "$work/env"
  say "  then, for example:"
  say "      kubectl get batchnotifications -n $ns -o wide"
  say "      kubectl describe batchnotification $ok_name -n $ns"
  say "      kubectl patch batchnotification $ok_name -n $ns --type merge -p '{\"spec\":{\"run\":{\"trigger\":\"2\"}}}'"
  say "      curl -s 127.0.0.1:$port/metrics"
  say "Operator log: $work/operator.log   Test bed logs: $work/testbed-logs"
  say "${B}To stop everything:${N} kill $op_pid $bed_pid   ${D}(the operator, then the bed: its guard stops etcd, kube-apiserver and moto)$N"
  say "(deleting the objects first lets the operator delete their AWS resources: kubectl delete bn --all -n $ns)"
  printf '\n%sDemo done in %s s; everything is still running.%s\n' "$G" "$(elapsed "$started")" "$N"
  exit 0
fi

step "Cleaning up: deleting the objects (the finalizer deletes their AWS resources), the operator, the bed"
uids=$(timeout 15 kubectl get batchnotifications -n "$ns" -o jsonpath='{.items[*].metadata.uid}')
show 90 kubectl delete batchnotifications --all -n "$ns" --timeout=60s || fail "delete the objects"
left=$(timeout 15 kubectl get batchnotifications -n "$ns" -o name)
[ -z "$left" ] || fail "still there after delete: $left"
for uid in $uids; do
  timeout 60 "$py" scripts/demo_aws.py gone "$uid" | sed 's/^/    /' ||
    fail "AWS resources of object $uid were not deleted"
done
good "no AWS resource tagged for either object is left (state machines, roles, topics, queues, compute environments)"
stop_pid "$op_pid" 15
op_pid=''
good "operator stopped"
stop_pid "$bed_pid" 10
bed_pid=''
good "test bed stopped"
finished=1
rm -rf "$work"
printf '\n%sDemo done in %s s:%s both runs, both notifications received, everything cleaned up.\n' \
  "$G" "$(elapsed "$started")" "$N"
