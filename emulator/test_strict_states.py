"""Strict mode, Step Functions interpreter part (strict_states.py): the context
object's fields and the intrinsic functions a notification text is built with.
The tests marked `pins` hold what stock moto already does as AWS does; the
others fail against `--lenient`: `STRICT_TEST_MODE=lenient pytest
emulator/test_strict_states.py` shows it.

https://docs.aws.amazon.com/step-functions/latest/dg/intrinsic-functions.html
https://docs.aws.amazon.com/step-functions/latest/dg/input-output-contextobject.html
"""

from __future__ import annotations

import datetime
import json
import os
import re

from launch import client, endpoint_of, finished, start, state_machine, stop, suffix

import pytest

MODE = ["--lenient"] if os.environ.get("STRICT_TEST_MODE") == "lenient" else []

# Strings with everything a template has to survive: quotes, braces, a
# placeholder-looking {}, backslashes, a newline and a tab.
TRICKY = 'He said "hi" and \'bye\' {x} {} \\ back\\slash\nnext line\tend'
INPUT = {
    "tricky": TRICKY,
    "n": 42,
    "f": 1.5,
    "whole": 1.0,
    "neg": -7,
    "nothing": None,
    "yes": True,
    "obj": {"a": 1, "b": [1, "x"]},
    "arr": [1, 2, 3],
    "empty": [],
    "cause": json.dumps({"Status": "FAILED", "StatusReason": TRICKY, "Attempts": [{"Container": {"ExitCode": 1}}]}),
    "template": "{x} and {} then {}",
}


@pytest.fixture(scope="module")
def endpoint():
    proc = start(*MODE)
    yield endpoint_of(proc)
    stop(proc)


def evaluate(endpoint: str, fields: dict[str, str], execution: str | None = None) -> tuple[dict, dict]:
    """Runs one Pass state whose Parameters are `fields` (each a `.$` expression)
    on INPUT; returns (its output, DescribeExecution)."""
    definition = {
        "StartAt": "Evaluate",
        "States": {
            "Evaluate": {
                "Type": "Pass",
                "Parameters": {f"{key}.$": value for key, value in fields.items()},
                "End": True,
            }
        },
    }
    machine = state_machine(endpoint, definition)
    arn = client("stepfunctions", endpoint).start_execution(
        stateMachineArn=machine, name=execution or f"run-{suffix()}", input=json.dumps(INPUT)
    )["executionArn"]
    described = finished(endpoint, arn)
    assert described["status"] == "SUCCEEDED", described
    return json.loads(described["output"]), described


def failure_of(endpoint: str, expression: str) -> dict:
    definition = {
        "StartAt": "Evaluate",
        "States": {"Evaluate": {"Type": "Pass", "Parameters": {"v.$": expression}, "End": True}},
    }
    machine = state_machine(endpoint, definition)
    arn = client("stepfunctions", endpoint).start_execution(
        stateMachineArn=machine, input=json.dumps(INPUT)
    )["executionArn"]
    return finished(endpoint, arn)


def test_format_renders_each_kind_of_value_as_aws_does(endpoint):
    """pins. Strings go in as they are (quotes, braces and backslashes untouched,
    never read as a template); numbers, null and booleans as JSON writes them;
    arrays and objects as [1, 2] and {a=1, b=[1, x]}. (AWS's answers for these
    values, recorded against AWS in LocalStack's intrinsic-function snapshots.)"""
    out, _ = evaluate(
        endpoint,
        {
            "string": "States.Format('<{}>', $.tricky)",
            "numbers": "States.Format('{} {} {} {}', $.n, $.f, $.whole, $.neg)",
            "null_and_bool": "States.Format('{} {}', $.nothing, $.yes)",
            "array": "States.Format('{}', $.arr)",
            "object": "States.Format('{}', $.obj)",
            "empty": "States.Format('[{}]', $.empty)",
        },
    )
    assert out == {
        "string": f"<{TRICKY}>",
        "numbers": "42 1.5 1.0 -7",
        "null_and_bool": "null true",
        "array": "[1, 2, 3]",
        "object": "{a=1, b=[1, x]}",
        "empty": "[[]]",
    }


def test_literal_escapes_and_placeholders(endpoint):
    """"The literal string \\' represents '", "\\{ represents {", "\\} represents }",
    "\\\\ represents \\" (in the JSON text each backslash is doubled); an escaped
    brace is text, not a placeholder. Stock moto kept every backslash and handed
    the rest to Python's str.format."""
    out, _ = evaluate(
        endpoint,
        {
            "escapes": "States.Format('it\\'s \\{ {} \\} a\\\\b', $.n)",
            "escaped_placeholder": "States.Format('\\{\\} is text, {} is not', $.n)",
            "quotes": "States.Format('say \"{}\"', $.n)",
            "braces_from_a_path": "States.Format($.template, $.n, $.tricky)",
        },
    )
    assert out == {
        "escapes": "it's { 42 } a\\b",
        "escaped_placeholder": "{} is text, 42 is not",
        "quotes": 'say "42"',
        # A template read from a path has no escapes: only {} is a placeholder.
        "braces_from_a_path": f"{{x}} and 42 then {TRICKY}",
    }


def test_literals_hold_newlines_and_null(endpoint):
    """A literal may hold a raw newline or tab (AWS answers
    States.StringSplit('Hello<newline>World', '<newline>') with ["Hello", "World"]);
    `null` is a literal argument (the page's States.Array example). Stock moto's
    lexer refused the newline and its grammar dropped the null."""
    out, _ = evaluate(
        endpoint,
        {
            "newline": "States.Format('line one\nline two\t{}', $.n)",
            "split": "States.StringSplit('Hello\nWorld', '\n')",
            "null_format": "States.Format('{}-{}', null, 3)",
            "null_array": "States.Array('Foo', 2022, $.obj, null)",
        },
    )
    assert out == {
        "newline": "line one\nline two\t42",
        "split": ["Hello", "World"],
        "null_format": "null-3",
        "null_array": ["Foo", 2022, {"a": 1, "b": [1, "x"]}, None],
    }


def test_format_needs_one_argument_per_placeholder(endpoint):
    """"There must be as many remaining arguments in the intrinsic invocation as
    there are occurrences of {}": the execution fails (stock moto ignored an
    extra argument)."""
    for expression in ("States.Format('{} and {}', $.n)", "States.Format('only {}', $.n, $.n)"):
        described = failure_of(endpoint, expression)
        assert described["status"] == "FAILED", (expression, described)
        assert "States.Format" in described.get("cause", ""), described


def test_json_functions_and_array_length(endpoint):
    """pins. JsonToString is compact JSON ({"a":1,"b":[1,"x"]}, as AWS answers);
    StringToJson reads back a Batch-like Cause whose text has quotes, braces,
    backslashes and newlines; ArrayLength counts attempts."""
    out, _ = evaluate(
        endpoint,
        {
            "object": "States.JsonToString($.obj)",
            "string": "States.JsonToString($.tricky)",
            "parsed": "States.StringToJson($.cause)",
            "attempts": "States.ArrayLength($.arr)",
            "none": "States.ArrayLength($.empty)",
        },
    )
    assert out["object"] == '{"a":1,"b":[1,"x"]}'
    assert out["string"] == json.dumps(TRICKY, ensure_ascii=False)
    assert out["parsed"] == {"Status": "FAILED", "StatusReason": TRICKY, "Attempts": [{"Container": {"ExitCode": 1}}]}
    assert (out["attempts"], out["none"]) == (3, 0)


ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def test_context_object_fields(endpoint):
    """$$.Execution.Id is the execution's ARN, .Name its name, .StartTime ISO 8601
    with milliseconds in UTC ("2019-03-26T20:14:13.192Z"), as is
    $$.State.EnteredTime; $$.StateMachine.Id/.Name the machine's. Stock moto put a
    Python datetime in StartTime: the execution failed, and one that output it
    broke DescribeExecution (HTTP 500)."""
    name = f"ctx-{suffix()}"
    out, described = evaluate(
        endpoint,
        {
            "name": "$$.Execution.Name",
            "id": "$$.Execution.Id",
            "start": "$$.Execution.StartTime",
            "entered": "$$.State.EnteredTime",
            "machine": "$$.StateMachine.Id",
            "machine_name": "$$.StateMachine.Name",
            "text": "States.Format('{} {} {}', $$.Execution.Name, $$.Execution.StartTime, $$.StateMachine.Id)",
        },
        execution=name,
    )
    assert out["name"] == name
    assert out["id"] == described["executionArn"]
    assert out["machine"] == described["stateMachineArn"]
    assert out["machine_name"] == described["stateMachineArn"].rsplit(":", 1)[-1]
    assert ISO_MS.match(out["start"]) and ISO_MS.match(out["entered"]), out
    start = datetime.datetime.strptime(out["start"], "%Y-%m-%dT%H:%M:%S.%f%z")
    assert abs((start - described["startDate"]).total_seconds()) < 0.002
    assert out["entered"] >= out["start"]
    assert out["text"] == f"{name} {out['start']} {out['machine']}"
