"""The Amazon States Language validator the tests consult (npm asl-validator,
installed by scripts/testbed-deps.sh into
$BATCHNOTIFY_CACHE/asl-validator-<version>/node_modules/.bin/asl-validator,
or the folder BATCHNOTIFY_ASL_VALIDATOR names): it takes the seed's definition
and the run-context design, and refuses broken ones, so a pass here is not
vacuous."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "tests/fixtures/seed/state_machine.json"
DESIGN = ROOT / "tests/fixtures/run_context/state_machine.json"


def validator() -> Path:
    package = json.loads((ROOT / "tools/asl-validator/package.json").read_text())
    version = package["dependencies"]["asl-validator"]
    cache = Path(os.environ.get("BATCHNOTIFY_CACHE") or Path.home() / ".cache/batchnotify")
    folder = Path(os.environ.get("BATCHNOTIFY_ASL_VALIDATOR") or cache / f"asl-validator-{version}")
    path = folder / "node_modules/.bin/asl-validator"
    assert path.exists(), f"{path} is missing: run scripts/testbed-deps.sh (make testbed-deps)"
    return path


def validate(path: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME")}
    return subprocess.run(
        [str(validator()), "--json-path", str(path)], capture_output=True, text=True, env=env, timeout=60
    )


def write(tmp_path: Path, definition: dict) -> Path:
    path = tmp_path / "definition.json"
    path.write_text(json.dumps(definition))
    return path


def test_the_validator_is_the_pinned_version():
    out = subprocess.run([str(validator()), "--version"], capture_output=True, text=True, timeout=60)
    package = json.loads((ROOT / "tools/asl-validator/package.json").read_text())
    assert out.returncode == 0 and out.stdout.strip() == package["dependencies"]["asl-validator"]


@pytest.mark.parametrize("path", [SEED, DESIGN], ids=["seed", "run-context design"])
def test_valid_definitions_pass(path):
    result = validate(path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "is valid" in result.stdout


def pass_state(expression: str) -> dict:
    return {"StartAt": "P", "States": {"P": {"Type": "Pass", "Parameters": {"v.$": expression}, "End": True}}}


BROKEN = {
    # ASL forbids a path after an intrinsic call: parse in one state, pick in the next.
    "path after an intrinsic": pass_state("States.StringToJson($.error.Cause).Container"),
    "unknown intrinsic": pass_state("States.Frobnicate($.x)"),
    "Next to a missing state": {"StartAt": "P", "States": {"P": {"Type": "Pass", "Next": "Nowhere"}}},
    "Catch without Next": {
        "StartAt": "T",
        "States": {
            "T": {
                "Type": "Task",
                "Resource": "arn:aws:states:::sns:publish",
                "Parameters": {"TopicArn": "arn:aws:sns:us-east-1:123456789012:t", "Message": "m"},
                "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error"}],
                "End": True,
            }
        },
    },
}


@pytest.mark.parametrize("name", list(BROKEN))
def test_broken_definitions_fail(tmp_path, name):
    result = validate(write(tmp_path, BROKEN[name]))
    assert result.returncode != 0, result.stdout
    assert re.search(r"is invalid", result.stdout + result.stderr)


def test_what_the_validator_gets_wrong_about_escapes(tmp_path):
    """asl-validator 4.0.0 (asl-path-validator 0.16.1, whose grammar reads an
    escaped character as `[^\\\\n]`: neither a backslash nor the letter n) refuses
    the escape `\\\\` that AWS documents ("The literal string \\\\ represents \\",
    https://docs.aws.amazon.com/step-functions/latest/dg/intrinsic-functions.html),
    while `\\'` and `\\{ \\}` pass. Pinned so that the design keeps literal
    backslashes out of its templates, and so that a fixed validator shows here."""
    refused = validate(write(tmp_path, pass_state("States.Format('C:\\\\jobs {}', $.x)")))
    assert refused.returncode != 0 and "asl_payload_template" in refused.stdout + refused.stderr
    taken = validate(write(tmp_path, pass_state("States.Format('it\\'s \\{\\} {}', $.x)")))
    assert taken.returncode == 0, taken.stdout
