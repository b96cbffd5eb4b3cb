"""How the launcher's tests start it: with a clean environment (the machine's
AWS settings, CA bundles and profiles must not leak in) and the root key, and
read its `READY <port>` line.

The helpers act as the root user of 123456789012 unless given `account`
(the root user of that account: moto's `x-moto-account-id` header, see
moto_launcher.py) or `credentials` (another principal's keys)."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
REGION = "us-east-1"


def clean_env() -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("AWS_") and k not in ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE")
    }
    env.update(
        AWS_ACCESS_KEY_ID="testing",  # the root key
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_REGION=REGION,
        AWS_DEFAULT_REGION=REGION,
        AWS_EC2_METADATA_DISABLED="true",
    )
    return env


def start(*extra: str) -> subprocess.Popen:
    """Starts the launcher with `extra` flags; read its endpoint with `endpoint_of`."""
    return subprocess.Popen(
        [sys.executable, str(HERE / "moto_launcher.py"), *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=clean_env(),
        text=True,
    )


def endpoint_of(proc: subprocess.Popen) -> str:
    """The launcher's URL, once it prints `READY <port>`."""
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.startswith("READY "), f"launcher said {line!r}"
    return f"http://127.0.0.1:{int(line.split()[1])}"


def stop(*procs: subprocess.Popen) -> None:
    for proc in procs:
        proc.terminate()
    for proc in procs:
        proc.wait(timeout=10)


DEFAULT_ACCOUNT = "123456789012"
ACCOUNT_HEADER = "x-moto-account-id"


def act_in(boto_client, account: str):
    """Makes a root-key client act as the root user of `account`: each request
    carries moto's x-moto-account-id header (strict mode honours it for the
    root key only). Returns the client."""

    def name_account(request, **_):
        request.headers[ACCOUNT_HEADER] = account

    boto_client.meta.events.register("before-sign.*.*", name_account)
    return boto_client


def client(service: str, endpoint: str, account: str | None = None, config=None, **credentials):
    """A boto3 client for the launcher at `endpoint`, in the tests' region: the
    root user's (of `account` if given), or the principal's whose
    `credentials` (aws_access_key_id, ...) are given."""
    import boto3

    made = boto3.client(service, region_name=REGION, endpoint_url=endpoint, config=config, **credentials)
    return act_in(made, account) if account else made


def suffix() -> str:
    """A short random suffix for names a test makes."""
    return uuid.uuid4().hex[:8]


def wait_for(fetch, done, timeout: float = 15.0, interval: float = 0.1):
    """Calls `fetch` until `done(value)`; returns that value, or fails after `timeout` s."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        value = fetch()
        if done(value):
            return value
        assert time.monotonic() < deadline, f"still {value!r} after {timeout} s"
        time.sleep(interval)


STATES_TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "states.amazonaws.com"}, "Action": "sts:AssumeRole"}
    ],
}


def state_machine(
    endpoint: str, definition: dict | str, name: str | None = None, account: str | None = None
) -> str:
    """Creates a state machine with a new role Step Functions may assume, retrying
    while the role propagates (strict mode), as a user's tooling must on AWS."""
    import json
    import time

    import botocore.exceptions

    role = client("iam", endpoint, account).create_role(
        RoleName=f"sm-{suffix()}", AssumeRolePolicyDocument=json.dumps(STATES_TRUST)
    )["Role"]["Arn"]
    text = definition if isinstance(definition, str) else json.dumps(definition)
    sfn = client("stepfunctions", endpoint, account)
    deadline = time.monotonic() + 15
    while True:
        try:
            return sfn.create_state_machine(
                name=name or f"sm-{suffix()}", definition=text, roleArn=role
            )["stateMachineArn"]
        except botocore.exceptions.ClientError as err:
            if err.response["Error"]["Code"] != "AccessDeniedException" or time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def finished(endpoint: str, execution_arn: str, timeout: float = 30.0) -> dict:
    """DescribeExecution once the execution is no longer RUNNING."""
    sfn = client("stepfunctions", endpoint)
    return wait_for(
        lambda: sfn.describe_execution(executionArn=execution_arn),
        lambda d: d["status"] != "RUNNING",
        timeout=timeout,
        interval=0.05,
    )


def history(endpoint: str, execution_arn: str) -> list[dict]:
    """Every event of an execution, across pages."""
    pages = client("stepfunctions", endpoint).get_paginator("get_execution_history").paginate(
        executionArn=execution_arn
    )
    return [event for page in pages for event in page["events"]]


def sqs_subscriber(endpoint: str, topic_arn: str, account: str | None = None) -> str:
    """A new SQS queue subscribed to the topic with raw delivery (the body is the
    published Message, byte for byte); returns its URL."""
    sqs, sns = client("sqs", endpoint, account), client("sns", endpoint, account)
    url = sqs.create_queue(QueueName=f"sub-{suffix()}")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=arn, Attributes={"RawMessageDelivery": "true"})
    return url


def received(
    endpoint: str, queue_url: str, count: int = 1, timeout: float = 10.0, account: str | None = None
) -> list[str]:
    """The bodies of `count` messages from the queue (fails if fewer arrive)."""
    import time

    sqs = client("sqs", endpoint, account)
    bodies: list[str] = []
    deadline = time.monotonic() + timeout
    while len(bodies) < count:
        assert time.monotonic() < deadline, f"{len(bodies)} of {count} messages after {timeout} s: {bodies}"
        got = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
        for message in got.get("Messages", []):
            bodies.append(message["Body"])
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    return bodies


BATCH_SERVICE_ROLE = (
    "arn:aws:iam::123456789012:role/aws-service-role/batch.amazonaws.com/AWSServiceRoleForBatch"
)


def batch_service_role(account: str = DEFAULT_ACCOUNT) -> str:
    """The Batch service-linked role's ARN in `account`."""
    return BATCH_SERVICE_ROLE.replace(DEFAULT_ACCOUNT, account)


def batch_queue(endpoint: str, name: str, account: str | None = None) -> str:
    """An ENABLED job queue on a new unmanaged compute environment, both VALID."""
    batch = client("batch", endpoint, account)
    ce = batch.create_compute_environment(
        computeEnvironmentName=name, type="UNMANAGED", state="ENABLED",
        serviceRole=batch_service_role(account or DEFAULT_ACCOUNT),
    )["computeEnvironmentArn"]
    wait_for(
        lambda: batch.describe_compute_environments(computeEnvironments=[ce])["computeEnvironments"][0]["status"],
        lambda status: status == "VALID",
    )
    queue = batch.create_job_queue(
        jobQueueName=name, state="ENABLED", priority=1,
        computeEnvironmentOrder=[{"order": 1, "computeEnvironment": ce}],
    )["jobQueueArn"]
    wait_for(
        lambda: batch.describe_job_queues(jobQueues=[queue])["jobQueues"][0]["status"],
        lambda status: status == "VALID",
    )
    return queue


def container_job_definition(endpoint: str, name: str, account: str | None = None) -> str:
    """An EC2 container job definition (busybox echo)."""
    return client("batch", endpoint, account).register_job_definition(
        jobDefinitionName=name,
        type="container",
        containerProperties={
            "image": "busybox",
            "command": ["echo", "hello"],
            "resourceRequirements": [{"type": "VCPU", "value": "1"}, {"type": "MEMORY", "value": "2048"}],
        },
    )["jobDefinitionArn"]
