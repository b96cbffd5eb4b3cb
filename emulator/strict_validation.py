"""Strict mode, validation part: what AWS refuses and stock moto 5.2.5 accepts, for
the fields batchnotify sends. In-process patches of moto's Batch, SNS, IAM and Step
Functions backends, installed by `moto_launcher.py` before it serves (`--lenient`
skips them). Each refusal comes in the service's own error shape: Batch
`ClientException` (JSON), SNS `InvalidParameter` (XML), IAM `ValidationError` /
`InvalidInput` / `LimitExceeded` (XML), Step Functions `ValidationException` /
`TooManyTags` (JSON).

"Check both ways": only what AWS's documentation says is refused is refused, and
where stock moto refuses what AWS accepts (Batch names of one or two characters,
SNS `FifoTopic=false`) strict mode accepts it.

Rules (each can be turned off with `--no-rule NAME`): batch-names, batch-tags,
batch-fargate-resources, sns-topic-name, sns-subscribe-endpoint, sns-tags,
iam-role-name, iam-role-path, iam-tags, sfn-tags.
"""

from __future__ import annotations

import argparse
import re
import uuid
from urllib.parse import urlsplit
from typing import Any, Callable, Iterable

from strict_batch import rule_enabled

RULES = (
    "batch-names",
    "batch-tags",
    "batch-fargate-resources",
    "sns-topic-name",
    "sns-subscribe-endpoint",
    "sns-tags",
    "iam-role-name",
    "iam-role-path",
    "iam-tags",
    "sfn-tags",
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """No options of its own: the rules are switched with --no-rule / --lenient."""


# --------------------------------------------------------------------- tags --
# "Tagging AWS resources": up to 50 user tags per resource; key 1-128 and value
# 0-256 Unicode characters; "You can't use aws: as a prefix ... it's reserved for
# AWS use." https://docs.aws.amazon.com/tag-editor/latest/userguide/tagging.html
# (Batch: https://docs.aws.amazon.com/batch/latest/userguide/using-tags.html
#  SNS: https://docs.aws.amazon.com/sns/latest/dg/sns-tags-configuring.html
#  IAM: https://docs.aws.amazon.com/IAM/latest/UserGuide/id_tags.html#id_tags_rules_creating
#  SFN: https://docs.aws.amazon.com/step-functions/latest/dg/sfn-best-practices.html#tagging)

MAX_TAGS = 50


def tag_problem(pairs: Iterable[tuple[str, str]], member: str = "tags") -> str | None:
    """The first problem with these (key, value) pairs, in AWS's validation wording."""
    for i, (key, value) in enumerate(pairs, 1):
        key, value = str(key), "" if value is None else str(value)
        if not 1 <= len(key) <= 128:
            bound = "greater than or equal to 1" if not key else "less than or equal to 128"
            return (
                f"1 validation error detected: Value '{key}' at '{member}.{i}.member.key' "
                f"failed to satisfy constraint: Member must have length {bound}"
            )
        if len(value) > 256:
            return (
                f"1 validation error detected: Value '{value}' at '{member}.{i}.member.value' "
                "failed to satisfy constraint: Member must have length less than or equal to 256"
            )
        if key.lower().startswith("aws:"):
            return f"Tag keys starting with 'aws:' are reserved for AWS use: '{key}'"
    return None


def too_many(existing: dict, new: dict) -> bool:
    return len({**existing, **new}) > MAX_TAGS


# -------------------------------------------------------------------- Batch --
# Names: "It can be up to 128 characters long. It can contain uppercase and
# lowercase letters, numbers, hyphens (-), and underscores (_)."
# https://docs.aws.amazon.com/batch/latest/APIReference/API_CreateComputeEnvironment.html
# https://docs.aws.amazon.com/batch/latest/APIReference/API_CreateJobQueue.html
# https://docs.aws.amazon.com/batch/latest/APIReference/API_RegisterJobDefinition.html
# Job names: "The first character must be alphanumeric"
# https://docs.aws.amazon.com/batch/latest/APIReference/API_SubmitJob.html
BATCH_NAME = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
BATCH_JOB_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$")

# Fargate vCPU -> MEMORY (MiB), from the ResourceRequirement page:
# https://docs.aws.amazon.com/batch/latest/APIReference/API_ResourceRequirement.html
FARGATE_MEMORY: dict[str, list[int]] = {
    "0.25": [512, 1024, 2048],
    "0.5": [1024, 2048, 3072, 4096],
    "1": list(range(2048, 8192 + 1, 1024)),
    "2": list(range(4096, 16384 + 1, 1024)),
    "4": list(range(8192, 30720 + 1, 1024)),
    "8": list(range(16384, 61440 + 1, 4096)),
    "16": list(range(32768, 122880 + 1, 8192)),
    "32": [61440, 122880, 249856],
}


def batch_error(message: str) -> Exception:
    from moto.batch.exceptions import ClientException

    return ClientException(message)


def batch_name(kind: str, name: Any) -> None:
    if isinstance(name, str) and not BATCH_NAME.match(name):
        raise batch_error(
            f"{kind} '{name}' is not valid: it can be up to 128 characters long and contain "
            "uppercase and lowercase letters, numbers, hyphens (-), and underscores (_)"
        )


def batch_tags(tags: Any, existing: dict | None = None) -> None:
    if not tags:
        return
    problem = tag_problem(tags.items())
    if problem:
        raise batch_error(problem)
    if too_many(existing or {}, tags):
        raise batch_error(
            "1 validation error detected: Value at 'tags' failed to satisfy constraint: "
            "Member must have length less than or equal to 50"
        )


def fargate_resources(container: dict) -> None:
    reqs = {r.get("type"): str(r.get("value")) for r in container.get("resourceRequirements") or []}
    vcpu, memory = reqs.get("VCPU"), reqs.get("MEMORY")
    request = f"RequestId: {uuid.uuid4()}"
    if vcpu is None or memory is None:
        missing = "vCPU" if vcpu is None else "memory"
        raise batch_error(f"Error executing request, Exception : {missing} is not provided., {request}")
    key = vcpu.rstrip("0").rstrip(".") if "." in vcpu else vcpu
    try:
        mem = int(memory)
    except ValueError:
        mem = -1
    if key not in FARGATE_MEMORY:
        raise batch_error(
            f"Error executing request, Exception : Fargate resource requirement VCPU={vcpu} is not "
            f"supported; supported values are {', '.join(FARGATE_MEMORY)}., {request}"
        )
    if mem not in FARGATE_MEMORY[key]:
        raise batch_error(
            f"Error executing request, Exception : Fargate resource requirement MEMORY={memory} is "
            f"not supported with VCPU={vcpu}; supported MEMORY values are "
            f"{', '.join(map(str, FARGATE_MEMORY[key]))}., {request}"
        )


def install_batch(args: Any) -> None:
    import moto.batch.models as batch_models
    from moto.batch.models import BatchBackend
    from moto.batch_simple.models import BatchSimpleBackend

    names, tags_on, fargate = (
        rule_enabled(args, r) for r in ("batch-names", "batch-tags", "batch-fargate-resources")
    )
    if names:
        # moto's own patterns refuse names AWS takes ("ab", "a", "x_"): use AWS's,
        # refused below as ClientException (moto's are InvalidParameterValue).
        batch_models.COMPUTE_ENVIRONMENT_NAME_REGEX = BATCH_NAME
        batch_models.JOB_NAME_REGEX = BATCH_JOB_NAME

    B = BatchBackend

    def wrap(cls: Any, method: str, check: Callable[..., None]) -> None:
        original = getattr(cls, method)

        def patched(self: Any, *a: Any, **kw: Any) -> Any:
            check(self, *a, **kw)
            return original(self, *a, **kw)

        setattr(cls, method, patched)

    def ce_check(self: Any, compute_environment_name: str, _type: Any = None, state: Any = None,
                 compute_resources: Any = None, service_role: Any = None, tags: Any = None) -> None:
        if names:
            batch_name("computeEnvironmentName", compute_environment_name)
        if tags_on:
            batch_tags(tags)

    def queue_check(self: Any, queue_name: str, *a: Any, tags: Any = None, **kw: Any) -> None:
        if names:
            batch_name("jobQueueName", queue_name)
        if tags_on:
            batch_tags(tags)

    def jd_check(self: Any, def_name: str, parameters: Any, _type: Any, tags: Any, retry_strategy: Any,
                 container_properties: Any, node_properties: Any, eks_properties: Any, timeout: Any,
                 platform_capabilities: Any, propagate_tags: Any) -> None:
        if names:
            batch_name("jobDefinitionName", def_name)
        if tags_on:
            batch_tags(tags)
        if fargate and "FARGATE" in (platform_capabilities or []) and container_properties is not None:
            fargate_resources(container_properties)

    def job_check(self: Any, job_name: str, *a: Any, tags: Any = None, **kw: Any) -> None:
        if names and isinstance(job_name, str) and not BATCH_JOB_NAME.match(job_name):
            raise batch_error(
                f"jobName '{job_name}' is not valid: it can be up to 128 characters long, its first "
                "character must be alphanumeric, and it can contain uppercase and lowercase letters, "
                "numbers, hyphens (-), and underscores (_)"
            )
        if tags_on:
            batch_tags(tags)

    def tag_check(self: Any, resource_arn: str, tags: Any) -> None:
        if tags_on:
            batch_tags(tags, self.list_tags_for_resource(resource_arn))

    wrap(B, "create_compute_environment", ce_check)
    wrap(B, "create_job_queue", queue_check)
    wrap(B, "register_job_definition", jd_check)
    wrap(B, "tag_resource", tag_check)
    # The Docker-free backend has its own submit_job (which checks no name at all).
    wrap(BatchSimpleBackend, "submit_job", job_check)
    wrap(B, "submit_job", job_check)


# ---------------------------------------------------------------------- SNS --


def install_sns(args: Any) -> None:
    from moto.sns.exceptions import SNSInvalidParameter, TagLimitExceededError
    from moto.sns.models import SNSBackend

    topic_name, endpoint, tags = (
        rule_enabled(args, r) for r in ("sns-topic-name", "sns-subscribe-endpoint", "sns-tags")
    )

    def check_tags(tag_dict: dict | None, existing: dict | None = None) -> None:
        if not tags or not tag_dict:
            return
        problem = tag_problem(tag_dict.items())
        if problem:
            raise SNSInvalidParameter(f"Invalid parameter: Tags Reason: {problem}")
        if too_many(existing or {}, tag_dict):
            raise TagLimitExceededError

    orig_create = SNSBackend.create_topic

    def create_topic(self: Any, name: str, attributes: dict | None = None, tags: dict | None = None) -> Any:
        # "Topic names must be made up of only uppercase and lowercase ASCII letters,
        # numbers, underscores, and hyphens, and must be between 1 and 256 characters
        # long. For a FIFO topic, the name must end with the .fifo suffix."
        # https://docs.aws.amazon.com/sns/latest/api/API_CreateTopic.html
        if topic_name and attributes and str(attributes.get("FifoTopic", "")).lower() == "false":
            # moto treats any FifoTopic value as true; AWS takes "false" as a standard topic.
            attributes = {k: v for k, v in attributes.items() if k != "FifoTopic"}
        if tags:
            check_tags(tags)
            # CreateTopic is idempotent only when the tags it names are the topic's:
            # AWS's "Invalid parameter: Tags Reason: Topic already exists with different
            # tags" (localstack#2405, quoting AWS).
            existing = next((t for t in list(self.topics.values()) if t.name == name), None)
            if existing is not None and any(existing._tags.get(k) != v for k, v in tags.items()):
                raise SNSInvalidParameter("Invalid parameter: Tags Reason: Topic already exists with different tags")
        return orig_create(self, name, attributes, tags)

    orig_subscribe = SNSBackend.subscribe

    def subscribe(self: Any, topic_arn: str, endpoint_value: str, protocol: str) -> Any:
        if endpoint:
            check_endpoint(protocol, endpoint_value or "")
        return orig_subscribe(self, topic_arn, endpoint_value, protocol)

    def check_endpoint(protocol: str, value: str) -> None:
        # https://docs.aws.amazon.com/sns/latest/api/API_Subscribe.html (Endpoint per Protocol)
        arn = re.compile(r"^arn:aws[a-zA-Z-]*:([a-z0-9-]+):[a-z0-9-]+:\d{12}:(.+)$")
        if protocol in ("email", "email-json"):
            if not re.match(r"^[^@\s]+@[^@\s]+\.[^@\s]+$", value):
                raise SNSInvalidParameter("Invalid parameter: Email address")
        elif protocol in ("http", "https"):
            # AWS's wording (argoproj/argo-events#414)
            # (user:password@ in the URL is allowed: SNS sends it as basic auth)
            try:
                url = urlsplit(value) if not re.search(r"\s", value) else None
                ok = url is not None and url.scheme.lower() == protocol and bool(url.hostname)
            except ValueError:
                ok = False
            if not ok:
                raise SNSInvalidParameter("Invalid parameter: Endpoint must match the specified protocol")
        elif protocol in ("sqs", "lambda", "firehose"):
            service = {"sqs": "sqs", "lambda": "lambda", "firehose": "firehose"}[protocol]
            match = arn.match(value)
            ok = bool(match) and match.group(1) == service
            if ok and protocol == "lambda":
                ok = match.group(2).startswith("function:")
            if ok and protocol == "firehose":
                ok = match.group(2).startswith("deliverystream/")
            if not ok:
                label = {"sqs": "SQS", "lambda": "Lambda", "firehose": "Firehose"}[protocol]
                raise SNSInvalidParameter(f"Invalid parameter: {label} endpoint ARN")
        elif protocol == "application":
            match = arn.match(value)
            if not (match and match.group(1) == "sns" and match.group(2).startswith("endpoint/")):
                raise SNSInvalidParameter("Invalid parameter: Application endpoint ARN")
        elif protocol != "sms":  # sms: moto already checks E.164
            raise SNSInvalidParameter(
                f"Invalid parameter: Amazon SNS does not support this protocol string: {protocol}"
            )

    orig_tag = SNSBackend.tag_resource

    def tag_resource(self: Any, resource_arn: str, tag_dict: dict) -> None:
        topic = self.topics.get(resource_arn)
        check_tags(tag_dict, topic._tags if topic is not None else None)
        return orig_tag(self, resource_arn, tag_dict)

    SNSBackend.create_topic = create_topic
    SNSBackend.subscribe = subscribe
    SNSBackend.tag_resource = tag_resource


# ---------------------------------------------------------------------- IAM --
# CreateRole: RoleName "[\w+=,.@-]+", length 1-64; Path
# "(\u002F)|(\u002F[\u0021-\u007E]+\u002F)", length 1-512.
# https://docs.aws.amazon.com/IAM/latest/APIReference/API_CreateRole.html
# https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html
ROLE_NAME = re.compile(r"^[\w+=,.@-]+$", re.ASCII)
ROLE_PATH = re.compile(r"^(/|/[\u0021-\u007E]+/)$")


def install_iam(args: Any) -> None:
    from moto.iam.exceptions import InvalidInput, LimitExceededException, ValidationError
    from moto.iam.models import IAMBackend

    name_on, path_on, tags_on = (rule_enabled(args, r) for r in ("iam-role-name", "iam-role-path", "iam-tags"))

    def check_tags(tags: list[dict[str, str]] | None) -> None:
        for tag in tags or []:
            if str(tag.get("Key", "")).lower().startswith("aws:"):
                raise InvalidInput(f"Tag keys starting with 'aws:' are reserved for AWS use: '{tag['Key']}'")

    orig_create = IAMBackend.create_role

    def create_role(self: Any, role_name: str, assume_role_policy_document: str, path: str, *a: Any, **kw: Any) -> Any:
        if name_on and role_name is not None:
            if len(role_name) > 64:
                raise ValidationError(
                    f"1 validation error detected: Value '{role_name}' at 'roleName' failed to satisfy "
                    "constraint: Member must have length less than or equal to 64"
                )
            if not ROLE_NAME.match(role_name):
                raise ValidationError(
                    f"1 validation error detected: Value '{role_name}' at 'roleName' failed to satisfy "
                    "constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]+"
                )
        if path_on and path is not None:
            if len(path) > 512:
                raise ValidationError(
                    f"1 validation error detected: Value '{path}' at 'path' failed to satisfy "
                    "constraint: Member must have length less than or equal to 512"
                )
            if not ROLE_PATH.match(path):
                raise ValidationError(
                    "The specified value for path is invalid. It must begin and end with / and "
                    "contain only alphanumeric characters and/or / characters."
                )
        if tags_on:
            tags = kw.get("tags", a[2] if len(a) > 2 else None)
            check_tags(tags)
        return orig_create(self, role_name, assume_role_policy_document, path, *a, **kw)

    orig_tag_role = IAMBackend.tag_role

    def tag_role(self: Any, role_name: str, tags: list[dict[str, str]]) -> None:
        check_tags(tags)
        role = self.get_role(role_name)
        merged = {t["Key"].lower() for t in role.tags} | {t["Key"].lower() for t in tags}
        if len(merged) > MAX_TAGS:
            # "Tags per IAM role: 50" https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html
            raise LimitExceededException("The number of tags has reached the maximum limit.")
        return orig_tag_role(self, role_name, tags)

    IAMBackend.create_role = create_role
    if tags_on:
        IAMBackend.tag_role = tag_role


# ------------------------------------------------------------ Step Functions --
# Names (1-80, no whitespace, brackets, wildcards, specials or control characters)
# are enforced by stock moto already. Tags: "Maximum number of tags per resource: 50"
# https://docs.aws.amazon.com/step-functions/latest/dg/service-quotas.html
# TooManyTags: https://docs.aws.amazon.com/step-functions/latest/apireference/API_TagResource.html


def install_sfn(args: Any) -> None:
    from moto.core.exceptions import AWSError
    from moto.stepfunctions.exceptions import ValidationException
    from moto.stepfunctions.models import StepFunctionBackend

    class TooManyTags(AWSError):
        TYPE = "TooManyTags"
        STATUS = 400

    def check(pairs: list[tuple[str, str]], existing: dict, arn: str) -> None:
        problem = tag_problem(pairs)
        if problem:
            raise ValidationException(problem)
        if too_many(existing, dict(pairs)):
            raise TooManyTags(
                f"Too many tags: {arn} can have at most {MAX_TAGS} tags"
            )

    orig_create = StepFunctionBackend.create_state_machine

    def create_state_machine(self: Any, name: str, definition: str, roleArn: str,
                             tags: list[dict[str, str]] | None = None, *a: Any, **kw: Any) -> Any:
        if tags:
            arn = f"arn:aws:states:{self.region_name}:{self.account_id}:stateMachine:{name}"
            check([(t.get("key", ""), t.get("value", "")) for t in tags], {}, arn)
        return orig_create(self, name, definition, roleArn, tags, *a, **kw)

    orig_tag = StepFunctionBackend.tag_resource

    def tag_resource(self: Any, arn: str, tags: dict[str, str]) -> None:
        existing = self.tagger.get_tag_dict_for_resource(arn)
        check(list(tags.items()), existing, arn)
        return orig_tag(self, arn, tags)

    StepFunctionBackend.create_state_machine = create_state_machine
    StepFunctionBackend.tag_resource = tag_resource


# ------------------------------------------------------------------ install --


def install(args: Any) -> None:
    install_batch(args)
    install_sns(args)
    install_iam(args)
    if rule_enabled(args, "sfn-tags"):
        install_sfn(args)
