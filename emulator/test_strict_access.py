"""Strict mode's access rules (strict_access.py): each test shows the rule in
strict mode and, where it is cheap, that `--lenient` (stock behaviour) lets
the same request through. Run with the emulator's venv:
`pytest emulator/test_strict_access.py`."""

from __future__ import annotations

import json
import sys
import time
import urllib.request
import uuid
from pathlib import Path

from launch import endpoint_of, start, stop

import boto3
import botocore.exceptions
import pytest
from botocore.config import Config

HERE = Path(__file__).resolve().parent
REGION = "us-east-1"
ACCOUNT = "123456789012"
PROPAGATION = 1.5  # the fast iam-propagation delay
CANNOT_ASSUME = (
    "Neither the global service principal states.amazonaws.com, nor the regional one "
    "is authorized to assume the provided role."
)
# Stock moto (--lenient) takes any access key.
ANY_KEY = {"aws_access_key_id": "AKIAANYKEY", "aws_secret_access_key": "x"}
PASS = json.dumps({"StartAt": "A", "States": {"A": {"Type": "Pass", "End": True}}})




def trust(service: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}
            ],
        }
    )


class Emulator:
    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint

    def client(self, service: str, key: dict | None = None):
        return boto3.client(
            service,
            region_name=REGION,
            endpoint_url=self.endpoint,
            config=Config(retries={"total_max_attempts": 1}),
            **(key or {}),
        )

    def user(self, *statements: dict) -> dict:
        """An IAM user with these policy statements; returns its credentials."""
        iam = self.client("iam")
        name = f"u-{uuid.uuid4().hex[:8]}"
        iam.create_user(UserName=name)
        policy = {"Version": "2012-10-17", "Statement": list(statements)}
        iam.put_user_policy(UserName=name, PolicyName="p", PolicyDocument=json.dumps(policy))
        key = iam.create_access_key(UserName=name)["AccessKey"]
        return {
            "aws_access_key_id": key["AccessKeyId"],
            "aws_secret_access_key": key["SecretAccessKey"],
        }

    def role(self, service: str) -> tuple[str, float]:
        name = f"r-{uuid.uuid4().hex[:8]}"
        arn = self.client("iam").create_role(RoleName=name, AssumeRolePolicyDocument=trust(service))[
            "Role"
        ]["Arn"]
        return arn, time.monotonic()

    def get(self, path: str, method: str = "GET") -> dict:
        req = urllib.request.Request(self.endpoint + path, method=method)
        with urllib.request.urlopen(req) as resp:
            return json.load(resp)


@pytest.fixture(scope="module")
def servers():
    procs = {"strict": start(), "lenient": start("--lenient")}
    try:
        emulators = {name: Emulator(endpoint_of(proc)) for name, proc in procs.items()}
        strict = emulators["strict"]
        # Roles made now have propagated by the time most tests use them.
        strict.states_role, strict.states_role_at = strict.role("states.amazonaws.com")
        strict.lambda_role, strict.lambda_role_at = strict.role("lambda.amazonaws.com")
        yield emulators
    finally:
        stop(*procs.values())


@pytest.fixture(scope="module")
def strict(servers) -> Emulator:
    return servers["strict"]


@pytest.fixture(scope="module")
def lenient(servers) -> Emulator:
    return servers["lenient"]


def propagated(emulator: Emulator, since: float) -> None:
    time.sleep(max(0.0, since + PROPAGATION + 0.1 - time.monotonic()))


def error_of(call) -> tuple[str, str, int]:
    with pytest.raises(botocore.exceptions.ClientError) as err:
        call()
    response = err.value.response
    return (
        response["Error"]["Code"],
        response["Error"].get("Message", ""),
        response["ResponseMetadata"]["HTTPStatusCode"],
    )


def test_policy_evaluation():
    sys.path.insert(0, str(HERE))
    from strict_access import evaluate

    sm = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:bn-a"

    def verdict(*statements: dict, action: str = "states:StartExecution", resource: str = sm, **context):
        return evaluate([{"Statement": list(statements)}], action, resource, context)

    allow_all = {"Effect": "Allow", "Action": "*", "Resource": "*"}
    assert verdict() == "implicit"
    assert verdict(allow_all) == "allow"
    assert verdict({"Effect": "Allow", "Action": "STATES:start?xecution", "Resource": "*"}) == "allow"
    assert verdict({"Effect": "Allow", "NotAction": "states:Start*", "Resource": "*"}) == "implicit"
    assert verdict({"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}) == "allow"
    assert verdict({"Effect": "Allow", "Action": "states:*", "NotResource": sm}) == "implicit"
    # Resources are case-sensitive, actions are not.
    assert verdict({"Effect": "Allow", "Action": "states:*", "Resource": sm.upper()}) == "implicit"
    assert verdict(allow_all, {"Effect": "Deny", "Action": "states:*", "Resource": "arn:aws:states:*"}) == "deny"
    # An operation without resource-level permissions is matched against "*".
    assert verdict({"Effect": "Allow", "Action": "states:*", "Resource": "arn:*"}, resource="*") == "implicit"
    condition = {"StringEquals": {"aws:RequestedRegion": REGION}}
    assert verdict(dict(allow_all, Condition=condition), **{"aws:requestedregion": REGION}) == "allow"
    assert verdict(dict(allow_all, Condition=condition), **{"aws:requestedregion": "eu-west-1"}) == "implicit"
    assert verdict(dict(allow_all, Condition=condition)) == "implicit"  # key absent


def test_unknown_access_key_is_refused(strict, lenient):
    nobody = {"aws_access_key_id": "AKIANOBODY", "aws_secret_access_key": "x"}
    assert error_of(lambda: strict.client("sns", nobody).list_topics()) == (
        "InvalidClientTokenId",
        "The security token included in the request is invalid.",
        403,
    )
    code, _, status = error_of(lambda: strict.client("iam", nobody).list_roles())
    assert (code, status) == ("InvalidClientTokenId", 403)
    code, _, status = error_of(lambda: strict.client("stepfunctions", nobody).list_state_machines())
    assert (code, status) == ("UnrecognizedClientException", 400)
    code, _, status = error_of(lambda: strict.client("batch", nobody).describe_job_queues())
    assert (code, status) == ("UnrecognizedClientException", 403)
    # Stock moto serves any key.
    lenient.client("sns", nobody).list_topics()


def test_action_names_match_case_insensitively(strict, lenient):
    key = strict.user({"Effect": "Allow", "Action": "batch:DescribeJobQueues", "Resource": "*"})
    strict.client("batch", key).describe_job_queues()
    wildcard = strict.user({"Effect": "Allow", "Action": "BATCH:describe*", "Resource": "*"})
    strict.client("batch", wildcard).describe_compute_environments()
    code, message, status = error_of(lambda: strict.client("batch", key).describe_compute_environments())
    assert (code, status) == ("AccessDeniedException", 403)
    assert "batch:DescribeComputeEnvironments on resource: *" in message
    lenient.client("batch", ANY_KEY).describe_compute_environments()


def test_denials_come_in_each_services_shape(strict, lenient):
    key = strict.user({"Effect": "Allow", "Action": "sqs:ListQueues", "Resource": "*"})
    code, message, status = error_of(
        lambda: strict.client("stepfunctions", key).create_state_machine(
            name=f"bn-{uuid.uuid4().hex[:8]}", definition=PASS, roleArn=strict.states_role
        )
    )
    assert (code, status) == ("AccessDeniedException", 400)
    assert f"User: arn:aws:iam::{ACCOUNT}:user/" in message
    assert "is not authorized to perform: states:CreateStateMachine on resource: arn:aws:states:" in message
    assert "because no identity-based policy allows the states:CreateStateMachine action" in message
    code, message, status = error_of(lambda: strict.client("sns", key).create_topic(Name="t"))
    assert (code, status) == ("AuthorizationError", 403)
    assert f"SNS:CreateTopic on resource: arn:aws:sns:{REGION}:{ACCOUNT}:t" in message
    code, message, status = error_of(lambda: strict.client("iam", key).get_role(RoleName="x"))
    assert (code, status) == ("AccessDenied", 403)
    assert f"iam:GetRole on resource: arn:aws:iam::{ACCOUNT}:role/x" in message
    # Always allowed, as on AWS.
    assert strict.client("sts", key).get_caller_identity()["Account"] == ACCOUNT
    # The request counter counts denied requests too.
    assert strict.get("/_batchnotify/requests")[key["aws_access_key_id"]] == {
        "states:CreateStateMachine": 1,
        "sns:CreateTopic": 1,
        "iam:GetRole": 1,
        "sts:GetCallerIdentity": 1,
    }
    lenient.client("stepfunctions", ANY_KEY).list_state_machines()


def test_explicit_deny_wins(strict):
    key = strict.user(
        {"Effect": "Allow", "Action": "sns:*", "Resource": "*"},
        {"Effect": "Deny", "Action": "sns:CreateTopic", "Resource": "*"},
    )
    strict.client("sns", key).list_topics()
    code, message, _ = error_of(lambda: strict.client("sns", key).create_topic(Name="denied"))
    assert code == "AuthorizationError"
    assert message.endswith("with an explicit deny in an identity-based policy")


def test_resources_scope_what_is_allowed(strict):
    propagated(strict, strict.states_role_at)
    key = strict.user(
        {
            "Effect": "Allow",
            "Action": ["states:CreateStateMachine", "states:DescribeStateMachine"],
            "Resource": "arn:aws:states:*:*:stateMachine:bn-*",
        },
        {"Effect": "Allow", "Action": "iam:PassRole", "Resource": strict.states_role},
    )
    sfn = strict.client("stepfunctions", key)
    arn = sfn.create_state_machine(
        name=f"bn-{uuid.uuid4().hex[:8]}", definition=PASS, roleArn=strict.states_role
    )["stateMachineArn"]
    sfn.describe_state_machine(stateMachineArn=arn)
    other = f"other-{uuid.uuid4().hex[:8]}"
    code, message, _ = error_of(
        lambda: sfn.create_state_machine(name=other, definition=PASS, roleArn=strict.states_role)
    )
    assert code == "AccessDeniedException"
    assert f"on resource: arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{other} " in message
    # ListStateMachines has no resource-level permissions: only Resource "*" allows it.
    code, message, _ = error_of(lambda: sfn.list_state_machines())
    assert code == "AccessDeniedException" and "on resource: *" in message


def test_passing_a_role_needs_iam_pass_role(strict, lenient):
    propagated(strict, strict.states_role_at)
    everything_but_pass = strict.user(
        {"Effect": "Allow", "Action": ["states:*", "batch:*"], "Resource": "*"}
    )
    code, message, status = error_of(
        lambda: strict.client("stepfunctions", everything_but_pass).create_state_machine(
            name=f"bn-{uuid.uuid4().hex[:8]}", definition=PASS, roleArn=strict.states_role
        )
    )
    assert (code, status) == ("AccessDeniedException", 400)
    assert f"iam:PassRole on resource: {strict.states_role}" in message
    job_definition = dict(
        jobDefinitionName=f"jd-{uuid.uuid4().hex[:8]}",
        type="container",
        containerProperties={
            "image": "busybox",
            "jobRoleArn": strict.states_role,
            "resourceRequirements": [
                {"type": "VCPU", "value": "1"},
                {"type": "MEMORY", "value": "2048"},
            ],
        },
    )
    code, message, status = error_of(
        lambda: strict.client("batch", everything_but_pass).register_job_definition(**job_definition)
    )
    assert (code, status) == ("AccessDeniedException", 403)
    assert f"iam:PassRole on resource: {strict.states_role}" in message
    with_pass = strict.user(
        {"Effect": "Allow", "Action": ["states:*", "batch:*"], "Resource": "*"},
        {
            "Effect": "Allow",
            "Action": "iam:PassRole",
            "Resource": strict.states_role,
            "Condition": {"StringEquals": {"iam:PassedToService": "states.amazonaws.com"}},
        },
    )
    strict.client("stepfunctions", with_pass).create_state_machine(
        name=f"bn-{uuid.uuid4().hex[:8]}", definition=PASS, roleArn=strict.states_role
    )
    # The condition names Step Functions: passing the role to Batch is refused.
    code, _, _ = error_of(
        lambda: strict.client("batch", with_pass).register_job_definition(**job_definition)
    )
    assert code == "AccessDeniedException"
    lenient.client("batch", ANY_KEY).register_job_definition(**job_definition)


def test_a_new_role_is_not_assumable_until_it_propagates(strict, lenient):
    sfn = strict.client("stepfunctions")
    role, created = strict.role("states.amazonaws.com")
    name = f"bn-{uuid.uuid4().hex[:8]}"
    assert error_of(
        lambda: sfn.create_state_machine(name=name, definition=PASS, roleArn=role)
    ) == ("AccessDeniedException", CANNOT_ASSUME, 400)
    propagated(strict, created)
    arn = sfn.create_state_machine(name=name, definition=PASS, roleArn=role)["stateMachineArn"]
    # A new trust policy propagates again.
    strict.client("iam").update_assume_role_policy(
        RoleName=role.rsplit("/", 1)[-1], PolicyDocument=trust("states.amazonaws.com")
    )
    code, message, _ = error_of(lambda: sfn.update_state_machine(stateMachineArn=arn, roleArn=role))
    assert (code, message) == ("AccessDeniedException", CANNOT_ASSUME)
    lenient_role, _ = lenient.role("states.amazonaws.com")
    lenient.client("stepfunctions").create_state_machine(
        name=name, definition=PASS, roleArn=lenient_role
    )


def test_a_role_not_trusting_step_functions_is_never_assumable(strict, lenient):
    propagated(strict, strict.lambda_role_at)
    sfn = strict.client("stepfunctions")
    for _ in range(2):
        code, message, _ = error_of(
            lambda: sfn.create_state_machine(
                name=f"bn-{uuid.uuid4().hex[:8]}", definition=PASS, roleArn=strict.lambda_role
            )
        )
        assert (code, message) == ("AccessDeniedException", CANNOT_ASSUME)
    role, _ = lenient.role("lambda.amazonaws.com")
    lenient.client("stepfunctions").create_state_machine(
        name=f"bn-{uuid.uuid4().hex[:8]}", definition=PASS, roleArn=role
    )


def test_a_hot_api_is_throttled_and_every_attempt_counted(strict):
    propagated(strict, strict.states_role_at)
    machine = strict.client("stepfunctions").create_state_machine(
        name=f"bn-{uuid.uuid4().hex[:8]}", definition=PASS, roleArn=strict.states_role
    )["stateMachineArn"]
    key = strict.user({"Effect": "Allow", "Action": "states:ListTagsForResource", "Resource": "*"})
    sfn = strict.client("stepfunctions", key)
    strict.get("/_batchnotify/throttles", "DELETE")
    # ListTagsForResource: bucket 100, refill 1 a second (Step Functions quotas).
    attempts, error = 0, None
    while error is None and attempts < 130:
        attempts += 1
        try:
            sfn.list_tags_for_resource(resourceArn=machine)
        except botocore.exceptions.ClientError as err:
            error = err.response
    assert error is not None, "never throttled"
    assert 100 < attempts < 110
    assert error["Error"]["Code"] == "ThrottlingException"
    assert error["Error"]["Message"] == "Rate exceeded"
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 400
    user = key["aws_access_key_id"]
    assert strict.get("/_batchnotify/throttles")[user] == {"states:ListTagsForResource": 1}
    # The request counter counts the throttled attempt too.
    assert strict.get("/_batchnotify/requests")[user] == {"states:ListTagsForResource": attempts}
    # The root key is never throttled.
    for _ in range(3):
        strict.client("stepfunctions").list_tags_for_resource(resourceArn=machine)
    assert strict.get("/_batchnotify/throttles", "DELETE") == strict.get("/_batchnotify/throttles") == {}


def test_step_functions_tasks_still_reach_other_services(strict):
    propagated(strict, strict.states_role_at)
    topic = strict.client("sns").create_topic(Name=f"t-{uuid.uuid4().hex[:8]}")["TopicArn"]
    definition = {
        "StartAt": "Notify",
        "States": {
            "Notify": {
                "Type": "Task",
                "Resource": "arn:aws:states:::sns:publish",
                "Parameters": {"Message": "hello", "TopicArn": topic},
                "End": True,
            }
        },
    }
    sfn = strict.client("stepfunctions")
    machine = sfn.create_state_machine(
        name=f"bn-{uuid.uuid4().hex[:8]}", definition=json.dumps(definition), roleArn=strict.states_role
    )["stateMachineArn"]
    execution = sfn.start_execution(stateMachineArn=machine)["executionArn"]
    deadline = time.monotonic() + 20
    while (status := sfn.describe_execution(executionArn=execution)["status"]) == "RUNNING":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert status == "SUCCEEDED"


def pages(call, key: str, token: str = "nextToken", **kwargs) -> list[list]:
    out, kwargs = [], dict(kwargs)
    while True:
        page = call(**kwargs)
        out.append(page[key])
        if not page.get(token):
            return out
        kwargs[token] = page[token]


def test_lists_come_in_small_pages(strict, lenient):
    propagated(strict, strict.states_role_at)
    sfn = strict.client("stepfunctions")
    tag = uuid.uuid4().hex[:6]
    names = [f"bn-{tag}-{i}" for i in range(3)]
    arns = [
        sfn.create_state_machine(name=n, definition=PASS, roleArn=strict.states_role)["stateMachineArn"]
        for n in names
    ]
    got = pages(sfn.list_state_machines, "stateMachines")
    assert all(len(p) <= 2 for p in got) and len(got) >= 2
    assert set(names) <= {m["name"] for p in got for m in p}
    assert all(len(p) == 1 for p in pages(sfn.list_state_machines, "stateMachines", maxResults=1))

    executions = [
        sfn.start_execution(stateMachineArn=arns[0], name=f"run-{i}")["executionArn"] for i in range(3)
    ]
    got = pages(sfn.list_executions, "executions", stateMachineArn=arns[0])
    assert [len(p) for p in got] == [2, 1]
    assert sorted(e["executionArn"] for p in got for e in p) == sorted(executions)
    deadline = time.monotonic() + 10
    while sfn.describe_execution(executionArn=executions[0])["status"] == "RUNNING":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    got = pages(sfn.get_execution_history, "events", executionArn=executions[0])
    events = [e["id"] for p in got for e in p]
    assert len(got) >= 2 and all(len(p) <= 2 for p in got)
    assert events == sorted(events) and len(set(events)) == len(events) >= 4

    batch = strict.client("batch")
    slr = f"arn:aws:iam::{ACCOUNT}:role/aws-service-role/batch.amazonaws.com/AWSServiceRoleForBatch"
    envs = [
        batch.create_compute_environment(
            computeEnvironmentName=f"ce-{tag}-{i}", type="UNMANAGED", state="ENABLED", serviceRole=slr
        )["computeEnvironmentArn"]
        for i in range(3)
    ]
    for i in range(3):
        batch.register_job_definition(
            jobDefinitionName=f"jd-{tag}-{i}",
            type="container",
            containerProperties={
                "image": "busybox",
                "resourceRequirements": [
                    {"type": "VCPU", "value": "1"},
                    {"type": "MEMORY", "value": "2048"},
                ],
            },
        )
    got = pages(batch.describe_compute_environments, "computeEnvironments")
    assert all(len(p) <= 2 for p in got)
    assert set(envs) <= {e["computeEnvironmentArn"] for p in got for e in p}
    got = pages(batch.describe_job_definitions, "jobDefinitions", status="ACTIVE")
    assert all(len(p) <= 2 for p in got)
    assert {f"jd-{tag}-{i}" for i in range(3)} <= {d["jobDefinitionName"] for p in got for d in p}
    # Queues need their compute environment VALID (strict Batch may take a moment).
    deadline = time.monotonic() + 15
    while any(
        e["status"] != "VALID"
        for p in pages(batch.describe_compute_environments, "computeEnvironments", computeEnvironments=envs)
        for e in p
    ):
        assert time.monotonic() < deadline, "compute environments never VALID"
        time.sleep(0.2)
    queues = [
        batch.create_job_queue(
            jobQueueName=f"q-{tag}-{i}",
            state="ENABLED",
            priority=1,
            computeEnvironmentOrder=[{"order": 1, "computeEnvironment": envs[i]}],
        )["jobQueueArn"]
        for i in range(3)
    ]
    got = pages(batch.describe_job_queues, "jobQueues")
    assert all(len(p) <= 2 for p in got)
    assert set(queues) <= {q["jobQueueArn"] for p in got for q in p}

    sns = strict.client("sns")
    topic = sns.create_topic(Name=f"t-{tag}")["TopicArn"]
    for i in range(3):
        sns.subscribe(
            TopicArn=topic, Protocol="sqs", Endpoint=f"arn:aws:sqs:{REGION}:{ACCOUNT}:q-{tag}-{i}"
        )
    got = pages(sns.list_subscriptions_by_topic, "Subscriptions", token="NextToken", TopicArn=topic)
    assert [len(p) for p in got] == [2, 1]

    # Stock moto answers in one page.
    lenient_sfn = lenient.client("stepfunctions")
    role, _ = lenient.role("states.amazonaws.com")
    for n in names:
        lenient_sfn.create_state_machine(name=n, definition=PASS, roleArn=role)
    assert len(pages(lenient_sfn.list_state_machines, "stateMachines")) == 1
