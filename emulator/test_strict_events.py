"""Step Functions' status-change events through EventBridge to SQS, and the
EventBridge / SQS side of strict mode (strict_events.py). The events are sent in
both modes (AWS sends them); the queue-policy rule, IAM, quotas and paging are
strict rules, and their tests show `--lenient` letting the same thing through.
Run with the emulator's venv: `pytest emulator/test_strict_events.py`."""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.parse
import urllib.request

from launch import client, endpoint_of, start, stop, suffix

import boto3
import botocore.exceptions
import pytest
from botocore.config import Config

REGION = "us-east-1"
ACCOUNT = "123456789012"
SERVICE_ROLE = f"arn:aws:iam::{ACCOUNT}:role/aws-service-role/batch.amazonaws.com/AWSServiceRoleForBatch"
DETAIL_TYPE = "Step Functions Execution Status Change"
ANY_KEY = {"aws_access_key_id": "AKIAANYKEY", "aws_secret_access_key": "x"}

# The documented event, in AWS's order: the Step Functions guide's examples
# (https://docs.aws.amazon.com/step-functions/latest/dg/eventbridge-integration.html)
# and an event recorded from AWS (stateMachineVersionArn ... cause).
ENVELOPE = ["version", "id", "detail-type", "source", "account", "time", "region", "resources", "detail"]
DETAIL = [
    "executionArn", "stateMachineArn", "name", "status", "startDate", "stopDate", "input", "output",
    "stateMachineVersionArn", "stateMachineAliasArn", "redriveCount", "redriveDate", "redriveStatus",
    "redriveStatusReason", "inputDetails", "outputDetails", "error", "cause",
]
TRUST = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "states.amazonaws.com"}, "Action": "sts:AssumeRole"}]})
PASS = {"StartAt": "A", "States": {"A": {"Type": "Pass", "Result": {"Hello": "World"}, "End": True}}}
WAIT = {"StartAt": "A", "States": {"A": {"Type": "Wait", "Seconds": 60, "End": True}}}


@pytest.fixture(scope="module")
def strict():
    proc = start()
    yield endpoint_of(proc)
    stop(proc)


@pytest.fixture(scope="module")
def lenient():
    proc = start("--lenient")
    yield endpoint_of(proc)
    stop(proc)


def one_try(service: str, endpoint: str, key: dict | None = None):
    return boto3.client(service, region_name=REGION, endpoint_url=endpoint,
                        config=Config(retries={"total_max_attempts": 1}), **(key or {}))


def error_of(call, *args, **kwargs) -> tuple[str, str, int]:
    with pytest.raises(botocore.exceptions.ClientError) as err:
        call(*args, **kwargs)
    response = err.value.response
    return response["Error"]["Code"], response["Error"].get("Message", ""), response["ResponseMetadata"]["HTTPStatusCode"]


def wait_for(fetch, done, timeout: float = 20.0, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    while True:
        value = fetch()
        if done(value):
            return value
        assert time.monotonic() < deadline, f"still {value!r} after {timeout} s"
        time.sleep(interval)


def machine(endpoint: str, name: str, definition: dict) -> str:
    """A state machine with a new role (waiting while the role propagates in strict mode)."""
    role = client("iam", endpoint).create_role(RoleName=f"sm-{suffix()}", AssumeRolePolicyDocument=TRUST)["Role"]["Arn"]
    sfn = client("stepfunctions", endpoint)
    return wait_for(
        lambda: _try_create(sfn, name, definition, role), lambda arn: arn is not None, timeout=15, interval=0.2
    )


def _try_create(sfn, name: str, definition: dict, role: str) -> str | None:
    try:
        return sfn.create_state_machine(name=name, definition=json.dumps(definition), roleArn=role)["stateMachineArn"]
    except botocore.exceptions.ClientError as err:
        if err.response["Error"]["Code"] != "AccessDeniedException":
            raise
        return None


def queue_policy(queue_arn: str, rule_arn: str) -> str:
    """The policy the operator sets on its queue: EventBridge may send, for its rule only."""
    return json.dumps({"Version": "2012-10-17", "Statement": [{
        "Sid": "EventBridgeToQueue",
        "Effect": "Allow",
        "Principal": {"Service": "events.amazonaws.com"},
        "Action": "sqs:SendMessage",
        "Resource": queue_arn,
        "Condition": {"ArnEquals": {"aws:SourceArn": rule_arn}},
    }]})


def operator_pattern(cluster: str) -> dict:
    return {
        "source": ["aws.states"],
        "detail-type": [DETAIL_TYPE],
        "detail": {"stateMachineArn": [{"prefix": f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:bn-{cluster}-"}]},
    }


def new_queue(endpoint: str, name: str) -> tuple[str, str]:
    sqs = client("sqs", endpoint)
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    return url, sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]


def rule_to_queue(endpoint: str, name: str, pattern: dict, policy: bool = True, state: str = "ENABLED") -> tuple[str, str]:
    """A rule on the default bus targeting a new queue; returns (queue URL, rule ARN)."""
    events = client("events", endpoint)
    rule = events.put_rule(Name=name, EventPattern=json.dumps(pattern), State=state)["RuleArn"]
    url, arn = new_queue(endpoint, name)
    if policy:
        client("sqs", endpoint).set_queue_attributes(QueueUrl=url, Attributes={"Policy": queue_policy(arn, rule)})
    events.put_targets(Rule=name, Targets=[{"Id": "queue", "Arn": arn}])
    return url, rule


def receive(endpoint: str, url: str, until=None, timeout: float = 10.0, wait: int = 2) -> list[tuple[dict, float]]:
    """Reads as the operator will (long polling, 10 at a time, DeleteMessageBatch) until
    `until(events)` or `timeout`; returns (event, time.time() when received)."""
    sqs = client("sqs", endpoint)
    got: list[tuple[dict, float]] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not (until and until([e for e, _ in got])):
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=wait).get("Messages", [])
        now = time.time()
        got += [(json.loads(m["Body"]), now) for m in messages]
        if messages:
            sqs.delete_message_batch(QueueUrl=url, Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)])
    return got


def statuses_of(events: list[dict], execution: str) -> list[str]:
    return [e["detail"]["status"] for e in events if e["detail"]["executionArn"] == execution]


def ended(execution: str):
    return lambda events: any(s != "RUNNING" for s in statuses_of(events, execution))


def millis(when) -> int:
    return int(when.timestamp() * 1000)


# ------------------------------------------------------------------ events --


def test_events_have_the_documented_shape_order_and_timing(strict):
    sfn = client("stepfunctions", strict)
    cluster = suffix()
    url, _ = rule_to_queue(strict, f"bn-{cluster}-status", operator_pattern(cluster))
    wildcard = operator_pattern(cluster)
    wildcard["detail"]["stateMachineArn"] = [{"wildcard": f"arn:aws:states:*:{ACCOUNT}:stateMachine:bn-{cluster}-*"}]
    wildcard_url, _ = rule_to_queue(strict, f"bn-{cluster}-wildcard", wildcard)
    disabled_url, _ = rule_to_queue(strict, f"bn-{cluster}-off", operator_pattern(cluster), state="DISABLED")
    ours = machine(strict, f"bn-{cluster}-report", PASS)
    theirs = machine(strict, f"bn-x{cluster}-report", PASS)

    execution = sfn.start_execution(stateMachineArn=ours, name="run-1", input='{"a": 1}')["executionArn"]
    other = sfn.start_execution(stateMachineArn=theirs, name="run-1")["executionArn"]
    got = receive(strict, url, until=ended(execution))
    events = [e for e, _ in got]
    assert statuses_of(events, execution) == ["RUNNING", "SUCCEEDED"]
    described = sfn.describe_execution(executionArn=execution)

    for event, received in got:
        assert list(event) == ENVELOPE and list(event["detail"]) == DETAIL
        assert event["version"] == "0" and re.fullmatch(r"[0-9a-f-]{36}", event["id"])
        assert (event["detail-type"], event["source"], event["account"], event["region"]) == (
            DETAIL_TYPE, "aws.states", ACCOUNT, REGION)
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", event["time"])
        assert event["resources"] == [execution]
        detail = event["detail"]
        assert detail["executionArn"] == execution and detail["stateMachineArn"] == ours
        assert detail["name"] == "run-1"
        assert isinstance(detail["startDate"], int) and detail["startDate"] == millis(described["startDate"])
        assert detail["input"] == '{"a": 1}' and detail["inputDetails"] == {"included": True}
        assert detail["stateMachineVersionArn"] is None and detail["stateMachineAliasArn"] is None
        assert detail["redriveCount"] == 0 and detail["redriveDate"] is None
        assert detail["redriveStatus"] == "NOT_REDRIVABLE"
        assert detail["redriveStatusReason"] == f"Execution is {detail['status']} and cannot be redriven"
        assert detail["error"] is None and detail["cause"] is None
    running, succeeded = (e["detail"] for e in events)
    assert running["stopDate"] is None and running["output"] is None and running["outputDetails"] is None
    assert isinstance(succeeded["stopDate"], int) and succeeded["stopDate"] == millis(described["stopDate"])
    assert json.loads(succeeded["output"]) == {"Hello": "World"} and succeeded["output"] == '{"Hello":"World"}'
    assert succeeded["outputDetails"] == {"included": True}
    # The end reaches the queue within a second or two of the execution's end.
    assert got[-1][1] - succeeded["stopDate"] / 1000 < 2.0

    # The wildcard rule got the same two; the DISABLED rule and the other cluster's machine nothing.
    assert statuses_of([e for e, _ in receive(strict, wildcard_url, until=ended(execution))], execution) == [
        "RUNNING", "SUCCEEDED"]
    assert receive(strict, disabled_url, timeout=1, wait=1) == []
    wait_for(lambda: sfn.describe_execution(executionArn=other)["status"], lambda s: s == "SUCCEEDED")
    assert [e for e, _ in receive(strict, url, timeout=1, wait=1)] == []


def test_failed_aborted_and_large_payload_events(strict):
    sfn, batch = client("stepfunctions", strict), client("batch", strict)
    cluster = suffix()
    url, _ = rule_to_queue(strict, f"bn-{cluster}-status", operator_pattern(cluster))

    # A .sync Batch job that fails, with no Catch: the execution FAILS.
    ce = batch.create_compute_environment(computeEnvironmentName=f"ce-{cluster}", type="UNMANAGED",
                                          state="ENABLED", serviceRole=SERVICE_ROLE)["computeEnvironmentArn"]
    wait_for(lambda: batch.describe_compute_environments(computeEnvironments=[ce])["computeEnvironments"][0]["status"],
             lambda s: s == "VALID")
    queue = batch.create_job_queue(jobQueueName=f"q-{cluster}", state="ENABLED", priority=1,
                                   computeEnvironmentOrder=[{"order": 1, "computeEnvironment": ce}])["jobQueueArn"]
    wait_for(lambda: batch.describe_job_queues(jobQueues=[queue])["jobQueues"][0]["status"], lambda s: s == "VALID")
    jobdef = batch.register_job_definition(
        jobDefinitionName=f"must-fail-{cluster}", type="container",
        containerProperties={"image": "busybox", "resourceRequirements": [
            {"type": "VCPU", "value": "1"}, {"type": "MEMORY", "value": "2048"}]})["jobDefinitionArn"]
    sync = {"StartAt": "Submit", "States": {"Submit": {
        "Type": "Task", "Resource": "arn:aws:states:::batch:submitJob.sync", "End": True,
        "Parameters": {"JobName": "job", "JobQueue": queue, "JobDefinition": jobdef}}}}
    failing = sfn.start_execution(stateMachineArn=machine(strict, f"bn-{cluster}-fail", sync), name="f")["executionArn"]
    stopped = sfn.start_execution(stateMachineArn=machine(strict, f"bn-{cluster}-wait", WAIT), name="s")["executionArn"]
    sfn.stop_execution(executionArn=stopped, cause="replaced")

    events = [e for e, _ in receive(strict, url, until=lambda ev: ended(failing)(ev) and ended(stopped)(ev), timeout=30)]
    for arn, status in ((failing, "FAILED"), (stopped, "ABORTED")):
        seen = [e["detail"] for e in events if e["detail"]["executionArn"] == arn]
        assert [d["status"] for d in seen] == ["RUNNING", status]
        end = seen[-1]
        described = sfn.describe_execution(executionArn=arn)
        assert end["stopDate"] == millis(described["stopDate"])
        assert end["output"] is None and end["outputDetails"] is None
        assert (end["redriveStatus"], end["redriveStatusReason"]) == ("REDRIVABLE", None)
    failed = [e["detail"] for e in events if e["detail"]["executionArn"] == failing][-1]
    assert failed["error"] == "States.TaskFailed"
    assert json.loads(failed["cause"])["Status"] == "FAILED"
    # Stopped at once, and it stays as StopExecution left it.
    aborted = [e["detail"] for e in events if e["detail"]["executionArn"] == stopped][-1]
    time.sleep(0.5)
    assert millis(sfn.describe_execution(executionArn=stopped)["stopDate"]) == aborted["stopDate"]
    assert receive(strict, url, timeout=1, wait=1) == []

    # Input and output over 248 KB together: the input is left out.
    big = sfn.start_execution(stateMachineArn=machine(strict, f"bn-{cluster}-big", {
        "StartAt": "A", "States": {"A": {"Type": "Pass", "End": True}}}),
        name="b", input=json.dumps({"blob": "x" * 150_000}))["executionArn"]
    events = [e["detail"] for e, _ in receive(strict, url, until=ended(big)) if e["detail"]["executionArn"] == big]
    assert events[0]["inputDetails"] == {"included": True} and len(events[0]["input"]) > 150_000
    assert events[-1]["input"] is None and events[-1]["inputDetails"] == {"included": False}
    assert len(events[-1]["output"]) > 150_000 and events[-1]["outputDetails"] == {"included": True}


def test_lenient_sends_the_events_too(lenient):
    cluster = suffix()
    url, _ = rule_to_queue(lenient, f"bn-{cluster}-status", operator_pattern(cluster))
    sfn = client("stepfunctions", lenient)
    execution = sfn.start_execution(stateMachineArn=machine(lenient, f"bn-{cluster}-a", WAIT), name="r")["executionArn"]
    receive(lenient, url, until=lambda ev: statuses_of(ev, execution) == ["RUNNING"], timeout=5)
    sfn.stop_execution(executionArn=execution)
    events = [e for e, _ in receive(lenient, url, until=ended(execution))]
    assert statuses_of(events, execution) == ["ABORTED"]
    assert list(events[-1]["detail"]) == DETAIL


# -------------------------------------------------------- sqs-target-policy --


def test_an_sqs_target_gets_events_only_when_its_policy_lets_eventbridge_send(strict, lenient):
    def run(endpoint: str) -> dict[str, list[str]]:
        cluster = suffix()
        events, sqs = client("events", endpoint), client("sqs", endpoint)
        rule = events.put_rule(Name=f"bn-{cluster}-status", EventPattern=json.dumps(operator_pattern(cluster)))["RuleArn"]
        queues = {kind: new_queue(endpoint, f"bn-{cluster}-{kind}") for kind in ("none", "other-rule", "rule")}
        other_rule = f"arn:aws:events:{REGION}:{ACCOUNT}:rule/someone-else"
        sqs.set_queue_attributes(QueueUrl=queues["other-rule"][0],
                                 Attributes={"Policy": queue_policy(queues["other-rule"][1], other_rule)})
        sqs.set_queue_attributes(QueueUrl=queues["rule"][0], Attributes={"Policy": queue_policy(queues["rule"][1], rule)})
        events.put_targets(Rule=f"bn-{cluster}-status",
                           Targets=[{"Id": kind, "Arn": arn} for kind, (_, arn) in queues.items()])
        sfn = client("stepfunctions", endpoint)
        execution = sfn.start_execution(stateMachineArn=machine(endpoint, f"bn-{cluster}-a", PASS), name="r")["executionArn"]
        wait_for(lambda: sfn.describe_execution(executionArn=execution)["status"], lambda s: s == "SUCCEEDED")
        got = {kind: statuses_of([e for e, _ in receive(endpoint, url, timeout=1, wait=1)], execution)
               for kind, (url, _) in queues.items()}
        got["failed"] = client("cloudwatch", endpoint).get_metric_statistics(
            Namespace="AWS/Events", MetricName="FailedInvocations",
            Dimensions=[{"Name": "RuleName", "Value": f"bn-{cluster}-status"}],
            StartTime=time.time() - 600, EndTime=time.time() + 600, Period=3600, Statistics=["Sum"])["Datapoints"]
        return got

    got = run(strict)
    assert got["rule"] == ["RUNNING", "SUCCEEDED"]
    assert got["none"] == got["other-rule"] == []
    # Two events lost at each of two queues, counted as AWS counts them.
    assert [d["Sum"] for d in got["failed"]] == [4.0]
    # Stock moto delivers whatever the policy says.
    got = run(lenient)
    assert got["none"] == got["other-rule"] == got["rule"] == ["RUNNING", "SUCCEEDED"]
    assert got["failed"] == []
