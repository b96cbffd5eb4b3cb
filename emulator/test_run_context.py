"""Notifications with run context, end to end on the strict emulator: the
design in tests/fixtures/run_context/state_machine.json runs a Batch job with
`batch:submitJob.sync`, picks fields from the task's output (success) or from
the Catch's `$.error.Cause` (failure), and publishes texts built with
States.Format / States.JsonToString; an SQS subscriber with raw delivery reads
each message, compared byte for byte.

What Step Functions hands the next state, as AWS documents it:
* Batch's fields in PascalCase ("Parameters in Step Functions are expressed in
  PascalCase, even when the native service API is camelCase")
  https://docs.aws.amazon.com/step-functions/latest/dg/connect-batch.html
* the job as DescribeJobs describes it (jobId, jobName, jobArn, status,
  statusReason, container.exitCode, container.logStreamName, attempts)
  https://docs.aws.amazon.com/batch/latest/APIReference/API_JobDetail.html
  https://docs.aws.amazon.com/batch/latest/APIReference/API_ContainerDetail.html
* a failed task caught as {"Error": ..., "Cause": ...} at ResultPath
  https://docs.aws.amazon.com/step-functions/latest/dg/concepts-error-handling.html
Each test fails against `--lenient` (jobs end at submit without exit code or
reason there, and the intrinsics differ): `STRICT_TEST_MODE=lenient pytest
emulator/test_run_context.py`.
"""

from __future__ import annotations

import datetime
import json
import os
from pathlib import Path

from launch import (
    batch_queue,
    client,
    container_job_definition,
    endpoint_of,
    finished,
    history,
    received,
    sqs_subscriber,
    start,
    state_machine,
    stop,
    suffix,
    wait_for,
)

import pytest

MODE = ["--lenient"] if os.environ.get("STRICT_TEST_MODE") == "lenient" else []
DEFINITION = Path(__file__).resolve().parent.parent / "tests/fixtures/run_context/state_machine.json"
HOLD = "hold-me"
NOTE = 'He said "hi" {x} {} \\ back\\slash\nnext line'
CANCEL_REASON = 'Stopped by "ops" {ticket 7} C:\\jobs\nsee runbook'
PLACEHOLDER_QUEUE = "arn:aws:batch:us-east-1:123456789012:job-queue/bn-example"
PLACEHOLDER_JOBDEF = "arn:aws:batch:us-east-1:123456789012:job-definition/bn-example:1"
PLACEHOLDER_TOPIC = "arn:aws:sns:us-east-1:123456789012:bn-example"


@pytest.fixture(scope="module")
def endpoint():
    proc = start("--hold-runnable-matching", HOLD, *MODE)
    yield endpoint_of(proc)
    stop(proc)


@pytest.fixture(scope="module")
def queue(endpoint):
    return batch_queue(endpoint, f"ctx-{suffix()}")


class Run:
    """One execution of the design against a job definition, with its own topic
    and subscriber."""

    def __init__(self, endpoint: str, queue: str, job_definition: str) -> None:
        self.endpoint = endpoint
        topic = client("sns", endpoint).create_topic(Name=f"ctx-{suffix()}")["TopicArn"]
        self.subscriber = sqs_subscriber(endpoint, topic)
        text = DEFINITION.read_text()
        for placeholder, value in (
            (PLACEHOLDER_QUEUE, queue), (PLACEHOLDER_JOBDEF, job_definition), (PLACEHOLDER_TOPIC, topic),
        ):
            assert placeholder in text
            text = text.replace(placeholder, value)
        self.machine = state_machine(endpoint, text)
        self.name = f"run-{suffix()}"
        self.arn = client("stepfunctions", endpoint).start_execution(
            stateMachineArn=self.machine, name=self.name, input=json.dumps({"parameters": {"note": NOTE}})
        )["executionArn"]

    def finish(self) -> None:
        self.described = finished(self.endpoint, self.arn)
        assert self.described["status"] == "SUCCEEDED", self.described
        self.events = history(self.endpoint, self.arn)

    def entered(self) -> list[str]:
        return [e["stateEnteredEventDetails"]["name"] for e in self.events if "stateEnteredEventDetails" in e]

    def state_output(self, state: str) -> dict:
        [out] = [
            json.loads(e["stateExitedEventDetails"]["output"])
            for e in self.events
            if e.get("stateExitedEventDetails", {}).get("name") == state
        ]
        return out

    def message(self) -> str:
        [body] = received(self.endpoint, self.subscriber)
        return body

    def check_context(self, context: dict) -> None:
        """The $$ fields the design copies, against the execution itself."""
        assert context["Execution"] == self.name
        assert context["ExecutionArn"] == self.arn
        assert context["StateMachine"] == self.machine
        start = datetime.datetime.strptime(context["StartTime"], "%Y-%m-%dT%H:%M:%S.%f%z")
        assert context["StartTime"].endswith("Z") and len(context["StartTime"]) == 24
        assert abs((start - self.described["startDate"]).total_seconds()) < 0.002


def job_of(endpoint: str, job_id: str) -> dict:
    return client("batch", endpoint).describe_jobs(jobs=[job_id])["jobs"][0]


def test_success_output_and_formatted_message(endpoint, queue):
    run = Run(endpoint, queue, container_job_definition(endpoint, f"report-{suffix()}"))
    run.finish()
    assert run.entered() == ["Submit Batch Job", "Success Context", "Notify Success"]

    # The task's output: the job as DescribeJobs has it, keys in PascalCase.
    [done] = [e for e in run.events if e["type"] == "TaskSucceeded" and "batch" in e["taskSucceededEventDetails"]["resourceType"]]
    output = json.loads(done["taskSucceededEventDetails"]["output"])
    described = job_of(endpoint, output["JobId"])
    assert output["JobName"] == described["jobName"] == "bn-example"
    assert output["JobArn"] == described["jobArn"]
    assert output["Status"] == "SUCCEEDED"
    assert output["StatusReason"] == described["statusReason"] == "Essential container in task exited"
    assert output["Container"]["ExitCode"] == 0
    assert output["Container"]["LogStreamName"] == described["container"]["logStreamName"]
    assert output["Container"]["LogStreamName"].startswith("report-")
    [attempt] = output["Attempts"]
    assert attempt["Container"]["ExitCode"] == 0
    assert attempt["Container"]["LogStreamName"] == output["Container"]["LogStreamName"]
    assert attempt["StatusReason"] == "Essential container in task exited"
    # Map keys are data, not field names: the job's parameters keep theirs.
    assert output["Parameters"] == {"note": NOTE}
    # The container's environment lists each variable once, however often the
    # task polled DescribeJobs.
    names = [variable["Name"] for variable in output["Container"]["Environment"]]
    assert len(names) == len(set(names)) and "MANAGED_BY_AWS" in names

    context = run.state_output("Success Context")
    run.check_context(context)
    assert (context["JobId"], context["JobArn"]) == (output["JobId"], output["JobArn"])
    assert context["Attempts"] == 1
    expected = (
        f"Batch job 'bn-example' SUCCEEDED: Essential container in task exited\n"
        f"Job ID: {output['JobId']} ({output['JobArn']})\n"
        f"Exit code: 0 after 1 attempt(s)\n"
        f"Log stream: {output['Container']['LogStreamName']}\n"
        f"Note: {NOTE}\n"
        f"Execution {run.name} ({run.arn}) of {run.machine}, started {context['StartTime']}\n"
        "{} stays as it is"
    )
    assert run.message() == expected


def test_failed_job_cause_and_json_message(endpoint, queue):
    run = Run(endpoint, queue, container_job_definition(endpoint, f"must-fail-{suffix()}"))
    run.finish()
    assert run.entered() == [
        "Submit Batch Job", "Job Failed?", "Parse Cause", "Fill Defaults", "Failure Context", "Notify Failure",
    ]
    # The Catch's error: States.TaskFailed, and the job's description as a JSON string.
    [failed] = [e for e in run.events if e["type"] == "TaskFailed"]
    assert failed["taskFailedEventDetails"]["error"] == "States.TaskFailed"
    caught = run.state_output("Job Failed?")["error"]
    assert caught["Error"] == "States.TaskFailed"
    assert isinstance(caught["Cause"], str)
    cause = json.loads(caught["Cause"])
    assert caught["Cause"] == failed["taskFailedEventDetails"]["cause"]
    described = job_of(endpoint, cause["JobId"])
    assert cause["Status"] == "FAILED" and cause["JobArn"] == described["jobArn"]
    assert cause["StatusReason"] == "Essential container in task exited"
    assert cause["Container"]["ExitCode"] == 1
    assert cause["Container"]["LogStreamName"] == described["container"]["logStreamName"]
    assert [a["Container"]["ExitCode"] for a in cause["Attempts"]] == [1]

    context = run.state_output("Failure Context")
    run.check_context(context)
    expected = {
        "Error": "States.TaskFailed",
        "JobId": cause["JobId"],
        "JobName": "bn-example",
        "JobArn": cause["JobArn"],
        "Status": "FAILED",
        "StatusReason": "Essential container in task exited",
        "ExitCode": 1,
        "LogStreamName": cause["Container"]["LogStreamName"],
        "Attempts": 1,
        "Execution": run.name,
        "ExecutionArn": run.arn,
        "StartTime": context["StartTime"],
        "StateMachine": run.machine,
    }
    # States.JsonToString: compact, in the order the Pass state lists the fields.
    assert run.message() == json.dumps(expected, separators=(",", ":"), ensure_ascii=False)


def test_job_cancelled_before_it_ran(endpoint, queue):
    """A job cancelled while RUNNABLE never had a container: no ExitCode, no
    LogStreamName, no attempt; the design's defaults make them null instead of
    failing the execution on a missing path."""
    run = Run(endpoint, queue, container_job_definition(endpoint, f"{HOLD}-{suffix()}"))
    batch = client("batch", endpoint)
    [job] = wait_for(
        lambda: [
            j for j in batch.list_jobs(jobQueue=queue, jobStatus="RUNNABLE")["jobSummaryList"]
            if j["jobDefinition"].split("/")[-1].startswith(HOLD)
        ],
        lambda jobs: len(jobs) == 1,
    )
    batch.cancel_job(jobId=job["jobId"], reason=CANCEL_REASON)
    run.finish()
    cause = json.loads(run.state_output("Job Failed?")["error"]["Cause"])
    assert cause["StatusReason"] == CANCEL_REASON and cause["Attempts"] == []
    assert "ExitCode" not in cause["Container"] and "LogStreamName" not in cause["Container"]

    context = run.state_output("Failure Context")
    run.check_context(context)
    expected = {
        "Error": "States.TaskFailed",
        "JobId": job["jobId"],
        "JobName": "bn-example",
        "JobArn": cause["JobArn"],
        "Status": "FAILED",
        "StatusReason": CANCEL_REASON,
        "ExitCode": None,
        "LogStreamName": None,
        "Attempts": 0,
        "Execution": run.name,
        "ExecutionArn": run.arn,
        "StartTime": context["StartTime"],
        "StateMachine": run.machine,
    }
    assert run.message() == json.dumps(expected, separators=(",", ":"), ensure_ascii=False)


def test_job_batch_refused(endpoint, queue):
    """SubmitJob refused (no such job definition): the error is Batch's own,
    with a plain-text Cause, so the design does not parse it."""
    missing = f"arn:aws:batch:us-east-1:123456789012:job-definition/missing-{suffix()}:1"
    run = Run(endpoint, queue, missing)
    run.finish()
    assert run.entered() == ["Submit Batch Job", "Job Failed?", "Notify Error"]
    [failed] = [e for e in run.events if e["type"] == "TaskFailed"]
    error = failed["taskFailedEventDetails"]["error"]
    cause = failed["taskFailedEventDetails"]["cause"]
    assert error == "Batch.ClientException" and not cause.startswith("{")
    start = run.state_output("Job Failed?")  # the input of Notify Error
    assert start["error"] == {"Error": error, "Cause": cause}
    message = run.message()
    head = f"Batch job bn-example was not run: {error}: {cause}\nExecution {run.arn} of {run.machine}, started "
    assert message.startswith(head)
    run.check_context({
        "Execution": run.name, "ExecutionArn": run.arn, "StateMachine": run.machine,
        "StartTime": message[len(head):],
    })
