"""The launcher's own tests: the patch is necessary (stock moto fails the
sample's success path) and sufficient (patched moto runs both paths and
delivers the notifications). Run with the emulator's venv: `pytest emulator`."""

from __future__ import annotations

import json
import time
import uuid

from launch import endpoint_of, start, stop

import boto3
import botocore.exceptions
import pytest

REGION = "us-east-1"
SUCCESS = "Batch job submitted through Step Functions succeeded"
FAILURE = "Batch job submitted through Step Functions failed"




@pytest.fixture(scope="module")
def patched():
    # --lenient: these tests pin the patches, not strict mode (test_strict_*.py).
    proc = start("--lenient")
    yield endpoint_of(proc)
    stop(proc)


@pytest.fixture(scope="module")
def stock():
    proc = start("--stock")
    yield endpoint_of(proc)
    stop(proc)


def client(service: str, endpoint: str):
    return boto3.client(service, region_name=REGION, endpoint_url=endpoint)


def seed_stack(endpoint: str, job_definition_name: str) -> dict:
    """The seed's stack, built by hand; returns the ARNs and the SQS queue URL."""
    suffix = uuid.uuid4().hex[:8]
    batch, sns, sqs, iam, sfn = (
        client(s, endpoint) for s in ("batch", "sns", "sqs", "iam", "stepfunctions")
    )
    trust = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": "states.amazonaws.com"},
                    "Action": "sts:AssumeRole",
                }
            ],
        }
    )
    service_role = iam.create_role(RoleName=f"batch-{suffix}", AssumeRolePolicyDocument=trust)[
        "Role"
    ]["Arn"]
    ce = batch.create_compute_environment(
        computeEnvironmentName=f"ce-{suffix}",
        type="UNMANAGED",
        state="ENABLED",
        serviceRole=service_role,
    )["computeEnvironmentArn"]
    queue = batch.create_job_queue(
        jobQueueName=f"q-{suffix}",
        state="ENABLED",
        priority=1,
        computeEnvironmentOrder=[{"order": 1, "computeEnvironment": ce}],
    )["jobQueueArn"]
    jobdef = batch.register_job_definition(
        jobDefinitionName=f"{job_definition_name}-{suffix}",
        type="container",
        containerProperties={
            "image": "busybox",
            "command": ["echo", "hello"],
            "resourceRequirements": [
                {"type": "VCPU", "value": "1"},
                {"type": "MEMORY", "value": "2048"},
            ],
        },
    )["jobDefinitionArn"]
    topic = sns.create_topic(Name=f"topic-{suffix}")["TopicArn"]
    queue_url = sqs.create_queue(QueueName=f"sub-{suffix}")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    sns.subscribe(
        TopicArn=topic,
        Protocol="sqs",
        Endpoint=queue_arn,
        Attributes={"RawMessageDelivery": "true"},
    )
    role = iam.create_role(RoleName=f"role-{suffix}", AssumeRolePolicyDocument=trust)["Role"][
        "Arn"
    ]
    definition = {
        "Comment": "An example of the Amazon States Language for notification on an AWS Batch job completion",
        "StartAt": "Submit Batch Job",
        "TimeoutSeconds": 3600,
        "States": {
            "Submit Batch Job": {
                "Type": "Task",
                "Resource": "arn:aws:states:::batch:submitJob.sync",
                "Parameters": {
                    "JobName": "BatchJobNotification",
                    "JobQueue": queue,
                    "JobDefinition": jobdef,
                },
                "Next": "Notify Success",
                "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Notify Failure"}],
            },
            "Notify Success": {
                "Type": "Task",
                "Resource": "arn:aws:states:::sns:publish",
                "Parameters": {"Message": SUCCESS, "TopicArn": topic},
                "End": True,
            },
            "Notify Failure": {
                "Type": "Task",
                "Resource": "arn:aws:states:::sns:publish",
                "Parameters": {"Message": FAILURE, "TopicArn": topic},
                "End": True,
            },
        },
    }
    machine = sfn.create_state_machine(
        name=f"sm-{suffix}", definition=json.dumps(definition), roleArn=role
    )["stateMachineArn"]
    return {"machine": machine, "queue_url": queue_url}


def run_execution(endpoint: str, machine: str) -> tuple[str, list[dict]]:
    sfn = client("stepfunctions", endpoint)
    arn = sfn.start_execution(stateMachineArn=machine, name=f"run-{uuid.uuid4().hex[:8]}")[
        "executionArn"
    ]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        status = sfn.describe_execution(executionArn=arn)["status"]
        if status != "RUNNING":
            events = sfn.get_execution_history(executionArn=arn)["events"]
            return status, events
        time.sleep(0.05)
    raise AssertionError(f"execution {arn} still RUNNING after 30 s")


def entered_states(events: list[dict]) -> list[str]:
    return [e["stateEnteredEventDetails"]["name"] for e in events if "stateEnteredEventDetails" in e]


def received(endpoint: str, queue_url: str) -> list[str]:
    sqs = client("sqs", endpoint)
    msgs = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
    return [m["Body"] for m in msgs.get("Messages", [])]


def test_stock_moto_cannot_run_the_success_path(stock):
    stack = seed_stack(stock, "report")
    status, events = run_execution(stock, stack["machine"])
    assert status == "SUCCEEDED"  # the Catch swallows the failure
    assert "Notify Failure" in entered_states(events)
    assert "Notify Success" not in entered_states(events)
    failed = [e for e in events if e["type"] == "TaskFailed"]
    assert failed and failed[0]["taskFailedEventDetails"]["error"] == "States.Runtime"
    assert received(stock, stack["queue_url"]) == [FAILURE]


def test_patched_moto_runs_the_success_path(patched):
    stack = seed_stack(patched, "report")
    status, events = run_execution(patched, stack["machine"])
    assert status == "SUCCEEDED"
    assert entered_states(events) == ["Submit Batch Job", "Notify Success"]
    succeeded = [e for e in events if e["type"] == "TaskSucceeded"]
    output = json.loads(succeeded[0]["taskSucceededEventDetails"]["output"])
    assert output["Status"] == "SUCCEEDED" and output["JobId"]
    assert received(patched, stack["queue_url"]) == [SUCCESS]


def test_failure_switch_routes_to_notify_failure(patched):
    stack = seed_stack(patched, "must-fail")
    status, events = run_execution(patched, stack["machine"])
    assert status == "SUCCEEDED"
    assert entered_states(events) == ["Submit Batch Job", "Notify Failure"]
    failed = [e for e in events if e["type"] == "TaskFailed"]
    assert failed[0]["taskFailedEventDetails"]["error"] == "States.TaskFailed"
    assert json.loads(failed[0]["taskFailedEventDetails"]["cause"])["Status"] == "FAILED"
    assert received(patched, stack["queue_url"]) == [FAILURE]


def test_interpreter_errors_carry_their_code(patched, stock):
    for endpoint, expected in ((patched, "InvalidDefinition"), (stock, None)):
        sfn = client("stepfunctions", endpoint)
        with pytest.raises(botocore.exceptions.ClientError) as err:
            sfn.create_state_machine(
                name=f"bad-{uuid.uuid4().hex[:8]}",
                definition='{"StartAt": "Nowhere", "States": {}}',
                roleArn="arn:aws:iam::123456789012:role/r",
            )
        code = err.value.response["Error"]["Code"]
        if expected:
            assert code == expected
        else:
            assert code != "InvalidDefinition"


def test_requests_are_counted_per_access_key(patched):
    import urllib.request

    sns = boto3.client(
        "sns",
        region_name=REGION,
        endpoint_url=patched,
        aws_access_key_id="counted-key",
        aws_secret_access_key="x",
    )
    sns.create_topic(Name=f"counted-{uuid.uuid4().hex[:8]}")
    sns.list_topics()
    sns.list_topics()
    batch = boto3.client(
        "batch",
        region_name=REGION,
        endpoint_url=patched,
        aws_access_key_id="counted-key",
        aws_secret_access_key="x",
    )
    batch.describe_job_queues()
    with urllib.request.urlopen(f"{patched}/_batchnotify/requests") as resp:
        counts = json.load(resp)["counted-key"]
    assert counts == {"sns:CreateTopic": 1, "sns:ListTopics": 2, "batch:DescribeJobQueues": 1}


def test_managed_fargate_compute_environment_can_be_created(patched):
    import urllib.request

    with urllib.request.urlopen(f"{patched}/_batchnotify/network?region={REGION}") as resp:
        network = json.load(resp)
    assert network["subnets"] and network["securityGroupIds"]
    batch = client("batch", patched)
    arn = batch.create_compute_environment(
        computeEnvironmentName=f"fargate-{uuid.uuid4().hex[:8]}",
        type="MANAGED",
        state="ENABLED",
        serviceRole="arn:aws:iam::123456789012:role/aws-service-role/batch.amazonaws.com/AWSServiceRoleForBatch",
        computeResources={
            "type": "FARGATE",
            "maxvCpus": 16,
            "subnets": network["subnets"][:1],
            "securityGroupIds": network["securityGroupIds"][:1],
        },
    )["computeEnvironmentArn"]
    assert arn.startswith("arn:aws:batch:us-east-1:123456789012:compute-environment/")


def test_create_state_machine_with_another_definition_is_refused(patched, stock):
    definition = {"StartAt": "A", "States": {"A": {"Type": "Pass", "End": True}}}
    other = {"StartAt": "B", "States": {"B": {"Type": "Pass", "End": True}}}
    role = "arn:aws:iam::123456789012:role/r"
    for endpoint, refused in ((patched, True), (stock, False)):
        sfn = client("stepfunctions", endpoint)
        name = f"same-{uuid.uuid4().hex[:8]}"
        arn = sfn.create_state_machine(name=name, definition=json.dumps(definition), roleArn=role)[
            "stateMachineArn"
        ]
        # Same definition (other key order): idempotent, as on AWS.
        again = sfn.create_state_machine(
            name=name, definition=json.dumps(definition, sort_keys=True, indent=1), roleArn=role
        )
        assert again["stateMachineArn"] == arn
        if refused:
            with pytest.raises(botocore.exceptions.ClientError) as err:
                sfn.create_state_machine(name=name, definition=json.dumps(other), roleArn=role)
            assert err.value.response["Error"]["Code"] == "StateMachineAlreadyExists"
        else:
            # Stock moto hands back the old machine as if it were new.
            quiet = sfn.create_state_machine(name=name, definition=json.dumps(other), roleArn=role)
            assert quiet["stateMachineArn"] == arn


def test_a_job_definition_without_revision_runs_its_latest_active_revision(patched, stock):
    """SubmitJob takes a job definition ARN without its revision and runs the
    latest ACTIVE one; stock moto fails on such an ARN.
    https://docs.aws.amazon.com/batch/latest/APIReference/API_SubmitJob.html"""
    for endpoint, works in ((patched, True), (stock, False)):
        batch = client("batch", endpoint)
        name = f"jd-{uuid.uuid4().hex[:8]}"
        props = {
            "image": "busybox",
            "resourceRequirements": [
                {"type": "VCPU", "value": "1"},
                {"type": "MEMORY", "value": "2048"},
            ],
        }
        first = batch.register_job_definition(
            jobDefinitionName=name, type="container", containerProperties=props
        )
        second = batch.register_job_definition(
            jobDefinitionName=name, type="container", containerProperties=props
        )
        batch.deregister_job_definition(jobDefinition=second["jobDefinitionArn"])
        unrevisioned = first["jobDefinitionArn"].rsplit(":", 1)[0]
        assert unrevisioned.endswith(f"job-definition/{name}")
        role = client("iam", endpoint).create_role(
            RoleName=f"batch-{name}",
            AssumeRolePolicyDocument=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"Service": "batch.amazonaws.com"},
                            "Action": "sts:AssumeRole",
                        }
                    ],
                }
            ),
        )["Role"]["Arn"]
        ce = batch.create_compute_environment(
            computeEnvironmentName=f"ce-{name}", type="UNMANAGED", state="ENABLED", serviceRole=role
        )["computeEnvironmentArn"]
        queue = batch.create_job_queue(
            jobQueueName=f"q-{name}",
            state="ENABLED",
            priority=1,
            computeEnvironmentOrder=[{"order": 1, "computeEnvironment": ce}],
        )["jobQueueArn"]
        if works:
            job = batch.submit_job(jobName="j", jobQueue=queue, jobDefinition=unrevisioned)
            described = batch.describe_jobs(jobs=[job["jobId"]])["jobs"][0]
            # The ACTIVE revision (1), not the deregistered newer one (2).
            assert described["jobDefinition"] == first["jobDefinitionArn"]
        else:
            with pytest.raises(Exception):
                batch.submit_job(jobName="j", jobQueue=queue, jobDefinition=unrevisioned)


def test_a_burst_of_a_thousand_requests_is_served_whole(patched):
    """1,000 clients arriving in the same instant are all answered, as AWS
    answers them: werkzeug's accept queue of 128 dropped 62 of these (the
    kernel counted 2,690 listen overflows), and the bench saw runs fail with
    the interpreter's "Connection was closed before we received a valid
    response". The listening socket's queue is checked as the kernel reports it
    (ss's Send-Q is a listener's backlog), and the burst's outcome is checked too."""
    import subprocess
    import threading

    from botocore.config import Config

    port = patched.rsplit(":", 1)[1]
    listening = subprocess.run(
        ["ss", "-Hltn", f"sport = :{port}"], capture_output=True, text=True, check=True
    ).stdout.split()
    assert int(listening[2]) >= 1024, listening  # State Recv-Q Send-Q Local Peer

    burst = 1000
    sns = boto3.client(
        "sns",
        region_name=REGION,
        endpoint_url=patched,
        config=Config(retries={"total_max_attempts": 1}, max_pool_connections=burst),
    )
    topic = sns.create_topic(Name=f"burst-{uuid.uuid4().hex[:8]}")["TopicArn"]
    together = threading.Barrier(burst)
    failures: list[str] = []

    def publish(i: int) -> None:
        together.wait()
        try:
            sns.publish(TopicArn=topic, Message=f"message {i}")
        except Exception as e:  # every failure is the finding: collect, assert below
            failures.append(repr(e)[:200])

    threads = [threading.Thread(target=publish, args=(i,)) for i in range(burst)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == [], f"{len(failures)} of {burst} failed, e.g. {failures[:2]}"


def test_send_and_receive_count_nothing_and_answer_as_before(monkeypatch):
    """SendMessage (each event EventBridge delivers) and ReceiveMessage no
    longer count the queue's messages: moto read every attribute, three scans
    of every message, to learn ContentBasedDeduplication (once a send) and
    MessageRetentionPeriod (three times a received message), most of the
    emulator's CPU in the bench's wave of 1,000 ends. Counted in process;
    GetQueueAttributes still counts, a FIFO queue still deduplicates by
    content, and a message past its retention period is still not received."""
    from moto import mock_aws
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.sqs.models import Queue, sqs_backends

    import moto_launcher

    moto_launcher.patch_sqs_counting()
    scans: list[str] = []
    counted = Queue.approximate_number_of_messages.fget

    def approximate_number_of_messages(self):
        scans.append(self.name)
        return counted(self)

    monkeypatch.setattr(Queue, "approximate_number_of_messages", property(approximate_number_of_messages))
    with mock_aws():
        sqs = boto3.client("sqs", region_name=REGION)
        url = sqs.create_queue(QueueName="events")["QueueUrl"]
        for i in range(5):
            sqs.send_message(QueueUrl=url, MessageBody=f"end {i}")
        sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": "a", "MessageBody": "end a"}])
        received = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=4)["Messages"]
        assert scans == []
        assert len(received) == 4
        got = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
        assert got["Attributes"]["ApproximateNumberOfMessages"] == "2"

        # Past the retention period (the shortest AWS allows, 60 s) a message is gone.
        short = sqs.create_queue(QueueName="short", Attributes={"MessageRetentionPeriod": "60"})["QueueUrl"]
        sqs.send_message(QueueUrl=short, MessageBody="old")
        for message in sqs_backends[DEFAULT_ACCOUNT_ID][REGION].queues["short"]._messages:
            message.sent_timestamp -= 61_000
        assert "Messages" not in sqs.receive_message(QueueUrl=short)

        fifo = sqs.create_queue(
            QueueName="ends.fifo",
            Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "true"},
        )["QueueUrl"]
        for _ in range(2):
            sqs.send_message(QueueUrl=fifo, MessageBody="same", MessageGroupId="g")
        got = sqs.get_queue_attributes(QueueUrl=fifo, AttributeNames=["ApproximateNumberOfMessages"])
        assert got["Attributes"]["ApproximateNumberOfMessages"] == "1"


def test_each_parse_has_its_own_query_language_scopes():
    """Two executions starting at once no longer share the preprocessor's
    stack of query-language scopes (a class attribute in moto: one of 1,000
    executions started at --concurrency 64 died in its worker thread with
    IndexError and never ended). The instances' lists are checked, then many
    parses at once are checked to all succeed."""
    import threading

    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser
    from moto.stepfunctions.parser.asl.parse.preprocessor import Preprocessor

    import moto_launcher

    moto_launcher.patch_parser_scopes()
    assert Preprocessor()._query_language_per_scope is not Preprocessor()._query_language_per_scope

    definition = json.dumps(
        {"StartAt": "P", "States": {"P": {"Type": "Pass", "Next": "Q"}, "Q": {"Type": "Pass", "End": True}}}
    )
    together = threading.Barrier(32)
    failures: list[str] = []

    def parse() -> None:
        together.wait()
        try:
            for _ in range(20):
                AmazonStateLanguageParser.parse(definition)
        except Exception as e:  # every failure is the finding: collect, assert below
            failures.append(repr(e)[:200])

    threads = [threading.Thread(target=parse) for _ in range(32)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
