"""Strict mode, Batch job logs and retries, and CloudWatch Logs reads
(strict_batch.py rules batch-logs, batch-retries, logs-get-events; strict_access.py
rules iam and quotas for logs:*): what a job writes to its attempt's stream, in
which group and stream, how a job is retried, how GetLogEvents pages, and who may
read. Most tests fail against `--lenient`: `STRICT_TEST_MODE=lenient pytest
emulator/test_strict_logs.py` shows it."""

from __future__ import annotations

import json
import os
import time
import uuid

from launch import batch_queue, client, endpoint_of, start, stop, suffix, wait_for

import botocore.exceptions
import pytest
from botocore.config import Config

MODE = ["--lenient"] if os.environ.get("STRICT_TEST_MODE") == "lenient" else []
REGION = "us-east-1"
ACCOUNT = "123456789012"
STEP = 0.2  # batch-job-step
LONG_RUN = 3  # batch-job-long-run
LONG = "runs-long"
FLAKY = "fails-once"
GROUP = "/aws/batch/job"
STATES = ["SUBMITTED", "PENDING", "RUNNABLE", "STARTING", "RUNNING"]


@pytest.fixture(scope="module")
def endpoint():
    proc = start(
        "--delay", f"batch-job-step={STEP}", "--delay", f"batch-job-long-run={LONG_RUN}",
        "--long-running-matching", LONG, "--fail-first-attempt-matching", FLAKY, *MODE,
    )
    yield endpoint_of(proc)
    stop(proc)


@pytest.fixture(scope="module")
def queue(endpoint):
    return batch_queue(endpoint, f"logs-{suffix()}")


def refused(call, *args, **kwargs) -> tuple[dict, int]:
    with pytest.raises(botocore.exceptions.ClientError) as err:
        call(*args, **kwargs)
    return err.value.response["Error"], err.value.response["ResponseMetadata"]["HTTPStatusCode"]


def job_definition(endpoint: str, name: str, **container) -> str:
    properties = {
        "image": "busybox",
        "command": ["echo", "hello"],
        "resourceRequirements": [{"type": "VCPU", "value": "1"}, {"type": "MEMORY", "value": "2048"}],
    }
    extra = {k: container.pop(k) for k in ("parameters", "retryStrategy") if k in container}
    properties.update(container)
    return client("batch", endpoint).register_job_definition(
        jobDefinitionName=name, type="container", containerProperties=properties, **extra
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


def finished(batch, job_id: str) -> tuple[list[str], dict]:
    return follow(batch, [job_id])[job_id]


def messages(logs, group: str, stream: str) -> list[dict]:
    """Every event of a stream, oldest first, following nextForwardToken to its end."""
    events: list[dict] = []
    page = logs.get_log_events(logGroupName=group, logStreamName=stream, startFromHead=True)
    while True:
        events += page["events"]
        token = page["nextForwardToken"]
        page = logs.get_log_events(logGroupName=group, logStreamName=stream, nextToken=token, startFromHead=True)
        if page["nextForwardToken"] == token:
            assert page["events"] == []
            return events


def state_lines(job_id: str, attempt: int, states: list[str]) -> list[str]:
    return [f"batchnotify-emulator: job {job_id} attempt {attempt} {s} at " for s in states]


def check_attempt_stream(events: list[dict], job_id: str, attempt: int, states: list[str], command: str,
                         end: str) -> None:
    texts = [e["message"] for e in events]
    heads = state_lines(job_id, attempt, states)
    assert [t[: len(h)] for t, h in zip(texts, heads)] == heads, texts
    assert texts[len(states)] == command
    assert texts[-1].startswith(f"batchnotify-emulator: job {job_id} attempt {attempt} {end} at 20")
    assert texts[-1].endswith("Z")
    stamps = [e["timestamp"] for e in events]
    assert stamps == sorted(stamps)


# --------------------------------------------------------------- job logs --


def test_jobs_write_their_attempt_stream(endpoint, queue):
    batch, logs = client("batch", endpoint), client("logs", endpoint)
    s = suffix()
    jd = job_definition(endpoint, f"report-{s}", command=["echo", "Ref::greeting", "Ref::who", "Ref::unset"],
                        parameters={"greeting": "hi", "who": "world"})
    bad = job_definition(endpoint, f"must-fail-{s}")
    ok_id = batch.submit_job(jobName="ok", jobQueue=queue, jobDefinition=jd,
                             parameters={"greeting": "hello"})["jobId"]
    bad_id = batch.submit_job(jobName="bad", jobQueue=queue, jobDefinition=bad)["jobId"]
    runs = follow(batch, [ok_id, bad_id])

    seen, job = runs[ok_id]
    assert seen == [*STATES, "SUCCEEDED"]
    stream = job["container"]["logStreamName"]
    [attempt] = job["attempts"]
    task_id = attempt["container"]["taskArn"].rsplit("/", 1)[-1]
    assert stream == attempt["container"]["logStreamName"] == f"report-{s}/default/{task_id}"
    events = messages(logs, GROUP, stream)
    # SubmitJob's parameters over the definition's defaults; an unset Ref:: stays.
    check_attempt_stream(events, ok_id, 1, STATES, "echo hello world Ref::unset", "SUCCEEDED")
    # The RUNNING line is stamped when the attempt started.
    assert abs(events[len(STATES) - 1]["timestamp"] - attempt["startedAt"]) < 1000
    assert events[-1]["timestamp"] <= attempt["stoppedAt"] + 1000
    # FilterLogEvents reads the same events.
    filtered = logs.filter_log_events(logGroupName=GROUP, logStreamNames=[stream])["events"]
    assert [e["message"] for e in filtered] == [e["message"] for e in events]

    seen, job = runs[bad_id]
    assert seen == [*STATES, "FAILED"]
    events = messages(logs, GROUP, job["container"]["logStreamName"])
    check_attempt_stream(events, bad_id, 1, STATES, "echo hello", "FAILED exit code 1")


def test_custom_awslogs_group_and_stream_prefix(endpoint, queue):
    batch, logs = client("batch", endpoint), client("logs", endpoint)
    s = suffix()
    group = f"/bn/custom-{s}"
    logs.create_log_group(logGroupName=group)
    conf = {"logDriver": "awslogs", "options": {"awslogs-group": group, "awslogs-stream-prefix": "app"}}
    jd = job_definition(endpoint, f"custom-{s}", logConfiguration=conf)
    missing = {"logDriver": "awslogs", "options": {"awslogs-group": f"/bn/missing-{s}"}}
    no_group = job_definition(endpoint, f"nogroup-{s}", logConfiguration=missing)
    created = {"logDriver": "awslogs",
               "options": {"awslogs-group": f"/bn/created-{s}", "awslogs-create-group": "true"}}
    creates = job_definition(endpoint, f"creates-{s}", logConfiguration=created)
    ids = {name: batch.submit_job(jobName=name, jobQueue=queue, jobDefinition=d)["jobId"]
           for name, d in (("custom", jd), ("nogroup", no_group), ("creates", creates))}
    runs = follow(batch, list(ids.values()))

    seen, job = runs[ids["custom"]]
    assert seen[-1] == "SUCCEEDED"
    task_id = job["attempts"][0]["container"]["taskArn"].rsplit("/", 1)[-1]
    # "prefix-name/default/ecs-task-id" (using_awslogs.html)
    assert job["container"]["logStreamName"] == f"app/default/{task_id}"
    assert job["container"]["logConfiguration"] == conf
    events = messages(logs, group, job["container"]["logStreamName"])
    check_attempt_stream(events, ids["custom"], 1, STATES, "echo hello", "SUCCEEDED")
    with pytest.raises(logs.exceptions.ResourceNotFoundException):
        logs.get_log_events(logGroupName=GROUP, logStreamName=job["container"]["logStreamName"])

    # awslogs-create-group defaults to false: the task cannot start.
    seen, job = runs[ids["nogroup"]]
    assert seen == ["SUBMITTED", "PENDING", "RUNNABLE", "STARTING", "FAILED"]
    assert job["statusReason"] == "Task failed to start"
    [attempt] = job["attempts"]
    assert attempt["container"]["reason"].startswith("CannotStartContainerError: ")
    assert "ResourceNotFoundException: The specified log group does not exist." in attempt["container"]["reason"]
    assert "logStreamName" not in job["container"] and "exitCode" not in job["container"]
    assert logs.describe_log_groups(logGroupNamePrefix=f"/bn/missing-{s}")["logGroups"] == []

    seen, job = runs[ids["creates"]]
    assert seen[-1] == "SUCCEEDED"
    task_id = job["attempts"][0]["container"]["taskArn"].rsplit("/", 1)[-1]
    assert job["container"]["logStreamName"] == f"creates-{s}/default/{task_id}"
    assert messages(logs, f"/bn/created-{s}", job["container"]["logStreamName"])[-1]["message"].startswith(
        f"batchnotify-emulator: job {ids['creates']} attempt 1 SUCCEEDED")


# ---------------------------------------------------------------- retries --


def test_a_retried_job_has_two_attempts_and_two_streams(endpoint, queue):
    batch, logs = client("batch", endpoint), client("logs", endpoint)
    s = suffix()
    jd = job_definition(endpoint, f"{FLAKY}-{s}", retryStrategy={"attempts": 2})
    plain = job_definition(endpoint, f"{FLAKY}-plain-{s}")
    always = job_definition(endpoint, f"must-fail-{s}", retryStrategy={"attempts": 2})
    exits = job_definition(endpoint, f"{FLAKY}-exit-{s}", retryStrategy={
        "attempts": 3, "evaluateOnExit": [{"onExitCode": "1", "action": "EXIT"}]})
    retries = job_definition(endpoint, f"{FLAKY}-eval-{s}", retryStrategy={
        "attempts": 3, "evaluateOnExit": [{"onStatusReason": "Essential*", "action": "RETRY"},
                                          {"onReason": "*", "action": "EXIT"}]})
    ids = {
        "flaky": batch.submit_job(jobName="flaky", jobQueue=queue, jobDefinition=jd)["jobId"],
        # No retry strategy: one attempt, which fails.
        "once": batch.submit_job(jobName="once", jobQueue=queue, jobDefinition=plain)["jobId"],
        # SubmitJob's retryStrategy overrides the definition's.
        "override": batch.submit_job(jobName="override", jobQueue=queue, jobDefinition=plain,
                                     retryStrategy={"attempts": 2})["jobId"],
        "always": batch.submit_job(jobName="always", jobQueue=queue, jobDefinition=always)["jobId"],
        "exits": batch.submit_job(jobName="exits", jobQueue=queue, jobDefinition=exits)["jobId"],
        "retries": batch.submit_job(jobName="retries", jobQueue=queue, jobDefinition=retries)["jobId"],
    }
    runs = follow(batch, list(ids.values()))

    seen, job = runs[ids["flaky"]]
    # "the job is placed back in the RUNNABLE state again" (job_retries.html)
    assert seen == [*STATES, "RUNNABLE", "STARTING", "RUNNING", "SUCCEEDED"]
    first, second = job["attempts"]
    assert first["container"]["exitCode"] == 1 and second["container"]["exitCode"] == 0
    assert first["statusReason"] == second["statusReason"] == "Essential container in task exited"
    assert first["container"]["taskArn"] != second["container"]["taskArn"]
    assert first["stoppedAt"] <= second["startedAt"] <= second["stoppedAt"]
    assert first["container"]["logStreamName"] != second["container"]["logStreamName"]
    assert job["container"]["logStreamName"] == second["container"]["logStreamName"]
    assert job["container"]["exitCode"] == 0 and job["statusReason"] == "Essential container in task exited"
    assert job["startedAt"] == second["startedAt"]
    assert job["retryStrategy"] == {"attempts": 2}
    events = messages(logs, GROUP, first["container"]["logStreamName"])
    check_attempt_stream(events, ids["flaky"], 1, STATES, "echo hello", "FAILED exit code 1")
    events = messages(logs, GROUP, second["container"]["logStreamName"])
    check_attempt_stream(events, ids["flaky"], 2, ["RUNNABLE", "STARTING", "RUNNING"], "echo hello", "SUCCEEDED")

    seen, job = runs[ids["once"]]
    assert seen == [*STATES, "FAILED"] and len(job["attempts"]) == 1 and "retryStrategy" not in job
    seen, job = runs[ids["override"]]
    assert seen[-1] == "SUCCEEDED" and [a["container"]["exitCode"] for a in job["attempts"]] == [1, 0]
    assert job["retryStrategy"] == {"attempts": 2}
    # --fail-jobs-matching fails every attempt.
    seen, job = runs[ids["always"]]
    assert seen[-1] == "FAILED" and [a["container"]["exitCode"] for a in job["attempts"]] == [1, 1]
    assert job["container"]["logStreamName"] == job["attempts"][1]["container"]["logStreamName"]
    # evaluateOnExit: EXIT on exit code 1 ends it at the first attempt.
    seen, job = runs[ids["exits"]]
    assert seen[-1] == "FAILED" and len(job["attempts"]) == 1
    # The first matching entry decides: RETRY on the status reason.
    seen, job = runs[ids["retries"]]
    assert seen[-1] == "SUCCEEDED" and len(job["attempts"]) == 2


def test_retry_strategy_is_checked_as_aws_does(endpoint, queue):
    batch = client("batch", endpoint)
    s = suffix()
    plain = job_definition(endpoint, f"rs-{s}")
    # "You can specify between 1 and 10 attempts." (API_RetryStrategy.html)
    for bad in ({"attempts": 0}, {"attempts": 11},
                {"evaluateOnExit": [{"onExitCode": "1", "action": "EXIT"}]},
                {"attempts": 2, "evaluateOnExit": [{"onExitCode": "1", "action": "STOP"}]}):
        error, _ = refused(batch.submit_job, jobName="bad", jobQueue=queue, jobDefinition=plain, retryStrategy=bad)
        assert error["Code"] == "ClientException", bad
        error, _ = refused(job_definition, endpoint, f"rs-bad-{s}", retryStrategy=bad)
        assert error["Code"] == "ClientException", bad
    # ... and what AWS accepts is accepted ("The values aren't case sensitive").
    for good in ({"attempts": 1}, {"attempts": 10},
                 {"attempts": 2, "evaluateOnExit": [{"onReason": "CannotPull*", "action": "retry"}]}):
        job_id = batch.submit_job(jobName="good", jobQueue=queue, jobDefinition=plain, retryStrategy=good)["jobId"]
        batch.cancel_job(jobId=job_id, reason="not needed")
        job_definition(endpoint, f"rs-good-{s}", retryStrategy=good)


# ----------------------------------------------------------- long running --


def test_a_long_running_job_writes_while_it_runs(endpoint, queue):
    batch, logs = client("batch", endpoint), client("logs", endpoint)
    s = suffix()
    jd = job_definition(endpoint, f"{LONG}-{s}")
    job_id = batch.submit_job(jobName="long", jobQueue=queue, jobDefinition=jd)["jobId"]
    stopped_id = batch.submit_job(jobName="stopped", jobQueue=queue, jobDefinition=jd)["jobId"]
    job = wait_for(lambda: batch.describe_jobs(jobs=[job_id])["jobs"][0], lambda j: j["status"] == "RUNNING")
    stream = job["container"]["logStreamName"]
    wait_for(lambda: batch.describe_jobs(jobs=[stopped_id])["jobs"][0], lambda j: j["status"] == "RUNNING")
    batch.terminate_job(jobId=stopped_id, reason="enough")
    page = logs.get_log_events(logGroupName=GROUP, logStreamName=stream, startFromHead=True)
    seen = [e["message"] for e in page["events"]]
    token = page["nextForwardToken"]
    assert len(seen) == len(STATES) + 1  # the states and the command line
    # A client follows the stream while it grows.
    while batch.describe_jobs(jobs=[job_id])["jobs"][0]["status"] == "RUNNING":
        page = logs.get_log_events(logGroupName=GROUP, logStreamName=stream, nextToken=token, startFromHead=True)
        seen += [e["message"] for e in page["events"]]
        token = page["nextForwardToken"]
        time.sleep(0.3)
    page = logs.get_log_events(logGroupName=GROUP, logStreamName=stream, nextToken=token, startFromHead=True)
    seen += [e["message"] for e in page["events"]]
    running = [m for m in seen if m.startswith("batchnotify-emulator: running ")]
    assert running == [f"batchnotify-emulator: running {n}s" for n in range(1, LONG_RUN + 1)]
    assert seen[-1].startswith(f"batchnotify-emulator: job {job_id} attempt 1 SUCCEEDED at ")
    # It ran for batch-job-long-run seconds.
    _, job = finished(batch, job_id)
    assert job["stoppedAt"] - job["startedAt"] >= LONG_RUN * 1000

    # TerminateJob stops it: exit code 137, the last line says so.
    seen, job = finished(batch, stopped_id)
    assert seen[-1] == "FAILED" and job["statusReason"] == "enough" and job["container"]["exitCode"] == 137
    events = messages(logs, GROUP, job["container"]["logStreamName"])
    assert events[-1]["message"].startswith(f"batchnotify-emulator: job {stopped_id} attempt 1 FAILED exit code 137")


# ----------------------------------------------------------- GetLogEvents --


@pytest.fixture(scope="module")
def big_stream(endpoint):
    """300 events of 10,000 characters (3 MB) with distinct timestamps."""
    logs = client("logs", endpoint)
    group, stream = f"/bn/big-{suffix()}", "s"
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName=stream)
    base = int(time.time() * 1000) - 60_000
    for batch in range(3):  # PutLogEvents takes at most 1,048,576 bytes a call
        logs.put_log_events(logGroupName=group, logStreamName=stream, logEvents=[
            {"timestamp": base + i, "message": f"{i:05d}" + "x" * 9995} for i in range(batch * 100, batch * 100 + 100)
        ])
    return group, stream, base


def page_bytes(events: list[dict]) -> int:
    return sum(len(e["message"].encode()) + 26 for e in events)


def test_get_log_events_pages_a_big_stream_by_the_megabyte(endpoint, big_stream):
    logs = client("logs", endpoint)
    group, stream, base = big_stream
    pages, seen = [], []
    page = logs.get_log_events(logGroupName=group, logStreamName=stream, startFromHead=True)
    while page["events"]:
        pages.append(page)
        seen += page["events"]
        token = page["nextForwardToken"]
        page = logs.get_log_events(logGroupName=group, logStreamName=stream, startFromHead=True, nextToken=token)
    # "up to 1 MB of log events or up to 10,000 log events" a page
    assert len(pages) == 3 and all(page_bytes(p["events"]) <= 1_048_576 for p in pages)
    assert [e["message"][:5] for e in seen] == [f"{i:05d}" for i in range(300)]
    # The end of the stream: the same token again, and never a null one.
    assert page["nextForwardToken"] == token and page["nextBackwardToken"]

    # startFromHead false (the default): the latest events first.
    latest = logs.get_log_events(logGroupName=group, logStreamName=stream)
    assert latest["events"][-1]["message"][:5] == "00299" and page_bytes(latest["events"]) <= 1_048_576
    assert latest["events"][0]["message"][:5] == f"{300 - len(latest['events']):05d}"
    earlier = logs.get_log_events(logGroupName=group, logStreamName=stream, nextToken=latest["nextBackwardToken"])
    assert earlier["events"][-1]["timestamp"] < latest["events"][0]["timestamp"]
    last5 = logs.get_log_events(logGroupName=group, logStreamName=stream, limit=5)["events"]
    assert [e["message"][:5] for e in last5] == ["00295", "00296", "00297", "00298", "00299"]
    first5 = logs.get_log_events(logGroupName=group, logStreamName=stream, limit=5, startFromHead=True)["events"]
    assert [e["message"][:5] for e in first5] == ["00000", "00001", "00002", "00003", "00004"]
    # startTime inclusive, endTime exclusive.
    window = logs.get_log_events(logGroupName=group, logStreamName=stream, startTime=base + 10,
                                 endTime=base + 13, startFromHead=True)["events"]
    assert [e["message"][:5] for e in window] == ["00010", "00011", "00012"]
    # logGroupIdentifier: the group's name or its ARN.
    arn = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{group}"
    for identifier in (group, arn, arn + ":*"):
        events = logs.get_log_events(logGroupIdentifier=identifier, logStreamName=stream, limit=1)["events"]
        assert events[0]["message"][:5] == "00299"
    # limit: 1 to 10000.
    assert len(logs.get_log_events(logGroupName=group, logStreamName=stream, limit=10000)["events"]) > 0
    error, status = refused(logs.get_log_events, logGroupName=group, logStreamName=stream, limit=10001)
    assert (error["Code"], status) == ("InvalidParameterException", 400)
    error, _ = refused(logs.get_log_events, logGroupName=group, logGroupIdentifier=arn, logStreamName=stream)
    assert error["Code"] == "InvalidParameterException"


def test_get_log_events_on_what_does_not_exist(endpoint, big_stream):
    logs = client("logs", endpoint)
    group, stream, _ = big_stream
    error, status = refused(logs.get_log_events, logGroupName=f"/bn/none-{suffix()}", logStreamName=stream)
    assert (error, status) == (
        {"Code": "ResourceNotFoundException", "Message": "The specified log group does not exist."}, 400)
    error, status = refused(logs.get_log_events, logGroupName=group, logStreamName="none")
    assert (error, status) == (
        {"Code": "ResourceNotFoundException", "Message": "The specified log stream does not exist."}, 400)
    # An empty stream: no events, tokens all the same.
    logs.create_log_stream(logGroupName=group, logStreamName="empty")
    page = logs.get_log_events(logGroupName=group, logStreamName="empty", startFromHead=True)
    assert page["events"] == [] and page["nextForwardToken"] and page["nextBackwardToken"]
    again = logs.get_log_events(logGroupName=group, logStreamName="empty", nextToken=page["nextForwardToken"])
    assert again["nextForwardToken"] == page["nextForwardToken"]
    # FilterLogEvents pages by the megabyte too, and honours logStreamNamePrefix.
    filtered = logs.filter_log_events(logGroupName=group)
    assert page_bytes(filtered["events"]) <= 1_048_576 and "nextToken" in filtered
    assert logs.filter_log_events(logGroupName=group, logStreamNamePrefix="nothing")["events"] == []


# -------------------------------------------------------- IAM and quotas --


def user(endpoint: str, *statements: dict) -> tuple[dict, str]:
    iam = client("iam", endpoint)
    name = f"u-{uuid.uuid4().hex[:8]}"
    arn = iam.create_user(UserName=name)["User"]["Arn"]
    iam.put_user_policy(UserName=name, PolicyName="p", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": list(statements)}))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return {"aws_access_key_id": key["AccessKeyId"], "aws_secret_access_key": key["SecretAccessKey"]}, arn


def test_logs_reads_are_evaluated_and_throttled(endpoint, big_stream):
    group, stream, _ = big_stream
    once = Config(retries={"total_max_attempts": 1})
    base = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:"
    other, other_arn = user(endpoint, {"Effect": "Allow", "Action": "logs:DescribeLogStreams", "Resource": "*"})
    logs = client("logs", endpoint, config=once, **other)
    error, status = refused(logs.get_log_events, logGroupName=group, logStreamName=stream)
    assert (error["Code"], status) == ("AccessDeniedException", 400)
    assert error["Message"] == (
        f"User: {other_arn} is not authorized to perform: logs:GetLogEvents on resource: "
        f"{base}{group}:log-stream:{stream} because no identity-based policy allows the logs:GetLogEvents action"
    )
    logs.describe_log_streams(logGroupName=group)

    # Allowed on the group's streams ("log-group:G:*"), as the CloudWatch Logs guide writes it.
    reader, _ = user(endpoint, {"Effect": "Allow", "Action": ["logs:GetLogEvents", "logs:DescribeLogStreams",
                                                              "logs:FilterLogEvents"],
                                "Resource": f"{base}{group}:*"})
    logs = client("logs", endpoint, config=once, **reader)
    assert logs.get_log_events(logGroupName=group, logStreamName=stream, limit=1)["events"]
    assert logs.describe_log_streams(logGroupName=group)["logStreams"]
    logs.filter_log_events(logGroupName=group, limit=1)
    error, _ = refused(logs.get_log_events, logGroupName=f"{group}-other", logStreamName=stream)
    assert error["Code"] == "AccessDeniedException"
    # DescribeLogGroups has no resource type: AWS names log-group::log-stream:.
    error, _ = refused(logs.describe_log_groups)
    assert error["Message"].startswith(f"User: ") and f"on resource: {base}:log-stream: because" in error["Message"]

    # GetLogEvents: 10 requests per second per account and Region.
    time.sleep(1.1)  # a full bucket
    codes = []
    for _ in range(16):
        try:
            logs.get_log_events(logGroupName=group, logStreamName=stream, limit=1)
            codes.append("ok")
        except botocore.exceptions.ClientError as err:
            codes.append((err.response["Error"]["Code"], err.response["ResponseMetadata"]["HTTPStatusCode"]))
    assert ("ThrottlingException", 400) in codes and codes.count("ok") >= 9
