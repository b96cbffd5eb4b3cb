"""The AWS side of `make demo` (scripts/demo.sh), against the emulator.

Run with the emulator virtualenv's python (boto3 and PyYAML are there), with
AWS_ENDPOINT_URL and the test bed's credentials in the environment:

  demo_aws.py principal NAME POLICY_FILE      creates IAM user NAME whose only policy is
                                              POLICY_FILE (the operator's) and prints
                                              "ACCESS_KEY SECRET" of a new key for it
  demo_aws.py queue NAME                      prints "URL ARN" of a new SQS queue
  demo_aws.py manifest FILE NAME QUEUE_ARN    prints FILE as JSON, named NAME, with the
                                              emulator's default subnets and security
                                              group, and an sqs subscription to QUEUE_ARN
                                              (what it put in: on stderr)
  demo_aws.py receive URL SECONDS             waits for one SNS notification on the queue
                                              and prints it (exit 1 if none arrives)
  demo_aws.py job JOB_ID                      prints a Batch job's status and reason
  demo_aws.py cause < CAUSE                   summarises status.lastRun.cause
  demo_aws.py gone UID                        lists the AWS resources still tagged for the
                                              object with this UID (exit 1 if any remain)
"""

from __future__ import annotations

import json
import os
import sys
import time
import urllib.request

import boto3
import yaml

REGION = os.environ.get("AWS_REGION", "us-east-1")
UID_TAG = "batchnotify.dev/uid"


def principal(name: str, policy_file: str) -> None:
    iam = boto3.client("iam", region_name=REGION)
    iam.create_user(UserName=name)
    with open(policy_file) as f:
        iam.put_user_policy(
            UserName=name, PolicyName="batchnotify-operator", PolicyDocument=f.read()
        )
    key = iam.create_access_key(UserName=name)["AccessKey"]
    print(key["AccessKeyId"], key["SecretAccessKey"])


def queue(name: str) -> None:
    sqs = boto3.client("sqs", region_name=REGION)
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    print(url, arn)


def network() -> dict:
    """The default VPC's subnets and security groups, as the emulator serves them."""
    url = f"{os.environ['AWS_ENDPOINT_URL']}/_batchnotify/network?region={REGION}"
    with urllib.request.urlopen(url, timeout=10) as resp:
        return json.load(resp)


def manifest(path: str, name: str, queue_arn: str, failure: str | None = None) -> None:
    with open(path) as f:
        obj = yaml.safe_load(f)
    obj["metadata"]["name"] = name
    net = network()
    ce = obj["spec"]["jobQueue"]["managed"]["computeEnvironment"]["managed"]
    ce["subnets"] = net["subnets"][:2]
    ce["securityGroupIds"] = net["securityGroupIds"][:1]
    topic = obj["spec"]["topic"]["managed"]
    topic["subscriptions"] = [{"protocol": "sqs", "endpoint": queue_arn}]
    if failure:
        obj["spec"]["messages"] = {"failure": failure}
    json.dump(obj, sys.stdout, indent=2)
    print()
    print(
        f"subnets {', '.join(ce['subnets'])} and security group {ce['securityGroupIds'][0]}"
        " (the emulator's default VPC)",
        file=sys.stderr,
    )


def job(job_id: str) -> int:
    batch = boto3.client("batch", region_name=REGION)
    jobs = batch.describe_jobs(jobs=[job_id]).get("jobs", [])
    if not jobs:
        print(f"no Batch job {job_id}", file=sys.stderr)
        return 1
    j = jobs[0]
    reason = f" ({j['statusReason']})" if j.get("statusReason") else ""
    definition = j["jobDefinition"].rsplit("/", 1)[-1]
    print(f"job {j['jobName']} {job_id} of {definition}: {j['status']}{reason}")
    return 0


def cause(text: str) -> None:
    """A one-line summary of a run's cause (for a failed Batch job: the job's description)."""
    try:
        described = json.loads(text)
    except ValueError:
        print(text)
        return
    if not isinstance(described, dict) or "JobId" not in described:
        print(text[:200])
        return
    print(
        f"the Batch job as Step Functions saw it ({len(text)} characters of JSON): "
        f"JobName {described.get('JobName')}, Status {described.get('Status')}"
        + (f", StatusReason {described['StatusReason']}" if described.get("StatusReason") else "")
    )


def receive(url: str, seconds: float) -> int:
    sqs = boto3.client("sqs", region_name=REGION)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1, WaitTimeSeconds=1)
        for m in got.get("Messages", []):
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
            try:
                envelope = json.loads(m["Body"])
            except ValueError:
                envelope = {"Message": m["Body"]}
            for key in ("Type", "TopicArn", "Subject", "Timestamp"):
                if envelope.get(key):
                    print(f"{key:>9}: {envelope[key]}")
            print(f"{'Message':>9}: {envelope.get('Message')}")
            return 0
    print(f"no message on {url} within {seconds:g} s", file=sys.stderr)
    return 1


def pages(client, operation: str, key: str, **kwargs) -> list:
    """Every item of a paged List/Describe (AWS, and the strict emulator, page)."""
    return [item for page in client.get_paginator(operation).paginate(**kwargs) for item in page[key]]


def gone(uid: str) -> int:
    """Resources still tagged for the object with this UID (the operator tags all it creates).
    A Batch queue or compute environment DELETING or DELETED is gone: AWS deletes
    them asynchronously and lists them for a while after."""
    left = []
    sns = boto3.client("sns", region_name=REGION)
    for t in pages(sns, "list_topics", "Topics"):
        tags = sns.list_tags_for_resource(ResourceArn=t["TopicArn"]).get("Tags", [])
        if {"Key": UID_TAG, "Value": uid} in tags:
            left.append(t["TopicArn"])
    sfn = boto3.client("stepfunctions", region_name=REGION)
    for m in pages(sfn, "list_state_machines", "stateMachines"):
        tags = sfn.list_tags_for_resource(resourceArn=m["stateMachineArn"]).get("tags", [])
        if {"key": UID_TAG, "value": uid} in tags:
            left.append(m["stateMachineArn"])
    iam = boto3.client("iam", region_name=REGION)
    for r in pages(iam, "list_roles", "Roles"):
        if r["RoleName"].startswith("bn-"):
            tags = iam.list_role_tags(RoleName=r["RoleName"]).get("Tags", [])
            if {"Key": UID_TAG, "Value": uid} in tags:
                left.append(r["Arn"])
    batch = boto3.client("batch", region_name=REGION)
    going = ("DELETING", "DELETED")
    for q in pages(batch, "describe_job_queues", "jobQueues"):
        if q.get("tags", {}).get(UID_TAG) == uid and q.get("status") not in going:
            left.append(q["jobQueueArn"])
    for ce in pages(batch, "describe_compute_environments", "computeEnvironments"):
        if ce.get("tags", {}).get(UID_TAG) == uid and ce.get("status") not in going:
            left.append(ce["computeEnvironmentArn"])
    for arn in left:
        print(f"still there: {arn}")
    return 1 if left else 0


def main(argv: list[str]) -> int:
    match argv:
        case ["principal", name, policy_file]:
            principal(name, policy_file)
        case ["queue", name]:
            queue(name)
        case ["manifest", path, name, queue_arn]:
            manifest(path, name, queue_arn)
        case ["manifest", path, name, queue_arn, failure]:
            manifest(path, name, queue_arn, failure)
        case ["receive", url, seconds]:
            return receive(url, float(seconds))
        case ["cause"]:
            cause(sys.stdin.read())
        case ["job", job_id]:
            return job(job_id)
        case ["gone", uid]:
            return gone(uid)
        case _:
            print(__doc__, file=sys.stderr)
            return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
