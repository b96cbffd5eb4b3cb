"""Strict mode, Batch part: lifecycles that take time, and networking that decides
whether a Fargate job can pull its image. In-process patches of moto 5.2.5's Batch
and EC2 backends, installed by `moto_launcher.py` before it serves (`--lenient`
skips them).

Rules (each can be turned off with `--no-rule NAME`):

* `batch-lifecycle`: compute environments and job queues go CREATING -> VALID,
  UPDATING -> VALID, DELETING -> DELETED over delays, stay listed as DELETED for a
  while, and what AWS refuses meanwhile is refused with `ClientException`.
* `batch-jobs`: jobs pass SUBMITTED -> PENDING -> RUNNABLE -> STARTING -> RUNNING ->
  SUCCEEDED/FAILED one step per `batch-job-step`, with the fields DescribeJobs has
  on AWS; `--hold-runnable-matching` keeps jobs RUNNABLE (no capacity) until they
  are cancelled or the queue's `jobStateTimeLimitActions` cancels them.
* `batch-fargate-network`: a Fargate job reaches STARTING and fails to pull its
  image unless its subnet routes 0.0.0.0/0 to a NAT gateway, or to an internet
  gateway with `assignPublicIp` ENABLED.
* `ec2-default-vpc-igw`: the default VPC gets what AWS gives it (an internet gateway
  and a 0.0.0.0/0 route to it in its main route table); stock moto's has no route.
* `batch-logs`: a job's container writes CloudWatch Logs events into its attempt's
  stream (the `awslogs` driver's group and `awslogs-stream-prefix`, default
  `/aws/batch/job` and `<jobDefinitionName>/default/<task id>`): one line per state
  change of the attempt and the command line as run (`Ref::` parameters
  substituted) when it starts, `batchnotify-emulator: running <n>s` each second
  while a `--long-running-matching` job runs (for `batch-job-long-run` seconds),
  and `... SUCCEEDED` / `... FAILED exit code <n>` last. A custom group that does
  not exist fails the attempt as ECS does, unless `awslogs-create-group` is true.
* `batch-retries`: `retryStrategy` (SubmitJob's, else the job definition's):
  `attempts` 1-10 and `evaluateOnExit` (RETRY/EXIT on onExitCode/onReason/
  onStatusReason, trailing `*` globs); a failed attempt that may be retried puts
  the job back in RUNNABLE for a new attempt (new task, new stream), and
  DescribeJobs' `attempts` lists each finished one. `--fail-first-attempt-matching`
  fails a matching job's first attempt only (`--fail-jobs-matching` fails every one).
* `logs-get-events`: GetLogEvents as AWS documents it: pages of at most 10,000
  events and 1 MB, `startFromHead` false by default (the latest events), the same
  token back at the end of the stream, `endTime` exclusive, ResourceNotFoundException
  naming the missing group or stream; `logGroupIdentifier` (name or ARN) resolved
  for GetLogEvents, FilterLogEvents and DescribeLogStreams, and FilterLogEvents'
  pages capped at 1 MB and its `logStreamNamePrefix` honoured.

Delays, seconds (`--delays fast|realistic`, `--delay NAME=SECONDS`): see DELAYS.
"""

from __future__ import annotations

import argparse
import datetime
import json
import re
import sys
import threading
import time
import weakref
import uuid
from typing import Any

# name: (fast, realistic). Realistic figures: creating a Fargate compute environment
# or a job queue takes tens of seconds on AWS; disabling one takes up to about a
# minute (users report ~55-60 s: terraform-provider-aws#2044, pegasus#2088); 30 s is
# the middle of what is reported. Jobs: Fargate jobs take a minute or so from
# SUBMITTED to RUNNING, about 5 s per step.
DELAYS: dict[str, tuple[float, float]] = {
    "batch-create": (1.0, 30.0),
    "batch-update": (1.0, 30.0),
    "batch-delete": (1.0, 30.0),
    # How long a DELETED compute environment / job queue stays listed.
    "batch-deleted-retention": (10.0, 600.0),
    "batch-job-step": (0.3, 5.0),
    # Stands in for a jobStateTimeLimitActions maxTimeSeconds (AWS's minimum is 600);
    # 0 honours maxTimeSeconds as given.
    "batch-time-limit": (2.0, 0.0),
    # How long a `--long-running-matching` job stays RUNNING.
    "batch-job-long-run": (6.0, 60.0),
}

RULES = (
    "batch-lifecycle",
    "batch-jobs",
    "batch-fargate-network",
    "ec2-default-vpc-igw",
    "batch-logs",
    "batch-retries",
    "logs-get-events",
)

LOCK = threading.RLock()
TRANSITIONAL = ("CREATING", "UPDATING", "DELETING")
# https://docs.aws.amazon.com/batch/latest/userguide/job_stuck_in_runnable_capacity.html
CAPACITY_REASON = "CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY"


# ---------------------------------------------------------------- options --


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--hold-runnable-matching",
        metavar="REGEX",
        help="strict mode: Batch jobs whose job or job-definition name matches stay "
        "RUNNABLE (no capacity) until cancelled or the queue's jobStateTimeLimitActions fires",
    )
    parser.add_argument(
        "--long-running-matching",
        metavar="REGEX",
        help="strict mode: Batch jobs whose job or job-definition name matches stay RUNNING "
        "for the delay batch-job-long-run, writing a log line each second",
    )
    parser.add_argument(
        "--fail-first-attempt-matching",
        metavar="REGEX",
        help="strict mode: the first attempt of Batch jobs whose job or job-definition name "
        "matches fails (exit code 1); later attempts (retryStrategy) succeed",
    )


def delay(args: Any, name: str) -> float:
    """The delay `name` for this run: an explicit `--delay`, else the profile's."""
    given = getattr(args, "delays", None)
    if isinstance(given, dict) and given.get(name) is not None:
        return float(given[name])
    profile = getattr(args, "delay_profile", None)
    if profile is None and isinstance(given, str):
        profile = given
    fast, realistic = DELAYS[name]
    return realistic if profile == "realistic" else fast


def rule_enabled(args: Any, name: str) -> bool:
    return name not in (getattr(args, "disabled_rules", None) or set())


def client_error(message: str) -> Exception:
    # https://docs.aws.amazon.com/batch/latest/APIReference/CommonErrors.html
    from moto.batch.exceptions import ClientException

    return ClientException(message)


def log(message: str) -> None:
    print(f"strict_batch: {message}", file=sys.stderr, flush=True)


# ------------------------------------------------ compute envs and queues --
# https://docs.aws.amazon.com/batch/latest/userguide/compute_environment_parameters.html
# (status CREATING | UPDATING | DELETING | DELETED | VALID | INVALID)
# https://docs.aws.amazon.com/batch/latest/userguide/job_queue_parameters.html


class Lifecycle:
    def __init__(self, args: Any) -> None:
        self.create = delay(args, "batch-create")
        self.update = delay(args, "batch-update")
        self.delete = delay(args, "batch-delete")
        self.retention = delay(args, "batch-deleted-retention")


def begin(obj: Any, status: str, seconds: float, then: str) -> None:
    obj._sb_status = status
    obj._sb_until = time.monotonic() + seconds
    obj._sb_then = then
    if hasattr(obj, "jobs"):  # a JobQueue: moto's describe() reads .status
        obj.status = status


def status_of(obj: Any) -> str:
    """Settles a due transition and returns the status."""
    until = getattr(obj, "_sb_until", None)
    if until is not None and time.monotonic() >= until:
        obj._sb_status = obj._sb_then
        obj._sb_until = None
        if obj._sb_status == "DELETED":
            obj._sb_deleted_at = time.monotonic()
        if hasattr(obj, "jobs"):
            obj.status = obj._sb_status
    return getattr(obj, "_sb_status", "VALID")


def install_lifecycle(args: Any) -> None:
    from moto.batch.models import BatchBackend, JobQueue
    from moto.batch.responses import BatchResponse

    life = Lifecycle(args)
    B = BatchBackend
    orig = {
        name: getattr(B, name)
        for name in (
            "create_compute_environment",
            "describe_compute_environments",
            "update_compute_environment",
            "delete_compute_environment",
            "create_job_queue",
            "describe_job_queues",
            "update_job_queue",
            "delete_job_queue",
        )
    }

    def purge(self: Any) -> None:
        """Settle everything; drop DELETED resources listed for long enough."""
        now = time.monotonic()
        for q in list(self._job_queues.values()):
            if status_of(q) == "DELETED" and now - q._sb_deleted_at >= life.retention:
                orig["delete_job_queue"](self, q.arn)
        for ce in list(self._compute_environments.values()):
            if status_of(ce) == "DELETED" and now - ce._sb_deleted_at >= life.retention:
                orig["delete_compute_environment"](self, ce.arn)

    def evict_deleted(self: Any, kind: str, name: str) -> None:
        """A DELETED resource frees its name (a new one takes its ARN)."""
        if kind == "ce":
            old = self.get_compute_environment_by_name(name)
            if old is not None and status_of(old) == "DELETED":
                orig["delete_compute_environment"](self, old.arn)
        else:
            old = self.get_job_queue_by_name(name)
            if old is not None and status_of(old) == "DELETED":
                orig["delete_job_queue"](self, old.arn)

    def live_ce(self: Any, identifier: str) -> Any:
        ce = self.get_compute_environment(identifier)
        if ce is None or status_of(ce) == "DELETED":
            raise client_error(f"Compute environment {identifier} does not exist")
        return ce

    def live_queue(self: Any, identifier: str) -> Any:
        q = self.get_job_queue(identifier)
        if q is None or status_of(q) == "DELETED":
            raise client_error(f"Job queue {identifier} does not exist")
        return q

    def check_order(self: Any, order: Any) -> None:
        # CreateJobQueue / UpdateJobQueue: "Compute environments must be in the VALID
        # state before you can associate them with a job queue."
        # https://docs.aws.amazon.com/batch/latest/APIReference/API_CreateJobQueue.html
        # https://docs.aws.amazon.com/batch/latest/APIReference/API_UpdateJobQueue.html
        for item in order or []:
            ident = item.get("computeEnvironment") if isinstance(item, dict) else None
            ce = self.get_compute_environment(ident) if ident else None
            if ce is not None and status_of(ce) != "VALID":
                raise client_error(
                    f"computeEnvironmentOrder: compute environment {ce.arn} is in "
                    f"{status_of(ce)} status; it must be VALID to be associated with a job queue"
                )

    def being_modified(obj: Any, verb: str) -> None:
        # The wording AWS uses for DeleteJobQueue while UPDATING (astronomer-providers#413).
        if status_of(obj) in TRANSITIONAL:
            raise client_error(f"Cannot {verb}, resource is being modified")

    # -- compute environments

    def create_compute_environment(self: Any, compute_environment_name: str, *a: Any, **kw: Any) -> Any:
        with LOCK:
            purge(self)
            evict_deleted(self, "ce", compute_environment_name)
            ce = orig["create_compute_environment"](self, compute_environment_name, *a, **kw)
            begin(ce, "CREATING", life.create, "VALID")
            return ce

    def describe_compute_environments(self: Any, environments: Any = None) -> Any:
        with LOCK:
            purge(self)
            result = orig["describe_compute_environments"](self, environments)
            for item in result:
                ce = self._compute_environments.get(item["computeEnvironmentArn"])
                status = status_of(ce) if ce is not None else "VALID"
                item["status"] = status
                if status == "VALID":
                    item["statusReason"] = "ComputeEnvironment Healthy"
                else:
                    item.pop("statusReason", None)
            return result

    def update_compute_environment(self: Any, compute_environment_name: str, *a: Any, **kw: Any) -> Any:
        # https://docs.aws.amazon.com/batch/latest/APIReference/API_UpdateComputeEnvironment.html
        with LOCK:
            purge(self)
            ce = live_ce(self, compute_environment_name)
            being_modified(ce, "update")
            out = orig["update_compute_environment"](self, compute_environment_name, *a, **kw)
            begin(ce, "UPDATING", life.update, "VALID")
            return out

    def delete_compute_environment(self: Any, compute_environment_name: str) -> None:
        # "Before you can delete a compute environment, you must set its state to
        # DISABLED ... and disassociate it from any job queues"
        # https://docs.aws.amazon.com/batch/latest/APIReference/API_DeleteComputeEnvironment.html
        with LOCK:
            purge(self)
            ce = self.get_compute_environment(compute_environment_name) if compute_environment_name else None
            if ce is None:
                return orig["delete_compute_environment"](self, compute_environment_name)
            if status_of(ce) == "DELETED":
                return None
            being_modified(ce, "delete")
            if ce.state == "ENABLED":
                raise client_error(
                    "Cannot delete, compute environment is ENABLED; set its state to DISABLED first"
                )
            for q in self._job_queues.values():
                if status_of(q) != "DELETED" and any(e.arn == ce.arn for e in q.environments):
                    # AWS's wording (terraform-provider-aws#2044, #13221)
                    raise client_error("Cannot delete, found existing JobQueue relationship")
            begin(ce, "DELETING", life.delete, "DELETED")
            return None

    # -- job queues

    def create_job_queue(self: Any, queue_name: str, priority: Any, schedule_policy: Any, state: Any,
                         compute_env_order: Any, tags: Any = None) -> Any:
        with LOCK:
            purge(self)
            if queue_name:
                evict_deleted(self, "queue", queue_name)
            check_order(self, compute_env_order)
            q = orig["create_job_queue"](self, queue_name, priority, schedule_policy, state,
                                         compute_env_order, tags)
            begin(q, "CREATING", life.create, "VALID")
            return q

    def describe_job_queues(self: Any, job_queues: Any = None) -> Any:
        with LOCK:
            purge(self)
            return orig["describe_job_queues"](self, job_queues)

    def update_job_queue(self: Any, queue_name: str, priority: Any, state: Any, compute_env_order: Any,
                         schedule_policy: Any) -> Any:
        with LOCK:
            purge(self)
            if queue_name is None:  # moto's "jobQueueName must be provided"
                return orig["update_job_queue"](self, queue_name, priority, state, compute_env_order,
                                                schedule_policy)
            q = live_queue(self, queue_name)
            being_modified(q, "update")
            check_order(self, compute_env_order)
            out = orig["update_job_queue"](self, queue_name, priority, state, compute_env_order,
                                           schedule_policy)
            begin(q, "UPDATING", life.update, "VALID")
            return out

    def delete_job_queue(self: Any, queue_name: str) -> None:
        # "You must first disable submissions for a queue with the UpdateJobQueue
        # operation." https://docs.aws.amazon.com/batch/latest/APIReference/API_DeleteJobQueue.html
        with LOCK:
            purge(self)
            q = self.get_job_queue(queue_name)
            if q is None or status_of(q) == "DELETED":
                return None
            being_modified(q, "delete")
            if q.state != "DISABLED":
                raise client_error(
                    "Cannot delete, job queue is ENABLED; set its state to DISABLED first"
                )
            # "All jobs in the queue are eventually terminated when you delete a job queue."
            for job in q.jobs:
                if not job.job_stopped:
                    job.terminate("Job queue deleted")
            begin(q, "DELETING", life.delete, "DELETED")
            return None

    for name, fn in (
        ("create_compute_environment", create_compute_environment),
        ("describe_compute_environments", describe_compute_environments),
        ("update_compute_environment", update_compute_environment),
        ("delete_compute_environment", delete_compute_environment),
        ("create_job_queue", create_job_queue),
        ("describe_job_queues", describe_job_queues),
        ("update_job_queue", update_job_queue),
        ("delete_job_queue", delete_job_queue),
    ):
        setattr(B, name, fn)

    orig_describe = JobQueue.describe

    def queue_describe(self: Any) -> dict:
        out = orig_describe(self)
        out["status"] = status_of(self)
        if out["status"] == "VALID":
            out["statusReason"] = "JobQueue Healthy"
        actions = getattr(self, "_sb_time_limit_actions", None)
        if actions:
            out["jobStateTimeLimitActions"] = actions
        return out

    JobQueue.describe = queue_describe
    install_time_limit_actions(BatchResponse)


def install_time_limit_actions(BatchResponse: Any) -> None:
    """moto ignores CreateJobQueue/UpdateJobQueue `jobStateTimeLimitActions`: keep them.
    https://docs.aws.amazon.com/batch/latest/APIReference/API_JobStateTimeLimitAction.html
    """

    def validated(actions: Any) -> list | None:
        if actions is None:
            return None
        for a in actions:
            seconds = a.get("maxTimeSeconds")
            if not isinstance(seconds, int) or not 600 <= seconds <= 86400:
                raise client_error(
                    "jobStateTimeLimitActions.maxTimeSeconds must be between 600 and 86400"
                )
            if a.get("state") != "RUNNABLE":
                raise client_error("jobStateTimeLimitActions.state must be RUNNABLE")
            if a.get("action") != "CANCEL":
                raise client_error("jobStateTimeLimitActions.action must be CANCEL")
        return [dict(a) for a in actions]

    def wrap(method: str, name_param: str) -> None:
        original = getattr(BatchResponse, method)

        def handler(self: Any) -> str:
            actions = validated(self._get_param("jobStateTimeLimitActions"))
            out = original(self)
            if actions is not None:
                q = self.batch_backend.get_job_queue(self._get_param(name_param))
                if q is not None:
                    q._sb_time_limit_actions = actions
            return out

        setattr(BatchResponse, method, handler)

    wrap("createjobqueue", "jobQueueName")
    wrap("updatejobqueue", "jobQueue")


# -------------------------------------------------------------- networking --


def install_default_vpc_igw() -> None:
    """AWS's default VPC: "Create an internet gateway and connect it to your default
    VPC. Add a route to the main route table that points all traffic (0.0.0.0/0) to
    the internet gateway." https://docs.aws.amazon.com/vpc/latest/userguide/default-vpc.html
    """
    from moto.ec2.models.vpcs import VPCBackend

    original = VPCBackend.create_default_vpc

    def create_default_vpc(self: Any) -> Any:
        vpc = original(self)
        igw = self.create_internet_gateway()
        self.attach_internet_gateway(igw.id, vpc.id)
        main = [rt for rt in self.route_tables.values() if rt.vpc_id == vpc.id and rt.main_association_id]
        for rt in main:
            self.create_route(rt.id, "0.0.0.0/0", gateway_id=igw.id)
        return vpc

    VPCBackend.create_default_vpc = create_default_vpc


def subnet_egress(ec2: Any, subnet_id: str) -> str:
    """'igw', 'nat' or 'none': where the subnet's 0.0.0.0/0 route leads."""
    subnet = ec2.get_subnet(subnet_id)
    tables = [rt for rt in ec2.route_tables.values() if subnet_id in rt._associations.values()]
    if not tables:
        tables = [
            rt for rt in ec2.route_tables.values() if rt.vpc_id == subnet.vpc_id and rt.main_association_id
        ]
    for rt in tables:
        for route in rt.routes:
            if route.destination_cidr_block != "0.0.0.0/0":
                continue
            if route.gateway is not None and route.gateway.id.startswith("igw-"):
                return "igw"
            if route.nat_gateway is not None or route.instance is not None:
                return "nat"
    return "none"


def image_ref(image: str) -> tuple[str, str]:
    """(containerd ref, manifest URL) of an image as the ECS agent names them."""
    name, tag = image, "latest"
    if "@" in name:
        name, tag = name.split("@", 1)
    elif ":" in name.rsplit("/", 1)[-1]:
        name, tag = name.rsplit(":", 1)
    first = name.split("/", 1)[0]
    if "/" in name and ("." in first or ":" in first or first == "localhost"):
        registry, path = first, name.split("/", 1)[1]
    else:
        registry, path = "docker.io", name if "/" in name else f"library/{name}"
    host = "registry-1.docker.io" if registry == "docker.io" else registry
    return f"{registry}/{path}:{tag}", f"https://{host}/v2/{path}/manifests/{tag}"


def pull_failure(job: Any) -> str | None:
    """Why a Fargate job cannot pull its image, or None.
    https://docs.aws.amazon.com/batch/latest/APIReference/API_NetworkConfiguration.html
    https://repost.aws/knowledge-center/ecs-fargate-pull-container-error
    """
    from moto.ec2.models import ec2_backends

    jd = job.job_definition
    if "FARGATE" not in (jd.platform_capabilities or []) or jd.container_properties is None:
        return None
    ces = [ce for ce in job.job_queue.environments if (ce.compute_resources or {}).get("type") in ("FARGATE", "FARGATE_SPOT")]
    if not ces:
        return None
    subnets = ces[0].compute_resources.get("subnets") or []
    if not subnets:
        return None
    # Fargate places the task in one of the subnets: pick one, stably per job.
    subnet = subnets[uuid.UUID(job.job_id.split(":")[0]).int % len(subnets)]
    ec2 = ec2_backends[jd.backend.account_id][jd.backend.region_name]
    try:
        egress = subnet_egress(ec2, subnet)
    except Exception:  # an unknown subnet: nothing routes
        egress = "none"
    public_ip = (jd.container_properties.get("networkConfiguration") or {}).get("assignPublicIp", "DISABLED")
    if egress == "nat" or (egress == "igw" and public_ip == "ENABLED"):
        return None
    ref, url = image_ref(jd.container_properties.get("image", ""))
    return (
        f"CannotPullContainerError: pull image manifest has been retried 5 time(s): failed to "
        f'resolve ref {ref}: failed to do request: Head "{url}": dial tcp 203.0.113.10:443: i/o timeout'
    )


def ms(when: datetime.datetime) -> int:
    return int(when.timestamp() * 1000)


def now_ms() -> int:
    return int(time.time() * 1000)


def rfc3339(millis: int) -> str:
    when = datetime.datetime.fromtimestamp(millis / 1000, datetime.timezone.utc)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{millis % 1000:03d}Z"


# ------------------------------------------------------------ job logs --
# "By default, AWS Batch enables the awslogs log driver"; awslogs-group: "If this
# isn't specified, aws/batch/job is used"; awslogs-stream-prefix: "the log stream
# takes the following format: prefix-name/default/ecs-task-id"; awslogs-create-group:
# "If this option isn't specified, it defaults to false".
# https://docs.aws.amazon.com/batch/latest/userguide/using_awslogs.html
# Without a prefix Batch names the stream <jobDefinitionName>/default/<task id>
# ("The log group for AWS Batch jobs is /aws/batch/job. Each container attempt
# receives a log stream name when they reach the RUNNING status."
# https://docs.aws.amazon.com/batch/latest/APIReference/API_AttemptContainerDetail.html).
DEFAULT_LOG_GROUP = "/aws/batch/job"
# A missing group with awslogs-create-group false: the task stops before the
# container runs. How ECS says so: on EC2 the Docker daemon's awslogs driver
# (reported in Rayraegah/terraform-aws-hasura#25), on Fargate the task's
# ResourceInitializationError ("failed to validate logger args"); see
# https://docs.aws.amazon.com/AmazonECS/latest/developerguide/stopped-task-error-codes.html
NO_GROUP = "failed to create Cloudwatch log stream: ResourceNotFoundException: The specified log group does not exist."
NO_GROUP_EC2 = f"CannotStartContainerError: Error response from daemon: failed to initialize logging driver: {NO_GROUP} status code: 400"
NO_GROUP_FARGATE = (
    f"ResourceInitializationError: failed to validate logger args: create stream has been retried 1 times: "
    f"{NO_GROUP} : exit status 1"
)
EMULATOR = "batchnotify-emulator"


class LogTarget:
    """Where an attempt's container writes: a logs backend, group and stream prefix."""

    def __init__(self, backend: Any, job: Any) -> None:
        from moto.logs.models import logs_backends

        jd = job.job_definition
        conf = (jd.container_properties or {}).get("logConfiguration") or {}
        options = conf.get("options") or {}
        self.awslogs = conf.get("logDriver", "awslogs") == "awslogs"
        self.group = options.get("awslogs-group") or DEFAULT_LOG_GROUP
        self.prefix = options.get("awslogs-stream-prefix") or jd.name
        self.create = str(options.get("awslogs-create-group", "false")).lower() == "true"
        region = options.get("awslogs-region") or backend.region_name
        self.logs = logs_backends[backend.account_id][region]
        self.fargate = "FARGATE" in (jd.platform_capabilities or [])
        self.stream: str | None = None

    def stream_name(self, task_id: str) -> str:
        return f"{self.prefix}/default/{task_id}"

    def missing_group(self) -> str | None:
        """The container's reason when the group cannot be written to, else None
        (creating the group when Batch or awslogs-create-group would)."""
        if self.group in self.logs.groups:
            return None
        if self.group == DEFAULT_LOG_GROUP or self.create:
            self.logs.ensure_log_group(self.group)
            return None
        return NO_GROUP_FARGATE if self.fargate else NO_GROUP_EC2

    def open(self, stream: str) -> None:
        self.stream = stream
        self.logs.ensure_log_group(self.group)
        self.logs.ensure_log_stream(self.group, stream)

    def write(self, events: list[tuple[int, str]]) -> None:
        """PutLogEvents as moto stores it (GetLogEvents/FilterLogEvents read it back)."""
        events = [(t, m) for t, m in events if m]
        if self.stream is None or not events:
            return
        try:
            self.logs.put_log_events(
                self.group, self.stream, [{"timestamp": t, "message": m} for t, m in events]
            )
        except Exception as err:  # the stream or group was deleted meanwhile
            log(f"log events for {self.group}/{self.stream}: {err!r}")


def command_line(job: Any) -> str:
    """The container's command as run: SubmitJob's override, else the job
    definition's, with each `Ref::name` placeholder replaced by the job's
    parameter (SubmitJob's parameters over the definition's defaults).
    https://docs.aws.amazon.com/batch/latest/userguide/example-use-parameters.html
    https://docs.aws.amazon.com/batch/latest/userguide/job_definition_parameters.html#parameters"""
    jd = job.job_definition
    command = (job.container_overrides or {}).get("command") or (jd.container_properties or {}).get("command") or []
    params = {**(jd.parameters or {}), **(job.parameters or {})}
    words = [str(params.get(w[5:], w)) if isinstance(w, str) and w.startswith("Ref::") else str(w) for w in command]
    return " ".join(words)


# ------------------------------------------------------------- retries --
# "attempts: The number of times to move a job to the RUNNABLE status. You can
# specify between 1 and 10 attempts." "evaluateOnExit: Array of up to 5 objects ...
# If this parameter is specified, then the attempts parameter must also be
# specified. If none of the listed conditions match, then the job is retried."
# https://docs.aws.amazon.com/batch/latest/APIReference/API_RetryStrategy.html
# action "RETRY | EXIT ... The values aren't case sensitive"; onExitCode/onReason/
# onStatusReason: glob patterns that "can end with an asterisk (*) so that only the
# start of the string needs to be an exact match".
# https://docs.aws.amazon.com/batch/latest/APIReference/API_EvaluateOnExit.html
# "Jobs that have been cancelled or terminated aren't retried."
# https://docs.aws.amazon.com/batch/latest/userguide/job_retries.html
# A retry strategy given to SubmitJob "overrides the retry strategy defined in the
# job definition". https://docs.aws.amazon.com/batch/latest/APIReference/API_SubmitJob.html
SUBMIT = threading.local()


def retry_problem(strategy: Any) -> str | None:
    if strategy is None:
        return None
    if not isinstance(strategy, dict):
        return "retryStrategy must be an object"
    attempts = strategy.get("attempts")
    if attempts is not None and (isinstance(attempts, bool) or not isinstance(attempts, int) or not 1 <= attempts <= 10):
        return f"retryStrategy.attempts must be between 1 and 10, not {attempts!r}"
    entries = strategy.get("evaluateOnExit")
    if entries is not None:
        if attempts is None:
            return "retryStrategy.attempts must be specified when evaluateOnExit is"
        if not isinstance(entries, list) or len(entries) > 5:
            return "retryStrategy.evaluateOnExit can have at most 5 entries"
        for entry in entries:
            action = str((entry or {}).get("action", "")).upper()
            if action not in ("RETRY", "EXIT"):
                return f"retryStrategy.evaluateOnExit.action must be RETRY or EXIT, not {action!r}"
    return None


def normalized_strategy(strategy: Any) -> dict | None:
    """As moto stores a job definition's (the action in lower case)."""
    if not isinstance(strategy, dict):
        return None
    out = dict(strategy)
    if isinstance(out.get("evaluateOnExit"), list):
        out["evaluateOnExit"] = [
            dict(e, action=str(e.get("action", "")).lower()) for e in out["evaluateOnExit"] if isinstance(e, dict)
        ]
    return out


def strategy_of(job: Any) -> dict:
    submitted = getattr(job, "_sb_retry", None)
    if submitted is not None:
        return submitted
    return job.job_definition.retry_strategy or {}


def glob_matches(pattern: Any, value: Any) -> bool:
    pattern, value = str(pattern), "" if value is None else str(value)
    if pattern.endswith("*"):
        return value.startswith(pattern[:-1])
    return value == pattern


def on_exit(strategy: dict, exit_code: int | None, reason: str | None, status_reason: str | None) -> str:
    """'retry' or 'exit': the first evaluateOnExit entry all of whose conditions
    match decides; none matching retries."""
    for entry in strategy.get("evaluateOnExit") or []:
        checks = (("onExitCode", exit_code), ("onReason", reason), ("onStatusReason", status_reason))
        if all(glob_matches(entry[k], v) for k, v in checks if entry.get(k) is not None):
            return "exit" if str(entry.get("action", "")).lower() == "exit" else "retry"
    return "retry"


# -------------------------------------------------------------------- jobs --
# https://docs.aws.amazon.com/batch/latest/userguide/job_states.html


class JobRunner:
    def __init__(self, args: Any) -> None:
        self.step = delay(args, "batch-job-step")
        self.time_limit = delay(args, "batch-time-limit")
        self.long_run = delay(args, "batch-job-long-run")
        self.fail = self.pattern(args, "fail_jobs_matching")
        self.hold = self.pattern(args, "hold_runnable_matching")
        self.long = self.pattern(args, "long_running_matching")
        self.flaky = self.pattern(args, "fail_first_attempt_matching")
        self.network = rule_enabled(args, "batch-fargate-network")
        self.logs = rule_enabled(args, "batch-logs")
        self.retries = rule_enabled(args, "batch-retries")

    @staticmethod
    def pattern(args: Any, name: str) -> re.Pattern[str] | None:
        value = getattr(args, name, None)
        return re.compile(value) if value else None

    def matches(self, pattern: re.Pattern[str] | None, job: Any) -> bool:
        return bool(pattern) and bool(pattern.search(job.job_name) or pattern.search(job.job_definition.name))

    def start(self, backend: Any, job: Any, array_parent: bool) -> None:
        job._transitions = []  # moto's ManagedState must not move the status itself
        job._sb_started = False
        job._sb_open = False  # an attempt is under way (not yet in job.attempts)
        # Each state change with its time: the attempt's stream gets them.
        job._sb_changes = [("SUBMITTED", ms(job.job_created_at))]
        if getattr(SUBMIT, "retry", None) is not None:
            job._sb_retry = normalized_strategy(SUBMIT.retry)
        backend._jobs[job.job_id] = job
        JOBS[job.job_id] = job
        target = self.run_parent if array_parent else self.run
        threading.Thread(target=target, args=(backend, job), daemon=True, name=f"job-{job.job_id}").start()

    @staticmethod
    def move(job: Any, status: str) -> None:
        job.status = status
        job._sb_changes.append((status, now_ms()))
        changed_event(job).set()

    # A cancel/terminate sets job.stop (moto's Job.terminate) with the reason.
    def wait(self, job: Any, seconds: float) -> bool:
        """Sleeps; True when the job was stopped meanwhile (woken at once)."""
        return stopped_event(job).wait(max(0.0, seconds)) or bool(job.stop)

    @staticmethod
    def close_attempt(job: Any, when: datetime.datetime, reason: str | None, exit_code: int | None,
                      container_reason: str | None) -> None:
        """The attempt under way ends: AttemptDetail's exitCode, reason, stoppedAt and
        statusReason, and it joins DescribeJobs' `attempts`.
        https://docs.aws.amazon.com/batch/latest/APIReference/API_AttemptDetail.html"""
        attempt = job.latest_attempt
        if attempt is None or not getattr(job, "_sb_open", False):
            return
        job._sb_open = False
        container = attempt["container"]
        if exit_code is not None:
            container["exitCode"] = exit_code
        if container_reason:
            container["reason"] = container_reason
        attempt["stoppedAt"] = ms(when)
        if reason:
            attempt["statusReason"] = reason
        if not any(a is attempt for a in job.attempts):
            job.attempts.append(attempt)

    def finish(self, job: Any, success: bool, reason: str | None, exit_code: int | None = None,
               container_reason: str | None = None) -> None:
        with LOCK:
            if job.job_stopped:
                return
            now = datetime.datetime.now()
            self.close_attempt(job, now, reason, exit_code, container_reason)
            job.job_stopped_reason = reason
            job.exit_code = exit_code
            job._sb_container_reason = container_reason
            job.job_stopped = True
            job.job_stopped_at = now
            job.status = "SUCCEEDED" if success else "FAILED"
            changed_event(job).set()

    def stopped(self, job: Any) -> None:
        self.finish(job, False, job.job_stopped_reason or "Job cancelled")

    def attempt_failed(self, job: Any, number: int, reason: str, exit_code: int | None,
                       container_reason: str | None) -> bool:
        """A failed attempt: True when the job goes back to RUNNABLE for another,
        else the job FAILED."""
        with LOCK:
            if job.job_stopped:
                return False
            strategy = strategy_of(job) if self.retries else {}
            try:
                allowed = int(strategy.get("attempts") or 1)
            except (TypeError, ValueError):
                allowed = 1
            if not job.stop and number < allowed and on_exit(strategy, exit_code, container_reason, reason) == "retry":
                self.close_attempt(job, datetime.datetime.now(), reason, exit_code, container_reason)
                # "If a job attempt fails for any reason, and the number of attempts
                # specified in the retry configuration is greater than the
                # AWS_BATCH_JOB_ATTEMPT number, then the job is placed back in the
                # RUNNABLE state again." (job_retries.html)
                job.job_stopped_reason = None
                job.log_stream_name = None
                job._sb_changes = []
                self.move(job, "RUNNABLE")
                return True
        self.finish(job, False, reason, exit_code, container_reason)
        return False

    def run_parent(self, backend: Any, job: Any) -> None:
        try:
            if self.wait(job, self.step):
                return self.stopped(job)
            self.move(job, "PENDING")
            while True:
                children = job._child_jobs or []
                if children and all(c.job_stopped for c in children):
                    ok = all(c.status == "SUCCEEDED" for c in children)
                    return self.finish(job, ok, None if ok else "Array Child Job failed")
                if self.wait(job, 0.1):
                    for c in children:
                        c.terminate(job.job_stopped_reason or "Job cancelled")
                    return self.stopped(job)
        except Exception as err:  # never leave a job hanging
            log(f"job {job.job_id}: {err!r}")
            self.finish(job, False, f"Emulator error: {err}")

    def run(self, backend: Any, job: Any) -> None:
        try:
            self._run(backend, job)
        except Exception as err:
            log(f"job {job.job_id}: {err!r}")
            self.finish(job, False, f"Emulator error: {err}")

    def _run(self, backend: Any, job: Any) -> None:
        step = self.step
        if self.wait(job, step):
            return self.stopped(job)
        self.move(job, "PENDING")
        # dependsOn: the job waits in PENDING; a failed dependency fails it.
        for dep in job.depends_on or []:
            other = backend._jobs.get(dep.get("jobId"))
            while other is not None and not other.job_stopped:
                if self.wait(job, 0.1):
                    return self.stopped(job)
            if other is not None and other.status == "FAILED":
                return self.finish(job, False, f"Dependent Job failed: {other.job_id}")
        if self.wait(job, step):
            return self.stopped(job)
        self.move(job, "RUNNABLE")
        number = 1
        while self.attempt(backend, job, number):
            number += 1

    def attempt(self, backend: Any, job: Any, number: int) -> bool:
        """Attempt `number`, from RUNNABLE to its end; True when another follows."""
        step = self.step
        # "If the state is DISABLED, then the AWS Batch scheduler doesn't attempt to
        # place jobs within the environment."
        # https://docs.aws.amazon.com/batch/latest/APIReference/API_ComputeEnvironmentDetail.html
        while not self.placeable(job):
            if self.wait(job, 0.1):
                self.stopped(job)
                return False
        if self.matches(self.hold, job):
            if self.hold_runnable(job):
                return False
        if self.wait(job, step):
            self.stopped(job)
            return False
        job.job_stopped_reason = None
        self.move(job, "STARTING")
        job.log_stream_name = None
        task_id = uuid.uuid4().hex
        # "Each container attempt receives a task ARN when they reach the STARTING status."
        # https://docs.aws.amazon.com/batch/latest/APIReference/API_AttemptContainerDetail.html
        job.latest_attempt = {
            "container": {
                "containerInstanceArn": "",
                "taskArn": f"arn:aws:ecs:{backend.region_name}:{backend.account_id}:task/"
                f"{job.job_queue.environments[0].ecs_name if job.job_queue.environments else 'default'}/"
                f"{task_id}",
                "networkInterfaces": [],
            }
        }
        job._sb_open = True
        why = pull_failure(job) if self.network else None
        # STARTING: CancelJob no longer applies, TerminateJob does.
        job._sb_started = True
        if self.wait(job, step):
            self.stopped(job)
            return False
        if why:
            # https://docs.aws.amazon.com/AmazonECS/latest/developerguide/stopped-task-errors.html
            return self.attempt_failed(job, number, "Task failed to start", None, why)
        target = LogTarget(backend, job)
        if self.logs and target.awslogs:
            why = target.missing_group()
            if why:
                return self.attempt_failed(job, number, "Task failed to start", None, why)
        now = datetime.datetime.now()
        job.job_started_at = now
        stream = target.stream_name(task_id) if self.logs else f"{job.job_definition.name}/default/{task_id}"
        if target.awslogs or not self.logs:
            job.log_stream_name = stream
            job.latest_attempt["container"]["logStreamName"] = stream
        job.latest_attempt["startedAt"] = ms(now)
        self.move(job, "RUNNING")
        try:
            if self.logs and target.awslogs:
                target.open(stream)
            elif not self.logs:
                backend.logs_backend.ensure_log_group(DEFAULT_LOG_GROUP)
                backend.logs_backend.ensure_log_stream(DEFAULT_LOG_GROUP, stream)
        except Exception as err:
            log(f"log stream for {job.job_id}: {err!r}")
        out = target if self.logs and target.awslogs else None
        head = f"{EMULATOR}: job {job.job_id} attempt {number}"
        if out is not None:
            started = job._sb_changes[-1][1]
            out.write([(t, f"{head} {state} at {rfc3339(t)}") for state, t in job._sb_changes]
                      + [(started, command_line(job))])
        if self.gated(job):
            self.finish(job, False, job.job_stopped_reason or "Job terminated", 137)
            return False
        stopped = self.run_container(job, out, self.long_run if self.matches(self.long, job) else step,
                                     self.matches(self.long, job))
        if stopped:
            if out is not None:
                t = now_ms()
                out.write([(t, f"{head} FAILED exit code 137 at {rfc3339(t)}")])
            self.finish(job, False, job.job_stopped_reason or "Job terminated", 137)
            return False
        failed = self.matches(self.fail, job) or (number == 1 and self.matches(self.flaky, job))
        code = 1 if failed else 0
        if out is not None:
            t = now_ms()
            end = f"FAILED exit code {code}" if failed else "SUCCEEDED"
            out.write([(t, f"{head} {end} at {rfc3339(t)}")])
        if not failed:
            self.finish(job, True, "Essential container in task exited", 0)
            return False
        return self.attempt_failed(job, number, "Essential container in task exited", code, None)

    @staticmethod
    def gated(job: Any) -> bool:
        """While the test bed's gate is closed (`POST /_batchnotify/gate?open=false`),
        a RUNNING job waits for it to open, so that a thousand jobs end within
        the same second once it does (the bench's "ends together"). True when
        the job was stopped meanwhile. Not an AWS rule: a switch of the test bed,
        open unless a test closes it."""
        if GATE.is_set():
            return False
        # Held jobs sleep on one Condition, woken when the gate opens or a job
        # is stopped (stop_set): 1,000 jobs waking every 0.2 s to look were
        # 5,000 wake-ups a second under the GIL, and slowed every request the
        # emulator served while they were held.
        with _GATE_COND:
            _GATE_HELD[0] += 1
            try:
                while not GATE.is_set() and not job.stop:
                    _GATE_COND.wait()
            finally:
                _GATE_HELD[0] -= 1
        return bool(job.stop)

    def run_container(self, job: Any, out: LogTarget | None, seconds: float, chatty: bool) -> bool:
        """The container runs for `seconds`, a line each second if `chatty`; True
        when the job was stopped meanwhile."""
        if not chatty:
            return self.wait(job, seconds)
        began = time.monotonic()
        n = 1
        while n <= seconds:
            if self.wait(job, max(0.0, began + n - time.monotonic())):
                return True
            if out is not None:
                out.write([(now_ms(), f"{EMULATOR}: running {n}s")])
            n += 1
        return self.wait(job, max(0.0, began + seconds - time.monotonic()))

    @staticmethod
    def placeable(job: Any) -> bool:
        with LOCK:
            return any(
                ce.state == "ENABLED" and status_of(ce) in ("VALID", "UPDATING")
                for ce in job.job_queue.environments
            )

    def hold_runnable(self, job: Any) -> bool:
        """No capacity: stay RUNNABLE. True when the job ended meanwhile."""
        ce = job.job_queue.environments[0] if job.job_queue.environments else None
        types = ((ce.compute_resources or {}).get("instanceTypes") if ce else None) or ["optimal"]
        if ce is not None and (ce.compute_resources or {}).get("type", "").startswith("FARGATE"):
            types = ["FARGATE"]
        # https://docs.aws.amazon.com/batch/latest/userguide/job_stuck_in_runnable_capacity.html
        job.job_stopped_reason = (
            f"{CAPACITY_REASON} - Service cannot fulfill the capacity requested for instance type [{types[0]}]"
        )
        since = time.monotonic()
        while True:
            if job.stop:
                self.stopped(job)
                return True
            for action in getattr(job.job_queue, "_sb_time_limit_actions", None) or []:
                if action.get("state") != "RUNNABLE" or action.get("action") != "CANCEL":
                    continue
                if action.get("reason") != CAPACITY_REASON:
                    continue
                limit = self.time_limit if self.time_limit > 0 else float(action["maxTimeSeconds"])
                if time.monotonic() - since >= limit:
                    # https://docs.aws.amazon.com/batch/latest/userguide/job_stuck_in_runnable_time_limit_actions.html
                    self.finish(job, False, f"Canceled by JobStateTimeLimit action due to reason: {CAPACITY_REASON}")
                    return True
            time.sleep(0.05)


_EVENTS_LOCK = threading.Lock()


def _job_event(job: Any, name: str) -> threading.Event:
    """The job's Event called `name`, made on first use."""
    event = job.__dict__.get(name)
    if event is None:
        with _EVENTS_LOCK:
            event = job.__dict__.setdefault(name, threading.Event())
    return event


def changed_event(job: Any) -> threading.Event:
    """The Event set whenever `job`'s status changes (see install_sync_waits)."""
    return _job_event(job, "_sb_changed")


# Jobs by ID, for the interpreter's `.sync` waits.
JOBS: "weakref.WeakValueDictionary[str, Any]" = weakref.WeakValueDictionary()
# The job the calling interpreter thread's `.sync` resolver last described.
_SYNC = threading.local()
# The longest a `.sync` wait sleeps without a status change: a safety net
# (every change is signalled; at 5 s a job held 200 s cost 40 DescribeJobs).
SYNC_FALLBACK_SECONDS = 30.0


def install_sync_waits() -> None:
    """moto's interpreter follows a `batch:submitJob.sync` task by calling
    DescribeJobs every 0.5 s until the job ends: with 1,000 jobs RUNNING that
    is 2,000 requests a second the emulator makes to itself, and it saturates
    (AWS follows the job by its events; the user sees no polling:
    https://docs.aws.amazon.com/step-functions/latest/dg/connect-batch.html).
    The resolver still calls DescribeJobs, through the same client, each time
    it looks; between two looks it now sleeps until the job's status changes
    (or SYNC_FALLBACK_SECONDS), instead of 0.5 s. The Event is cleared before
    each DescribeJobs, so a change while it is answered is never missed."""
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
        state_task_service_batch as batch_task,
        state_task_service_callback as callback,
    )

    cls = batch_task.StateTaskServiceBatch
    original = cls._build_sync_resolver
    if getattr(original, "_batchnotify", False):
        return

    def build_sync_resolver(self: Any, env: Any, *args: Any, **kwargs: Any) -> Any:
        top = env.stack[-1] if env.stack else None
        job_id = top.get("JobId") if isinstance(top, dict) else None
        resolver = original(self, env, *args, **kwargs)
        if resolver is None or job_id is None:
            return resolver

        def sync_resolver() -> Any:
            job = JOBS.get(job_id)
            if job is not None:
                changed_event(job).clear()
            _SYNC.job = job
            return resolver()

        return sync_resolver

    build_sync_resolver._batchnotify = True
    cls._build_sync_resolver = build_sync_resolver

    class SyncClock:
        """`time` as the callback module sees it, but for `sleep`."""

        def __getattr__(self, name: str) -> Any:
            return getattr(time, name)

        @staticmethod
        def sleep(seconds: float) -> None:
            job = getattr(_SYNC, "job", None)
            _SYNC.job = None
            if job is None:
                time.sleep(seconds)
                return
            changed_event(job).wait(SYNC_FALLBACK_SECONDS)

    callback.time = SyncClock()


# The test bed's gate (see JobRunner.gated): set = open. Its Condition guards
# the count of held jobs and wakes them.
GATE = threading.Event()
GATE.set()
_GATE_COND = threading.Condition()
_GATE_HELD = [0]


def gate(open_: bool | None = None) -> dict:
    """Opens or closes the gate when told; answers its state and the jobs it holds."""
    with _GATE_COND:
        if open_ is True:
            GATE.set()
            _GATE_COND.notify_all()
        elif open_ is False:
            GATE.clear()
        return {"open": GATE.is_set(), "held": _GATE_HELD[0]}


def wake_gated() -> None:
    """Held jobs look again (one of them was stopped)."""
    with _GATE_COND:
        _GATE_COND.notify_all()


def stopped_event(job: Any) -> threading.Event:
    """The Event set when `job.stop` is (see install_jobs)."""
    return _job_event(job, "_sb_stopped")


def install_jobs(args: Any) -> None:
    from moto.batch.models import BatchBackend, Job
    from moto.batch_simple.models import BatchSimpleBackend

    runner = JobRunner(args)

    # Replaces the Docker-free backend's "finish at submit" (and the launcher's
    # failure switch wrapped around it: the runner fails matching jobs itself).
    def mark_job_as_finished(self: Any, include_start_attempt: bool, job: Any) -> None:
        runner.start(self.backend, job, array_parent=not include_start_attempt)

    BatchSimpleBackend._mark_job_as_finished = mark_job_as_finished

    # "If the job queue state is DISABLED, new jobs can't be added to the queue, but
    # jobs already in the queue can finish."
    # https://docs.aws.amazon.com/batch/latest/APIReference/API_JobQueueDetail.html
    orig_submit = BatchSimpleBackend.submit_job

    def submit_job(self: Any, job_name: str, job_def_id: str, job_queue: str, *a: Any, **kw: Any) -> Any:
        q = self.get_job_queue(job_queue)
        if q is not None and (q.state != "ENABLED" or status_of(q) == "DELETED"):
            raise client_error(f"Job queue {q.arn} is {q.state}: it can't accept new jobs")
        return orig_submit(self, job_name, job_def_id, job_queue, *a, **kw)

    BatchSimpleBackend.submit_job = submit_job

    # DescribeJobs looks each asked job up by ID (or by the ID its ARN ends
    # with) instead of walking every job: moto iterated its job dict while
    # SubmitJob added to it ("dictionary changed size during iteration",
    # answered as a dropped connection; 381 times with 1,000 executions
    # following their jobs), and walked 1,000s of jobs for every call.
    # Unknown IDs are left out, as AWS does.
    # https://docs.aws.amazon.com/batch/latest/APIReference/API_DescribeJobs.html
    def describe_jobs(self: Any, jobs: list[str] | None) -> list[dict[str, Any]]:
        if not jobs:
            return [job.describe() for job in list(self._jobs.values())]
        found: dict[str, Any] = {}
        for ref in jobs:
            job = self._jobs.get(ref) or self._jobs.get(ref.rsplit("/", 1)[-1])
            if job is not None and (ref == job.job_id or ref == job.arn):
                found.setdefault(job.job_id, job)
        return [job.describe() for job in found.values()]

    BatchBackend.describe_jobs = describe_jobs

    # moto's Job.stop as a property that also sets an Event: the runner's
    # waits (JobRunner.wait) sleep on it instead of waking every 50 ms to
    # look, which with 1,000 jobs going cost the emulator 20,000 wake-ups a
    # second under the GIL. What it says is moto's flag, unchanged.
    def stop_get(self: Any) -> bool:
        return bool(self.__dict__.get("_sb_stop", False))

    def stop_set(self: Any, value: bool) -> None:
        self.__dict__["_sb_stop"] = value
        if value:
            stopped_event(self).set()
            if not GATE.is_set():
                wake_gated()

    Job.stop = property(stop_get, stop_set)

    orig_terminate = Job.terminate

    def terminate(self: Any, reason: str) -> None:
        if not self.job_stopped:  # a finished job keeps its reason
            orig_terminate(self, reason)

    Job.terminate = terminate

    orig_short = Job.describe_short
    orig_describe = Job.describe

    def fix(self: Any, out: dict, full: bool) -> dict:
        started = getattr(self, "_sb_started", None)
        if started is None:  # not one of ours
            return out
        if self.log_stream_name is None or not out.get("status") in ("RUNNING", "SUCCEEDED", "FAILED") \
                or "startedAt" not in (self.latest_attempt or {}):
            out.pop("startedAt", None)
        else:
            out["startedAt"] = ms(self.job_started_at)
        if self.job_stopped_reason:
            out["statusReason"] = self.job_stopped_reason
        if full and "container" in out:
            container = out["container"]
            if self.exit_code is not None:
                container["exitCode"] = self.exit_code
            reason = getattr(self, "_sb_container_reason", None)
            if reason:
                container["reason"] = reason
            if self.latest_attempt is not None:
                container["taskArn"] = self.latest_attempt["container"]["taskArn"]
            # ContainerDetail.logConfiguration: the job definition's.
            # https://docs.aws.amazon.com/batch/latest/APIReference/API_ContainerDetail.html
            conf = (self.job_definition.container_properties or {}).get("logConfiguration")
            if conf and "logConfiguration" not in container:
                container["logConfiguration"] = conf
        if full and runner.retries:
            # JobDetail.retryStrategy: "The retry strategy to use for this job if an
            # attempt fails." https://docs.aws.amazon.com/batch/latest/APIReference/API_JobDetail.html
            strategy = strategy_of(self)
            if strategy:
                out["retryStrategy"] = strategy
        return out

    def describe_short(self: Any) -> dict:
        with LOCK:
            return fix(self, orig_short(self), False)

    def describe(self: Any) -> dict:
        with LOCK:
            return fix(self, orig_describe(self), True)

    Job.describe_short = describe_short
    Job.describe = describe

    # DescribeJobs lists a job's container environment once: "environment: The
    # environment variables to pass to a container."
    # https://docs.aws.amazon.com/batch/latest/APIReference/API_ContainerDetail.html
    # moto appends AWS_BATCH_JOB_ID (and the definition's variables) to the job's
    # containerOverrides list on every describe, so a job that Step Functions
    # polls (its .sync adds MANAGED_BY_AWS to the overrides) listed it once more
    # per poll, in the task's output and in its failure's Cause.
    orig_property = Job._get_container_property

    def get_container_property(self: Any, p: str, default: Any) -> Any:
        overrides = self.container_overrides
        if p != "environment" or not isinstance(overrides.get(p), list):
            return orig_property(self, p, default)
        saved = overrides[p]
        overrides[p] = list(saved)  # moto appends to the list it reads
        try:
            return orig_property(self, p, default)
        finally:
            overrides[p] = saved

    Job._get_container_property = get_container_property

    # CancelJob applies to SUBMITTED, PENDING and RUNNABLE jobs only.
    # https://docs.aws.amazon.com/batch/latest/APIReference/API_CancelJob.html
    from moto.batch.models import BatchBackend

    orig_cancel = BatchBackend.cancel_job

    def cancel_job(self: Any, job_id: str, reason: str) -> None:
        job = self.get_job_by_id(job_id)
        if job is not None and getattr(job, "_sb_started", False):
            if reason == "":
                return orig_cancel(self, job_id, reason)  # its "required field" error
            return None
        return orig_cancel(self, job_id, reason)

    BatchBackend.cancel_job = cancel_job

    if runner.retries:
        install_retry_strategy()


def install_retry_strategy() -> None:
    """SubmitJob's retryStrategy (moto drops it) reaches the job runner, and both
    SubmitJob's and RegisterJobDefinition's are refused outside what
    API_RetryStrategy.html allows (attempts 1-10; evaluateOnExit up to 5 entries,
    with attempts; action RETRY or EXIT)."""
    from moto.batch.responses import BatchResponse

    orig_submit = BatchResponse.submitjob
    orig_register = BatchResponse.registerjobdefinition

    def checked(self: Any) -> Any:
        strategy = self._get_param("retryStrategy")
        problem = retry_problem(strategy)
        if problem:
            raise client_error(problem)
        return strategy

    def submitjob(self: Any) -> str:
        SUBMIT.retry = checked(self)
        try:
            return orig_submit(self)
        finally:
            SUBMIT.retry = None

    def registerjobdefinition(self: Any) -> str:
        checked(self)
        return orig_register(self)

    BatchResponse.submitjob = submitjob
    BatchResponse.registerjobdefinition = registerjobdefinition


# ------------------------------------------------------------------- logs --
# GetLogEvents: "Each page returned can contain up to 1 MB of log events or up to
# 10,000 log events"; limit 1-10000 ("If you don't specify a limit, the default is
# as many log events as can fit in a response size of 1 MB (up to 10,000 log
# events)"); startFromHead: "If the value is false, the latest log events are
# returned first. The default value is false."; endTime: "Events with a timestamp
# equal to or later than this time are not included."; nextForwardToken /
# nextBackwardToken: "If you have reached the end of the stream, it returns the
# same token you passed in"; "The returned tokens are never null."
# https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_GetLogEvents.html
# An event's size, as PutLogEvents counts it: "the sum of all event messages in
# UTF-8, plus 26 bytes for each log event".
# https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_PutLogEvents.html
# moto 5.2.5 pages by `limit` only (10,000 events whatever their size), includes
# events at endTime, names the log group when the stream is missing, and resolves
# logGroupIdentifier to the last group it has whatever the identifier says.
PAGE_BYTES = 1_048_576
EVENT_OVERHEAD = 26
MAX_EVENTS = 10_000
KEY_SCALE = 10**12  # an event's position: (timestamp, moto's event id)
MUTUALLY_EXCLUSIVE = "LogGroup name and LogGroup ARN are mutually exclusive parameters."
NO_STREAM = "The specified log stream does not exist."
NO_GROUP_MESSAGE = "The specified log group does not exist."
BAD_TOKEN = "The specified nextToken is invalid."


def event_key(event: Any) -> int:
    return int(event.timestamp) * KEY_SCALE + int(event.event_id) + 1


def event_bytes(message: str) -> int:
    return len(message.encode("utf-8")) + EVENT_OVERHEAD


def encode_token(direction: str, position: int) -> str:
    # AWS's tokens look like f/<56 digits>/s; ours carry a position in the stream.
    return f"{direction}/{position + 1:056d}/s"


def decode_token(token: str) -> tuple[str, int] | None:
    match = re.fullmatch(r"([fb])/(\d{1,56})/s", token or "")
    if not match:
        return None
    return match.group(1), int(match.group(2)) - 1


def find_group(backend: Any, name: str | None, identifier: str | None) -> Any:
    """A log group by name, or by identifier (its name or ARN, with or without
    the trailing :*): "Specify either the name or ARN of the log group"
    (API_GetLogEvents.html, logGroupIdentifier)."""
    from moto.logs.exceptions import InvalidParameterException, ResourceNotFoundException

    if name and identifier:
        raise InvalidParameterException(MUTUALLY_EXCLUSIVE)
    if not name and not identifier:
        raise InvalidParameterException("Should provide either logGroupName or logGroupIdentifier")
    if identifier:
        match = re.fullmatch(r"arn:aws[\w-]*:logs:[^:]*:\d{12}:log-group:(.+?)(?::\*)?", identifier)
        name = match.group(1) if match else identifier
        group = backend.groups.get(name)
        if group is not None and match and group.arn.split(":log-group:")[0] != identifier.split(":log-group:")[0]:
            group = None  # another account's or region's ARN
    else:
        group = backend.groups.get(name)
    if group is None:
        raise ResourceNotFoundException(NO_GROUP_MESSAGE)
    return group


def get_log_events(backend: Any, params: dict) -> dict:
    from moto.logs.exceptions import InvalidParameterException, ResourceNotFoundException

    group = find_group(backend, params.get("logGroupName"), params.get("logGroupIdentifier"))
    stream = group.streams.get(params.get("logStreamName"))
    if stream is None:
        raise ResourceNotFoundException(NO_STREAM)
    limit = params.get("limit")
    if limit is not None:
        if not isinstance(limit, int) or not 1 <= limit <= MAX_EVENTS:
            bound = "greater than or equal to 1" if isinstance(limit, int) and limit < 1 else "less than or equal to 10000"
            raise InvalidParameterException(
                constraint=f"Member must have value {bound}", parameter="limit", value=limit
            )
    most = limit or MAX_EVENTS
    start, end = params.get("startTime"), params.get("endTime")
    events = sorted(
        (e for e in list(stream.events)
         if (start is None or e.timestamp >= start) and (end is None or e.timestamp < end)),
        key=event_key,
    )
    token = params.get("nextToken")
    if token:
        decoded = decode_token(str(token))
        if decoded is None:
            raise InvalidParameterException(BAD_TOKEN)
        direction, position = decoded
    else:
        direction, position = ("f", -1) if params.get("startFromHead") else ("b", None)

    def fits(chosen: list, event: Any, size: int) -> bool:
        return len(chosen) < most and (not chosen or size + event_bytes(event.message) <= PAGE_BYTES)

    page: list = []
    size = 0
    if direction == "f":
        for event in (e for e in events if event_key(e) > position):
            if not fits(page, event, size):
                break
            page.append(event)
            size += event_bytes(event.message)
    else:
        for event in reversed([e for e in events if position is None or event_key(e) < position]):
            if not fits(page, event, size):
                break
            page.append(event)
            size += event_bytes(event.message)
        page.reverse()
    if page:
        forward = encode_token("f", event_key(page[-1]))
        backward = encode_token("b", event_key(page[0]))
    elif direction == "f":
        forward = encode_token("f", position)  # the end: the same token
        backward = encode_token("b", position + 1)
    elif position is None:  # no token, nothing in the range
        forward, backward = encode_token("f", -1), encode_token("b", 0)
    else:
        forward = encode_token("f", position - 1)
        backward = encode_token("b", position)  # the start: the same token
    return {
        "events": [e.to_response_dict() for e in page],
        "nextForwardToken": forward,
        "nextBackwardToken": backward,
    }


def install_logs() -> None:
    """logs-get-events: GetLogEvents, and what FilterLogEvents and
    DescribeLogStreams get wrong about the log group they read."""
    from moto.logs.exceptions import InvalidParameterException
    from moto.logs.models import LogGroup, LogsBackend
    from moto.logs.responses import LogsResponse

    def get(self: Any) -> str:
        params = {
            k: self._get_param(k)
            for k in ("logGroupName", "logGroupIdentifier", "logStreamName", "startTime", "endTime",
                      "nextToken", "limit", "startFromHead")
        }
        return json.dumps(get_log_events(self.logs_backend, params))

    LogsResponse.get_log_events = get

    def _find_log_group(self: Any, log_group_id: str | None = None, log_group_name: str | None = None) -> Any:
        return find_group(self, log_group_name, log_group_id)

    LogsBackend._find_log_group = _find_log_group

    orig_describe_streams = LogsResponse.describe_log_streams

    def describe_log_streams(self: Any) -> str:
        if self._get_param("logGroupName") and self._get_param("logGroupIdentifier"):
            raise InvalidParameterException(MUTUALLY_EXCLUSIVE)
        return orig_describe_streams(self)

    LogsResponse.describe_log_streams = describe_log_streams

    # FilterLogEvents: "You can specify the log group to search by using either
    # logGroupIdentifier or logGroupName"; logStreamNamePrefix "Filters the results to
    # include only events from log streams that have names starting with this
    # prefix. If you specify a value for both logStreamNamePrefix and
    # logStreamNames, the action returns an InvalidParameterException error."; pages
    # of "up to 1 MB of log events or up to 10,000 log events".
    # https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_FilterLogEvents.html
    # moto reads neither logGroupIdentifier nor logStreamNamePrefix (it searched
    # every stream of the group) and pages by count only.
    def filter_log_events(self: Any) -> str:
        group = find_group(self.logs_backend, self._get_param("logGroupName"),
                           self._get_param("logGroupIdentifier"))
        names = self._get_param("logStreamNames") or []
        prefix = self._get_param("logStreamNamePrefix")
        if names and prefix:
            raise InvalidParameterException(
                "You cannot specify both logStreamNames and logStreamNamePrefix"
            )
        if prefix:
            names = [n for n in group.streams if n.startswith(prefix)]
            if not names:
                return json.dumps({"events": [], "searchedLogStreams": []})
        events, next_token, searched = self.logs_backend.filter_log_events(
            group.name, names, self._get_param("startTime"), self._get_param("endTime"),
            self._get_param("limit"), self._get_param("nextToken"), self._get_param("filterPattern"),
            self._get_param("interleaved", False),
        )
        out = {"events": events, "searchedLogStreams": searched}
        if next_token:
            out["nextToken"] = next_token
        return json.dumps(out)

    LogsResponse.filter_log_events = filter_log_events

    orig_group_filter = LogGroup.filter_log_events

    def group_filter_log_events(self: Any, log_group_name: str, *a: Any, **kw: Any) -> Any:
        events, next_token, searched = orig_group_filter(self, log_group_name, *a, **kw)
        size = 0
        for i, event in enumerate(events):
            size += event_bytes(event["message"])
            if size > PAGE_BYTES and i > 0:
                last = events[i - 1]
                events = events[:i]
                next_token = f"{log_group_name}@{last['logStreamName']}@{last['eventId']}"
                break
        return events, next_token, searched

    LogGroup.filter_log_events = group_filter_log_events


# ----------------------------------------------------------------- install --


def install(args: Any) -> None:
    """Apply the enabled Batch/EC2 rules (before the server starts)."""
    if rule_enabled(args, "ec2-default-vpc-igw"):
        install_default_vpc_igw()
    if rule_enabled(args, "batch-lifecycle"):
        install_lifecycle(args)
    if rule_enabled(args, "batch-jobs"):
        install_jobs(args)
        install_sync_waits()
    if rule_enabled(args, "logs-get-events"):
        install_logs()
