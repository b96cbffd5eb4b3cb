"""The Argo CD health check (health.lua) on BatchNotifications in each state
the operator writes, run in Lua 5.1 as Argo CD's gopher-lua runs it.
Run with the emulator's venv: `pytest deploy/argocd`."""

from __future__ import annotations

from pathlib import Path

import lupa.lua51 as lua51
import pytest
import yaml

HERE = Path(__file__).resolve().parent
SCRIPT = (HERE / "health.lua").read_text()


def health(obj: dict) -> tuple[str, str]:
    """Runs the script the way Argo CD does: `obj` is a global, the chunk returns hs."""
    lua = lua51.LuaRuntime(register_eval=False)
    lua.globals().obj = lua.table_from(obj, recursive=True)
    hs = lua.execute(SCRIPT)
    return hs["status"], hs["message"]


def cond(type_: str, status: str, reason: str = "Reconciled", message: str = "") -> dict:
    return {
        "type": type_,
        "status": status,
        "reason": reason,
        "message": message,
        "lastTransitionTime": "2026-11-25T00:00:00Z",
        "observedGeneration": 2,
    }


def obj(generation: int = 2, observed: int | None = 2, conditions: list | None = None, **meta) -> dict:
    o = {
        "apiVersion": "batchnotify.dev/v1alpha1",
        "kind": "BatchNotification",
        "metadata": {"name": "nightly", "namespace": "data", "generation": generation, **meta},
        "spec": {"jobName": "nightly"},
    }
    if conditions is not None:
        o["status"] = {"conditions": conditions}
        if observed is not None:
            o["status"]["observedGeneration"] = observed
    return o


READY = [
    cond("Ready", "True", message="AWS resources match the spec"),
    cond("Reconciling", "False"),
    cond("Stalled", "False"),
]

CASES = {
    "no status yet": (obj(conditions=None), "Progressing", "Waiting for the operator to report status"),
    "empty status": ({**obj(conditions=None), "status": {}}, "Progressing", "Waiting for the operator"),
    "ready": (obj(conditions=READY), "Healthy", "AWS resources match the spec"),
    "ready, run succeeded": (
        obj(conditions=READY + [cond("RunSucceeded", "True", "RunSucceeded", "execution x succeeded")]),
        "Healthy",
        "AWS resources match the spec",
    ),
    "ready, last run failed": (
        obj(conditions=READY + [cond("RunSucceeded", "False", "RunFailed", "execution x failed: job exited 1")]),
        "Healthy",
        "last run failed: execution x failed: job exited 1",
    ),
    "ready, run in progress": (
        obj(conditions=READY + [cond("RunSucceeded", "Unknown", "Running", "execution x running")]),
        "Healthy",
        "AWS resources match the spec",
    ),
    "ready for an older generation": (obj(generation=3, conditions=READY), "Progressing", "generation 3"),
    "observedGeneration missing": (obj(observed=None, conditions=READY), "Progressing", "observe generation 2"),
    "reconciling": (
        obj(
            conditions=[
                cond("Ready", "False", "RoleNotAssumable", "IAM role not yet assumable"),
                cond("Reconciling", "True", "RoleNotAssumable", "IAM role not yet assumable"),
                cond("Stalled", "False", "RoleNotAssumable"),
            ]
        ),
        "Progressing",
        "IAM role not yet assumable",
    ),
    "stalled": (
        obj(
            conditions=[
                cond("Ready", "False", "JobQueueNotFound", "spec.jobQueue.arn: job queue q not found"),
                cond("Reconciling", "False", "JobQueueNotFound"),
                cond("Stalled", "True", "JobQueueNotFound", "spec.jobQueue.arn: job queue q not found"),
            ]
        ),
        "Degraded",
        "spec.jobQueue.arn: job queue q not found",
    ),
    "stalled without a message": (
        obj(conditions=[cond("Ready", "False", "InvalidSpec"), cond("Stalled", "True", "InvalidSpec")]),
        "Degraded",
        "InvalidSpec",
    ),
    "stalled, but the spec changed since": (
        obj(generation=3, conditions=[cond("Stalled", "True", "JobQueueNotFound", "not found")]),
        "Progressing",
        "generation 3",
    ),
    "stalled and a failed run: Degraded for the stall only": (
        obj(
            conditions=[
                cond("Ready", "False", "TopicNotFound", "spec.topic.arn: topic t not found"),
                cond("Stalled", "True", "TopicNotFound", "spec.topic.arn: topic t not found"),
                cond("RunSucceeded", "False", "RunFailed", "execution x failed"),
            ]
        ),
        "Degraded",
        "spec.topic.arn: topic t not found",
    ),
    "Ready=False alone": (
        obj(conditions=[cond("Ready", "False", "Pending", "waiting for the compute environment")]),
        "Progressing",
        "waiting for the compute environment",
    ),
    "conditions without Ready": (obj(conditions=[]), "Progressing", "Waiting for Ready"),
    "deleting": (
        obj(conditions=READY, deletionTimestamp="2026-11-25T00:00:00Z", finalizers=["batchnotify.dev/cleanup"]),
        "Progressing",
        "Deleting",
    ),
}


@pytest.mark.parametrize("case", CASES.keys())
def test_health(case: str) -> None:
    o, want_status, want_message = CASES[case]
    status, message = health(o)
    assert status == want_status, (case, status, message)
    assert want_message in message, (case, message)


def test_argocd_cm_snippet_embeds_the_script_verbatim() -> None:
    cm = yaml.safe_load((HERE / "argocd-cm.yaml").read_text())
    key = "resource.customizations.health.batchnotify.dev_BatchNotification"
    assert cm["data"][key] == SCRIPT, "regenerate argocd-cm.yaml from health.lua"
