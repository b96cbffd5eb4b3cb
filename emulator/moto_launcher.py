"""Start the moto AWS emulator on loopback, with the fixes batchnotify needs.

Stock moto (5.2.5, and its master as of 2026-11) cannot run the "Manage a Batch
Job" sample's success path: its Step Functions interpreter (ported from
LocalStack) leaves `_normalise_parameters` / `_normalise_response` as stubs, so
the ASL's `JobName`/`JobQueue`/`JobDefinition` reach botocore unconverted and
every `batch:submitJob(.sync)` task fails with `States.Runtime`. This launcher:

* converts Batch task requests and responses through botocore's service model
  (ASL PascalCase <-> Batch's camelCase), which also lets the `.sync` resolver
  find `JobId`;
* gives the interpreter's exceptions their real error code (they went out as
  `"__type": null`);
* raises `StateMachineAlreadyExists` when CreateStateMachine names an existing
  machine with another definition, as AWS does (moto returned the old machine
  as if it were new, which hides an ownership conflict from the operator);
* fails Batch jobs whose job name or job-definition name matches
  `--fail-jobs-matching`, so that parallel tests can have both outcomes (the
  Docker-free Batch backend otherwise marks every job SUCCEEDED at submit);
* creates the Batch service-linked role (AWS makes it on first use of Batch;
  moto requires a compute environment's serviceRole to exist) and serves the
  default VPC's subnets and security groups at `GET /_batchnotify/network?region=R`,
  what a managed (Fargate) compute environment needs;
* counts requests by access key, service and operation, served as JSON at
  `GET /_batchnotify/requests` (`DELETE` resets): an independent count of
  what a client (the operator, under its own access key) asked of AWS;
* turns on Step Functions execution and Docker-free Batch before anything is
  created, and makes `MOTO_PORT` equal the port it serves, because the
  interpreter calls Batch and SNS at `http://localhost:$MOTO_PORT`;
* makes the interpreter's task calls act in the account of the role they run
  with (the state machine's, or a task's `Credentials.RoleArn`), as on AWS:
  stock moto signs them with the key "ak", which moto maps to 123456789012,
  so an execution in another account submitted its Batch job and published
  to SNS in 123456789012 (`patch_interpreter_account`);
* names an execution StartExecution was given no name for with a UUID, as
  AWS does (moto's interpreter named it `None`);
* is quicker where stock moto spends its CPU on itself rather than on the
  requests (measured with py-spy at 1,000 objects; the answers are the same):
  one boto3 client per region, service and account for the interpreter's
  tasks instead of one per task, each host's backend looked up once instead
  of on every request, no access-log line per request unless
  `--log-requests`, and strict mode's Batch jobs sleeping on an Event instead
  of waking every 50 ms;
* serves `/_batchnotify/gate` (strict mode): `POST ?open=false` makes RUNNING
  Batch jobs wait before they end, `POST ?open=true` lets them all end at once,
  `GET` answers `{"open", "held"}` — for the bench's 1,000 runs ending
  together; open unless a test closes it;
* serves `GET /_batchnotify/principals`: each access key the emulator knows
  -> `{"arn", "account", "type"}` (root, user, or assumed-role, with `role` and
  `expiration`), to tell whose requests `/_batchnotify/requests` counted.

Accounts. Resources live per account, as moto keeps them. An IAM user's key
acts in the account the user was created in; an assumed role's credentials
act in the role's account (moto resolves an access key to its account:
`moto.iam.models.get_account_id_from`). The root key `testing` acts as the
root user of 123456789012, or of the account a request names with moto's
header `x-moto-account-id: 222222222222` (strict mode honours that header for
the root key only). So a test, as an administrator, creates a role and its
policies in account B with the root key and that header, e.g. with boto3:

    iam = boto3.client("iam", ...)  # AWS_ACCESS_KEY_ID=testing
    iam.meta.events.register("before-sign.*.*",
        lambda request, **_: request.headers.__setitem__("x-moto-account-id", B))

creates an IAM user (and its access key) in 123456789012 with the root key
and no header, lets that user `sts:AssumeRole` (and `sts:TagSession` to pass
session tags) on the role's ARN, and names the user (or its account) in the
role's trust policy, with `sts:ExternalId` conditions as a third-party role
has them. The Batch service-linked role exists in 123456789012 from the start
and in any other account from its first CreateComputeEnvironment, as AWS
creates it. `GET /_batchnotify/network?region=R&account=A` serves account A's
default VPC (123456789012's without `account`).

It prints one line, `READY <port>`, on stdout once it serves requests (and
writes the port to `--port-file` if given), then serves until SIGTERM/SIGINT.
`--stock` serves unpatched moto; the launcher's tests use it to prove the patch
is necessary.

Strict mode is the default: the strict_*.py modules make the emulator refuse
what AWS refuses (IAM, STS trust policies and credential expiry, quotas,
paging, eventual consistency, Batch lifecycle, job logs and retries, GetLogEvents'
paging, Step Functions' context object and intrinsic functions; see each module).
`--lenient` turns every strict rule off; `--no-rule NAME` turns one off;
`--delays fast|realistic` and `--delay NAME=SECONDS` set delays. Strict mode's
job switches, like `--fail-jobs-matching`, match a job or job-definition name:
`--hold-runnable-matching` (no capacity), `--long-running-matching` (RUNNING for
`batch-job-long-run` seconds, a log line each second) and
`--fail-first-attempt-matching` (the first attempt fails, a retry succeeds); see
strict_batch.py. For the emulator's own tests,
`--sqs-deleted-recently-seconds N` shortens SQS's 60 s name reuse window and
`--assumed-role-seconds N` caps the lifetime of AssumeRole's credentials (the
Expiration it answers says so), so that expiry shows in seconds.
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import os
import re
import signal
import sys
import threading
import urllib.request
from typing import Any

DEFAULT_FAIL_PATTERN = "must-fail"


def patch_batch_task_conversion() -> None:
    """Convert Batch task parameters/results through botocore's service model."""
    from botocore.loaders import Loader
    from botocore.model import ServiceModel
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
        state_task_service_batch as batch_task,
    )

    service_model = ServiceModel(
        Loader().load_service_model("batch", "service-2"), service_name="batch"
    )
    # botocore operation names are PascalCase ("SubmitJob"); the interpreter
    # names actions in snake_case ("submit_job").
    operations = {
        re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower(): service_model.operation_model(
            name
        )
        for name in service_model.operation_names
    }

    def operation(task: Any, service_action_name: str | None) -> Any:
        return operations.get(task._get_boto_service_action(service_action_name))

    def normalise_parameters(
        self: Any,
        parameters: dict,
        boto_service_name: str | None = None,
        service_action_name: str | None = None,
    ) -> None:
        op = operation(self, service_action_name)
        if op is not None and op.input_shape is not None:
            self._to_boto_request(parameters, op.input_shape)

    def normalise_response(
        self: Any,
        response: Any,
        boto_service_name: str | None = None,
        service_action_name: str | None = None,
    ) -> None:
        op = operation(self, service_action_name)
        if op is not None and op.output_shape is not None:
            self._from_boto_response(response, op.output_shape)

    cls = batch_task.StateTaskServiceBatch
    cls._normalise_parameters = normalise_parameters
    cls._normalise_response = normalise_response


def patch_interpreter_error_codes() -> None:
    """Give the interpreter's exceptions their error code instead of null."""
    from moto.core.exceptions import AWSError
    from moto.stepfunctions.parser import api

    for value in vars(api).values():
        if (
            isinstance(value, type)
            and issubclass(value, AWSError)
            and value.TYPE is None
            and isinstance(value.__dict__.get("code"), str)
        ):
            value.TYPE = value.__dict__["code"]
            value.STATUS = value.__dict__.get("status_code", 400)


def patch_create_state_machine() -> None:
    """CreateStateMachine is idempotent on AWS only for the same definition."""
    from moto.core.exceptions import AWSError
    from moto.stepfunctions.models import StepFunctionBackend

    class AlreadyExists(AWSError):
        TYPE = "StateMachineAlreadyExists"
        STATUS = 400

    original = StepFunctionBackend.create_state_machine

    def create_state_machine(self: Any, name: str, definition: str, *args: Any, **kwargs: Any) -> Any:
        for machine in self.state_machines:
            if machine.name != name:
                continue
            try:
                same = json.loads(machine.definition) == json.loads(definition)
            except ValueError:
                same = machine.definition == definition
            if not same:
                raise AlreadyExists(f"State Machine Already Exists: '{machine.arn}'")
        return original(self, name, definition, *args, **kwargs)

    StepFunctionBackend.create_state_machine = create_state_machine


def patch_stop_execution() -> None:
    """StopExecution takes effect at once, as on AWS ("Stops an execution",
    status ABORTED): moto's interpreter only notices the stop at its next state
    transition, so an execution waiting on a held Batch job stayed RUNNING.
    https://docs.aws.amazon.com/step-functions/latest/apireference/API_StopExecution.html
    """
    from moto.stepfunctions.parser.api import ExecutionStatus
    from moto.stepfunctions.parser.backend.execution import Execution

    original = Execution.stop

    def stop(self: Any, stop_date: Any, error: Any, cause: Any) -> None:
        original(self, stop_date=stop_date, error=error, cause=cause)
        if self.exec_status == ExecutionStatus.RUNNING:
            self.exec_status = ExecutionStatus.ABORTED
            self.stop_date = stop_date

    Execution.stop = stop


def patch_batch_failure_switch(pattern: re.Pattern[str]) -> None:
    """Fail jobs whose job name or job-definition name matches `pattern`."""
    from moto.batch_simple.models import BatchSimpleBackend

    original = BatchSimpleBackend._mark_job_as_finished

    def mark_job_as_finished(self: Any, include_start_attempt: bool, job: Any) -> None:
        original(self, include_start_attempt, job)
        if pattern.search(job.job_name) or pattern.search(job.job_definition.name):
            job.job_stopped = False
            job.status_reason = f"Failed by the emulator: name matches {pattern.pattern!r}"
            job._mark_stopped(success=False)

    BatchSimpleBackend._mark_job_as_finished = mark_job_as_finished


def patch_job_definition_lookup() -> None:
    """SubmitJob names a job definition by name, name:revision, or ARN with or
    without the revision; without one, Batch runs the latest ACTIVE revision.
    https://docs.aws.amazon.com/batch/latest/APIReference/API_SubmitJob.html
    Stock moto splits an ARN without a revision at its first ':' and fails,
    and takes a name's latest revision even when it is INACTIVE."""
    from moto.batch.models import BatchBackend

    original = BatchBackend.get_job_definition

    def latest_active(self: Any, name: str) -> Any:
        active = [
            d for d in self._job_definitions.values() if d.name == name and d.status == "ACTIVE"
        ]
        return max(active, key=lambda d: d.revision, default=None)

    def get_job_definition(self: Any, identifier: str) -> Any:
        found = self.get_job_definition_by_arn(identifier)
        if found is not None:
            return found
        if identifier.startswith("arn:"):
            resource = identifier.split(":", 5)[-1]
            if not resource.startswith("job-definition/"):
                return None
            identifier = resource[len("job-definition/"):]
        if ":" in identifier:
            return original(self, identifier)
        return latest_active(self, identifier)

    BatchBackend.get_job_definition = get_job_definition


def patch_backend_lookup() -> None:
    """moto's server finds the backend of every request from its host name
    (`DomainDispatcherApplication.get_backend_for_host`) by listing moto's
    package directory, one stat per module, then matching every service's URL
    patterns in turn, under the dispatcher's one lock: about a tenth of the
    emulator's CPU at 1,000 objects. The answer depends on the host alone
    (the modules and patterns are fixed once moto is imported), so it is
    kept per host. A performance fix only: every request reaches the backend
    it reached before."""
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    original = DomainDispatcherApplication.get_backend_for_host
    if getattr(original, "_batchnotify", False):
        return
    found: dict[str | None, Any] = {}

    def get_backend_for_host(self: Any, host: str | None) -> Any:
        # Called under the dispatcher's lock: the dict needs no lock of its own.
        if host not in found:
            found[host] = original(self, host)
        return found[host]

    get_backend_for_host._batchnotify = True
    DomainDispatcherApplication.get_backend_for_host = get_backend_for_host


def patch_sqs_counting() -> None:
    """moto computes every attribute of a queue to read one, and those include
    the three ApproximateNumberOfMessages counts, each a scan of every message
    in the queue (in flight ones too) with two clock reads per message. Two
    hot paths did that, and AWS does neither in time that grows with the queue:
    * SendMessage (each event EventBridge delivers) read ContentBasedDeduplication
      so: 65 % of the emulator's CPU in the scale bench's wave of 1,000 ends
      (py-spy). It is a FIFO queue's attribute only ("Applies only to FIFO
      (first-in-first-out) queues"), so a standard queue's answer is known:
      https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_SetQueueAttributes.html
    * ReceiveMessage checked each message it returns against the queue's
      MessageRetentionPeriod through GetQueueAttributes (three whole
      computations per message): 57 % once SendMessage was fixed. The period
      is read from the queue itself.
    A performance fix only: each call answers what it did before, and
    GetQueueAttributes still counts."""
    from moto.core.utils import unix_time
    from moto.sqs.models import Queue, SQSBackend

    original_send = SQSBackend.send_message
    if getattr(original_send, "_batchnotify", False):
        return
    original_attributes = Queue.attributes.fget
    sending = threading.local()  # set while this thread is inside send_message

    def attributes(self: Any) -> dict[str, Any]:
        if getattr(sending, "active", False) and not self.fifo_queue:
            return {}  # send_message reads ContentBasedDeduplication alone: FIFO only
        return original_attributes(self)

    def send_message(self: Any, *args: Any, **kwargs: Any) -> Any:
        sending.active = True
        try:
            return original_send(self, *args, **kwargs)
        finally:
            sending.active = False

    def is_message_valid_based_on_retention_period(self: Any, queue_name: str, message: Any) -> bool:
        retention_period = self.get_queue(queue_name).message_retention_period
        return retention_period + message.sent_timestamp / 1000 > unix_time()

    send_message._batchnotify = True
    SQSBackend.send_message = send_message
    SQSBackend.is_message_valid_based_on_retention_period = is_message_valid_based_on_retention_period
    Queue.attributes = property(attributes)


def patch_parser_scopes() -> None:
    """moto's Amazon States Language preprocessor keeps its stack of
    query-language scopes in a class attribute, one list that every parse in
    the process shares: two executions starting at once push and pop on the
    same list, and one fails in its worker thread with IndexError (preprocessor
    `_get_current_query_language`), so that execution stays RUNNING forever.
    Seen in the scale bench at `--concurrency 64`: one of 1,000 executions never
    ended and the gate never opened. On AWS every StartExecution runs its own
    execution whatever runs beside it
    (https://docs.aws.amazon.com/step-functions/latest/apireference/API_StartExecution.html).
    Each preprocessor gets a list of its own."""
    from moto.stepfunctions.parser.asl.parse.preprocessor import Preprocessor

    original_init = Preprocessor.__init__
    if getattr(original_init, "_batchnotify", False):
        return

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        self._query_language_per_scope = []

    __init__._batchnotify = True
    Preprocessor.__init__ = __init__


def patch_interpreter_account() -> None:
    """The interpreter's task calls (batch:submitJob, sns:publish, ...) act in
    the account of the role they run with. On AWS a task's call is made with
    the state machine's role (or the task's Credentials.RoleArn), so it acts in
    that role's account:
    https://docs.aws.amazon.com/step-functions/latest/dg/concepts-access-cross-acct-resources.html
    moto's interpreter signs every call with the key "ak"
    (moto/stepfunctions/parser/asl/utils/boto_client.py), which moto maps to
    its default account 123456789012: an execution in another account ran its
    tasks against 123456789012's resources. Its calls now carry moto's
    x-moto-account-id header naming the role's account."""
    import pathlib

    from moto.stepfunctions.parser.asl.utils import boto_client

    original = boto_client.boto_client_for
    if getattr(original, "_batchnotify", False):
        return
    role_account = re.compile(r"^arn:aws[\w-]*:iam::(\d{12}):role/")

    # One client per region, service and account, made once: stock moto
    # builds a boto3 client for every task it runs (three per execution of
    # the sample), which cost the emulator about a seventh of its CPU with
    # 1,000 executions going. The clients only differ by those three (the
    # key and the config are fixed), and botocore's clients are thread-safe:
    # https://boto3.amazonaws.com/v1/documentation/api/latest/guide/clients.html#multithreading-or-multiprocessing-with-clients
    clients: dict[tuple[str, str, str | None], Any] = {}
    clients_lock = threading.Lock()

    def boto_client_for(region: str, service: str, state_credentials: Any = None) -> Any:
        match = role_account.match(str(getattr(state_credentials, "role_arn", None) or ""))
        account = match.group(1) if match else None
        key = (region, service, account)
        with clients_lock:
            client = clients.get(key)
            if client is not None:
                return client
            client = original(region=region, service=service, state_credentials=state_credentials)
            if account:

                def name_account(request: Any, _account: str = account, **_: Any) -> None:
                    request.headers["x-moto-account-id"] = _account

                client.meta.events.register("before-sign.*.*", name_account)
            clients[key] = client
            return client

    boto_client_for._batchnotify = True
    boto_client.boto_client_for = boto_client_for
    # The interpreter's modules imported the function by name: rebind it there.
    root = pathlib.Path(boto_client.__file__).resolve().parents[2]  # .../stepfunctions/parser
    for path in root.rglob("*.py"):
        if "import boto_client_for" not in path.read_text(encoding="utf-8", errors="replace"):
            continue
        relative = path.relative_to(root.parent.parent).with_suffix("")
        name = "moto." + ".".join(relative.parts)
        try:
            module = importlib.import_module(name)
        except Exception:  # a module this moto cannot import is never used either
            continue
        if getattr(module, "boto_client_for", None) is original:
            module.boto_client_for = boto_client_for


def patch_execution_name() -> None:
    """StartExecution without a name: "If you don't provide a name for the
    execution, Step Functions automatically generates a universally unique
    identifier (UUID) as the execution name."
    https://docs.aws.amazon.com/step-functions/latest/apireference/API_StartExecution.html
    moto's interpreter backend named such an execution None (its ARN ended
    ":None", and a second one was refused as a duplicate)."""
    import uuid

    from moto.stepfunctions.parser.models import StepFunctionsParserBackend

    original = StepFunctionsParserBackend.start_execution

    def start_execution(self: Any, state_machine_arn: str, name: Any = None, *args: Any, **kwargs: Any) -> Any:
        return original(self, state_machine_arn, name or str(uuid.uuid4()), *args, **kwargs)

    StepFunctionsParserBackend.start_execution = start_execution


def patch_batch_service_linked_role() -> None:
    """AWS creates the Batch service-linked role in an account when a compute
    environment is first created there ("AWS Batch creates the service-linked
    role for you when you create a compute environment"):
    https://docs.aws.amazon.com/batch/latest/userguide/using-service-linked-roles.html
    moto requires a compute environment's serviceRole to exist."""
    from moto.batch.models import BatchBackend

    original = BatchBackend.create_compute_environment

    def create_compute_environment(self: Any, *args: Any, **kwargs: Any) -> Any:
        create_batch_service_linked_role(self.account_id)
        return original(self, *args, **kwargs)

    BatchBackend.create_compute_environment = create_compute_environment


def json_response(start_response: Any, value: Any) -> list[bytes]:
    body = json.dumps(value).encode()
    # A Content-Length keeps the server from chunking: plain HTTP clients can read it.
    start_response(
        "200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
    )
    return [body]


class RequestCounter:
    """WSGI middleware counting requests per (access key, service, operation)."""

    PATH = "/_batchnotify/requests"
    _CREDENTIAL = re.compile(r"Credential=([^/]+)/[^/]+/[^/]+/([^/]+)/")

    def __init__(self, app: Any) -> None:
        from botocore.loaders import Loader

        self.app = app
        self.lock = threading.Lock()
        self.counts: dict[str, dict[str, int]] = {}
        # rest-json services (Batch) name the operation only by path: /v1/describejobqueues
        batch = Loader().load_service_model("batch", "service-2")
        self.rest_ops = {name.lower(): name for name in batch["operations"]}

    def operation(self, environ: dict) -> str:
        target = environ.get("HTTP_X_AMZ_TARGET")
        if target:
            return target.rsplit(".", 1)[-1]
        if environ.get("CONTENT_TYPE", "").startswith("application/x-www-form-urlencoded"):
            import io
            from urllib.parse import parse_qs

            length = int(environ.get("CONTENT_LENGTH") or 0)
            body = environ["wsgi.input"].read(length) if length else b""
            environ["wsgi.input"] = io.BytesIO(body)
            action = parse_qs(body.decode("utf-8", "replace")).get("Action")
            if action:
                return action[0]
        path = environ.get("PATH_INFO", "")
        if path.startswith("/v1/tags/"):  # Batch names the resource ARN in the path
            method = environ.get("REQUEST_METHOD", "GET")
            return {"GET": "ListTagsForResource", "POST": "TagResource"}.get(method, "UntagResource")
        last = path.rstrip("/").rsplit("/", 1)[-1]
        return self.rest_ops.get(last.lower(), last or "unknown")

    def __call__(self, environ: dict, start_response: Any) -> Any:
        if environ.get("PATH_INFO") == NETWORK_PATH:
            from urllib.parse import parse_qs

            query = parse_qs(environ.get("QUERY_STRING", ""))
            region = query.get("region", ["us-east-1"])[0]
            account = query.get("account", [ACCOUNT])[0]
            return json_response(start_response, default_network(region, account))
        if environ.get("PATH_INFO") == GATE_PATH:
            from urllib.parse import parse_qs

            import strict_batch

            told = parse_qs(environ.get("QUERY_STRING", "")).get("open", [None])[0]
            open_ = None if told is None else told.lower() in ("1", "true", "yes")
            if environ.get("REQUEST_METHOD") != "POST":
                open_ = None
            return json_response(start_response, strict_batch.gate(open_))
        if environ.get("PATH_INFO") == PRINCIPALS_PATH:
            import strict_access

            return json_response(start_response, strict_access.principals())
        if environ.get("PATH_INFO") == self.PATH:
            if environ.get("REQUEST_METHOD") == "DELETE":
                with self.lock:
                    self.counts.clear()
            with self.lock:
                counts = json.loads(json.dumps(self.counts))
            return json_response(start_response, counts)
        from urllib.parse import unquote

        # Header-signed, or presigned (X-Amz-Credential in the query string).
        auth = environ.get("HTTP_AUTHORIZATION") or unquote(environ.get("QUERY_STRING", ""))
        match = self._CREDENTIAL.search(auth.replace("X-Amz-Credential=", "Credential="))
        if match:
            key = f"{match.group(2)}:{self.operation(environ)}"
            with self.lock:
                per_key = self.counts.setdefault(match.group(1), {})
                per_key[key] = per_key.get(key, 0) + 1
        return self.app(environ, start_response)


NETWORK_PATH = "/_batchnotify/network"
PRINCIPALS_PATH = "/_batchnotify/principals"
GATE_PATH = "/_batchnotify/gate"
ACCOUNT = "123456789012"  # the root key's account without x-moto-account-id


def default_network(region: str, account: str = ACCOUNT) -> dict:
    """The default VPC's subnets and security groups (moto creates them per
    account and region)."""
    from moto.ec2.models import ec2_backends

    ec2 = ec2_backends[account][region]
    vpc = ec2.get_vpc(ec2.default_vpc.id) if getattr(ec2, "default_vpc", None) else None
    subnets = sorted(s.id for s in ec2.describe_subnets() if vpc is None or s.vpc_id == vpc.id)
    groups = sorted(
        g.id for g in ec2.describe_security_groups() if vpc is None or g.vpc_id == vpc.id
    )
    return {"subnets": subnets, "securityGroupIds": groups}


_SLR_LOCK = threading.Lock()


def create_batch_service_linked_role(account: str = ACCOUNT) -> None:
    """The Batch service-linked role in `account`, unless it exists."""
    from moto.iam.models import iam_backends

    iam = iam_backends[account]["global"]
    with _SLR_LOCK:
        if any(r.name == "AWSServiceRoleForBatch" for r in iam.get_roles()):
            return
        _create_batch_service_linked_role(iam)


def _create_batch_service_linked_role(iam: Any) -> None:
    iam.create_role(
        role_name="AWSServiceRoleForBatch",
        assume_role_policy_document=json.dumps(
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
        path="/aws-service-role/batch.amazonaws.com/",
        permissions_boundary=None,
        description="Allows Batch to create and manage AWS resources on your behalf.",
        tags=[],
        max_session_duration=None,
    )


def configure(port: int) -> None:
    """Turn on execution and Docker-free Batch, as a client would."""
    body = json.dumps(
        {"stepfunctions": {"execute_state_machine": True}, "batch": {"use_docker": False}}
    ).encode()
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}/moto-api/config",
        data=body,
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        resp.read()


def add_strict_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags shared by the strict-mode modules (strict_*.py)."""
    parser.add_argument(
        "--lenient",
        action="store_true",
        help="turn strict mode off: no strict rule at all (moto as patched above)",
    )
    parser.add_argument(
        "--delays",
        choices=("fast", "realistic"),
        default="fast",
        help="strict mode: the set of delays (IAM propagation, Batch transitions, ...)",
    )
    parser.add_argument(
        "--delay",
        action="append",
        default=[],
        metavar="NAME=SECONDS",
        help="strict mode: set one delay, e.g. iam-propagation=3 (repeatable)",
    )
    parser.add_argument(
        "--no-rule",
        action="append",
        default=[],
        metavar="NAME",
        help="strict mode: turn one named rule off (repeatable)",
    )


def resolve_strict_arguments(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """After parsing: args.delay_profile ("fast"/"realistic"), args.delays (the
    explicit --delay values by name), args.disabled_rules, and the helpers
    args.delay_for(name, fast, realistic) and args.rule_on(name)."""
    overrides: dict[str, float] = {}
    for item in args.delay:
        name, sep, value = item.partition("=")
        try:
            overrides[name.strip()] = float(value)
        except ValueError:
            sep = ""
        if not sep or not name.strip():
            parser.error(f"--delay wants NAME=SECONDS, not {item!r}")
    args.lenient = args.lenient or args.stock
    args.delay_profile = args.delays
    args.delays = overrides
    args.disabled_rules = set(args.no_rule)
    args.delay_for = lambda name, fast, realistic: overrides.get(
        name, realistic if args.delay_profile == "realistic" else fast
    )
    args.rule_on = lambda name: not args.lenient and name not in args.disabled_rules


# The emulator's accept queue. werkzeug listens with a backlog of 128 and
# closes every connection after its response, so each request is a new
# connection: 1,000 Batch jobs ending at once (each end a Publish and a
# DescribeJobs from the interpreter, plus the operator's calls) overflowed the
# queue, the kernel dropped the handshakes (TcpExtListenOverflows), and clients
# got "Connection was closed before we received a valid response" -- 62 of
# 1,000 concurrent Publish calls in test_moto_launcher.py's burst test before
# this. A larger backlog is silently capped at net.core.somaxconn:
# https://man7.org/linux/man-pages/man2/listen.2.html
LISTEN_BACKLOG = 4096


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--port-file", help="write the chosen port here")
    parser.add_argument(
        "--fail-jobs-matching",
        default=DEFAULT_FAIL_PATTERN,
        help="regex; Batch jobs whose job or job-definition name matches it end FAILED",
    )
    parser.add_argument("--stock", action="store_true", help="serve unpatched moto")
    parser.add_argument(
        "--log-requests",
        action="store_true",
        help="log a line per request on stderr (werkzeug's access log; off: it costs a tenth of the CPU at scale)",
    )
    add_strict_arguments(parser)
    import strict_access

    strict_access.add_arguments(parser)
    import strict_batch
    import strict_events
    import strict_states
    import strict_validation

    strict_batch.add_arguments(parser)
    strict_validation.add_arguments(parser)
    strict_events.add_arguments(parser)
    args = parser.parse_args(argv)
    resolve_strict_arguments(parser, args)

    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
    from werkzeug.serving import ThreadedWSGIServer

    if not args.stock:
        # Every AWS account has AWS's managed policies (the operator attaches
        # AmazonECSTaskExecutionRolePolicy); moto loads them only when asked.
        # https://docs.aws.amazon.com/IAM/latest/UserGuide/access_policies_managed-vs-inline.html#aws-managed-policies
        os.environ["MOTO_IAM_LOAD_MANAGED_POLICIES"] = "true"
        patch_batch_task_conversion()
        patch_interpreter_error_codes()
        patch_create_state_machine()
        patch_batch_failure_switch(re.compile(args.fail_jobs_matching))
        patch_job_definition_lookup()
        patch_interpreter_account()
        patch_backend_lookup()
        patch_sqs_counting()
        patch_parser_scopes()
        patch_execution_name()
        patch_batch_service_linked_role()

    if not args.lenient:
        patch_stop_execution()
        strict_access.install(args)
        # After patch_batch_failure_switch: strict_batch's job runner replaces it.
        strict_batch.install(args)
        # The Step Functions interpreter's context object and intrinsic functions.
        strict_states.install(args)
        strict_validation.install(args)
    if not args.stock:  # Step Functions' events exist on AWS whatever the mode
        strict_events.install(args)
    if not args.log_requests:
        # werkzeug logs a line per request to stderr, under a lock every
        # handler thread takes: a tenth of the emulator's CPU at 1,000
        # objects. /_batchnotify/requests counts them instead.
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
    app = DomainDispatcherApplication(create_backend_app)
    if not args.lenient:
        app = strict_access.wrap(app, args)
    # Outermost, so that it counts throttled and denied requests too.
    app = RequestCounter(app)
    # Binding port 0 here (not probing and re-binding) leaves no race for the port.
    class Server(ThreadedWSGIServer):
        request_queue_size = LISTEN_BACKLOG

    server = Server(args.host, args.port, app)
    port = server.server_port
    os.environ["MOTO_PORT"] = str(port)

    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    configure(port)
    if not args.stock:
        create_batch_service_linked_role()

    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(str(port))
        os.replace(tmp, args.port_file)
    print(f"READY {port}", flush=True)

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    server.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
