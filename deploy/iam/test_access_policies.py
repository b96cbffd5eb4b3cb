"""The IAM policies for AccessGrant roles in other accounts (issue 23):

* operator-assume-role-policy.json: the operator's own policy when every
  namespace acts through a team role: sts:AssumeRole and sts:TagSession only;
* team-role-policy.json: the permissions of a team role: what
  operator-policy.json allows, scoped to the team's account;
* team-role-trust-policy.json: the team role's trust policy: the operator's
  principal, with the grant's external ID, allowed to tag its sessions.

The permission policies are linted with parliament and the allowlist of
test_operator_policy.py; the trust policy (parliament lints identity policies
only) is checked by structure. docs/security.md shows the JSON inline: it must
be these files. Run with the emulator's venv: `pytest deploy/iam`.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from test_operator_policy import REPO, unexpected_findings

IAM = REPO / "deploy/iam"
OPERATOR = IAM / "operator-policy.json"
ASSUME = IAM / "operator-assume-role-policy.json"
TEAM = IAM / "team-role-policy.json"
TRUST = IAM / "team-role-trust-policy.json"
SECURITY = REPO / "docs/security.md"

# The placeholders the templates use (and docs/security.md with them).
TEAM_ACCOUNT = "222222222222"
OPERATOR_PRINCIPAL = "arn:aws:iam::111111111111:role/batchnotify-operator"
# The example team role of docs/security.md and of AccessGrant's doc comment.
TEAM_ROLE = f"arn:aws:iam::{TEAM_ACCOUNT}:role/batchnotify-team-a"
# What the AccessGrant CRD admits as an external ID (src/api/access.rs, EXTERNAL_ID).
EXTERNAL_ID = re.compile(r"^[\w+=,.@:/-]{2,1224}$")


def load(path: Path) -> dict:
    return json.loads(path.read_text())


def as_list(value) -> list:
    return value if isinstance(value, list) else [value]


def statements(policy: dict) -> list[dict]:
    return as_list(policy["Statement"])


def actions(policy: dict) -> set[str]:
    """Every action an Allow statement names, in lower case (IAM compares them so)."""
    return {
        a.lower()
        for st in statements(policy)
        if st["Effect"] == "Allow"
        for a in as_list(st.get("Action", []))
    }


def arn_pattern(pattern: str) -> re.Pattern:
    """IAM's Resource matching: `*` any run of characters, `?` exactly one."""
    return re.compile("".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern) + r"\Z")


def allowed_on(policy: dict, action: str, arn: str) -> bool:
    """Whether an Allow statement without conditions names `action` on `arn`."""
    for st in statements(policy):
        if st["Effect"] != "Allow" or "Condition" in st:
            continue
        if action.lower() not in {a.lower() for a in as_list(st["Action"])}:
            continue
        if any(arn_pattern(r).match(arn) for r in as_list(st["Resource"])):
            return True
    return False


@pytest.mark.parametrize("path", [ASSUME, TEAM], ids=lambda p: p.name)
def test_parliament_finds_only_known_false_positives(path):
    unexpected = unexpected_findings(path)
    assert not unexpected, "\n".join(unexpected)


def test_the_team_role_allows_exactly_what_the_operator_policy_allows():
    operator, team = actions(load(OPERATOR)), actions(load(TEAM))
    assert len(operator) > 40, operator
    assert operator - team == set(), f"the team role lacks: {sorted(operator - team)}"
    assert team - operator == set(), f"the team role adds: {sorted(team - operator)}"
    # Conditions too: the task execution policy stays the only attachable one.
    def conditions(policy):
        return {st["Sid"]: st.get("Condition") for st in statements(policy)}

    assert conditions(load(TEAM)) == conditions(load(OPERATOR))


def test_the_team_role_is_scoped_to_its_account():
    # `*` only where the operator's own policy has it: actions without resource-level permissions.
    unscoped = {
        a.lower()
        for st in statements(load(OPERATOR))
        if "*" in as_list(st["Resource"])
        for a in as_list(st["Action"])
    }
    for st in statements(load(TEAM)):
        for resource in as_list(st["Resource"]):
            if resource == "*":
                assert {a.lower() for a in as_list(st["Action"])} <= unscoped, st["Sid"]
                continue
            account = resource.split(":")[4]
            assert account == TEAM_ACCOUNT, f"{st['Sid']}: {resource}"


def test_the_team_role_cannot_rewrite_itself():
    """The team role may write the operator's `bn-` roles of its account; the role the
    operator assumes is named otherwise, so it can neither change its own policy nor trust."""
    team = load(TEAM)
    for action in ["iam:PutRolePolicy", "iam:UpdateAssumeRolePolicy", "iam:AttachRolePolicy", "iam:PassRole"]:
        assert not allowed_on(team, action, TEAM_ROLE), action
    assert allowed_on(team, "iam:PutRolePolicy", f"arn:aws:iam::{TEAM_ACCOUNT}:role/bn-prod-team-a-nightly-0a1b2c3d")
    for resource in as_list(statements(load(ASSUME))[0]["Resource"]):
        assert ":role/bn-" not in resource, resource


def test_referenced_resources_can_be_observed_with_their_tags():
    """Under an AccessGrant a referenced topic's ownership tags are read (ListTagsForResource):
    allowed on any topic of the account, not only `bn-` ones; Batch's Describe* return tags."""
    for policy, account in [(load(OPERATOR), "123456789012"), (load(TEAM), TEAM_ACCOUNT)]:
        topic = f"arn:aws:sns:us-east-1:{account}:team-a-alerts"
        for action in ["sns:GetTopicAttributes", "sns:ListTagsForResource"]:
            assert allowed_on(policy, action, topic), action
        assert allowed_on(policy, "batch:DescribeJobDefinitions", "*")


def test_the_operator_assume_role_policy_allows_only_assume_role_and_tag_session():
    policy = load(ASSUME)
    assert actions(policy) == {"sts:assumerole", "sts:tagsession"}
    for st in statements(policy):
        assert st["Effect"] == "Allow"
        for resource in as_list(st["Resource"]):
            assert resource != "*"
            assert re.match(r"^arn:aws:iam::(\*|[0-9]{12}):role/", resource), resource
    for action in ["sts:AssumeRole", "sts:TagSession"]:
        assert allowed_on(policy, action, TEAM_ROLE), action


def test_the_trust_policy_needs_the_external_id_and_allows_session_tags():
    trust = load(TRUST)
    by_action: dict[str, list[dict]] = {}
    for st in statements(trust):
        assert st["Effect"] == "Allow"
        assert st["Principal"] == {"AWS": OPERATOR_PRINCIPAL}, st["Sid"]
        assert "Resource" not in st, "a trust policy names no Resource"
        for action in as_list(st["Action"]):
            by_action.setdefault(action, []).append(st)
    assert set(by_action) == {"sts:AssumeRole", "sts:TagSession"}
    for st in by_action["sts:AssumeRole"]:
        external_id = st["Condition"]["StringEquals"]["sts:ExternalId"]
        assert EXTERNAL_ID.match(external_id), external_id
    for st in by_action["sts:TagSession"]:
        keys = set(st.get("Condition", {}).get("StringEquals", {}))
        assert keys <= {"aws:RequestTag/batchnotify.dev/cluster", "aws:RequestTag/batchnotify.dev/namespace"}, keys


def json_blocks(markdown: str) -> list:
    return [json.loads(m) for m in re.findall(r"```json\n(.*?)```", markdown, re.S)]


def test_docs_security_shows_these_policies():
    shown = json_blocks(SECURITY.read_text())
    for path in [TRUST, ASSUME]:
        assert load(path) in shown, f"docs/security.md does not show {path.name} as it is"
    text = SECURITY.read_text()
    assert "deploy/iam/team-role-policy.json" in text
    external_id = statements(load(TRUST))[0]["Condition"]["StringEquals"]["sts:ExternalId"]
    assert f"externalId: {external_id}" in text
