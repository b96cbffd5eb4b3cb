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

Delays, seconds (`--delays fast|realistic`, `--delay NAME=SECONDS`): see DELAYS.
"""

from __future__ import annotations

import argparse
import datetime
import re
import sys
import threading
import time
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
}

RULES = ("batch-lifecycle", "batch-jobs", "batch-fargate-network", "ec2-default-vpc-igw")

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


# -------------------------------------------------------------------- jobs --
# https://docs.aws.amazon.com/batch/latest/userguide/job_states.html


def ms(when: datetime.datetime) -> int:
    return int(when.timestamp() * 1000)


class JobRunner:
    def __init__(self, args: Any) -> None:
        self.step = delay(args, "batch-job-step")
        self.time_limit = delay(args, "batch-time-limit")
        self.fail = re.compile(args.fail_jobs_matching) if getattr(args, "fail_jobs_matching", None) else None
        hold = getattr(args, "hold_runnable_matching", None)
        self.hold = re.compile(hold) if hold else None
        self.network = rule_enabled(args, "batch-fargate-network")

    def matches(self, pattern: re.Pattern[str] | None, job: Any) -> bool:
        return bool(pattern) and bool(pattern.search(job.job_name) or pattern.search(job.job_definition.name))

    def start(self, backend: Any, job: Any, array_parent: bool) -> None:
        job._transitions = []  # moto's ManagedState must not move the status itself
        job._sb_started = False
        backend._jobs[job.job_id] = job
        target = self.run_parent if array_parent else self.run
        threading.Thread(target=target, args=(backend, job), daemon=True, name=f"job-{job.job_id}").start()

    # A cancel/terminate sets job.stop (moto's Job.terminate) with the reason.
    def wait(self, job: Any, seconds: float) -> bool:
        """Sleeps; True when the job was stopped meanwhile."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if job.stop:
                return True
            time.sleep(min(0.05, max(0.0, deadline - time.monotonic())))
        return job.stop

    def finish(self, job: Any, success: bool, reason: str | None, exit_code: int | None = None,
               container_reason: str | None = None) -> None:
        with LOCK:
            if job.job_stopped:
                return
            now = datetime.datetime.now()
            job.job_stopped_reason = reason
            job.exit_code = exit_code
            job._sb_container_reason = container_reason
            attempt = job.latest_attempt
            if attempt is not None:
                container = attempt["container"]
                if exit_code is not None:
                    container["exitCode"] = exit_code
                if container_reason:
                    container["reason"] = container_reason
                attempt["stoppedAt"] = ms(now)
                if reason:
                    attempt["statusReason"] = reason
            job.job_stopped = True
            job.job_stopped_at = now
            job.status = "SUCCEEDED" if success else "FAILED"

    def stopped(self, job: Any) -> None:
        self.finish(job, False, job.job_stopped_reason or "Job cancelled")

    def run_parent(self, backend: Any, job: Any) -> None:
        try:
            if self.wait(job, self.step):
                return self.stopped(job)
            job.status = "PENDING"
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
        job.status = "PENDING"
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
        job.status = "RUNNABLE"
        # "If the state is DISABLED, then the AWS Batch scheduler doesn't attempt to
        # place jobs within the environment."
        # https://docs.aws.amazon.com/batch/latest/APIReference/API_ComputeEnvironmentDetail.html
        while not self.placeable(job):
            if self.wait(job, 0.1):
                return self.stopped(job)
        if self.matches(self.hold, job):
            if self.hold_runnable(job):
                return
        if self.wait(job, step):
            return self.stopped(job)
        job.job_stopped_reason = None
        job.status = "STARTING"
        job.log_stream_name = None
        job.latest_attempt = {
            "container": {
                "containerInstanceArn": "",
                "taskArn": f"arn:aws:ecs:{backend.region_name}:{backend.account_id}:task/"
                f"{job.job_queue.environments[0].ecs_name if job.job_queue.environments else 'default'}/"
                f"{uuid.uuid4().hex}",
                "networkInterfaces": [],
            }
        }
        job.attempts.append(job.latest_attempt)
        why = pull_failure(job) if self.network else None
        # STARTING: CancelJob no longer applies, TerminateJob does.
        job._sb_started = True
        if self.wait(job, step):
            return self.stopped(job)
        if why:
            # https://docs.aws.amazon.com/AmazonECS/latest/developerguide/stopped-task-errors.html
            return self.finish(job, False, "Task failed to start", None, why)
        now = datetime.datetime.now()
        job.job_started_at = now
        job.log_stream_name = f"{job.job_definition.name}/default/{job.latest_attempt['container']['taskArn'].rsplit('/', 1)[-1]}"
        job.latest_attempt["container"]["logStreamName"] = job.log_stream_name
        job.latest_attempt["startedAt"] = ms(now)
        try:
            backend.logs_backend.ensure_log_group("/aws/batch/job")
            backend.logs_backend.ensure_log_stream("/aws/batch/job", job.log_stream_name)
        except Exception as err:
            log(f"log stream for {job.job_id}: {err!r}")
        job.status = "RUNNING"
        if self.wait(job, step):
            return self.finish(job, False, job.job_stopped_reason or "Job terminated", 137)
        failed = self.matches(self.fail, job)
        self.finish(job, not failed, "Essential container in task exited", 1 if failed else 0)

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


def install_jobs(args: Any) -> None:
    from moto.batch.models import Job
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


# ----------------------------------------------------------------- install --


def install(args: Any) -> None:
    """Apply the enabled Batch/EC2 rules (before the server starts)."""
    if rule_enabled(args, "ec2-default-vpc-igw"):
        install_default_vpc_igw()
    if rule_enabled(args, "batch-lifecycle"):
        install_lifecycle(args)
    if rule_enabled(args, "batch-jobs"):
        install_jobs(args)
