"""Step Functions' status-change events through EventBridge to SQS, and the
EventBridge / SQS side of strict mode (strict_events.py). The events are sent in
both modes (AWS sends them); the queue-policy rule, the wait before a deleted
queue's name is free again, IAM, quotas and paging are strict rules, and their tests show `--lenient` letting the same thing through.
Run with the emulator's venv: `pytest emulator/test_strict_events.py`."""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.parse
import urllib.request

import launch
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
    """launch.wait_for, with the longer wait these tests need."""
    return launch.wait_for(fetch, done, timeout, interval)


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


# ---------------------------------------------------------------- IAM --

OPERATOR = [
    {"Effect": "Allow", "Resource": "arn:aws:events:*:*:rule/bn-*", "Action": [
        "events:PutRule", "events:DescribeRule", "events:DeleteRule", "events:PutTargets", "events:RemoveTargets",
        "events:ListTargetsByRule", "events:TagResource", "events:ListTagsForResource"]},
    {"Effect": "Allow", "Resource": "*", "Action": "events:ListRules"},
    {"Effect": "Allow", "Resource": "arn:aws:sqs:*:*:bn-*", "Action": [
        "sqs:CreateQueue", "sqs:GetQueueAttributes", "sqs:SetQueueAttributes", "sqs:GetQueueUrl", "sqs:DeleteQueue",
        "sqs:TagQueue", "sqs:ListQueueTags", "sqs:ReceiveMessage", "sqs:DeleteMessage"]},
]


def user(endpoint: str, *statements: dict) -> dict:
    iam = client("iam", endpoint)
    name = f"u-{suffix()}"
    iam.create_user(UserName=name)
    iam.put_user_policy(UserName=name, PolicyName="p", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": list(statements)}))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return {"aws_access_key_id": key["AccessKeyId"], "aws_secret_access_key": key["SecretAccessKey"]}


def signed_query(endpoint: str, key: dict, params: dict) -> tuple[int, str]:
    """An SQS request in the query protocol (Action=..., form-encoded), signed with `key`."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    body = urllib.parse.urlencode(dict(params, Version="2012-11-05"))
    request = AWSRequest(method="POST", url=endpoint + "/", data=body,
                         headers={"Content-Type": "application/x-www-form-urlencoded"})
    SigV4Auth(Credentials(key["aws_access_key_id"], key["aws_secret_access_key"]), "sqs", REGION).add_auth(request)
    try:
        with urllib.request.urlopen(urllib.request.Request(
                endpoint + "/", data=body.encode(), headers=dict(request.headers), method="POST")) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def test_eventbridge_and_sqs_requests_are_authorised_as_iam_says(strict, lenient):
    key = user(strict, *OPERATOR)
    events, sqs = one_try("events", strict, key), one_try("sqs", strict, key)
    name = f"bn-{suffix()}"
    pattern = json.dumps(operator_pattern("c"))
    # What the operator will do, allowed by a policy scoped to bn-* names.
    rule = events.put_rule(Name=name, EventPattern=pattern, Tags=[{"Key": "owner", "Value": "bn"}])["RuleArn"]
    assert events.describe_rule(Name=name)["Arn"] == rule
    url = sqs.create_queue(QueueName=name, tags={"owner": "bn"})["QueueUrl"]
    assert sqs.get_queue_url(QueueName=name)["QueueUrl"] == url
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": queue_policy(arn, rule)})
    sqs.tag_queue(QueueUrl=url, Tags={"cluster": "c"})
    assert sqs.list_queue_tags(QueueUrl=url)["Tags"] == {"owner": "bn", "cluster": "c"}
    events.put_targets(Rule=name, Targets=[{"Id": "queue", "Arn": arn}])
    assert [t["Arn"] for t in events.list_targets_by_rule(Rule=name)["Targets"]] == [arn]
    events.tag_resource(ResourceARN=rule, Tags=[{"Key": "cluster", "Value": "c"}])
    assert {t["Key"] for t in events.list_tags_for_resource(ResourceARN=rule)["Tags"]} == {"owner", "cluster"}
    assert name in [r["Name"] for r in events.list_rules(NamePrefix=name)["Rules"]]
    client("sqs", strict).send_message(QueueUrl=url, MessageBody="{}")
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1)["Messages"]
    assert sqs.delete_message_batch(QueueUrl=url, Entries=[
        {"Id": "0", "ReceiptHandle": messages[0]["ReceiptHandle"]}])["Successful"] == [{"Id": "0"}]

    # Outside bn-*: each service's denial, naming the action and the resource.
    assert error_of(events.put_rule, Name="other", EventPattern=pattern) == (
        "AccessDeniedException",
        f"User: arn:aws:iam::{ACCOUNT}:user/{key_user(strict, key)} is not authorized to perform: events:PutRule "
        f"on resource: arn:aws:events:{REGION}:{ACCOUNT}:rule/other because no identity-based policy allows "
        "the events:PutRule action",
        400,
    )
    other_url = client("sqs", strict).create_queue(QueueName=f"other-{suffix()}")["QueueUrl"]
    other = f"arn:aws:sqs:{REGION}:{ACCOUNT}:{other_url.rsplit('/', 1)[-1]}"
    code, message, status = error_of(sqs.receive_message, QueueUrl=other_url, WaitTimeSeconds=1)
    assert (code, status) == ("AccessDenied", 403)
    assert message.endswith(f"is not authorized to perform: sqs:receivemessage on resource: {other} "
                            "because no identity-based policy allows the sqs:receivemessage action")
    # The query protocol is authorised the same way, and answered in XML.
    status, body = signed_query(strict, key, {"Action": "ReceiveMessage", "QueueUrl": other_url})
    assert status == 403 and "<Code>AccessDenied</Code>" in body and f"sqs:receivemessage on resource: {other} " in body
    status, body = signed_query(strict, key, {"Action": "GetQueueUrl", "QueueName": name})
    assert status == 200 and url.rsplit("/", 1)[-1] in body

    # DeleteMessageBatch is sqs:DeleteMessage; tags on CreateQueue need sqs:TagQueue too.
    narrow = user(strict, {"Effect": "Allow", "Resource": "*", "Action": ["sqs:ReceiveMessage", "sqs:CreateQueue"]})
    code, message, _ = error_of(one_try("sqs", strict, narrow).delete_message_batch, QueueUrl=url,
                                Entries=[{"Id": "0", "ReceiptHandle": "x"}])
    assert code == "AccessDenied" and f"sqs:deletemessage on resource: {arn} " in message
    code, message, _ = error_of(one_try("sqs", strict, narrow).create_queue, QueueName=f"bn-{suffix()}", tags={"a": "b"})
    assert code == "AccessDenied" and "sqs:tagqueue" in message
    # ListRules has no resource-level permissions: a policy naming rules does not allow it.
    scoped = user(strict, OPERATOR[0])
    code, message, _ = error_of(one_try("events", strict, scoped).list_rules)
    assert code == "AccessDeniedException" and "events:ListRules on resource: * " in message

    counted = json.loads(urllib.request.urlopen(strict + "/_batchnotify/requests").read())[key["aws_access_key_id"]]
    assert counted["events:PutRule"] == 2 and counted["sqs:ReceiveMessage"] == 3

    events.remove_targets(Rule=name, Ids=["queue"])
    events.delete_rule(Name=name)
    sqs.delete_queue(QueueUrl=url)
    # Stock moto lets any key do anything.
    one_try("events", lenient, ANY_KEY).put_rule(Name="other", EventPattern=pattern)
    lenient_url = one_try("sqs", lenient, ANY_KEY).create_queue(QueueName="other")["QueueUrl"]
    one_try("sqs", lenient, ANY_KEY).receive_message(QueueUrl=lenient_url)


def key_user(endpoint: str, key: dict) -> str:
    return one_try("sts", endpoint, key).get_caller_identity()["Arn"].rsplit("/", 1)[-1]


# ------------------------------------------------------------- quotas --


def test_eventbridge_apis_are_throttled_and_sqs_only_for_tagging():
    # A tenth of every bucket: EventBridge 5 (refill 5/s), SQS tagging 3 (refill 3/s).
    proc = start("--quota-scale", "0.1")
    try:
        endpoint = endpoint_of(proc)
        name = f"bn-{suffix()}"
        client("events", endpoint).put_rule(Name=name, EventPattern=json.dumps(operator_pattern("c")))
        url, _ = new_queue(endpoint, name)
        key = user(endpoint, *OPERATOR)
        events, sqs = one_try("events", endpoint, key), one_try("sqs", endpoint, key)

        def attempts_until_throttled(call, limit: int = 40) -> tuple[int, dict | None]:
            for attempt in range(1, limit + 1):
                try:
                    call()
                except botocore.exceptions.ClientError as err:
                    return attempt, err.response
            return limit, None

        attempts, error = attempts_until_throttled(lambda: events.describe_rule(Name=name))
        assert error is not None and 5 < attempts <= 15, attempts
        assert (error["Error"]["Code"], error["ResponseMetadata"]["HTTPStatusCode"]) == ("ThrottlingException", 400)
        attempts, error = attempts_until_throttled(lambda: sqs.list_queue_tags(QueueUrl=url))
        assert error is not None and 3 < attempts <= 12, attempts
        assert (error["Error"]["Code"], error["ResponseMetadata"]["HTTPStatusCode"]) == ("RequestThrottled", 400)
        # "Nearly unlimited" API calls per second for the message actions.
        assert attempts_until_throttled(lambda: sqs.receive_message(QueueUrl=url), limit=40) == (40, None)
        throttled = json.loads(urllib.request.urlopen(endpoint + "/_batchnotify/throttles").read())
        assert throttled[key["aws_access_key_id"]] == {"events:DescribeRule": 1, "sqs:ListQueueTags": 1}
    finally:
        stop(proc)


# ------------------------------------------------------------- paging --


def test_rules_and_targets_come_in_small_pages(strict, lenient):
    def pages(call, key: str, **kwargs) -> list[int]:
        sizes = []
        while True:
            page = call(**kwargs)
            sizes.append(len(page[key]))
            if not page.get("NextToken"):
                return sizes
            kwargs["NextToken"] = page["NextToken"]

    prefixes = {}
    for endpoint, expected in ((strict, [2, 1]), (lenient, [3])):
        events = client("events", endpoint)
        prefix = prefixes[endpoint] = f"bn-{suffix()}"
        _, queue = new_queue(endpoint, prefix)
        for i in range(3):
            events.put_rule(Name=f"{prefix}-{i}", EventPattern=json.dumps(operator_pattern("c")))
            events.put_targets(Rule=f"{prefix}-{i}", Targets=[{"Id": "q", "Arn": queue}])
        events.put_targets(Rule=f"{prefix}-0", Targets=[{"Id": f"q{i}", "Arn": f"{queue}-{i}"} for i in range(2)])
        assert pages(events.list_rules, "Rules", NamePrefix=prefix) == expected
        assert pages(events.list_targets_by_rule, "Targets", Rule=f"{prefix}-0") == expected
        assert pages(events.list_rule_names_by_target, "RuleNames", TargetArn=queue) == expected
    assert pages(client("events", strict).list_rules, "Rules", NamePrefix=prefixes[strict], Limit=1) == [1, 1, 1]


# ------------------------------------------------------ sqs-deleted-recently --
# "After you delete a queue, you must wait at least 60 seconds before creating a
# queue with the same name."
#   https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_DeleteQueue.html
# CreateQueue's error QueueDeletedRecently, HTTP 400.
#   https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_CreateQueue.html

DELETED_RECENTLY = "AWS.SimpleQueueService.QueueDeletedRecently"
ROOT = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


def deleted_recently_error(call, *args, **kwargs) -> dict:
    with pytest.raises(botocore.exceptions.ClientError) as err:
        call(*args, **kwargs)
    return err.value.response


def assert_deleted_recently(response: dict) -> None:
    """The JSON protocol's answer, as boto3 (and the Rust SDK) read it: the query
    code from x-amzn-query-error, the shape's name from __type."""
    error, meta = response["Error"], response["ResponseMetadata"]
    assert (error["Code"], error.get("QueryErrorCode"), error.get("Type")) == (
        DELETED_RECENTLY, "QueueDeletedRecently", "Sender")
    assert error["Message"] == ("You must wait 60 seconds after deleting a queue before you can create "
                                "another with the same name.")
    assert meta["HTTPStatusCode"] == 400
    assert meta["HTTPHeaders"]["x-amzn-query-error"] == f"{DELETED_RECENTLY};Sender"
    assert meta["HTTPHeaders"]["x-amzn-errortype"] == "com.amazonaws.sqs#QueueDeletedRecently"


def test_the_deleted_recently_window_is_a_module_constant_per_account_region_and_name(monkeypatch):
    import strict_events

    assert strict_events.DELETED_RECENTLY_SECONDS == 60.0
    assert "sqs-deleted-recently" in strict_events.RULES
    monkeypatch.setattr(strict_events, "_DELETED", {})
    strict_events.record_deleted(ACCOUNT, REGION, "q", now=100.0)
    assert strict_events.deleted_recently(ACCOUNT, REGION, "q", now=159.9)
    assert not strict_events.deleted_recently(ACCOUNT, REGION, "other", now=101.0)
    assert not strict_events.deleted_recently(ACCOUNT, "us-west-2", "q", now=101.0)
    assert not strict_events.deleted_recently("210987654321", REGION, "q", now=101.0)
    # A test shortens the window by monkeypatching it.
    monkeypatch.setattr(strict_events, "DELETED_RECENTLY_SECONDS", 0.5)
    assert strict_events.deleted_recently(ACCOUNT, REGION, "q", now=100.4)
    assert not strict_events.deleted_recently(ACCOUNT, REGION, "q", now=100.5)
    assert strict_events._DELETED == {}  # forgotten once the window is over


def test_a_deleted_queues_name_is_refused_for_60_seconds(strict):
    sqs = one_try("sqs", strict)
    name = f"bn-{suffix()}"
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    sqs.delete_queue(QueueUrl=url)
    assert_deleted_recently(deleted_recently_error(sqs.create_queue, QueueName=name))
    # Refused with other attributes too, and nothing was created.
    assert_deleted_recently(deleted_recently_error(
        sqs.create_queue, QueueName=name, Attributes={"VisibilityTimeout": "60"}))
    code, _, _ = error_of(sqs.get_queue_url, QueueName=name)
    assert code == "AWS.SimpleQueueService.NonExistentQueue"
    # The query protocol's answer: the query code, in XML.
    status, body = signed_query(strict, ROOT, {"Action": "CreateQueue", "QueueName": name})
    assert status == 400 and f"<Code>{DELETED_RECENTLY}</Code>" in body and "<Type>Sender</Type>" in body
    # Still refused a moment later: the window is AWS's 60 s.
    time.sleep(1.5)
    assert_deleted_recently(deleted_recently_error(sqs.create_queue, QueueName=name))
    # Another name, and the same name in another region, are never refused.
    assert sqs.create_queue(QueueName=f"{name}-2")["QueueUrl"].endswith(f"/{name}-2")
    assert sqs.create_queue(QueueName=name[:-1])["QueueUrl"].endswith(f"/{name[:-1]}")
    west = boto3.client("sqs", region_name="us-west-2", endpoint_url=strict)
    assert west.create_queue(QueueName=name)["QueueUrl"].endswith(f"/{name}")
    # A queue deleted through the query protocol counts the same.
    other = f"bn-{suffix()}"
    other_url = sqs.create_queue(QueueName=other)["QueueUrl"]
    status, _ = signed_query(strict, ROOT, {"Action": "DeleteQueue", "QueueUrl": other_url})
    assert status == 200
    assert_deleted_recently(deleted_recently_error(sqs.create_queue, QueueName=other))


def test_a_deleted_queues_name_is_free_again_after_the_window():
    window = 3.0
    proc = start("--sqs-deleted-recently-seconds", str(window))
    try:
        sqs = one_try("sqs", endpoint_of(proc))
        name = f"bn-{suffix()}"
        url = sqs.create_queue(QueueName=name)["QueueUrl"]
        sqs.delete_queue(QueueUrl=url)
        deleted = time.monotonic()  # the emulator noted the deletion before answering
        assert_deleted_recently(deleted_recently_error(sqs.create_queue, QueueName=name))
        time.sleep(max(0.0, deleted + window + 0.2 - time.monotonic()))
        again = sqs.create_queue(QueueName=name)["QueueUrl"]
        assert again == url
        assert sqs.get_queue_url(QueueName=name)["QueueUrl"] == url
        # Deleted again: the window starts again.
        sqs.delete_queue(QueueUrl=again)
        assert_deleted_recently(deleted_recently_error(sqs.create_queue, QueueName=name))
    finally:
        stop(proc)


def test_lenient_and_no_rule_recreate_a_deleted_queue_at_once(lenient):
    proc = start("--no-rule", "sqs-deleted-recently")
    try:
        for endpoint in (lenient, endpoint_of(proc)):
            sqs = one_try("sqs", endpoint)
            name = f"bn-{suffix()}"
            url = sqs.create_queue(QueueName=name)["QueueUrl"]
            sqs.delete_queue(QueueUrl=url)
            # Stock moto's behaviour: the name is free at once.
            assert sqs.create_queue(QueueName=name)["QueueUrl"] == url
    finally:
        stop(proc)
