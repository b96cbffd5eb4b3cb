"""The operator's IAM policy (deploy/iam/operator-policy.json), checked two ways:

* an external linter (parliament, built from the Service Authorization
  Reference) finds nothing but its known false positives, each listed with the
  AWS page that shows it is one;
* every AWS operation the operator's code calls (src/aws/*.rs) is allowed by
  some statement, so the policy cannot fall behind the code.

The policies for AccessGrant roles in other accounts are checked in
test_access_policies.py, with the same linter and allowlist.

Run with the emulator's venv: `pytest deploy/iam`.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
POLICY = REPO / "deploy/iam/operator-policy.json"

# parliament's findings that are not problems, as (action, the format it wanted).
FALSE_POSITIVES = {
    # ListExecutions is authorised on the state machine named by stateMachineArn
    # (mapRun only for Distributed Map runs):
    # https://docs.aws.amazon.com/service-authorization/latest/reference/list_awsstepfunctions.html
    ("states:ListExecutions", "arn:*:states:*:*:mapRun:*/*:*"),
    # A standard workflow's execution ARN is execution:<machine>:<name>; the
    # express format parliament asks for is for express workflows only (same page).
    ("states:DescribeExecution", "arn:*:states:*:*:express:*:*:*"),
}

# The service prefix IAM uses for each client module's `const S`.
PREFIX = {"sfn": "states", "batch": "batch", "sns": "sns", "iam": "iam", "sts": "sts", "events": "events", "sqs": "sqs"}
# Operations authorised as another action: a batch delete is DeleteMessage.
# https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-api-permissions-reference.html
AUTHORISED_AS = {"sqs:DeleteMessageBatch": "sqs:DeleteMessage"}
# AWS requires no permission for these.
NO_PERMISSION = {"sts:GetCallerIdentity"}


def policy() -> dict:
    return json.loads(POLICY.read_text())


def parliament_findings(path: Path = POLICY) -> list[str]:
    exe = Path(sys.executable).with_name("parliament")
    out = subprocess.run(
        [str(exe), "--string", path.read_text(), "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    return [line for line in out.stdout.splitlines() if line.strip()]


def unexpected_findings(path: Path = POLICY) -> list[str]:
    """parliament's findings on the policy at `path` that FALSE_POSITIVES does not explain."""
    unexpected = []
    for line in parliament_findings(path):
        finding = json.loads(line)
        detail = finding.get("detail") or []
        pairs = {
            (d.get("action"), d.get("required_format"))
            for d in (detail if isinstance(detail, list) else [detail])
            if isinstance(d, dict)
        }
        if not pairs or not pairs <= FALSE_POSITIVES:
            unexpected.append(line)
    return unexpected


def test_parliament_finds_only_known_false_positives():
    unexpected = unexpected_findings(POLICY)
    assert not unexpected, "\n".join(unexpected)


def operations_in_code() -> set[str]:
    """`service:Operation` for every call / call_gone / pages / pages_until(&budget, S, "Operation", …) in src/aws."""
    found = set()
    for path in (REPO / "src/aws").glob("*.rs"):
        text = path.read_text()
        const = re.search(r'const S: &str = "([a-z]+)";', text)
        for m in re.finditer(r'\b(?:call|call_gone|pages|pages_until)\(\s*&[a-z_.]+,\s*(S|"[a-z]+")\s*,\s*"([A-Za-z]+)"', text):
            service = m.group(1).strip('"') if m.group(1) != "S" else (const.group(1) if const else "")
            op = f"{PREFIX.get(service, service)}:{m.group(2)}"
            found.add(AUTHORISED_AS.get(op, op))
    return found


def allowed(action: str) -> bool:
    for st in policy()["Statement"]:
        actions = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
        if st["Effect"] == "Allow" and any(a.lower() == action.lower() for a in actions):
            return True
    return False


def test_every_operation_the_code_calls_is_allowed():
    ops = operations_in_code()
    assert len(ops) > 40, ops  # the scan itself works
    missing = sorted(op for op in ops - NO_PERMISSION if not allowed(op))
    assert not missing, f"the operator calls these, the policy does not allow them: {missing}"


def test_pass_role_is_scoped_to_its_own_roles():
    for st in policy()["Statement"]:
        actions = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
        if "iam:PassRole" in actions:
            resources = st["Resource"] if isinstance(st["Resource"], list) else [st["Resource"]]
            assert "*" not in resources
            assert all(":role/bn-*" in r or "AWSServiceRoleForBatch" in r for r in resources)
