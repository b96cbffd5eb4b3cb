"""Several accounts, STS AssumeRole and its credentials in strict mode
(strict_access.py: sts-trust, sts-expiry; moto_launcher.py: accounts, the
interpreter's account). Run with the emulator's venv:
`pytest emulator/test_strict_sts.py`."""

from __future__ import annotations

import datetime
import json
import time
import urllib.request

from launch import (
    DEFAULT_ACCOUNT,
    batch_queue,
    client,
    container_job_definition,
    endpoint_of,
    received,
    sqs_subscriber,
    start,
    stop,
    suffix,
)

import botocore.exceptions
import pytest
from botocore.config import Config

A = DEFAULT_ACCOUNT  # the operator's account
B = "222222222222"  # a team's account
CAP = 2.0  # --assumed-role-seconds of the `short` server
NO_RETRY = Config(retries={"total_max_attempts": 1})
# boto3 checks lengths client-side; the server's validation needs it off.
UNCHECKED = Config(retries={"total_max_attempts": 1}, parameter_validation=False)
STATES_TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "states.amazonaws.com"}, "Action": "sts:AssumeRole"}
    ],
}


def document(*statements: dict) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def allow(action, resource="*", **extra) -> dict:
    return dict({"Effect": "Allow", "Action": action, "Resource": resource}, **extra)


def trusting(principal, actions=("sts:AssumeRole", "sts:TagSession"), condition=None) -> str:
    statement = {"Effect": "Allow", "Principal": principal, "Action": list(actions)}
    if condition:
        statement["Condition"] = condition
    return document(statement)


def keys(credentials: dict) -> dict:
    """boto3 arguments from an AssumeRole answer's Credentials."""
    return {
        "aws_access_key_id": credentials["AccessKeyId"],
        "aws_secret_access_key": credentials["SecretAccessKey"],
        "aws_session_token": credentials["SessionToken"],
    }


class Emulator:
    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint

    def client(self, service: str, account: str | None = None, config=NO_RETRY, **credentials):
        return client(service, self.endpoint, account, config, **credentials)

    def user(self, *statements: dict, account: str | None = None) -> tuple[dict, str]:
        """An IAM user with these policy statements (in `account`, else A): its
        credentials and ARN."""
        iam = self.client("iam", account)
        name = f"op-{suffix()}"
        arn = iam.create_user(UserName=name)["User"]["Arn"]
        if statements:
            iam.put_user_policy(UserName=name, PolicyName="p", PolicyDocument=document(*statements))
        key = iam.create_access_key(UserName=name)["AccessKey"]
        return {"aws_access_key_id": key["AccessKeyId"], "aws_secret_access_key": key["SecretAccessKey"]}, arn

    def role(self, trust: str, *statements: dict, account: str = B, **kwargs) -> str:
        """A role in `account` with this trust policy and identity policy; its ARN."""
        iam = self.client("iam", account)
        name = f"team-{suffix()}"
        arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust, **kwargs)["Role"]["Arn"]
        if statements:
            iam.put_role_policy(RoleName=name, PolicyName="p", PolicyDocument=document(*statements))
        return arn

    def assume(self, credentials: dict, role: str, **kwargs) -> dict:
        kwargs.setdefault("RoleSessionName", "bn-test-ns")
        return self.client("sts", **credentials).assume_role(RoleArn=role, **kwargs)

    def get(self, path: str) -> dict:
        with urllib.request.urlopen(self.endpoint + path) as resp:
            return json.load(resp)


@pytest.fixture(scope="module")
def servers():
    procs = {
        "strict": start(),
        # Credentials that expire in CAP seconds; sts-trust off.
        "short": start("--assumed-role-seconds", str(CAP), "--no-rule", "sts-trust"),
    }
    try:
        yield {name: Emulator(endpoint_of(proc)) for name, proc in procs.items()}
    finally:
        stop(*procs.values())


@pytest.fixture(scope="module")
def strict(servers) -> Emulator:
    return servers["strict"]


@pytest.fixture(scope="module")
def short(servers) -> Emulator:
    return servers["short"]


def error_of(call) -> tuple[str, str, int]:
    with pytest.raises(botocore.exceptions.ClientError) as err:
        call()
    response = err.value.response
    return (
        response["Error"]["Code"],
        response["Error"].get("Message", ""),
        response["ResponseMetadata"]["HTTPStatusCode"],
    )


def not_authorized(principal: str, role: str, action: str = "sts:AssumeRole") -> tuple[str, str, int]:
    return (
        "AccessDenied",
        f"User: {principal} is not authorized to perform: {action} on resource: {role}",
        403,
    )


def test_each_account_has_its_own_resources(strict):
    name = f"t-{suffix()}"
    in_b = strict.client("sns", B).create_topic(Name=name)["TopicArn"]
    assert in_b == f"arn:aws:sns:us-east-1:{B}:{name}"
    assert in_b not in [t["TopicArn"] for t in strict.client("sns").list_topics()["Topics"]]
    assert strict.client("sts", B).get_caller_identity()["Account"] == B
    # A user made in B acts in B; a non-root key's x-moto-account-id is ignored.
    user_b, arn_b = strict.user(allow("sns:*"), account=B)
    assert arn_b == f"arn:aws:iam::{B}:user/{arn_b.rsplit('/', 1)[-1]}"
    assert strict.client("sts", **user_b).get_caller_identity()["Arn"] == arn_b
    seen = [t["TopicArn"] for t in strict.client("sns", A, **user_b).list_topics()["Topics"]]
    assert in_b in seen
    user_a, _ = strict.user(allow("sns:*"))
    seen = [t["TopicArn"] for t in strict.client("sns", B, **user_a).list_topics()["Topics"]]
    assert in_b not in seen
    # Each account has its own default VPC.
    network_a = strict.get("/_batchnotify/network?region=us-east-1")
    network_b = strict.get(f"/_batchnotify/network?region=us-east-1&account={B}")
    assert network_b["subnets"] and not set(network_a["subnets"]) & set(network_b["subnets"])
    ec2 = strict.client("ec2", B)
    assert set(network_b["subnets"]) <= {n["SubnetId"] for n in ec2.describe_subnets()["Subnets"]}


def test_an_assumed_role_acts_in_its_account(strict):
    external = f"xid-{suffix()}"
    user, user_arn = strict.user(allow(["sts:AssumeRole", "sts:TagSession"], f"arn:aws:iam::{B}:role/team-*"))
    role = strict.role(
        trusting({"AWS": f"arn:aws:iam::{A}:root"}, condition={"StringEquals": {"sts:ExternalId": external}}),
        allow(["sns:*"]),
    )
    answer = strict.assume(
        user, role, ExternalId=external, Tags=[{"Key": "namespace", "Value": "ns"}], DurationSeconds=900
    )
    session = answer["AssumedRoleUser"]["Arn"]
    assert session == f"arn:aws:sts::{B}:assumed-role/{role.rsplit('/', 1)[-1]}/bn-test-ns"
    expires = answer["Credentials"]["Expiration"] - datetime.datetime.now(datetime.timezone.utc)
    assert 880 < expires.total_seconds() <= 900
    creds = keys(answer["Credentials"])
    identity = strict.client("sts", **creds).get_caller_identity()
    assert (identity["Account"], identity["Arn"]) == (B, session)
    name = f"t-{suffix()}"
    topic = strict.client("sns", **creds).create_topic(Name=name)["TopicArn"]
    assert topic == f"arn:aws:sns:us-east-1:{B}:{name}"
    assert topic in [t["TopicArn"] for t in strict.client("sns", B).list_topics()["Topics"]]
    assert topic not in [t["TopicArn"] for t in strict.client("sns").list_topics()["Topics"]]
    principals = strict.get("/_batchnotify/principals")
    assert principals[user["aws_access_key_id"]] == {"arn": user_arn, "account": A, "type": "user"}
    mine = principals[creds["aws_access_key_id"]]
    assert (mine["arn"], mine["account"], mine["role"], mine["type"]) == (session, B, role, "assumed-role")
    assert principals["testing"]["account"] == A
    # Requests stay counted by access key.
    assert strict.get("/_batchnotify/requests")[creds["aws_access_key_id"]]["sns:CreateTopic"] == 1


def test_the_trust_policy_decides_who_may_assume(strict):
    user, user_arn = strict.user(allow(["sts:AssumeRole", "sts:TagSession"]))
    external = f"xid-{suffix()}"
    third_party = strict.role(
        trusting({"AWS": A}, condition={"StringEquals": {"sts:ExternalId": external}})
    )
    # No external ID, the wrong one: refused in AWS's words.
    assert error_of(lambda: strict.assume(user, third_party)) == not_authorized(user_arn, third_party)
    assert error_of(lambda: strict.assume(user, third_party, ExternalId="xid-wrong")) == not_authorized(
        user_arn, third_party
    )
    strict.assume(user, third_party, ExternalId=external)
    # A role that does not exist is refused the same way.
    missing = f"arn:aws:iam::{B}:role/no-such-{suffix()}"
    assert error_of(lambda: strict.assume(user, missing)) == not_authorized(user_arn, missing)
    # A trust policy naming another user.
    other, other_arn = strict.user(allow("sts:AssumeRole"))
    for_other = strict.role(trusting({"AWS": other_arn}))
    assert error_of(lambda: strict.assume(user, for_other)) == not_authorized(user_arn, for_other)
    strict.assume(other, for_other)
    # Conditions on the principal: aws:PrincipalArn, aws:PrincipalAccount.
    by_arn = strict.role(trusting("*", condition={"ArnEquals": {"aws:PrincipalArn": other_arn}}))
    assert error_of(lambda: strict.assume(user, by_arn))[0] == "AccessDenied"
    strict.assume(other, by_arn)
    by_account = strict.role(trusting({"AWS": "*"}, condition={"StringEquals": {"aws:PrincipalAccount": B}}))
    assert error_of(lambda: strict.assume(user, by_account))[0] == "AccessDenied"
    user_b, _ = strict.user(allow("sts:AssumeRole"), account=B)
    strict.assume(user_b, by_account)
    # An explicit Deny in the trust policy wins.
    denying = strict.role(document(
        {"Effect": "Allow", "Principal": {"AWS": A}, "Action": "sts:AssumeRole"},
        {"Effect": "Deny", "Principal": {"AWS": user_arn}, "Action": "sts:AssumeRole"},
    ))
    assert error_of(lambda: strict.assume(user, denying)) == not_authorized(user_arn, denying)
    # The root user may not assume roles at all.
    anyone = strict.role(trusting({"AWS": A}))
    assert error_of(lambda: strict.client("sts").assume_role(RoleArn=anyone, RoleSessionName="root")) == (
        "AccessDenied", "Roles may not be assumed by root accounts.", 403
    )


def test_the_callers_own_policy_must_allow_it_too(strict):
    role = strict.role(trusting({"AWS": A}))
    # Across accounts both sides must allow.
    nothing, nothing_arn = strict.user(allow("sns:ListTopics"))
    code, message, status = error_of(lambda: strict.assume(nothing, role))
    assert (code, status) == ("AccessDenied", 403)
    assert message == (
        f"User: {nothing_arn} is not authorized to perform: sts:AssumeRole on resource: {role} "
        "because no identity-based policy allows the sts:AssumeRole action"
    )
    elsewhere, _ = strict.user(allow("sts:AssumeRole", f"arn:aws:iam::{B}:role/elsewhere"))
    assert error_of(lambda: strict.assume(elsewhere, role))[0] == "AccessDenied"
    denied, _ = strict.user(allow("sts:AssumeRole"), {"Effect": "Deny", "Action": "sts:*", "Resource": "*"})
    code, message, _ = error_of(lambda: strict.assume(denied, role))
    assert code == "AccessDenied" and message.endswith("with an explicit deny in an identity-based policy")
    # In the role's own account a trust policy naming the user is enough...
    user_b, user_b_arn = strict.user(account=B)
    strict.assume(user_b, strict.role(trusting({"AWS": user_b_arn})))
    # ... one naming the account delegates to the user's own policies.
    code, message, _ = error_of(lambda: strict.assume(user_b, strict.role(trusting({"AWS": B}))))
    assert code == "AccessDenied" and "because no identity-based policy allows" in message


def test_session_tags_need_tag_session_on_both_sides(strict):
    tags = [{"Key": "namespace", "Value": "ns"}]
    user, user_arn = strict.user(allow(["sts:AssumeRole", "sts:TagSession"]))
    untagged = strict.role(trusting({"AWS": A}, actions=["sts:AssumeRole"]))
    strict.assume(user, untagged)
    assert error_of(lambda: strict.assume(user, untagged, Tags=tags)) == not_authorized(
        user_arn, untagged, "sts:TagSession"
    )
    tagged = strict.role(trusting({"AWS": A}))
    strict.assume(user, tagged, Tags=tags, TransitiveTagKeys=["namespace"])
    assume_only, assume_only_arn = strict.user(allow("sts:AssumeRole"))
    strict.assume(assume_only, tagged)
    code, message, _ = error_of(lambda: strict.assume(assume_only, tagged, Tags=tags))
    assert code == "AccessDenied"
    assert message.startswith(f"User: {assume_only_arn} is not authorized to perform: sts:TagSession on resource: {tagged}")
    # Conditions on the tags being passed: aws:RequestTag/KEY, aws:TagKeys.
    only_namespace = strict.role(document(
        {"Effect": "Allow", "Principal": {"AWS": A}, "Action": "sts:AssumeRole"},
        {
            "Effect": "Allow",
            "Principal": {"AWS": A},
            "Action": "sts:TagSession",
            "Condition": {
                "StringLike": {"aws:RequestTag/namespace": "team-*"},
                "ForAllValues:StringEquals": {"aws:TagKeys": ["namespace", "cluster"]},
            },
        },
    ))
    strict.assume(user, only_namespace, Tags=[{"Key": "namespace", "Value": "team-a"}, {"Key": "cluster", "Value": "c"}])
    assert error_of(lambda: strict.assume(user, only_namespace, Tags=[{"Key": "namespace", "Value": "x"}]))[0] == (
        "AccessDenied"
    )
    assert error_of(lambda: strict.assume(
        user, only_namespace, Tags=[{"Key": "namespace", "Value": "team-a"}, {"Key": "owner", "Value": "me"}]
    ))[0] == "AccessDenied"


def test_assume_role_parameters_are_validated(strict):
    user, _ = strict.user(allow(["sts:AssumeRole", "sts:TagSession"]))
    role = strict.role(trusting({"AWS": A}), MaxSessionDuration=7200)
    sts = strict.client("sts", config=UNCHECKED, **user)

    def refused(**kwargs) -> tuple[str, str, int]:
        kwargs.setdefault("RoleSessionName", "bn-test-ns")
        return error_of(lambda: sts.assume_role(RoleArn=role, **kwargs))

    assert refused(DurationSeconds=899) == (
        "ValidationError",
        "1 validation error detected: Value '899' at 'durationSeconds' failed to satisfy constraint: "
        "Member must have value greater than or equal to 900",
        400,
    )
    assert refused(DurationSeconds=7201) == (
        "ValidationError", "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.", 400
    )
    answer = sts.assume_role(RoleArn=role, RoleSessionName="bn-test-ns", DurationSeconds=7200)
    expires = answer["Credentials"]["Expiration"] - datetime.datetime.now(datetime.timezone.utc)
    assert 7100 < expires.total_seconds() <= 7200
    # Role chaining: at most one hour.
    chained = strict.role(trusting({"AWS": role}))
    strict.client("iam", B).put_role_policy(
        RoleName=role.rsplit("/", 1)[-1], PolicyName="p", PolicyDocument=document(allow("sts:AssumeRole"))
    )
    session = strict.client("sts", config=UNCHECKED, **keys(answer["Credentials"]))
    assert error_of(lambda: session.assume_role(RoleArn=chained, RoleSessionName="hop", DurationSeconds=3601)) == (
        "ValidationError",
        "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining.",
        400,
    )
    session.assume_role(RoleArn=chained, RoleSessionName="hop", DurationSeconds=3600)
    # The default MaxSessionDuration is one hour.
    assert refused_default(strict, user)[1] == "The requested DurationSeconds exceeds the MaxSessionDuration set for this role."
    code, message, status = refused(ExternalId="bad id!")
    assert (code, status) == ("ValidationError", 400)
    assert message == (
        "1 validation error detected: Value 'bad id!' at 'externalId' failed to satisfy constraint: "
        r"Member must satisfy regular expression pattern: [\w+=,.@:\/-]*"
    )
    assert refused(ExternalId="x")[0] == "ValidationError"
    assert refused(ExternalId="x" * 1225)[0] == "ValidationError"
    sts.assume_role(RoleArn=role, RoleSessionName="bn-test-ns", ExternalId="a:b/c=d@e.f-g_h+i,j")
    assert refused(RoleSessionName="a")[0] == "ValidationError"
    assert refused(RoleSessionName="a" * 65)[0] == "ValidationError"
    code, message, _ = refused(RoleSessionName="bn test")
    assert code == "ValidationError" and "at 'roleSessionName'" in message
    code, message, _ = refused(RoleSessionName="a", DurationSeconds=100)
    assert message.startswith("2 validation errors detected: ")


def refused_default(strict: Emulator, user: dict) -> tuple[str, str, int]:
    role = strict.role(trusting({"AWS": A}))
    return error_of(lambda: strict.assume(user, role, DurationSeconds=3601))


def test_an_assumed_roles_policies_and_session_tags_decide_its_requests(strict):
    user, _ = strict.user(allow(["sts:AssumeRole", "sts:TagSession"]))
    # ABAC: topics named after the session's namespace tag, in the role's account.
    role = strict.role(
        trusting({"AWS": A}),
        allow("sns:CreateTopic", f"arn:aws:sns:*:{B}:${{aws:PrincipalTag/namespace}}-*"),
        allow("sns:ListTopics", Condition={"StringEquals": {"aws:PrincipalAccount": B}}),
    )
    name = role.rsplit("/", 1)[-1]
    iam = strict.client("iam", B)
    # An attached managed policy counts as well; aws:PrincipalArn is the role's ARN.
    policy = iam.create_policy(
        PolicyName=f"p-{suffix()}",
        PolicyDocument=document(allow("sns:GetTopicAttributes", Condition={"ArnEquals": {"aws:PrincipalArn": role}})),
    )["Policy"]["Arn"]
    iam.attach_role_policy(RoleName=name, PolicyArn=policy)
    team_a = keys(strict.assume(user, role, Tags=[{"Key": "namespace", "Value": "team-a"}])["Credentials"])
    sns = strict.client("sns", **team_a)
    topic = sns.create_topic(Name=f"team-a-{suffix()}")["TopicArn"]
    sns.list_topics()
    sns.get_topic_attributes(TopicArn=topic)
    code, message, _ = error_of(lambda: sns.create_topic(Name="team-b-x"))
    assert code == "AuthorizationError"
    assert f"User: arn:aws:sts::{B}:assumed-role/{name}/bn-test-ns is not authorized" in message
    assert f"on resource: arn:aws:sns:us-east-1:{B}:team-b-x" in message
    # Another session of the same role, another namespace.
    team_b = keys(strict.assume(user, role, Tags=[{"Key": "namespace", "Value": "team-b"}])["Credentials"])
    strict.client("sns", **team_b).create_topic(Name="team-b-x")
    # The role's policy changes apply at once to its sessions.
    iam.delete_role_policy(RoleName=name, PolicyName="p")
    assert error_of(lambda: sns.list_topics())[0] == "AuthorizationError"


def test_trust_changes_and_deletion_affect_the_next_assume_role_only(strict):
    user, user_arn = strict.user(allow("sts:AssumeRole"))
    role = strict.role(trusting({"AWS": A}), allow("sns:ListTopics"))
    name = role.rsplit("/", 1)[-1]
    creds = keys(strict.assume(user, role)["Credentials"])
    iam = strict.client("iam", B)
    iam.update_assume_role_policy(RoleName=name, PolicyDocument=trusting({"AWS": f"arn:aws:iam::{B}:root"}))
    assert error_of(lambda: strict.assume(user, role)) == not_authorized(user_arn, role)
    strict.client("sns", **creds).list_topics()  # unexpired credentials keep working
    iam.delete_role_policy(RoleName=name, PolicyName="p")
    iam.delete_role(RoleName=name)
    assert error_of(lambda: strict.assume(user, role)) == not_authorized(user_arn, role)
    # The session is still authenticated, but no policy of the deleted role is
    # left to allow anything.
    session = strict.client("sts", **creds).get_caller_identity()["Arn"]
    assert session == f"arn:aws:sts::{B}:assumed-role/{name}/bn-test-ns"
    assert error_of(lambda: strict.client("sns", **creds).list_topics())[0] == "AuthorizationError"


def test_assumed_role_credentials_expire(short):
    user, _ = short.user(allow("sts:AssumeRole"))
    # sts-trust is off on this server: any role, trusted or not, is assumed.
    role = short.role(trusting({"Service": "states.amazonaws.com"}), allow("*"))
    answer = short.assume(user, role, DurationSeconds=3600)
    expiration = answer["Credentials"]["Expiration"]
    left = (expiration - datetime.datetime.now(datetime.timezone.utc)).total_seconds()
    assert 0 < left <= CAP  # the Expiration an SDK refreshes by says so
    creds = keys(answer["Credentials"])
    short.client("sns", **creds).list_topics()
    time.sleep(max(0.0, (expiration - datetime.datetime.now(datetime.timezone.utc)).total_seconds()) + 0.2)
    message = "The security token included in the request is expired"
    calls = {
        "sns": (lambda c: c.list_topics(), ("ExpiredToken", 403)),
        "iam": (lambda c: c.list_roles(), ("ExpiredToken", 403)),
        "sts": (lambda c: c.get_caller_identity(), ("ExpiredToken", 403)),
        "sqs": (lambda c: c.list_queues(), ("ExpiredToken", 403)),
        "stepfunctions": (lambda c: c.list_state_machines(), ("ExpiredTokenException", 400)),
        "events": (lambda c: c.list_rules(), ("ExpiredTokenException", 400)),
        "batch": (lambda c: c.describe_job_queues(), ("ExpiredTokenException", 403)),
    }
    for service, (call, (code, status)) in calls.items():
        assert error_of(lambda: call(short.client(service, **creds))) == (code, message, status), service
    # New credentials work again.
    fresh = keys(short.assume(user, role)["Credentials"])
    short.client("sns", **fresh).list_topics()


def test_a_state_machine_in_another_account_runs_its_tasks_there(strict):
    """The "Manage a Batch Job" sample, end to end in B, by an assumed role:
    the interpreter's batch:submitJob.sync and sns:publish act in B."""
    tag = suffix()
    queue = batch_queue(strict.endpoint, f"q-{tag}", account=B)
    definition = container_job_definition(strict.endpoint, f"jd-{tag}", account=B)
    assert queue.split(":")[4] == definition.split(":")[4] == B
    states_role = strict.client("iam", B).create_role(
        RoleName=f"sm-{tag}", AssumeRolePolicyDocument=json.dumps(STATES_TRUST)
    )["Role"]["Arn"]
    created = time.monotonic()
    user, _ = strict.user(allow(["sts:AssumeRole", "sts:TagSession"]))
    role = strict.role(trusting({"AWS": A}), allow(["states:*", "sns:*"]), allow("iam:PassRole", states_role))
    creds = keys(strict.assume(user, role, Tags=[{"Key": "namespace", "Value": "ns"}])["Credentials"])
    topic = strict.client("sns", **creds).create_topic(Name=f"t-{tag}")["TopicArn"]
    assert topic.split(":")[4] == B
    inbox = sqs_subscriber(strict.endpoint, topic, account=B)
    sample = {
        "StartAt": "Submit Batch Job",
        "States": {
            "Submit Batch Job": {
                "Type": "Task",
                "Resource": "arn:aws:states:::batch:submitJob.sync",
                "Parameters": {"JobName": f"job-{tag}", "JobQueue": queue, "JobDefinition": definition},
                "Next": "Notify Success",
            },
            "Notify Success": {
                "Type": "Task",
                "Resource": "arn:aws:states:::sns:publish",
                "Parameters": {"Message": "Batch job submitted through Step Functions succeeded", "TopicArn": topic},
                "End": True,
            },
        },
    }
    # The execution's status-change events go to B's default bus.
    events, sqs = strict.client("events", B), strict.client("sqs", B)
    rule = events.put_rule(
        Name=f"r-{tag}", EventPattern=json.dumps({"source": ["aws.states"], "account": [B]})
    )["RuleArn"]
    assert rule.split(":")[4] == B
    changes = sqs.create_queue(QueueName=f"events-{tag}")["QueueUrl"]
    changes_arn = sqs.get_queue_attributes(QueueUrl=changes, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sqs.set_queue_attributes(QueueUrl=changes, Attributes={"Policy": document({
        "Effect": "Allow", "Principal": {"Service": "events.amazonaws.com"}, "Action": "sqs:SendMessage",
        "Resource": changes_arn, "Condition": {"ArnEquals": {"aws:SourceArn": rule}},
    })})
    events.put_targets(Rule=f"r-{tag}", Targets=[{"Id": "queue", "Arn": changes_arn}])
    sfn = strict.client("stepfunctions", **creds)
    time.sleep(max(0.0, created + 1.6 - time.monotonic()))  # iam-propagation
    machine = sfn.create_state_machine(name=f"sm-{tag}", definition=json.dumps(sample), roleArn=states_role)[
        "stateMachineArn"
    ]
    assert machine.split(":")[4] == B
    execution = sfn.start_execution(stateMachineArn=machine)["executionArn"]
    deadline = time.monotonic() + 60
    while (done := sfn.describe_execution(executionArn=execution))["status"] == "RUNNING":
        assert time.monotonic() < deadline, "execution still RUNNING"
        time.sleep(0.1)
    assert done["status"] == "SUCCEEDED", done
    jobs = strict.client("batch", B).list_jobs(jobQueue=queue, jobStatus="SUCCEEDED")["jobSummaryList"]
    assert [j["jobName"] for j in jobs] == [f"job-{tag}"]
    assert received(strict.endpoint, inbox, account=B) == ["Batch job submitted through Step Functions succeeded"]
    statuses = [json.loads(body)["detail"]["status"] for body in received(strict.endpoint, changes, 2, account=B)]
    assert statuses == ["RUNNING", "SUCCEEDED"]
    # Account A has none of it.
    pages = strict.client("stepfunctions").get_paginator("list_state_machines").paginate()
    assert machine not in [m["stateMachineArn"] for page in pages for m in page["stateMachines"]]
    assert not strict.client("batch").describe_job_queues(jobQueues=[f"q-{tag}"])["jobQueues"]
