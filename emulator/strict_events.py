"""Step Functions' status-change events through EventBridge to SQS, and the
EventBridge / SQS side of strict mode. In-process patches of moto 5.2.5,
installed by `moto_launcher.py` before it serves.

Always on, `--lenient` included (an event AWS sends is a fact of AWS, not a
strictness rule; stock moto's Step Functions sends none):

* Every status change of a STANDARD execution (RUNNING at start; SUCCEEDED,
  FAILED, TIMED_OUT, ABORTED at its end) puts one "Step Functions Execution
  Status Change" event (source `aws.states`) on the default event bus of the
  execution's account and region, with the fields AWS sends (see
  `status_change_event`). Every ENABLED rule of that bus whose event pattern
  matches it (moto's matcher: exact values, `prefix`, `suffix`, `wildcard`,
  `anything-but`, `exists`, `numeric`, `$or`) delivers it to its targets; an
  SQS target gets the event JSON as the message body. EXPRESS executions send
  none, as on AWS.
  https://docs.aws.amazon.com/step-functions/latest/dg/eventbridge-integration.html
  https://docs.aws.amazon.com/eventbridge/latest/ref/events-ref-states.html
* An execution that StopExecution ended stays as StopExecution left it: the
  interpreter, noticing the stop later, no longer moves its stopDate (or its
  status, when the program had just ended) after the ABORTED event was sent.

Strict rules (`--lenient` turns them off, `--no-rule NAME` one of them):

* ``sqs-target-policy``: EventBridge delivers to an SQS queue only when the
  queue's policy lets `events.amazonaws.com` `sqs:SendMessage` (conditions such
  as `aws:SourceArn` = the rule's ARN evaluated); otherwise the invocation fails,
  is not retried, and the event is lost (metric `FailedInvocations`, namespace
  `AWS/Events`, dimension `RuleName`, put in the emulator's CloudWatch). Stock
  moto delivers whatever the policy says. It applies to PutEvents too.
"""

from __future__ import annotations

import copy
import datetime
import json
import sys
import threading
import time
import uuid
from typing import Any

RULES = ("sqs-target-policy",)

SOURCE = "aws.states"
DETAIL_TYPE = "Step Functions Execution Status Change"


def _rule_on(args: Any, name: str) -> bool:
    if hasattr(args, "rule_on"):
        return bool(args.rule_on(name))
    return not getattr(args, "lenient", False) and name not in (getattr(args, "no_rule", None) or [])


def log(message: str) -> None:
    print(f"strict_events: {message}", file=sys.stderr, flush=True)


# ------------------------------------------------------------ the event --
# The event's fields and their order are AWS's: the Step Functions guide's
# examples (input, inputDetails, output, outputDetails; stopDate and output null
# while RUNNING; times in epoch milliseconds)
#   https://docs.aws.amazon.com/step-functions/latest/dg/eventbridge-integration.html
# and an event recorded from AWS on 2024-02-07 (LocalStack's validated snapshot
# tests/aws/services/stepfunctions/v2/base/test_base.snapshot.json,
# test_event_bridge_events_base), which also has stateMachineVersionArn,
# stateMachineAliasArn, the redrive fields, error and cause, null when unset.
# "In each case, the detail section in the event data provides the same
# information as the DescribeExecution API": input and output are the strings
# DescribeExecution answers.
#   https://docs.aws.amazon.com/step-functions/latest/apireference/API_DescribeExecution.html

TERMINAL = ("SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED")
# "If the combined escaped input and escaped output sent to EventBridge exceeds
# 248KB, then the input will be excluded. Similarly, if the escaped output
# exceeds 248KB, then the output will be excluded." (inputDetails/outputDetails
# then say included: false)
#   https://docs.aws.amazon.com/step-functions/latest/dg/cw-events.html#cw-events-payloads
PAYLOAD_LIMIT = 248 * 1024


def _epoch(when: Any) -> float:
    # StopExecution's stop date is naive UTC in moto (moto.core.utils.utcnow).
    if when.tzinfo is None:
        when = when.replace(tzinfo=datetime.timezone.utc)
    return when.timestamp()


def _millis(when: Any) -> int | None:
    return None if when is None else int(_epoch(when) * 1000)


def _escaped_size(text: str | None) -> int:
    return 0 if text is None else len(json.dumps(text).encode()) - 2


def _redrive(status: str) -> tuple[str, str | None]:
    # DescribeExecution's redriveStatus / redriveStatusReason: a RUNNING or
    # SUCCEEDED execution is NOT_REDRIVABLE ("Execution is RUNNING and cannot
    # be redriven"); FAILED, TIMED_OUT and ABORTED ones are REDRIVABLE for 14 days.
    # https://docs.aws.amazon.com/step-functions/latest/apireference/API_DescribeExecution.html
    if status in ("RUNNING", "SUCCEEDED"):
        return "NOT_REDRIVABLE", f"Execution is {status} and cannot be redriven"
    return "REDRIVABLE", None


def status_change_event(execution: Any) -> dict:
    """The event AWS puts on the default bus for `execution`'s current status.
    `time` stays epoch seconds here (moto's event buses carry it so and write it
    ISO 8601 when they deliver, e.g. "2019-02-26T19:42:21Z")."""
    from moto.stepfunctions.parser.asl.utils.encoding import to_json_str
    from moto.stepfunctions.parser.backend.state_machine import StateMachineVersion

    status = execution.exec_status.value
    machine = execution.state_machine
    if isinstance(machine, StateMachineVersion):
        machine_arn, version_arn = machine.source_arn, machine.arn
    else:
        machine_arn, version_arn = machine.arn, None
    # As DescribeExecution has them: the input as StartExecution was given it,
    # the output as Step Functions writes JSON (compact).
    input_text = getattr(execution, "execution_input", None)
    if not isinstance(input_text, str):
        input_text = to_json_str(execution.input_data, separators=(",", ":"))
    output_text = (
        to_json_str(execution.output, separators=(",", ":")) if status == "SUCCEEDED" else None
    )
    input_details: dict | None = {"included": True}
    output_details: dict | None = {"included": True} if output_text is not None else None
    if _escaped_size(input_text) + _escaped_size(output_text) > PAYLOAD_LIMIT:
        input_text, input_details = None, {"included": False}
    if _escaped_size(output_text) > PAYLOAD_LIMIT:
        output_text, output_details = None, {"included": False}
    redrive_status, redrive_reason = _redrive(status)
    when = execution.stop_date if status in TERMINAL and execution.stop_date else execution.start_date
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": DETAIL_TYPE,
        "source": SOURCE,
        "account": execution.account_id,
        "time": _epoch(when),
        "region": execution.region_name,
        "resources": [execution.exec_arn],
        "detail": {
            "executionArn": execution.exec_arn,
            "stateMachineArn": machine_arn,
            "name": execution.name,
            "status": status,
            "startDate": _millis(execution.start_date),
            "stopDate": _millis(execution.stop_date) if status in TERMINAL else None,
            "input": input_text,
            "output": output_text,
            "stateMachineVersionArn": version_arn,
            "stateMachineAliasArn": None,
            "redriveCount": 0,
            "redriveDate": None,
            "redriveStatus": redrive_status,
            "redriveStatusReason": redrive_reason,
            "inputDetails": input_details,
            "outputDetails": output_details,
            "error": execution.error,
            "cause": execution.cause,
        },
    }


# ------------------------------------------------------------- delivery --
# "When an AWS service in your account emits an event, it always goes to your
# account's default event bus."
#   https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-service-event.html
# A DISABLED rule delivers nothing; a rule without an event pattern (a schedule)
# matches no event.
#   https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_PutRule.html


def put_on_default_bus(event: dict, account: str, region: str) -> int:
    """Delivers `event` through the default bus's rules; returns how many rules matched."""
    from moto.events.models import events_backends

    bus = events_backends[account][region].event_buses.get("default")
    if bus is None:
        return 0
    matched = 0
    for rule in list(bus.rules.values()):
        if not str(rule.state or "ENABLED").startswith("ENABLED"):
            continue
        if not rule.event_pattern.get_pattern() or not rule.event_pattern.matches_event(event):
            continue
        matched += 1
        for target in list(rule.targets):
            try:
                deliver(rule, target, event)
            except Exception as err:  # a target moto cannot invoke must not stop the others
                log(f"rule {rule.arn} target {target.get('Arn')}: {type(err).__name__}: {err}")
    return matched


def deliver(rule: Any, target: dict, event: dict) -> None:
    """One invocation: the whole event to an SQS queue (the target has no input
    transformation), else moto's own target code for this one target."""
    arn = str(target.get("Arn", ""))
    plain = not any(target.get(k) for k in ("Input", "InputPath", "InputTransformer"))
    if arn.split(":")[2:3] == ["sqs"] and plain:
        group = (target.get("SqsParameters") or {}).get("MessageGroupId")
        rule._send_to_sqs_queue(arn.split(":")[5], copy.deepcopy(event), group)
        return
    one = copy.copy(rule)
    one.targets = [target]
    one.send_to_targets(dict(copy.deepcopy(event), **{"ingestion-time": time.time()}))


# ---------------------------------------------------------- execution hooks --

_LOCK = threading.Lock()
PUBLISHED = "_batchnotify_event_status"


def _lock_of(execution: Any) -> threading.Lock:
    with _LOCK:
        lock = getattr(execution, "_batchnotify_event_lock", None)
        if lock is None:
            lock = threading.Lock()
            execution._batchnotify_event_lock = lock
        return lock


def _standard(execution: Any) -> bool:
    # "Only standard workflows emit events to EventBridge."
    # https://docs.aws.amazon.com/step-functions/latest/dg/eventbridge-integration.html
    return getattr(getattr(execution, "sm_type", None), "value", "STANDARD") == "STANDARD"


def publish_if_changed(execution: Any) -> None:
    """Called with the execution's lock held."""
    status = getattr(execution.exec_status, "value", None)
    if status is None or getattr(execution, PUBLISHED, None) == status:
        return
    setattr(execution, PUBLISHED, status)
    try:
        put_on_default_bus(status_change_event(execution), execution.account_id, execution.region_name)
    except Exception as err:  # never break the execution over its event
        log(f"event for {execution.exec_arn} ({status}) not sent: {type(err).__name__}: {err}")


def install_emission() -> None:
    from moto.stepfunctions.parser.backend.execution import (
        BaseExecutionWorkerCommunication,
        Execution,
    )

    if getattr(Execution, "_batchnotify_events", False):
        return
    original_start = Execution.start
    original_stop = Execution.stop
    original_terminated = BaseExecutionWorkerCommunication.terminated

    def start(self: Any) -> None:
        if not _standard(self):
            return original_start(self)
        # The lock keeps the end's event (from the worker thread) after RUNNING's.
        with _lock_of(self):
            original_start(self)
            publish_if_changed(self)

    def stop(self: Any, *args: Any, **kwargs: Any) -> None:
        if not _standard(self):
            return original_stop(self, *args, **kwargs)
        with _lock_of(self):
            original_stop(self, *args, **kwargs)
            publish_if_changed(self)

    def terminated(self: Any) -> None:
        execution = self.execution
        if not _standard(execution):
            return original_terminated(self)
        with _lock_of(execution):
            ended = getattr(execution, PUBLISHED, None) in TERMINAL
            kept = (execution.exec_status, execution.stop_date, execution.output, execution.error, execution.cause)
            original_terminated(self)
            if ended:  # StopExecution already ended it (and its event went out)
                (execution.exec_status, execution.stop_date, execution.output,
                 execution.error, execution.cause) = kept
            publish_if_changed(execution)

    Execution.start = start
    Execution.stop = stop
    BaseExecutionWorkerCommunication.terminated = terminated
    Execution._batchnotify_events = True


# ------------------------------------------------------ sqs-target-policy --
# "For Lambda, Amazon SNS, Amazon SQS, and Amazon CloudWatch Logs resources,
# EventBridge uses resource-based policies": the queue policy must let the
# service principal events.amazonaws.com sqs:SendMessage, typically only for the
# rule (Condition ArnEquals aws:SourceArn = the rule's ARN).
#   https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-use-resource-based.html#eb-sqs-permissions
# A target EventBridge may not invoke fails without retry ("Errors such as
# permission errors ... are not retried") and the invocation counts in the
# rule's FailedInvocations metric.
#   https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-rule-dlq.html
#   https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-monitoring.html

EVENTS_PRINCIPAL = "events.amazonaws.com"


def queue_policy_allows(policy_text: str | None, queue_arn: str, context: dict[str, str]) -> bool:
    """Whether a queue policy lets EventBridge (`events.amazonaws.com`) send to the queue."""
    from strict_access import _as_list, action_matches, conditions_match, resource_matches

    if not policy_text:
        return False
    try:
        policy = json.loads(policy_text)
    except ValueError:
        return False
    allowed = False
    for statement in _as_list(policy.get("Statement") if isinstance(policy, dict) else None):
        if not isinstance(statement, dict) or "NotPrincipal" in statement:
            continue  # NotPrincipal is not modelled: it never matches here
        principal = statement.get("Principal")
        if principal != "*" and not (
            isinstance(principal, dict)
            and (
                EVENTS_PRINCIPAL in _as_list(principal.get("Service"))
                or "*" in _as_list(principal.get("AWS"))
            )
        ):
            continue
        if "NotAction" in statement:
            if any(action_matches(a, "sqs:SendMessage") for a in _as_list(statement["NotAction"])):
                continue
        elif not any(action_matches(a, "sqs:SendMessage") for a in _as_list(statement.get("Action"))):
            continue
        if "NotResource" in statement:
            if any(resource_matches(r, queue_arn, context) for r in _as_list(statement["NotResource"])):
                continue
        elif "Resource" in statement and not any(
            resource_matches(r, queue_arn, context) for r in _as_list(statement["Resource"])
        ):
            continue
        if not conditions_match(statement.get("Condition"), context):
            continue
        effect = str(statement.get("Effect", "")).lower()
        if effect == "deny":
            return False
        allowed = allowed or effect == "allow"
    return allowed


def put_metric(account: str, region: str, name: str, rule: str) -> None:
    from moto.cloudwatch.models import cloudwatch_backends

    cloudwatch_backends[account][region].put_metric_data(
        namespace="AWS/Events",
        metric_data=[
            {
                "MetricName": name,
                "Dimensions": [{"Name": "RuleName", "Value": rule}],
                "Value": 1.0,
                "Unit": "Count",
            }
        ],
    )


def install_sqs_target_policy() -> None:
    from moto.events.models import Rule
    from moto.sqs import sqs_backends

    if getattr(Rule, "_batchnotify_policy", False):
        return
    original = Rule._send_to_sqs_queue

    def send_to_sqs_queue(self: Any, resource_id: str, event: dict, group_id: str | None = None) -> None:
        queue = sqs_backends[self.account_id][self.region_name].queues.get(resource_id)
        context = {
            "aws:sourcearn": self.arn,
            "aws:sourceaccount": self.account_id,
            "aws:principalservicename": EVENTS_PRINCIPAL,
        }
        if queue is None or not queue_policy_allows(queue.policy, queue.queue_arn, context):
            why = "no such queue" if queue is None else "its policy does not let events.amazonaws.com sqs:SendMessage"
            log(f"rule {self.arn}: not delivered to queue {resource_id}: {why} (FailedInvocations)")
            try:
                put_metric(self.account_id, self.region_name, "FailedInvocations", self.name)
            except Exception as err:
                log(f"FailedInvocations metric not put: {err}")
            return
        original(self, resource_id, event, group_id)

    Rule._send_to_sqs_queue = send_to_sqs_queue
    Rule._batchnotify_policy = True


# ----------------------------------------------------------- entry point --


def install(args: Any) -> None:
    """Call after the other patches (it wraps StopExecution's strict patch), before serving."""
    install_emission()
    if _rule_on(args, "sqs-target-policy"):
        install_sqs_target_policy()
