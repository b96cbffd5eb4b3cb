"""Strict mode, Step Functions interpreter part: the context object and the
intrinsic functions as AWS documents them. In-process patches of moto 5.2.5's
Step Functions interpreter (ported from LocalStack), installed by
`moto_launcher.py` before it serves (`--lenient` skips them).

Rules (each can be turned off with `--no-rule NAME`):

* `states-context-times`: `$$.Execution.StartTime` and `$$.State.EnteredTime`
  are ISO 8601 strings with milliseconds in UTC ("2019-03-26T20:14:13.192Z").
  Stock moto puts a Python datetime in StartTime (any path that reads it fails
  the execution, and DescribeExecution of one that outputs it answers HTTP 500)
  and writes EnteredTime as "...:13.192345+00:00".
* `states-intrinsic-escapes`: in an intrinsic function's string literal `\\'`,
  `\\{`, `\\}` and `\\\\` stand for `'`, `{`, `}` and `\\`, and an escaped brace
  is never a `States.Format` placeholder; `States.Format` replaces exactly the
  `{}` sequences, one argument each, and fails when the counts differ; `null`
  is a literal argument. Stock moto keeps the backslashes, hands the template to
  Python's `str.format` (so `\\{`, `{x}` or a brace in a template read from a path
  fails or garbles the text, and a missing argument raises `IndexError`) and
  drops a `null` argument.

What stock moto already does as AWS does is pinned by the tests
(`test_strict_states.py`): how `States.Format` renders strings, numbers, null,
booleans, arrays and objects, compact `States.JsonToString`,
`States.StringToJson`, `States.ArrayLength`, `$$.Execution.Id`/`Name` and
`$$.StateMachine.Id`/`Name`.
"""

from __future__ import annotations

import datetime
import json
from typing import Any

RULES = ("states-context-times", "states-intrinsic-escapes")

# Marks a `null` literal argument while the intrinsic parser (whose grammar has
# no null) reads the call: private-use characters no definition contains.
NULL_MARK = "\ue000batchnotify:null\ue000"
# Stands for a raw control character (a newline, a tab) inside a string literal
# while the parser reads it: its lexer refuses them, AWS takes them.
CONTROL_BASE = 0xF0000


def rule_enabled(args: Any, name: str) -> bool:
    return name not in (getattr(args, "disabled_rules", None) or set())


# ------------------------------------------------------- context object --
# https://docs.aws.amazon.com/step-functions/latest/dg/input-output-contextobject.html
# "StartTime": "Format: ISO 8601", e.g. "2019-03-26T20:14:13.192Z"; the same
# for State.EnteredTime.


def iso8601_ms(when: Any) -> Any:
    """AWS's context-object time: UTC, milliseconds, a Z."""
    if isinstance(when, str):
        try:
            when = datetime.datetime.fromisoformat(when)
        except ValueError:
            return when
    if not isinstance(when, datetime.datetime):
        return when
    if when.tzinfo is None:
        when = when.replace(tzinfo=datetime.timezone.utc)
    when = when.astimezone(datetime.timezone.utc)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def install_context_times() -> None:
    from moto.stepfunctions.parser.asl.component.state import state as state_module
    from moto.stepfunctions.parser.backend.execution import Execution

    orig_details = Execution.get_start_execution_details

    def get_start_execution_details(self: Any) -> Any:
        details = orig_details(self)
        details.start_time = iso8601_ms(details.start_time)
        return details

    Execution.get_start_execution_details = get_start_execution_details

    # state.py builds {"EnteredTime": now.isoformat(), "Name": ...} through the
    # StateData name it imported.
    orig_state_data = state_module.StateData

    def state_data(**fields: Any) -> Any:
        if "EnteredTime" in fields:
            fields["EnteredTime"] = iso8601_ms(fields["EnteredTime"])
        return orig_state_data(**fields)

    state_module.StateData = state_data


# --------------------------------------------------- intrinsic functions --
# https://docs.aws.amazon.com/step-functions/latest/dg/intrinsic-functions.html
# "Reserved characters in intrinsic functions": ' { } and \ "must be escaped
# with a backslash ('\') if you want them to appear in the Value"; "The literal
# string \' represents '", "\{ represents {", "\} represents }", "\\ represents
# \". States.Format: "The value of the first argument must be a string, and may
# include zero or more instances of the character sequence {}. There must be as
# many remaining arguments in the intrinsic invocation as there are occurrences
# of {}. The interpreter returns the string defined in the first argument with
# each {} replaced by the value of the positionally-corresponding argument". The
# same page's States.Array example passes `null` as a literal argument.


class IntrinsicLiteral(str):
    """A string literal of an intrinsic call, unescaped; `parts` holds the text
    between its unescaped `{}` sequences (what States.Format fills in)."""

    parts: list[str]


# Stock moto's other escapes (\n, \t, \r, \", \<letter>), kept as they were.
def _other_escape(char: str) -> str:
    if char.isalpha():
        return {"n": "\n", "t": "\t", "r": "\r"}.get(char, char)
    if char == '"':
        return '"'
    return "\\" + char


def unescape_literal(inner: str) -> IntrinsicLiteral:
    """The text between the quotes of an intrinsic string literal."""
    inner = "".join(
        chr(ord(c) - CONTROL_BASE) if CONTROL_BASE <= ord(c) < CONTROL_BASE + 0x20 else c
        for c in inner
    )
    parts: list[str] = []
    current: list[str] = []
    i = 0
    while i < len(inner):
        char = inner[i]
        if char == "\\" and i + 1 < len(inner):
            nxt = inner[i + 1]
            current.append(nxt if nxt in "'{}\\" else _other_escape(nxt))
            i += 2
            continue
        if char == "{" and inner[i + 1 : i + 2] == "}":
            parts.append("".join(current))
            current = []
            i += 2
            continue
        current.append(char)
        i += 1
    parts.append("".join(current))
    literal = IntrinsicLiteral("{}".join(parts))
    literal.parts = parts
    return literal


def protect_controls(src: str) -> str:
    """Raw control characters inside the call's '...' literals, as private-use
    stand-ins that unescape_literal turns back."""
    out: list[str] = []
    in_literal = False
    i = 0
    while i < len(src):
        char = src[i]
        if in_literal and char == "\\" and i + 1 < len(src):
            out.append(char)
            char = src[i + 1]
            i += 1
        elif char == "'":
            in_literal = not in_literal
        if in_literal and ord(char) < 0x20:
            char = chr(CONTROL_BASE + ord(char))
        out.append(char)
        i += 1
    return "".join(out)


def format_value(value: Any) -> str:
    """How States.Format renders an argument; stock moto's rendering, which
    matches AWS's recorded answers (strings as they are, null as null, 1.1,
    true, [1, 2], {Arg1=1, Arg2=[]})."""
    from moto.stepfunctions.parser.asl.component.intrinsic.function.statesfunction.generic.string_format import (
        StringFormat,
    )

    return StringFormat._to_str_repr(value)


def install_intrinsic_escapes() -> None:
    from antlr4 import InputStream

    from moto.stepfunctions.parser.asl.antlr.runtime.ASLIntrinsicLexer import ASLIntrinsicLexer
    from moto.stepfunctions.parser.asl.component.intrinsic.argument.argument import ArgumentLiteral
    from moto.stepfunctions.parser.asl.component.intrinsic.function.statesfunction.generic.string_format import (
        StringFormat,
    )
    from moto.stepfunctions.parser.asl.component.common.string.string_expression import (
        StringIntrinsicFunction,
    )
    from moto.stepfunctions.parser.asl.parse import preprocessor as asl_preprocessor
    from moto.stepfunctions.parser.asl.parse.intrinsic.intrinsic_parser import IntrinsicParser
    from moto.stepfunctions.parser.asl.parse.intrinsic.preprocessor import Preprocessor
    from moto.stepfunctions.parser.asl.static_analyser import variable_references_static_analyser as analyser

    def text_of_str(parse_tree: Any) -> str:
        from moto.stepfunctions.parser.asl.antlt4utils.antlr4utils import is_production, is_terminal

        node = is_production(parse_tree) or is_terminal(parse_tree)
        return unescape_literal(node.getText()[1:-1])

    Preprocessor._text_of_str = staticmethod(text_of_str)

    orig_visit_string = Preprocessor.visitFunc_arg_string

    def visit_string(self: Any, ctx: Any) -> Any:
        literal = orig_visit_string(self, ctx)
        if literal.definition_value == NULL_MARK:
            return ArgumentLiteral(definition_value=None)
        return literal

    Preprocessor.visitFunc_arg_string = visit_string

    orig_parse = IntrinsicParser.parse

    def parse(src: str) -> Any:
        # A string literal may hold a raw newline or tab on AWS (its own
        # StringSplit('Hello<newline>World', '<newline>') works); moto's lexer
        # refuses control characters.
        src = protect_controls(src)
        # The grammar knows no `null`: an argument `null` becomes a marked
        # string literal, which visit_string turns back into None.
        tokens = ASLIntrinsicLexer(InputStream(src)).getAllTokens()
        nulls = [t for t in tokens if t.type == ASLIntrinsicLexer.IDENTIFIER and t.text == "null"]
        for token in reversed(nulls):
            src = src[: token.start] + f"'{NULL_MARK}'" + src[token.stop + 1 :]
        return orig_parse(src)

    IntrinsicParser.parse = staticmethod(parse)

    def eval_format(self: Any, env: Any) -> None:
        self.argument_list.eval(env=env)
        args = env.stack.pop()
        template, values = args[0], args[1:]
        if not isinstance(template, str):
            raise ValueError(
                f"States.Format: the first argument must be a string, not {template!r}"
            )
        # A template read from a path has no escapes: each {} is a placeholder.
        parts = getattr(template, "parts", None) or template.split("{}")
        if len(parts) - 1 != len(values):
            raise ValueError(
                f"States.Format: the template has {len(parts) - 1} {{}} but "
                f"{len(values)} argument(s) follow it"
            )
        out = [parts[0]]
        for value, part in zip(values, parts[1:]):
            out.append(format_value(value))
            out.append(part)
        env.stack.append("".join(out))

    StringFormat._eval_body = eval_format

    # The call is the value of a JSON string: JSON's escapes (\\ for \, \" for ",
    # \n for a newline) are undone before the intrinsic's own are read. Stock
    # moto hands the JSON text over as it is, so "\\{" reaches the intrinsic as
    # two backslashes and a brace.
    def decoded(token_text: str) -> str:
        try:
            value = json.loads(token_text)
        except ValueError:
            return token_text[1:-1]
        return value if isinstance(value, str) else token_text[1:-1]

    def visit_intrinsic(self: Any, ctx: Any) -> Any:
        derivation = decoded(ctx.STRINGINTRINSICFUNC().getText())
        function, _ = IntrinsicParser.parse(derivation)
        return StringIntrinsicFunction(intrinsic_function_derivation=derivation, function=function)

    asl_preprocessor.Preprocessor.visitString_intrinsic_function = visit_intrinsic

    def analyse_intrinsic(self: Any, ctx: Any) -> None:
        names = analyser.VariableNamesIntrinsicStaticAnalyser.process_and_get(decoded(ctx.getText()))
        for name in names:
            self._put_variable_name(name)

    analyser.VariableReferencesStaticAnalyser.visitString_intrinsic_function = analyse_intrinsic


# ----------------------------------------------------------------- install --


def install(args: Any) -> None:
    """Apply the enabled interpreter rules (before the server starts)."""
    if rule_enabled(args, "states-context-times"):
        install_context_times()
    if rule_enabled(args, "states-intrinsic-escapes"):
        install_intrinsic_escapes()
