"""The kubectl plugin's read-only IAM policy (deploy/iam/plugin-policy.json):

* parliament (built from the Service Authorization Reference) finds nothing
  but the known false positives of test_operator_policy.py;
* it allows reads only: no action outside Describe*, Get* and List*;
* every AWS operation the plugin calls (src/plugin/reads.rs) is allowed,
  so the policy cannot fall behind the code.

Run with the emulator's venv: `pytest deploy/iam`.
"""

from __future__ import annotations

import json
import re

from test_operator_policy import NO_PERMISSION, REPO, unexpected_findings

POLICY = REPO / "deploy/iam/plugin-policy.json"
READS = REPO / "src/plugin/reads.rs"


def allowed() -> set[str]:
    policy = json.loads(POLICY.read_text())
    found = set()
    for st in policy["Statement"]:
        assert st["Effect"] == "Allow", st
        actions = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
        found.update(a.lower() for a in actions)
    return found


def operations_in_code() -> set[str]:
    """`service:Operation` of every `from_sdk("service", "Operation", …)` in the plugin's reads."""
    text = READS.read_text()
    return {f"{s}:{op}" for s, op in re.findall(r'from_sdk\("([a-z]+)",\s*"([A-Za-z]+)"', text)}


def test_parliament_finds_only_known_false_positives():
    unexpected = unexpected_findings(POLICY)
    assert not unexpected, "\n".join(unexpected)


def test_the_plugin_policy_only_reads():
    for action in allowed():
        verb = action.split(":", 1)[1]
        assert verb.startswith(("describe", "get", "list")), action


def test_every_call_of_the_plugin_is_allowed():
    calls = operations_in_code()
    assert {"batch:DescribeJobs", "logs:GetLogEvents", "states:GetExecutionHistory"} <= calls, calls
    missing = {c for c in calls - NO_PERMISSION if c.lower() not in allowed()}
    assert not missing, missing
