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
* ``sqs-deleted-recently``: CreateQueue refuses, for 60 seconds
  (`DELETED_RECENTLY_SECONDS`) after DeleteQueue deleted a queue, to create a
  queue of the same name in the same account and region: `QueueDeletedRecently`,
  HTTP 400 (JSON protocol: `__type` `com.amazonaws.sqs#QueueDeletedRecently` and
  header `x-amzn-query-error: AWS.SimpleQueueService.QueueDeletedRecently;Sender`,
  the code boto3 reports; query protocol: Code
  `AWS.SimpleQueueService.QueueDeletedRecently`). Stock moto creates it at once.
  `--sqs-deleted-recently-seconds N` shortens the window, for the emulator's tests.
* With strict_access's rules (``iam``, ``quotas``, ``paging``): EventBridge and
  SQS requests (SQS in its JSON and its query protocol) map to IAM actions and
  resources as the Service Authorization Reference has them, denials come in each
  service's shape, EventBridge and SQS have their published quotas, and
  ListRules / ListTargetsByRule / ListRuleNamesByTarget answer `--page-size`
  items a page; ``sts-expiry`` answers SQS's ExpiredToken. Resources are named
  in the caller's account. See `extend_access`.
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
from urllib.parse import urlparse

RULES = ("sqs-target-policy", "sqs-deleted-recently")

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


# --------------------------------------------------- sqs-deleted-recently --
# DeleteQueue: "After you delete a queue, you must wait at least 60 seconds
# before creating a queue with the same name."
#   https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_DeleteQueue.html
# CreateQueue, error QueueDeletedRecently: "You must wait 60 seconds after
# deleting a queue before you can create another queue with the same name."
# HTTP Status Code: 400.
#   https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_CreateQueue.html
# AWS's message, as clients have logged it: "AWS.SimpleQueueService.QueueDeletedRecently:
# You must wait 60 seconds after deleting a queue before you can create another
# with the same name." (https://github.com/hashicorp/terraform/issues/15139).
# Queue names are unique per account and region, so is the window. moto's SQS
# service model gives the error shape QueueDeletedRecently the query code
# AWS.SimpleQueueService.QueueDeletedRecently (sender fault, 400): raised from
# the backend with that code, moto's serializer answers each protocol in its own
# shape (JSON: __type com.amazonaws.sqs#QueueDeletedRecently and the query code
# in x-amzn-query-error; query: <Code>AWS.SimpleQueueService.QueueDeletedRecently</Code>),
# as sqs_error below does for the errors strict_access makes up.

# Seconds; read at each CreateQueue, so a test may shorten it (monkeypatch in
# process, `--sqs-deleted-recently-seconds` for a launcher).
DELETED_RECENTLY_SECONDS = 60.0
DELETED_RECENTLY_MESSAGE = (
    "You must wait 60 seconds after deleting a queue before you can create another with the same name."
)
# (account, region, queue name) -> time.monotonic() of its DeleteQueue.
_DELETED: dict[tuple[str, str, str], float] = {}
_DELETED_LOCK = threading.Lock()


def record_deleted(account: str, region: str, name: str, now: float | None = None) -> None:
    with _DELETED_LOCK:
        _DELETED[(account, region, name)] = time.monotonic() if now is None else now


def deleted_recently(account: str, region: str, name: str, now: float | None = None) -> bool:
    """Whether a queue `name` was deleted in that account and region less than
    DELETED_RECENTLY_SECONDS ago (older deletions are forgotten here)."""
    now = time.monotonic() if now is None else now
    window = float(DELETED_RECENTLY_SECONDS)
    with _DELETED_LOCK:
        for key in [k for k, at in _DELETED.items() if now - at >= window]:
            del _DELETED[key]
        return (account, region, name) in _DELETED


def install_sqs_deleted_recently() -> None:
    from moto.sqs.exceptions import SQSException
    from moto.sqs.models import SQSBackend

    if getattr(SQSBackend, "_batchnotify_deleted_recently", False):
        return

    class QueueDeletedRecently(SQSException):
        # The query code: moto's error lookup maps it to the shape QueueDeletedRecently.
        code = "AWS.SimpleQueueService.QueueDeletedRecently"

        def __init__(self) -> None:
            super().__init__(self.code, DELETED_RECENTLY_MESSAGE)

    original_create = SQSBackend.create_queue
    original_delete = SQSBackend.delete_queue

    def create_queue(self: Any, name: str, *args: Any, **kwargs: Any) -> Any:
        if name not in self.queues and deleted_recently(self.account_id, self.region_name, name):
            log(f"CreateQueue {name} ({self.account_id}, {self.region_name}): deleted less than "
                f"{DELETED_RECENTLY_SECONDS:g} s ago (QueueDeletedRecently)")
            raise QueueDeletedRecently()
        return original_create(self, name, *args, **kwargs)

    def delete_queue(self: Any, queue_name: str) -> None:
        original_delete(self, queue_name)  # QueueDoesNotExist: nothing deleted, nothing recorded
        record_deleted(self.account_id, self.region_name, queue_name)

    SQSBackend.create_queue = create_queue
    SQSBackend.delete_queue = delete_queue
    SQSBackend._batchnotify_deleted_recently = True


def add_arguments(parser: Any) -> None:
    parser.add_argument(
        "--sqs-deleted-recently-seconds",
        type=float,
        default=None,
        metavar="SECONDS",
        help="for the emulator's own tests only: the sqs-deleted-recently window "
        f"(AWS's is {DELETED_RECENTLY_SECONDS:g} s, the default)",
    )


# ----------------------------------------------- strict_access, extended --
# Service Authorization Reference: which resource each action names.
#   https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazoneventbridge.html
#   https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonsqs.html
# EventBridge: rules are arn:aws:events:R:A:rule/NAME on the default bus,
# rule/BUS/NAME on another; ListRules and ListRuleNamesByTarget have no
# resource-level permissions ("*"). SQS: queues are arn:aws:sqs:R:A:NAME;
# ListQueues has no resource-level permissions.

EVENTS_WITHOUT_RESOURCES = frozenset({"ListRules", "ListRuleNamesByTarget", "ListEventBuses"})
# SQS's batch operations are authorised by the single message action.
#   https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-api-permissions-reference.html
SQS_BATCH_ACTIONS = {
    "DeleteMessageBatch": "DeleteMessage",
    "SendMessageBatch": "SendMessage",
    "ChangeMessageVisibilityBatch": "ChangeMessageVisibility",
}


def _bus_segment(bus: Any) -> str:
    name = str(bus or "default")
    if name.startswith("arn:"):
        name = name.split(":event-bus/", 1)[-1]
    return "" if name == "default" else f"{name}/"


def events_resources(call: Any, account: str) -> list[str]:
    p, op, region = call.params, call.operation, call.region
    if op in EVENTS_WITHOUT_RESOURCES:
        return ["*"]
    if op in ("TagResource", "UntagResource", "ListTagsForResource"):
        return [p.get("ResourceARN") or "*"]
    if op == "PutEvents":
        buses = {str(e.get("EventBusName") or "default") for e in p.get("Entries") or [] if isinstance(e, dict)}
        return [
            b if b.startswith("arn:") else f"arn:aws:events:{region}:{account}:event-bus/{b}"
            for b in sorted(buses or {"default"})
        ]
    name = p.get("Name") or p.get("Rule")
    if name:
        return [f"arn:aws:events:{region}:{account}:rule/{_bus_segment(p.get('EventBusName'))}{name}"]
    return ["*"]


def sqs_queue_arn(region: str, account: str, url: str) -> str:
    parts = [s for s in urlparse(url).path.split("/") if s]
    if len(parts) >= 2:
        return f"arn:aws:sqs:{region}:{parts[-2]}:{parts[-1]}"
    return "*"


def sqs_resources(call: Any, account: str) -> list[str]:
    p, op, region = call.params, call.operation, call.region
    if op == "ListQueues":
        return ["*"]
    if op in ("CreateQueue", "GetQueueUrl") and p.get("QueueName"):
        owner = p.get("QueueOwnerAWSAccountId") or account
        return [f"arn:aws:sqs:{region}:{owner}:{p['QueueName']}"]
    # The query protocol may name the queue by the request's path instead.
    return [sqs_queue_arn(region, account, p.get("QueueUrl") or call.environ.get("PATH_INFO", ""))]


# Quotas.
# EventBridge: "All EventBridge APIs other than PutEvents are limited to 50
# requests per second by default"; PutEvents by Region (10,000 TPS in us-east-1,
# 2,400 in us-east-2; 400 here elsewhere, the oldest published default).
#   https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-quota.html
#   https://docs.aws.amazon.com/eventbridge/latest/userguide/cloudwatch-limits-eventbridge.html
EVENTS_QUOTA = (50.0, 50.0)
PUT_EVENTS_QUOTAS = {"us-east-1": (10000.0, 10000.0), "us-east-2": (2400.0, 2400.0)}
PUT_EVENTS_DEFAULT = (400.0, 400.0)
# SQS: "Standard queues support a nearly unlimited number of API calls per
# second, per API action"; the only published API rate is tagging's: "Tagging
# actions are limited to 30 TPS per AWS account."
#   https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/standard-queues.html
#   https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/quotas-queues.html
SQS_TAGGING = frozenset({"TagQueue", "UntagQueue", "ListQueueTags"})
SQS_TAGGING_QUOTA = (30.0, 30.0)


def quota(service: str, operation: str, region: str) -> tuple[float, float] | None:
    if service == "events":
        if operation == "PutEvents":
            return PUT_EVENTS_QUOTAS.get(region, PUT_EVENTS_DEFAULT)
        return EVENTS_QUOTA
    if service == "sqs":
        return SQS_TAGGING_QUOTA if operation in SQS_TAGGING else None
    return None


# Error shapes.
# EventBridge (awsJson1_1): AccessDeniedException and ThrottlingException, HTTP 400
#   https://docs.aws.amazon.com/eventbridge/latest/APIReference/CommonErrors.html
# SQS answers AccessDenied (HTTP 403) and names the action in lower case, as
# observed from AWS: "User: arn:aws:sts::...:assumed-role/... is not authorized
# to perform: sqs:receivemessage on resource: arn:aws:sqs:us-east-1:...:queue
# because no identity-based policy allows the sqs:receivemessage action"
# (https://github.com/RaiderIO/keystone.guru/issues/3901). In its JSON protocol
# (awsQueryCompatible) the query error code travels in the x-amzn-query-error
# header, which SDKs read as the error code; throttling is RequestThrottled (400).
#   https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-json-faqs.html
#   https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/CommonErrors.html
SQS_XML_NS = "http://queue.amazonaws.com/doc/2012-11-05/"


def sqs_error(sa: Any, start_response: Any, call: Any, code: str, message: str, status: int) -> list[bytes]:
    if call.protocol == "query":
        return sa.error_response(start_response, call, code, message, status)
    request_id = str(uuid.uuid4())
    body = json.dumps({"__type": f"com.amazonaws.sqs#{code}", "message": message}).encode()
    headers = [
        ("Content-Type", "application/x-amz-json-1.0"),
        ("x-amzn-RequestId", request_id),
        ("x-amzn-ErrorType", f"com.amazonaws.sqs#{code}"),
        ("x-amzn-query-error", f"{code};Sender"),
    ]
    return sa._send(start_response, status, headers, body)


def extend_access(sa: Any) -> None:
    """Teaches strict_access (module `sa`) EventBridge and SQS: which action and
    resources a request names, their denials, quotas and throttling errors, the
    SQS query protocol, and iam:PassRole for EventBridge's roles."""
    if getattr(sa, "_batchnotify_events", False):
        return
    sa._XML_NS.setdefault("sqs", SQS_XML_NS)

    # SQS takes both protocols: JSON (X-Amz-Target: AmazonSQS.Op) and query
    # (Action=Op, form-encoded). botocore's model says JSON only.
    original_parse = sa.Call._parse

    def parse(self: Any) -> None:
        if self.service == "sqs" and not self.environ.get("HTTP_X_AMZ_TARGET"):
            self.protocol = "query"
        original_parse(self)

    sa.Call._parse = parse

    original_action = sa.Call.action

    def action(self: Any) -> str:
        if self.service == "sqs":
            return f"sqs:{SQS_BATCH_ACTIONS.get(self.operation, self.operation)}"
        return original_action.fget(self)

    sa.Call.action = property(action)

    original_resources = sa.resources

    def resources(call: Any) -> list[str]:
        if call.service == "events":
            return events_resources(call, call.account)
        if call.service == "sqs":
            return sqs_resources(call, call.account)
        return original_resources(call)

    sa.resources = resources

    original_denied = sa.denied_response

    def denied_response(start_response: Any, call: Any, principal: str, action_: str, resource: str, explicit: bool) -> Any:
        if call.service == "sqs" and action_.startswith("sqs:"):
            message = sa.denied_message(principal, action_.lower(), resource, explicit)
            return sqs_error(sa, start_response, call, "AccessDenied", message, 403)
        return original_denied(start_response, call, principal, action_, resource, explicit)

    sa.denied_response = denied_response

    original_quota = sa.quota_for

    def quota_for(service: str, operation: str, region: str) -> Any:
        if service in ("events", "sqs"):
            return quota(service, operation, region)
        return original_quota(service, operation, region)

    sa.quota_for = quota_for

    original_throttled = sa.throttled_response

    def throttled_response(start_response: Any, call: Any) -> Any:
        if call.service == "sqs":
            return sqs_error(sa, start_response, call, "RequestThrottled", "Rate exceeded", 400)
        return original_throttled(start_response, call)

    sa.throttled_response = throttled_response

    # Expired credentials: SQS answers the query code ExpiredToken (HTTP 403),
    # in its JSON protocol in x-amzn-query-error as its other errors.
    #   https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/CommonErrors.html
    original_expired = sa.expired_response

    def expired_response(start_response: Any, call: Any) -> Any:
        if call.service == "sqs":
            return sqs_error(sa, start_response, call, "ExpiredToken", sa.EXPIRED_TOKEN_MESSAGE, 403)
        return original_expired(start_response, call)

    sa.expired_response = expired_response

    # PutRule / PutTargets pass roles to EventBridge.
    #   https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-use-identity-based.html
    original_passed = sa.passed_roles

    def passed_roles(call: Any) -> list[tuple[str, str]]:
        if call.service != "events":
            return original_passed(call)
        roles = []
        if call.operation == "PutRule" and call.params.get("RoleArn"):
            roles.append(call.params["RoleArn"])
        if call.operation == "PutTargets":
            roles += [t["RoleArn"] for t in call.params.get("Targets") or [] if isinstance(t, dict) and t.get("RoleArn")]
        return [(sa.role_arn(r, call.account), EVENTS_PRINCIPAL) for r in roles]

    sa.passed_roles = passed_roles

    # "To be able to tag a queue on creation, you must have the sqs:CreateQueue
    # and sqs:TagQueue permissions."
    #   https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_CreateQueue.html
    original_authorize = sa.StrictAccess.authorize

    def authorize(self: Any, call: Any, identity: Any, start_response: Any) -> Any:
        refused = original_authorize(self, call, identity, start_response)
        tagged = call.params.get("tags") or call.params.get("Tags") or any(
            k.startswith("Tag.") for k in call.params
        )
        if refused is not None or not (
            self.on["iam"] and call.service == "sqs" and call.operation == "CreateQueue" and tagged
        ):
            return refused
        context = dict(sa.principal_context(identity), **{"aws:requestedregion": call.region})
        for resource in sqs_resources(call, call.account):
            verdict = sa.evaluate(identity.documents, "sqs:TagQueue", resource, context)
            if verdict != "allow":
                return denied_response(start_response, call, identity.arn, "sqs:TagQueue", resource, verdict == "deny")
        return None

    sa.StrictAccess.authorize = authorize
    sa._batchnotify_events = True


# ------------------------------------------------------------------ paging --
# ListRules, ListTargetsByRule, ListRuleNamesByTarget take Limit / NextToken
# (moto pages them 50 at a time; AWS up to 100): strict mode pages them
# `--page-size` items at a time.
#   https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_ListRules.html
#   https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_ListTargetsByRule.html


def install_paging(page_size: int) -> None:
    from moto.events.models import EventsBackend

    if getattr(EventsBackend, "_batchnotify_paged", False):
        return
    for name in ("list_rules", "list_targets_by_rule", "list_rule_names_by_target"):
        original = getattr(EventsBackend, name)

        def paged(self: Any, *args: Any, _original: Any = original, **kwargs: Any) -> Any:
            try:
                asked = int(kwargs.get("limit") or 0)
            except (TypeError, ValueError):
                asked = 0
            kwargs["limit"] = min(asked, page_size) if asked > 0 else page_size
            return _original(self, *args, **kwargs)

        setattr(EventsBackend, name, paged)
    EventsBackend._batchnotify_paged = True


# ----------------------------------------------------------- entry point --


def install(args: Any) -> None:
    """Call after the other patches (it wraps StopExecution's strict patch), before serving."""
    global DELETED_RECENTLY_SECONDS
    install_emission()
    if _rule_on(args, "sqs-target-policy"):
        install_sqs_target_policy()
    if _rule_on(args, "sqs-deleted-recently"):
        seconds = getattr(args, "sqs_deleted_recently_seconds", None)
        if seconds is not None:
            DELETED_RECENTLY_SECONDS = float(seconds)
        install_sqs_deleted_recently()
    if not getattr(args, "lenient", False):
        import strict_access

        extend_access(strict_access)
    if _rule_on(args, "paging"):
        install_paging(max(1, int(getattr(args, "page_size", 2))))
