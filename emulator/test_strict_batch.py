"""Strict mode, Batch part (strict_batch.py): lifecycles that take time, jobs that
pass every state, RUNNABLE holds and jobStateTimeLimitActions, Step Functions
`.sync` waits, and Fargate networking. Each test fails against `--lenient`:
`STRICT_TEST_MODE=lenient pytest emulator/test_strict_batch.py` shows it."""

from __future__ import annotations

import json
import os
import time

from launch import client, endpoint_of, start, state_machine, stop, suffix, wait_for

import botocore.exceptions
import pytest

# STRICT_TEST_MODE=lenient runs these tests against --lenient, where they fail.
MODE = ["--lenient"] if os.environ.get("STRICT_TEST_MODE") == "lenient" else []
REGION = "us-east-1"
ACCOUNT = "123456789012"
SERVICE_ROLE = f"arn:aws:iam::{ACCOUNT}:role/aws-service-role/batch.amazonaws.com/AWSServiceRoleForBatch"
HOLD = "hold-me"
STEP = 0.5  # batch-job-step, seconds
CAPACITY = "CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY"




@pytest.fixture(scope="module")
def endpoint():
    proc = start("--delays", "fast",
         # A little longer than the fast 0.3 s, so that polling on a busy machine
         # still sees every state.
         "--delay", f"batch-job-step={STEP}",
         "--hold-runnable-matching", HOLD, *MODE)
    yield endpoint_of(proc)
    stop(proc)


def refused(call, *args, **kwargs) -> dict:
    with pytest.raises(botocore.exceptions.ClientError) as err:
        call(*args, **kwargs)
    return err.value.response["Error"]


def ce_status(batch, arn: str) -> str:
    return batch.describe_compute_environments(computeEnvironments=[arn])["computeEnvironments"][0]["status"]


def queue_status(batch, arn: str) -> str:
    return batch.describe_job_queues(jobQueues=[arn])["jobQueues"][0]["status"]


def unmanaged_ce(batch, name: str) -> str:
    return batch.create_compute_environment(
        computeEnvironmentName=name, type="UNMANAGED", state="ENABLED", serviceRole=SERVICE_ROLE
    )["computeEnvironmentArn"]


def fargate_ce(batch, name: str, subnets: list[str], groups: list[str]) -> str:
    return batch.create_compute_environment(
        computeEnvironmentName=name,
        type="MANAGED",
        state="ENABLED",
        serviceRole=SERVICE_ROLE,
        computeResources={"type": "FARGATE", "maxvCpus": 4, "subnets": subnets, "securityGroupIds": groups},
    )["computeEnvironmentArn"]


def queue_on(batch, name: str, ce: str, **extra) -> str:
    wait_for(lambda: ce_status(batch, ce), lambda s: s == "VALID")
    arn = batch.create_job_queue(
        jobQueueName=name, state="ENABLED", priority=1,
        computeEnvironmentOrder=[{"order": 1, "computeEnvironment": ce}], **extra,
    )["jobQueueArn"]
    wait_for(lambda: queue_status(batch, arn), lambda s: s == "VALID")
    return arn


def ec2_job_definition(batch, name: str) -> str:
    return batch.register_job_definition(
        jobDefinitionName=name,
        type="container",
        containerProperties={
            "image": "busybox",
            "command": ["echo", "hello"],
            "resourceRequirements": [{"type": "VCPU", "value": "1"}, {"type": "MEMORY", "value": "2048"}],
        },
    )["jobDefinitionArn"]


def fargate_job_definition(batch, name: str, public_ip: str) -> str:
    return batch.register_job_definition(
        jobDefinitionName=name,
        type="container",
        platformCapabilities=["FARGATE"],
        containerProperties={
            "image": "busybox",
            "command": ["echo", "hello"],
            "resourceRequirements": [{"type": "VCPU", "value": "0.25"}, {"type": "MEMORY", "value": "512"}],
            "executionRoleArn": SERVICE_ROLE,
            "networkConfiguration": {"assignPublicIp": public_ip},
        },
    )["jobDefinitionArn"]


def follow(batch, job_ids: list[str], timeout: float = 20.0) -> dict[str, tuple[list[str], dict]]:
    """Polls until every job ends: {job id: (statuses seen in order, last description)}."""
    seen: dict[str, list[str]] = {j: [] for j in job_ids}
    last: dict[str, dict] = {}
    deadline = time.monotonic() + timeout
    while True:
        for job in batch.describe_jobs(jobs=job_ids)["jobs"]:
            statuses = seen[job["jobId"]]
            if not statuses or statuses[-1] != job["status"]:
                statuses.append(job["status"])
            last[job["jobId"]] = job
        if all(last.get(j, {}).get("status") in ("SUCCEEDED", "FAILED") for j in job_ids):
            return {j: (seen[j], last[j]) for j in job_ids}
        assert time.monotonic() < deadline, f"jobs not done after {timeout} s: {seen}"
        time.sleep(0.05)


ALL_STATES = ["SUBMITTED", "PENDING", "RUNNABLE", "STARTING", "RUNNING"]


# ------------------------------------------------------------------ rule 1 --


def test_compute_environment_and_queue_lifecycles_take_time(endpoint):
    batch = client("batch", endpoint)
    s = suffix()
    ce = unmanaged_ce(batch, f"life-{s}")
    assert ce_status(batch, ce) == "CREATING"
    # "Compute environments must be in the VALID state before you can associate them"
    error = refused(
        batch.create_job_queue, jobQueueName=f"life-{s}", state="ENABLED", priority=1,
        computeEnvironmentOrder=[{"order": 1, "computeEnvironment": ce}],
    )
    assert error["Code"] == "ClientException" and "VALID" in error["Message"]
    wait_for(lambda: ce_status(batch, ce), lambda st: st == "VALID")
    described = batch.describe_compute_environments(computeEnvironments=[ce])["computeEnvironments"][0]
    assert described["statusReason"] == "ComputeEnvironment Healthy"

    queue = batch.create_job_queue(
        jobQueueName=f"life-{s}", state="ENABLED", priority=1,
        computeEnvironmentOrder=[{"order": 1, "computeEnvironment": ce}],
    )["jobQueueArn"]
    assert queue_status(batch, queue) == "CREATING"
    error = refused(batch.update_job_queue, jobQueue=queue, priority=2)
    assert error == {"Code": "ClientException", "Message": "Cannot update, resource is being modified"}
    wait_for(lambda: queue_status(batch, queue), lambda st: st == "VALID")

    # DeleteComputeEnvironment: ENABLED, then still used by a queue.
    error = refused(batch.delete_compute_environment, computeEnvironment=ce)
    assert error["Code"] == "ClientException" and "DISABLED" in error["Message"]
    batch.update_compute_environment(computeEnvironment=ce, state="DISABLED")
    assert ce_status(batch, ce) == "UPDATING"
    error = refused(batch.update_compute_environment, computeEnvironment=ce, state="ENABLED")
    assert error["Message"] == "Cannot update, resource is being modified"
    wait_for(lambda: ce_status(batch, ce), lambda st: st == "VALID")
    error = refused(batch.delete_compute_environment, computeEnvironment=ce)
    assert error == {"Code": "ClientException", "Message": "Cannot delete, found existing JobQueue relationship"}
    # No ENABLED compute environment: a job waits in RUNNABLE.
    waiting = batch.submit_job(jobName="waits", jobQueue=queue, jobDefinition=ec2_job_definition(batch, f"w-{s}"))
    job = wait_for(lambda: batch.describe_jobs(jobs=[waiting["jobId"]])["jobs"][0], lambda j: j["status"] == "RUNNABLE")

    # DeleteJobQueue: only DISABLED, and not while UPDATING.
    error = refused(batch.delete_job_queue, jobQueue=queue)
    assert error["Code"] == "ClientException" and "DISABLED" in error["Message"]
    batch.update_job_queue(jobQueue=queue, state="DISABLED")
    error = refused(batch.delete_job_queue, jobQueue=queue)
    assert error == {"Code": "ClientException", "Message": "Cannot delete, resource is being modified"}
    # A DISABLED queue takes no new job.
    error = refused(batch.submit_job, jobName="late", jobQueue=queue, jobDefinition=f"w-{s}")
    assert error["Code"] == "ClientException" and "DISABLED" in error["Message"]
    wait_for(lambda: queue_status(batch, queue), lambda st: st == "VALID")
    assert batch.describe_jobs(jobs=[waiting["jobId"]])["jobs"][0]["status"] == "RUNNABLE"
    batch.delete_job_queue(jobQueue=queue)
    # "All jobs in the queue are eventually terminated when you delete a job queue."
    job = wait_for(lambda: batch.describe_jobs(jobs=[waiting["jobId"]])["jobs"][0], lambda j: j["status"] == "FAILED")
    assert queue_status(batch, queue) == "DELETING"
    # A DELETING queue still holds the compute environment.
    error = refused(batch.delete_compute_environment, computeEnvironment=ce)
    assert error["Message"] == "Cannot delete, found existing JobQueue relationship"
    wait_for(lambda: queue_status(batch, queue), lambda st: st == "DELETED")
    # Listed as DELETED for a while, as AWS does.
    assert [q["status"] for q in batch.describe_job_queues(jobQueues=[queue])["jobQueues"]] == ["DELETED"]

    batch.delete_compute_environment(computeEnvironment=ce)
    assert ce_status(batch, ce) == "DELETING"
    wait_for(lambda: ce_status(batch, ce), lambda st: st == "DELETED")
    # A DELETED name can be used again: the new one replaces the listed one.
    again = unmanaged_ce(batch, f"life-{s}")
    assert again == ce and ce_status(batch, ce) == "CREATING"


def test_jobs_pass_every_state_with_the_fields_aws_fills(endpoint):
    batch = client("batch", endpoint)
    s = suffix()
    queue = queue_on(batch, f"jobs-{s}", unmanaged_ce(batch, f"jobs-{s}"))
    report, must_fail = ec2_job_definition(batch, f"report-{s}"), ec2_job_definition(batch, f"must-fail-{s}")
    ok = batch.submit_job(jobName="ok", jobQueue=queue, jobDefinition=report)
    bad = batch.submit_job(jobName="bad", jobQueue=queue, jobDefinition=must_fail)
    runs = follow(batch, [ok["jobId"], bad["jobId"]])

    seen, job = runs[ok["jobId"]]
    assert seen == [*ALL_STATES, "SUCCEEDED"]
    assert job["statusReason"] == "Essential container in task exited"
    assert job["createdAt"] <= job["startedAt"] <= job["stoppedAt"]
    assert job["container"]["exitCode"] == 0
    assert job["container"]["logStreamName"].startswith(f"report-{s}/default/")
    [attempt] = job["attempts"]
    assert attempt["container"]["exitCode"] == 0
    assert attempt["container"]["logStreamName"] == job["container"]["logStreamName"]
    assert attempt["startedAt"] == job["startedAt"] and attempt["stoppedAt"] == job["stoppedAt"]
    pages = client("logs", endpoint).get_paginator("describe_log_streams").paginate(
        logGroupName="/aws/batch/job", logStreamNamePrefix=job["container"]["logStreamName"]
    )
    streams = [stream["logStreamName"] for page in pages for stream in page["logStreams"]]
    assert streams == [job["container"]["logStreamName"]]

    seen, job = runs[bad["jobId"]]
    assert seen == [*ALL_STATES, "FAILED"]  # --fail-jobs-matching, at the end
    assert job["container"]["exitCode"] == 1 and job["attempts"][0]["container"]["exitCode"] == 1
    assert job["statusReason"] == "Essential container in task exited"


def gate(endpoint: str, open_: bool | None = None) -> dict:
    import urllib.request

    url = f"{endpoint}/_batchnotify/gate"
    if open_ is None:
        request = urllib.request.Request(url)
    else:
        request = urllib.request.Request(f"{url}?open={str(open_).lower()}", method="POST", data=b"")
    with urllib.request.urlopen(request) as r:
        return json.loads(r.read())


@pytest.mark.skipif(bool(MODE), reason="the gate is strict mode's job runner's")
def test_the_gate_holds_running_jobs_and_lets_them_end_together(endpoint):
    batch = client("batch", endpoint)
    s = suffix()
    queue = queue_on(batch, f"gate-{s}", unmanaged_ce(batch, f"gate-{s}"))
    report = ec2_job_definition(batch, f"report-{s}")
    assert gate(endpoint) == {"open": True, "held": 0}
    try:
        assert gate(endpoint, False)["open"] is False
        jobs = [batch.submit_job(jobName=f"g{i}", jobQueue=queue, jobDefinition=report)["jobId"]
                for i in range(3)]
        cancelled = batch.submit_job(jobName="g-stop", jobQueue=queue, jobDefinition=report)["jobId"]
        wait_for(lambda: gate(endpoint)["held"], lambda held: held == 4, timeout=20)
        time.sleep(3 * STEP)
        described = batch.describe_jobs(jobs=[*jobs, cancelled])["jobs"]
        assert {j["status"] for j in described} == {"RUNNING"}, described
        batch.terminate_job(jobId=cancelled, reason="stopped while held")
        wait_for(lambda: gate(endpoint)["held"], lambda held: held == 3, timeout=10)
    finally:
        gate(endpoint, True)
    runs = follow(batch, [*jobs, cancelled])
    ends = [runs[j][1]["stoppedAt"] for j in jobs]
    assert {runs[j][1]["status"] for j in jobs} == {"SUCCEEDED"}
    assert max(ends) - min(ends) < 1500, ends  # within the same second or so
    assert runs[cancelled][1]["status"] == "FAILED"
    assert runs[cancelled][1]["statusReason"] == "stopped while held"
    assert gate(endpoint) == {"open": True, "held": 0}


def test_held_jobs_stay_runnable_until_cancelled_or_the_time_limit_action(endpoint):
    batch = client("batch", endpoint)
    s = suffix()
    ce = unmanaged_ce(batch, f"hold-{s}")
    action = {"reason": CAPACITY, "state": "RUNNABLE", "maxTimeSeconds": 600, "action": "CANCEL"}
    plain = queue_on(batch, f"hold-{s}", ce)
    limited = queue_on(batch, f"limit-{s}", ce, jobStateTimeLimitActions=[action])
    assert batch.describe_job_queues(jobQueues=[limited])["jobQueues"][0]["jobStateTimeLimitActions"] == [action]
    jd = ec2_job_definition(batch, f"report-{s}")
    cancelled = batch.submit_job(jobName=f"{HOLD}-1", jobQueue=plain, jobDefinition=jd)["jobId"]
    timed_out = batch.submit_job(jobName=f"{HOLD}-2", jobQueue=limited, jobDefinition=jd)["jobId"]

    job = wait_for(lambda: batch.describe_jobs(jobs=[cancelled])["jobs"][0], lambda j: j["status"] == "RUNNABLE")
    assert job["statusReason"].startswith(f"{CAPACITY} - ")
    time.sleep(1.0)  # more than the remaining steps of a job that runs
    assert batch.describe_jobs(jobs=[cancelled])["jobs"][0]["status"] == "RUNNABLE"
    batch.cancel_job(jobId=cancelled, reason="not needed")
    runs = follow(batch, [cancelled, timed_out])

    seen, job = runs[cancelled]
    assert seen[-1] == "FAILED" and "RUNNING" not in seen and job["statusReason"] == "not needed"
    assert job["attempts"] == [] and "startedAt" not in job
    seen, job = runs[timed_out]
    assert seen[-1] == "FAILED" and "STARTING" not in seen
    assert job["statusReason"] == f"Canceled by JobStateTimeLimit action due to reason: {CAPACITY}"
    # It waited out the time limit (batch-time-limit, 2 s in the fast set) in RUNNABLE.
    assert job["stoppedAt"] - job["createdAt"] >= 2000

    # AWS's minimum maxTimeSeconds is 600.
    error = refused(
        batch.create_job_queue, jobQueueName=f"short-{s}", state="ENABLED", priority=1,
        computeEnvironmentOrder=[{"order": 1, "computeEnvironment": ce}],
        jobStateTimeLimitActions=[{**action, "maxTimeSeconds": 60}],
    )
    assert error["Code"] == "ClientException"


# --------------------------------------------- Step Functions .sync waits --


def sync_machine(endpoint: str, queue: str, jobdef: str, topic: str) -> str:
    definition = {
        "StartAt": "Submit Batch Job",
        "States": {
            "Submit Batch Job": {
                "Type": "Task",
                "Resource": "arn:aws:states:::batch:submitJob.sync",
                "Parameters": {"JobName": "BatchJobNotification", "JobQueue": queue, "JobDefinition": jobdef},
                "Next": "Notify Success",
                "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Notify Failure"}],
            },
            "Notify Success": {"Type": "Task", "Resource": "arn:aws:states:::sns:publish",
                               "Parameters": {"Message": "ok", "TopicArn": topic}, "End": True},
            "Notify Failure": {"Type": "Task", "Resource": "arn:aws:states:::sns:publish",
                               "Parameters": {"Message": "failed", "TopicArn": topic}, "End": True},
        },
    }
    # A new role takes a moment to be assumable (strict_access): state_machine retries.
    return state_machine(endpoint, definition)


def test_step_functions_sync_task_waits_for_the_slower_jobs(endpoint):
    batch, sfn = client("batch", endpoint), client("stepfunctions", endpoint)
    s = suffix()
    queue = queue_on(batch, f"sfn-{s}", unmanaged_ce(batch, f"sfn-{s}"))
    topic = client("sns", endpoint).create_topic(Name=f"sfn-{s}")["TopicArn"]
    machines = {
        "ok": sync_machine(endpoint, queue, ec2_job_definition(batch, f"report-{s}"), topic),
        "bad": sync_machine(endpoint, queue, ec2_job_definition(batch, f"must-fail-{s}"), topic),
    }
    started = {k: sfn.start_execution(stateMachineArn=m)["executionArn"] for k, m in machines.items()}
    for arn in started.values():
        wait_for(lambda: sfn.describe_execution(executionArn=arn)["status"], lambda st: st != "RUNNING", timeout=30)

    def history(arn: str) -> list[dict]:
        pages = sfn.get_paginator("get_execution_history").paginate(executionArn=arn)
        return [event for page in pages for event in page["events"]]

    ok = history(started["ok"])
    assert sfn.describe_execution(executionArn=started["ok"])["status"] == "SUCCEEDED"
    entered = [e["stateEnteredEventDetails"]["name"] for e in ok if "stateEnteredEventDetails" in e]
    assert entered == ["Submit Batch Job", "Notify Success"]
    [done] = [e for e in ok if e["type"] == "TaskSucceeded" and "batch" in e["taskSucceededEventDetails"]["resourceType"]]
    output = json.loads(done["taskSucceededEventDetails"]["output"])
    assert output["Status"] == "SUCCEEDED" and output["Container"]["ExitCode"] == 0
    # The task waited through the whole lifecycle, not a job finished at submit.
    assert output["StoppedAt"] - output["CreatedAt"] >= 4 * STEP * 1000

    bad = history(started["bad"])
    entered = [e["stateEnteredEventDetails"]["name"] for e in bad if "stateEnteredEventDetails" in e]
    assert entered == ["Submit Batch Job", "Notify Failure"]
    [failed] = [e for e in bad if e["type"] == "TaskFailed"]
    cause = json.loads(failed["taskFailedEventDetails"]["cause"])
    assert failed["taskFailedEventDetails"]["error"] == "States.TaskFailed"
    assert cause["Status"] == "FAILED" and cause["Container"]["ExitCode"] == 1


def test_stop_execution_aborts_at_once_even_while_a_job_is_held(endpoint):
    """AWS's StopExecution ends the execution ABORTED at once; moto's
    interpreter noticed only at its next transition (never, for a held job)."""
    batch, sfn = client("batch", endpoint), client("stepfunctions", endpoint)
    s = suffix()
    queue = queue_on(batch, f"stop-{s}", unmanaged_ce(batch, f"stop-{s}"))
    topic = client("sns", endpoint).create_topic(Name=f"stop-{s}")["TopicArn"]
    machine = sync_machine(endpoint, queue, ec2_job_definition(batch, f"{HOLD}-{s}"), topic)
    arns = [sfn.start_execution(stateMachineArn=machine)["executionArn"] for _ in range(3)]
    time.sleep(6 * STEP)  # every job is RUNNABLE by now, and stays there
    for arn in arns:
        sfn.stop_execution(executionArn=arn, cause="replaced")
    assert [sfn.describe_execution(executionArn=a)["status"] for a in arns] == ["ABORTED"] * 3
    running = sfn.list_executions(stateMachineArn=machine, statusFilter="RUNNING")["executions"]
    assert running == []


# ------------------------------------------------------------------ rule 3 --


def test_default_vpc_routes_to_an_internet_gateway(endpoint):
    ec2 = client("ec2", endpoint)
    vpc = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
    [main] = ec2.describe_route_tables(
        Filters=[{"Name": "vpc-id", "Values": [vpc]}, {"Name": "association.main", "Values": ["true"]}]
    )["RouteTables"]
    default = [r for r in main["Routes"] if r.get("DestinationCidrBlock") == "0.0.0.0/0"]
    assert [r["GatewayId"][:4] for r in default] == ["igw-"]


def test_fargate_jobs_start_only_where_they_can_pull(endpoint):
    batch, ec2 = client("batch", endpoint), client("ec2", endpoint)
    s = suffix()
    with __import__("urllib.request").request.urlopen(f"{endpoint}/_batchnotify/network?region={REGION}") as r:
        network = json.load(r)
    public, groups = network["subnets"][:1], network["securityGroupIds"][:1]
    vpc = ec2.describe_subnets(SubnetIds=public)["Subnets"][0]["VpcId"]
    # A private subnet routing 0.0.0.0/0 to a NAT gateway (in a public subnet).
    private = ec2.create_subnet(VpcId=vpc, CidrBlock="172.31.200.0/24")["Subnet"]["SubnetId"]
    eip = ec2.allocate_address(Domain="vpc")["AllocationId"]
    nat = ec2.create_nat_gateway(SubnetId=public[0], AllocationId=eip)["NatGateway"]["NatGatewayId"]
    table = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    ec2.create_route(RouteTableId=table, DestinationCidrBlock="0.0.0.0/0", NatGatewayId=nat)
    ec2.associate_route_table(RouteTableId=table, SubnetId=private)
    # An isolated subnet: its table has no default route at all.
    isolated = ec2.create_subnet(VpcId=vpc, CidrBlock="172.31.201.0/24")["Subnet"]["SubnetId"]
    bare = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    ec2.associate_route_table(RouteTableId=bare, SubnetId=isolated)

    ces = {name: fargate_ce(batch, f"{name}-{s}", subnets, groups)
           for name, subnets in (("public", public), ("private", [private]), ("isolated", [isolated]))}
    queues = {name: queue_on(batch, f"{name}-{s}", ce) for name, ce in ces.items()}
    jds = {ip: fargate_job_definition(batch, f"fg-{ip.lower()}-{s}", ip) for ip in ("ENABLED", "DISABLED")}
    cases = {
        ("public", "ENABLED"): "SUCCEEDED",
        ("public", "DISABLED"): "FAILED",  # batchnotify's own setting, on the default VPC
        ("private", "DISABLED"): "SUCCEEDED",
        ("private", "ENABLED"): "SUCCEEDED",
        ("isolated", "ENABLED"): "FAILED",
    }
    jobs = {case: batch.submit_job(jobName=f"{case[0]}-{case[1]}", jobQueue=queues[case[0]],
                                   jobDefinition=jds[case[1]])["jobId"] for case in cases}
    runs = follow(batch, list(jobs.values()))
    for case, expected in cases.items():
        seen, job = runs[jobs[case]]
        assert job["status"] == expected, (case, seen, job.get("statusReason"))
        if expected == "FAILED":
            # It gets as far as STARTING, then cannot pull.
            assert seen == ["SUBMITTED", "PENDING", "RUNNABLE", "STARTING", "FAILED"], case
            assert job["statusReason"] == "Task failed to start"
            [attempt] = job["attempts"]
            assert attempt["statusReason"] == "Task failed to start"
            assert attempt["container"]["reason"].startswith("CannotPullContainerError: ")
            assert "docker.io/library/busybox:latest" in attempt["container"]["reason"]
            assert "exitCode" not in job["container"] and "startedAt" not in job
        else:
            assert seen == [*ALL_STATES, "SUCCEEDED"], case
