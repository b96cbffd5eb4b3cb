"""Strict mode, validation part (strict_validation.py): what AWS refuses and stock
moto accepts, each refusal in the service's own error shape, and what AWS accepts
and stock moto refuses. Each test fails against `--lenient`:
`STRICT_TEST_MODE=lenient pytest emulator/test_strict_validation.py` shows it."""

from __future__ import annotations

import json
import os
import time

from launch import client, endpoint_of, start, stop, suffix

import botocore.exceptions
import pytest

# STRICT_TEST_MODE=lenient runs these tests against --lenient, where they fail.
MODE = ["--lenient"] if os.environ.get("STRICT_TEST_MODE") == "lenient" else []
REGION = "us-east-1"
ACCOUNT = "123456789012"
SERVICE_ROLE = f"arn:aws:iam::{ACCOUNT}:role/aws-service-role/batch.amazonaws.com/AWSServiceRoleForBatch"
TRUST = json.dumps({"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"Service": "states.amazonaws.com"}, "Action": "sts:AssumeRole"}]})




@pytest.fixture(scope="module")
def endpoint():
    proc = start("--delays", "fast", *MODE)
    yield endpoint_of(proc)
    stop(proc)


def refused(call, *args, **kwargs) -> dict:
    with pytest.raises(botocore.exceptions.ClientError) as err:
        call(*args, **kwargs)
    return {**err.value.response["Error"], "Status": err.value.response["ResponseMetadata"]["HTTPStatusCode"]}


def many_tags(n: int) -> dict[str, str]:
    return {f"k{i}": "v" for i in range(n)}


# ------------------------------------------------------------------- Batch --


def fargate_definition(batch, name: str, vcpu: str, memory: str, platform: str = "FARGATE"):
    return batch.register_job_definition(
        jobDefinitionName=name,
        type="container",
        platformCapabilities=[platform],
        containerProperties={
            "image": "busybox",
            "resourceRequirements": [{"type": "VCPU", "value": vcpu}, {"type": "MEMORY", "value": memory}],
            **({"executionRoleArn": SERVICE_ROLE} if platform == "FARGATE" else {}),
        },
    )


def test_fargate_job_definitions_take_only_supported_vcpu_memory_pairs(endpoint):
    batch = client("batch", endpoint)
    s = suffix()
    for vcpu, memory in (("1", "1024"), ("0.25", "4096"), ("2", "2048"), ("16", "36864"), ("3", "6144"),
                         ("8", "18432")):
        error = refused(fargate_definition, batch, f"fg-{s}", vcpu, memory)
        assert (error["Code"], error["Status"]) == ("ClientException", 400), (vcpu, memory)
        assert f"VCPU={vcpu}" in error["Message"]
    # Both ways: every documented pair is taken, including 32 vCPUs.
    for vcpu, memory in (("0.25", "512"), ("0.5", "3072"), ("1", "8192"), ("4", "30720"),
                         ("8", "16384"), ("8", "61440"), ("16", "122880"), ("32", "249856")):
        fargate_definition(batch, f"fg-{s}", vcpu, memory)
    # EC2 job definitions are not bound by the Fargate table.
    fargate_definition(batch, f"ec2-{s}", "1", "1024", platform="EC2")


def test_batch_names_and_tags_follow_aws(endpoint):
    batch = client("batch", endpoint)
    s = suffix()
    error = refused(batch.create_compute_environment, computeEnvironmentName=f"bad name {s}",
                    type="UNMANAGED", state="ENABLED", serviceRole=SERVICE_ROLE)
    assert error["Code"] == "ClientException"  # moto: InvalidParameterValue
    error = refused(batch.register_job_definition, jobDefinitionName=f"bad.name.{s}", type="container",
                    containerProperties={"image": "busybox", "vcpus": 1, "memory": 512})
    assert error["Code"] == "ClientException"
    error = refused(batch.create_compute_environment, computeEnvironmentName=f"tagged-{s}", type="UNMANAGED",
                    state="ENABLED", serviceRole=SERVICE_ROLE, tags=many_tags(51))
    assert error["Code"] == "ClientException" and "50" in error["Message"]
    # Both ways: a one-character name is a name (moto wants three or more).
    ce = batch.create_compute_environment(computeEnvironmentName="a",
                                          type="UNMANAGED", state="ENABLED", serviceRole=SERVICE_ROLE)
    arn = ce["computeEnvironmentArn"]
    error = refused(batch.tag_resource, resourceArn=arn, tags={"aws:owner": "me"})
    assert error["Code"] == "ClientException" and "aws:" in error["Message"]
    batch.tag_resource(resourceArn=arn, tags=many_tags(50))
    error = refused(batch.tag_resource, resourceArn=arn, tags={"one-too-many": "x"})
    assert error["Code"] == "ClientException"
    error = refused(batch.create_job_queue, jobQueueName=f"bad/queue/{s}", state="ENABLED", priority=1,
                    computeEnvironmentOrder=[{"order": 1, "computeEnvironment": arn}])
    assert error["Code"] == "ClientException"


# --------------------------------------------------------------------- SNS --


def test_sns_subscribe_endpoints_match_their_protocol(endpoint):
    sns = client("sns", endpoint)
    topic = sns.create_topic(Name=f"ep-{suffix()}")["TopicArn"]
    bad = {
        ("email", "not-an-address"): "Invalid parameter: Email address",
        ("email-json", "ops@"): "Invalid parameter: Email address",
        ("https", "http://example.com/hook"): "Invalid parameter: Endpoint must match the specified protocol",
        ("http", "example.com/hook"): "Invalid parameter: Endpoint must match the specified protocol",
        ("sqs", f"arn:aws:sns:{REGION}:{ACCOUNT}:not-a-queue"): "Invalid parameter: SQS endpoint ARN",
        ("lambda", "my-function"): "Invalid parameter: Lambda endpoint ARN",
        ("firehose", f"arn:aws:sqs:{REGION}:{ACCOUNT}:q"): "Invalid parameter: Firehose endpoint ARN",
        ("carrier-pigeon", "coop"): "Invalid parameter: Amazon SNS does not support this protocol string: carrier-pigeon",
    }
    for (protocol, value), message in bad.items():
        error = refused(sns.subscribe, TopicArn=topic, Protocol=protocol, Endpoint=value)
        assert (error["Code"], error["Message"], error["Status"]) == ("InvalidParameter", message, 400), protocol
    for protocol, value in (
        ("email", "ops@example.com"),
        ("email-json", "ops+batch@example.co.uk"),
        ("https", "https://example.com:8443/hook?x=1"),
        ("http", "http://example.com"),
        ("https", "https://user:secret@example.com/sns"),
        ("sqs", f"arn:aws:sqs:{REGION}:{ACCOUNT}:q"),
        ("lambda", f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:notify"),
        ("sms", "+15555550100"),
    ):
        sns.subscribe(TopicArn=topic, Protocol=protocol, Endpoint=value)


def test_sns_topic_names_and_tags(endpoint):
    sns = client("sns", endpoint)
    s = suffix()
    # Both ways: FifoTopic=false is a standard topic (moto took any value as FIFO).
    sns.create_topic(Name=f"std-{s}", Attributes={"FifoTopic": "false"})
    error = refused(sns.create_topic, Name=f"std-{s}.fifo")
    assert error["Code"] == "InvalidParameter"
    error = refused(sns.create_topic, Name=f"tags-{s}", Tags=[{"Key": "aws:team", "Value": "x"}])
    assert error["Code"] == "InvalidParameter"
    error = refused(sns.create_topic, Name=f"tags-{s}",
                    Tags=[{"Key": k, "Value": v} for k, v in many_tags(51).items()])
    assert error["Code"] == "TagLimitExceeded"
    arn = sns.create_topic(Name=f"tags-{s}", Tags=[{"Key": "owner", "Value": "a"}])["TopicArn"]
    # Idempotent with the same tags; someone else's topic (other tags) is refused.
    assert sns.create_topic(Name=f"tags-{s}", Tags=[{"Key": "owner", "Value": "a"}])["TopicArn"] == arn
    error = refused(sns.create_topic, Name=f"tags-{s}", Tags=[{"Key": "owner", "Value": "b"}])
    assert error["Message"] == "Invalid parameter: Tags Reason: Topic already exists with different tags"
    error = refused(sns.tag_resource, ResourceArn=arn, Tags=[{"Key": "k" * 129, "Value": "v"}])
    assert error["Code"] == "InvalidParameter" and "128" in error["Message"]


# --------------------------------------------------------------------- IAM --


def test_iam_role_names_paths_and_tags(endpoint):
    iam = client("iam", endpoint)
    s = suffix()
    error = refused(iam.create_role, RoleName="r" * 65, AssumeRolePolicyDocument=TRUST)
    assert (error["Code"], error["Status"]) == ("ValidationError", 400)
    assert "less than or equal to 64" in error["Message"]
    error = refused(iam.create_role, RoleName=f"bad name {s}", AssumeRolePolicyDocument=TRUST)
    assert error["Code"] == "ValidationError" and "[\\w+=,.@-]+" in error["Message"]
    error = refused(iam.create_role, RoleName=f"path-{s}", Path="service-role", AssumeRolePolicyDocument=TRUST)
    assert error["Code"] == "ValidationError" and "path" in error["Message"]
    error = refused(iam.create_role, RoleName=f"tag-{s}", AssumeRolePolicyDocument=TRUST,
                    Tags=[{"Key": "aws:team", "Value": "x"}])
    assert error["Code"] == "InvalidInput"
    name = ("r" * 56) + s  # 64 characters, all allowed ones
    iam.create_role(RoleName=name, Path="/batchnotify/sfn/", AssumeRolePolicyDocument=TRUST,
                    Tags=[{"Key": k, "Value": v} for k, v in many_tags(50).items()])
    error = refused(iam.tag_role, RoleName=name, Tags=[{"Key": "one-too-many", "Value": "x"}])
    assert error["Code"] == "LimitExceeded"


# ---------------------------------------------------------- Step Functions --


def test_step_functions_tags(endpoint):
    sfn = client("stepfunctions", endpoint)
    s = suffix()
    definition = json.dumps({"StartAt": "A", "States": {"A": {"Type": "Pass", "End": True}}})
    role = client("iam", endpoint).create_role(RoleName=f"sfn-{s}", AssumeRolePolicyDocument=TRUST)["Role"]["Arn"]
    deadline = time.monotonic() + 15
    while True:  # a new role takes a moment to be assumable (strict_access)
        error = refused(sfn.create_state_machine, name=f"t-{s}", definition=definition, roleArn=role,
                        tags=[{"key": k, "value": v} for k, v in many_tags(51).items()])
        if error["Code"] != "AccessDeniedException" or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert error["Code"] == "TooManyTags"
    error = refused(sfn.create_state_machine, name=f"t-{s}", definition=definition, roleArn=role,
                    tags=[{"key": "k" * 129, "value": "v"}])
    assert error["Code"] == "ValidationException"
    arn = sfn.create_state_machine(name=f"t-{s}", definition=definition, roleArn=role,
                                   tags=[{"key": k, "value": v} for k, v in many_tags(50).items()])["stateMachineArn"]
    error = refused(sfn.tag_resource, resourceArn=arn, tags=[{"key": "aws:x", "value": "v"}])
    assert error["Code"] == "ValidationException"
    error = refused(sfn.tag_resource, resourceArn=arn, tags=[{"key": "one-too-many", "value": "v"}])
    assert error["Code"] == "TooManyTags"
