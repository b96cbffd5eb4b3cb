"""Strict mode, access part: make the emulator refuse what AWS refuses.

Stock moto (5.2.5) lets any access key do anything, never throttles, answers
most List/Describe calls in one page, and lets Step Functions use a role the
moment it exists. Real AWS does none of that, so an operator that passes its
tests on stock moto can still fail on AWS. This module, used by
`moto_launcher.py` unless `--lenient`, adds these rules (each can be turned
off with `--no-rule NAME`):

* ``unknown-key``: an access key that is neither the root key (``testing``)
  nor an IAM user's (or an assumed role's) key is refused, as AWS refuses it.
* ``iam``: every request by a non-root caller is evaluated against the
  caller's identity-based policies: action ``service:Operation`` matched
  case-insensitively with ``*``/``?`` wildcards, ``Action``/``NotAction``,
  ``Resource``/``NotResource`` matched against the ARN the operation targets
  (``*`` for operations without resource-level permissions), a few condition
  operators, explicit Deny winning. Denials come back in each service's own
  error shape (moto's own evaluator names Batch actions in lower case and
  answers JSON services in XML). CloudWatch Logs actions (``logs:GetLogEvents``
  on the stream's ARN, ``logs:DescribeLogStreams``/``logs:FilterLogEvents`` on
  ``...:log-group:G:log-stream:``, ``logs:DescribeLogGroups`` on
  ``...:log-group::log-stream:``) are denied with ``AccessDeniedException``
  (JSON, HTTP 400), as AWS does; see ``logs_resource``.
* ``pass-role``: passing a role to Step Functions or Batch needs
  ``iam:PassRole`` on it.
* ``iam-propagation`` / ``trust-policy``: Step Functions cannot assume a role
  for ``iam-propagation`` seconds after CreateRole/UpdateAssumeRolePolicy, nor
  ever if the trust policy does not let ``states.amazonaws.com`` assume it.
* ``quotas``: per-API token buckets per (account, region, service,
  operation), each service's throttling error; root is exempt. CloudWatch
  Logs: GetLogEvents 10/s, FilterLogEvents 5/s, DescribeLogStreams 25/s
  (``LOGS_QUOTAS``).
  ``GET /_batchnotify/throttles`` counts throttled requests (``DELETE`` resets).
* ``paging``: List/Describe calls answer ``--page-size`` items a page.
* ``sts-trust``: AssumeRole succeeds only when the role exists, its trust
  policy lets the caller ``sts:AssumeRole`` (and ``sts:TagSession`` when the
  request passes session tags), and, unless the trust policy names the caller
  itself in the role's own account, the caller's identity-based policies
  allow the same actions on the role; the root user may not assume roles;
  RoleSessionName, ExternalId, Tags and DurationSeconds are validated (900 s
  to the role's MaxSessionDuration, one hour when chaining roles). See
  `check_sts_assume`.
* ``sts-expiry``: a request signed with an assumed role's credentials after
  their Expiration is refused with each service's ExpiredToken error.
  ``--assumed-role-seconds N`` caps the lifetime AssumeRole grants (and the
  Expiration it answers), so tests can see credentials expire.

Accounts. Every request acts in the account of its caller, as moto 5.2.5
itself resolves it (``BaseResponse.get_current_account``): an IAM user's key
or an assumed role's session key belongs to the account it was made in (an
AssumeRole session belongs to the role's account); the root key (``testing``)
acts in ``123456789012`` unless the request carries moto's header
``x-moto-account-id: <12 digits>``, which makes it the root user of that
account. Strict mode honours that header for the root key and for the Step
Functions interpreter's key only: any other key's header is dropped, so a key
always acts in its own account, as on AWS. Policies, resource ARNs, trust
policies and quota buckets are the caller's account's. ``principals()`` (served
by the launcher at ``GET /_batchnotify/principals``) maps each access key the
emulator knows to its principal ARN and account.

The root key acts as the account root user: never denied, never throttled
(so does the key moto's Step Functions interpreter signs its task calls with),
but, as on AWS, it cannot AssumeRole.
"""

from __future__ import annotations

import base64
import http
import io
import json
import re
import threading
import time
import uuid
from typing import Any, Callable
from urllib.parse import parse_qs, unquote
from xml.sax.saxutils import escape

# The account of the root key without an x-moto-account-id header (moto's
# DEFAULT_ACCOUNT_ID). Every rule uses the request's own account (Call.account).
DEFAULT_ACCOUNT = "123456789012"
ACCOUNT = DEFAULT_ACCOUNT
ROOT_KEY = "testing"
# moto's Step Functions interpreter signs the calls its Task states make
# (batch:submitJob, sns:publish, ...) with the key "ak"
# (moto/stepfunctions/parser/asl/utils/boto_client.py). On AWS those calls run
# with the state machine's role, which this emulator does not model: the
# interpreter's key is exempt from every rule, like the root key.
INTERPRETER_KEY = "ak"
EXEMPT_KEYS = (ROOT_KEY, INTERPRETER_KEY)
THROTTLES_PATH = "/_batchnotify/throttles"
# moto's header naming the account a request acts in (moto/core/responses.py,
# BaseResponse.get_current_account), as WSGI names it.
ACCOUNT_HEADER = "x-moto-account-id"
_ACCOUNT_ENVIRON = "HTTP_X_MOTO_ACCOUNT_ID"

RULES = (
    "unknown-key",
    "iam",
    "pass-role",
    "iam-propagation",
    "trust-policy",
    "quotas",
    "paging",
    "sts-trust",
    "sts-expiry",
)

# Delay name -> (fast, realistic) seconds. IAM documents that changes are
# eventually consistent and "can take some time" to be visible to services:
# https://docs.aws.amazon.com/IAM/latest/UserGuide/troubleshoot_general.html#troubleshoot_general_eventual-consistency
DELAYS = {"iam-propagation": (1.5, 10.0)}

DEFAULT_PAGE_SIZE = 2


def add_arguments(parser: Any) -> None:
    parser.add_argument(
        "--quota-scale",
        type=float,
        default=1.0,
        metavar="F",
        help="strict mode: multiply every API token bucket's size and refill rate by F",
    )
    parser.add_argument(
        "--page-size",
        type=int,
        default=DEFAULT_PAGE_SIZE,
        metavar="N",
        help="strict mode: List/Describe calls answer at most N items a page",
    )
    parser.add_argument(
        "--assumed-role-seconds",
        type=float,
        default=None,
        metavar="SECONDS",
        help="for tests only: AssumeRole grants credentials for at most SECONDS (the "
        "Expiration it answers says so, and sts-expiry refuses them after it); "
        "default: what was asked (DurationSeconds, 3600 unless given), as AWS",
    )


def _rule_on(args: Any, name: str) -> bool:
    if hasattr(args, "rule_on"):
        return bool(args.rule_on(name))
    return not getattr(args, "lenient", False) and name not in (getattr(args, "no_rule", None) or [])


def _delay(args: Any, name: str) -> float:
    fast, realistic = DELAYS[name]
    if hasattr(args, "delay_for"):
        return float(args.delay_for(name, fast, realistic))
    return fast if getattr(args, "delays", "fast") == "fast" else realistic


# --------------------------------------------------------------------------
# Service models: protocol and operation of a request.

_SIGNING_TO_BOTOCORE = {"states": "stepfunctions", "email": "ses", "monitoring": "cloudwatch"}
_models: dict[str, Any] = {}
_models_lock = threading.Lock()


def _model(scope_service: str) -> Any:
    with _models_lock:
        if scope_service not in _models:
            from botocore.loaders import Loader
            from botocore.model import ServiceModel

            name = _SIGNING_TO_BOTOCORE.get(scope_service, scope_service)
            try:
                _models[scope_service] = ServiceModel(
                    Loader().load_service_model(name, "service-2"), service_name=name
                )
            except Exception:  # an unknown service: no rule applies to it
                _models[scope_service] = None
        return _models[scope_service]


_rest_routes: dict[str, list[tuple[str, re.Pattern[str], str]]] = {}


def _rest_operation(model: Any, method: str, path: str) -> tuple[str, dict[str, str]] | None:
    routes = _rest_routes.get(model.service_name)
    if routes is None:
        routes = []
        for name in model.operation_names:
            http_ = model.operation_model(name).http
            uri = http_["requestUri"].split("?")[0]
            # Labels ({resourceArn}, {key+}) match the rest of the path: an ARN
            # label holds slashes once the server has decoded %2F.
            pattern = re.sub(r"\\\{(\w+)(?:\\\+)?\\\}", r"(?P<\1>.+)", re.escape(uri))
            routes.append((http_["method"], re.compile(f"^{pattern}/?$"), name))
        # Literal paths before templated ones.
        routes.sort(key=lambda r: r[1].pattern.count("(?P"))
        _rest_routes[model.service_name] = routes
    for route_method, pattern, name in routes:
        match = pattern.match(path)
        if route_method == method and match:
            return name, {k: unquote(v) for k, v in match.groupdict().items()}
    return None


class Call:
    """What one signed request asks: who, which service and operation, with what."""

    def __init__(
        self, environ: dict, key: str, region: str, scope_service: str, account: str = DEFAULT_ACCOUNT
    ) -> None:
        self.environ = environ
        self.key = key
        self.region = region
        self.account = account  # the account the request acts in
        self.service = scope_service  # IAM prefix: states, batch, sns, iam, sts
        self.model = _model(scope_service)
        self.protocol = self.model.protocol if self.model is not None else None
        self.operation = ""
        self.params: dict[str, Any] = {}
        self._parse()

    def _parse(self) -> None:
        env = self.environ
        length = int(env.get("CONTENT_LENGTH") or 0)
        body = env["wsgi.input"].read(length) if length else b""
        env["wsgi.input"] = io.BytesIO(body)
        if self.protocol == "json":
            target = env.get("HTTP_X_AMZ_TARGET", "")
            self.operation = target.rsplit(".", 1)[-1]
            try:
                parsed = json.loads(body or b"{}")
                self.params = parsed if isinstance(parsed, dict) else {}
            except ValueError:
                self.params = {}
        elif self.protocol == "query":
            form = parse_qs(env.get("QUERY_STRING", ""))
            if env.get("CONTENT_TYPE", "").startswith("application/x-www-form-urlencoded"):
                form.update(parse_qs(body.decode("utf-8", "replace")))
            self.params = {k: v[0] for k, v in form.items()}
            self.operation = self.params.get("Action", "")
        elif self.protocol in ("rest-json", "rest-xml") and self.model is not None:
            path = env.get("PATH_INFO", "")
            found = _rest_operation(self.model, env.get("REQUEST_METHOD", "GET"), path)
            if found:
                self.operation, labels = found
                self.params.update(labels)
            if self.protocol == "rest-json" and body:
                try:
                    parsed = json.loads(body)
                    if isinstance(parsed, dict):
                        self.params.update(parsed)
                except ValueError:
                    pass

    @property
    def action(self) -> str:
        return f"{self.service}:{self.operation}"


# --------------------------------------------------------------------------
# Error responses, each in its service's shape.

_XML_NS = {
    "iam": "https://iam.amazonaws.com/doc/2010-05-08/",
    "sns": "http://sns.amazonaws.com/doc/2010-03-31/",
    "sts": "https://sts.amazonaws.com/doc/2011-06-15/",
}


def _send(start_response: Any, status: int, headers: list[tuple[str, str]], body: bytes) -> list[bytes]:
    phrase = http.HTTPStatus(status).phrase
    start_response(
        f"{status} {phrase}", headers + [("Content-Length", str(len(body)))]
    )
    return [body]


def error_response(
    start_response: Any, call: Call, code: str, message: str, status: int
) -> list[bytes]:
    request_id = str(uuid.uuid4())
    if call.protocol in ("json", "rest-json"):
        body = json.dumps({"__type": code, "message": message}).encode()
        content_type = (
            f"application/x-amz-json-{call.model.metadata.get('jsonVersion', '1.0')}"
            if call.protocol == "json"
            else "application/json"
        )
        headers = [
            ("Content-Type", content_type),
            ("x-amzn-RequestId", request_id),
            ("x-amzn-ErrorType", code),
        ]
        return _send(start_response, status, headers, body)
    ns = _XML_NS.get(call.service, f"https://{call.service}.amazonaws.com/doc/")
    body = (
        f'<ErrorResponse xmlns="{ns}">\n  <Error>\n    <Type>Sender</Type>\n'
        f"    <Code>{escape(code)}</Code>\n    <Message>{escape(message)}</Message>\n"
        f"  </Error>\n  <RequestId>{request_id}</RequestId>\n</ErrorResponse>\n"
    ).encode()
    headers = [("Content-Type", "text/xml"), ("x-amzn-RequestId", request_id)]
    return _send(start_response, status, headers, body)


# Unknown access key. IAM/SNS/STS (query protocol): InvalidClientTokenId, 403
# https://docs.aws.amazon.com/IAM/latest/APIReference/CommonErrors.html
# JSON services answer UnrecognizedClientException: 400 for awsJson (Step
# Functions), 403 for restJson (Batch), as observed from AWS.
# https://docs.aws.amazon.com/step-functions/latest/apireference/CommonErrors.html
INVALID_TOKEN_MESSAGE = "The security token included in the request is invalid."


def unknown_key_response(start_response: Any, call: Call) -> list[bytes]:
    if call.protocol == "json":
        return error_response(start_response, call, "UnrecognizedClientException", INVALID_TOKEN_MESSAGE, 400)
    if call.protocol == "rest-json":
        return error_response(start_response, call, "UnrecognizedClientException", INVALID_TOKEN_MESSAGE, 403)
    return error_response(start_response, call, "InvalidClientTokenId", INVALID_TOKEN_MESSAGE, 403)


# Expired temporary credentials ("ExpiredTokenException: The security token
# included in the request is expired", in the list of errors common to all
# services): https://docs.aws.amazon.com/awsconsolehelpdocs/latest/gsg/common-errors.html
# Query services (STS, IAM, SNS) name it ExpiredToken, HTTP 403:
#   https://docs.aws.amazon.com/STS/latest/APIReference/CommonErrors.html
# JSON services answer ExpiredTokenException: HTTP 400 for awsJson (Step
# Functions, EventBridge, like their UnrecognizedClientException above), 403
# for restJson (Batch).
EXPIRED_TOKEN_MESSAGE = "The security token included in the request is expired"


def expired_response(start_response: Any, call: Call) -> list[bytes]:
    if call.protocol == "json":
        return error_response(start_response, call, "ExpiredTokenException", EXPIRED_TOKEN_MESSAGE, 400)
    if call.protocol == "rest-json":
        return error_response(start_response, call, "ExpiredTokenException", EXPIRED_TOKEN_MESSAGE, 403)
    return error_response(start_response, call, "ExpiredToken", EXPIRED_TOKEN_MESSAGE, 403)


# Access denied. Message format:
# https://docs.aws.amazon.com/IAM/latest/UserGuide/troubleshoot_access-denied.html
# Step Functions: AccessDeniedException, HTTP 400
#   https://docs.aws.amazon.com/step-functions/latest/apireference/CommonErrors.html
# Batch (restJson): AccessDeniedException, HTTP 403
#   https://docs.aws.amazon.com/batch/latest/userguide/security_iam_troubleshoot.html
# SNS: AuthorizationError, HTTP 403, action written "SNS:Op" in the message
#   https://docs.aws.amazon.com/sns/latest/api/CommonErrors.html
# IAM/STS: AccessDenied, HTTP 403
#   https://docs.aws.amazon.com/IAM/latest/APIReference/CommonErrors.html
def denied_message(principal: str, action: str, resource: str, explicit: bool) -> str:
    if explicit:
        return (
            f"User: {principal} is not authorized to perform: {action} on resource: "
            f"{resource} with an explicit deny in an identity-based policy"
        )
    return (
        f"User: {principal} is not authorized to perform: {action} on resource: "
        f"{resource} because no identity-based policy allows the {action} action"
    )


def denied_response(
    start_response: Any, call: Call, principal: str, action: str, resource: str, explicit: bool
) -> list[bytes]:
    if call.service == "sns" and action.startswith("sns:"):
        action = "SNS:" + action[4:]
    message = denied_message(principal, action, resource, explicit)
    if call.protocol == "json":
        return error_response(start_response, call, "AccessDeniedException", message, 400)
    if call.protocol == "rest-json":
        return error_response(start_response, call, "AccessDeniedException", message, 403)
    if call.service == "sns":
        return error_response(start_response, call, "AuthorizationError", message, 403)
    return error_response(start_response, call, "AccessDenied", message, 403)


# --------------------------------------------------------------------------
# Policy evaluation.
# https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html


def _as_list(value: Any) -> list:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _wildcard(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    regex = "".join(
        ".*" if ch == "*" else "." if ch == "?" else re.escape(ch) for ch in pattern
    )
    return re.compile(f"^{regex}$", re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL)


def action_matches(pattern: str, action: str) -> bool:
    # "The prefix and the action name are case insensitive."
    # https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_action.html
    return bool(_wildcard(pattern, True).match(action))


def substitute(text: str, context: dict[str, Any]) -> str:
    """Policy variables (${aws:PrincipalTag/team}, ${aws:username}) in a
    Resource or a condition value; one the request has no value for stays as
    written, and so matches nothing.
    https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_variables.html"""

    def value(match: re.Match[str]) -> str:
        found = context.get(match.group(1).lower())
        return found if isinstance(found, str) else match.group(0)

    return re.sub(r"\$\{([^}]+)\}", value, text)


def resource_matches(pattern: str, resource: str, context: dict[str, Any]) -> bool:
    # https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_resource.html
    return bool(_wildcard(substitute(pattern, context), False).match(resource))


def _date(text: str) -> float | None:
    import datetime

    try:
        return float(text)  # epoch seconds are a date too
    except ValueError:
        pass
    try:
        when = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=datetime.timezone.utc)
    return when.timestamp()


def _dates(test: Callable[[float, float], bool]) -> Callable[[str, str], bool]:
    def compare(v: str, p: str) -> bool:
        a, b = _date(v), _date(p)
        return a is not None and b is not None and test(a, b)

    return compare


_OPERATORS: dict[str, Callable[[str, str], bool]] = {
    "stringequals": lambda v, p: v == p,
    "stringnotequals": lambda v, p: v != p,
    "stringequalsignorecase": lambda v, p: v.lower() == p.lower(),
    "stringnotequalsignorecase": lambda v, p: v.lower() != p.lower(),
    "stringlike": lambda v, p: bool(_wildcard(p, False).match(v)),
    "stringnotlike": lambda v, p: not _wildcard(p, False).match(v),
    "arnequals": lambda v, p: bool(_wildcard(p, False).match(v)),
    "arnlike": lambda v, p: bool(_wildcard(p, False).match(v)),
    "arnnotequals": lambda v, p: not _wildcard(p, False).match(v),
    "arnnotlike": lambda v, p: not _wildcard(p, False).match(v),
    "bool": lambda v, p: v.lower() == str(p).lower(),
    # aws:TokenIssueTime (AWSRevokeOlderSessions), aws:CurrentTime
    # https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html#Conditions_Date
    "dateequals": _dates(lambda a, b: a == b),
    "datenotequals": _dates(lambda a, b: a != b),
    "datelessthan": _dates(lambda a, b: a < b),
    "datelessthanequals": _dates(lambda a, b: a <= b),
    "dategreaterthan": _dates(lambda a, b: a > b),
    "dategreaterthanequals": _dates(lambda a, b: a >= b),
}
_NEGATED = {
    "stringnotequals", "stringnotequalsignorecase", "stringnotlike", "arnnotequals", "arnnotlike",
    "datenotequals",
}


def conditions_match(condition: Any, context: dict[str, Any]) -> bool:
    """Condition block; keys missing from the context fail positive operators.
    A context value may be a list (a multivalued key such as aws:TagKeys):
    ForAllValues: every value must match, and a missing key matches;
    otherwise (ForAnyValue:, or no qualifier) one value must. Policy
    variables in the expected values are substituted.
    https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html
    https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-single-vs-multi-valued-context-keys.html"""
    if not condition:
        return True
    if not isinstance(condition, dict):
        return False
    for operator, block in condition.items():
        qualifier, _, op = operator.lower().rpartition(":")
        if_exists = op.endswith("ifexists")
        op = op[: -len("ifexists")] if if_exists else op
        if not isinstance(block, dict):
            return False
        for key, expected in block.items():
            value = context.get(key.lower())
            if op == "null":
                if (value is None) != (str(expected).lower() == "true"):
                    return False
                continue
            if value is None:
                if if_exists or op in _NEGATED or qualifier == "forallvalues":
                    continue
                return False
            test = _OPERATORS.get(op)
            if test is None:
                return False  # an operator not modelled here never matches
            values = [substitute(str(e), context) for e in _as_list(expected)]

            def one(v: str) -> bool:
                if op in _NEGATED:
                    return all(test(v, e) for e in values)
                return any(test(v, e) for e in values)

            candidates = [str(v) for v in value] if isinstance(value, list) else [str(value)]
            if qualifier == "forallvalues":
                if not all(one(v) for v in candidates):
                    return False
            elif not any(one(v) for v in candidates):
                return False
    return True


def evaluate(documents: list[dict], action: str, resource: str, context: dict[str, str]) -> str:
    """'allow', 'deny' (explicit) or 'implicit' (no statement allows)."""
    allowed = False
    for document in documents:
        for statement in _as_list(document.get("Statement")):
            if not isinstance(statement, dict):
                continue
            if "NotAction" in statement:
                if any(action_matches(p, action) for p in _as_list(statement["NotAction"])):
                    continue
            elif not any(action_matches(p, action) for p in _as_list(statement.get("Action"))):
                continue
            if "NotResource" in statement:
                if any(resource_matches(p, resource, context) for p in _as_list(statement["NotResource"])):
                    continue
            elif not any(resource_matches(p, resource, context) for p in _as_list(statement.get("Resource"))):
                continue
            if not conditions_match(statement.get("Condition"), context):
                continue
            if str(statement.get("Effect", "")).lower() == "deny":
                return "deny"
            if str(statement.get("Effect", "")).lower() == "allow":
                allowed = True
    return "allow" if allowed else "implicit"


def _tag_dict(tags: Any) -> dict[str, str]:
    out: dict[str, str] = {}
    for tag in tags or []:
        if isinstance(tag, dict) and "Key" in tag:
            out[str(tag["Key"])] = str(tag.get("Value", ""))
    return out


class Identity:
    """Who signed a request: an IAM user, or an assumed role's session."""

    def __init__(
        self,
        arn: str,
        name: str,
        documents: list[dict],
        account: str = DEFAULT_ACCOUNT,
        principal_arn: str | None = None,
        kind: str = "user",
        tags: dict[str, str] | None = None,
        session: Any = None,
    ) -> None:
        self.arn = arn  # as AWS names the caller in its messages
        self.name = name
        self.documents = documents
        self.account = account
        # aws:PrincipalArn: "For IAM roles, the request context returns the ARN
        # of the role, not the ARN of the user that assumed the role."
        # https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html#condition-keys-principalarn
        self.principal_arn = principal_arn or arn
        self.kind = kind  # "user" or "assumed-role"
        self.tags = tags or {}
        self.session = session  # moto's AssumedRole, for a role session

    @property
    def expiration(self) -> Any:
        return getattr(self.session, "expiration", None)


def account_of_key(key: str) -> str | None:
    """The account whose IAM holds `key` (a user's key, or an assumed role's
    session key, which moto makes in the role's account): moto's own
    `moto.iam.models.get_account_id_from`, without creating backends."""
    from moto.iam.models import iam_backends

    for account, per_account in list(iam_backends.items()):
        for backend in list(per_account.values()):
            if key in backend.access_keys:
                return account
    return None


def request_account(key: str, environ: dict) -> str:
    """The account a request acts in. The root key (and the interpreter's)
    may name one with moto's x-moto-account-id header; any other key acts in
    its own account: its header, if any, is dropped before moto reads it."""
    if key in EXEMPT_KEYS:
        return environ.get(_ACCOUNT_ENVIRON) or DEFAULT_ACCOUNT
    environ.pop(_ACCOUNT_ENVIRON, None)
    return account_of_key(key) or DEFAULT_ACCOUNT


def find_session(account: str, key: str) -> Any:
    from moto.sts.models import sts_backends

    if account not in sts_backends:
        return None
    for backend in list(sts_backends[account].values()):
        for session in list(backend.assumed_roles):
            if session.access_key_id == key:
                return session
    return None


def find_identity(key: str, security_token: str | None, account: str | None = None) -> Identity | None:
    """The IAM user (or assumed role) an access key belongs to, with its policies."""
    from moto.iam.access_control import AssumedRoleAccessKey, CreateAccessKeyFailure, IAMPolicy, create_access_key

    account = account or account_of_key(key) or DEFAULT_ACCOUNT
    headers = {"X-Amz-Security-Token": security_token} if security_token else {}
    try:
        owner = create_access_key(account, "aws", key, headers)
    except CreateAccessKeyFailure:
        return None
    try:
        policies = owner.collect_policies()
    except Exception:
        # A session whose role was deleted: its credentials are still valid
        # until they expire, but no policy of the role is left to allow anything
        # (policies are evaluated at each request, which is how AWS revokes
        # sessions: https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_use_revoke-sessions.html).
        policies = []
    documents = []
    for policy in policies:
        try:
            documents.append(IAMPolicy(policy)._policy_json)
        except (ValueError, KeyError, StopIteration):
            continue
    iam = _iam(account)
    if isinstance(owner, AssumedRoleAccessKey):
        session = find_session(account, key)
        role = getattr(session, "role_arn", None) or f"arn:aws:iam::{account}:role/{owner._owner_role_name}"
        # The principal's tags: the role's, overridden by the session's (tag
        # keys compare case-insensitively).
        # https://docs.aws.amazon.com/IAM/latest/UserGuide/id_session-tags.html
        tags = {}
        try:
            tags = _tag_dict(iam.get_role_by_arn(role).tags)
        except Exception:
            pass
        for k, v in (getattr(session, SESSION_TAGS, None) or {}).items():
            for old in [t for t in tags if t.lower() == k.lower()]:
                del tags[old]
            tags[k] = v
        return Identity(
            owner.arn, owner.arn.rsplit("/", 1)[-1], documents, account, role, "assumed-role", tags, session
        )
    name = owner.arn.rsplit("/", 1)[-1]
    try:
        tags = _tag_dict(iam.list_user_tags(name))
    except Exception:
        tags = {}
    return Identity(owner.arn, name, documents, account, owner.arn, "user", tags)


def principal_context(identity: Identity) -> dict[str, Any]:
    """The principal's global condition keys.
    https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html"""
    context: dict[str, Any] = {
        "aws:principalarn": identity.principal_arn,
        "aws:principalaccount": identity.account,
        "aws:principaltype": "AssumedRole" if identity.kind == "assumed-role" else "User",
    }
    if identity.kind == "user":
        context["aws:username"] = identity.name  # not present for roles
    for key, value in identity.tags.items():
        context[f"aws:principaltag/{key.lower()}"] = value
    issued = getattr(identity.session, SESSION_ISSUED, None)
    if issued is not None:
        context["aws:tokenissuetime"] = issued.strftime("%Y-%m-%dT%H:%M:%SZ")
    context["aws:currenttime"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    return context


# --------------------------------------------------------------------------
# The resources an operation targets. Service Authorization Reference:
#   https://docs.aws.amazon.com/service-authorization/latest/reference/list_awsstepfunctions.html
#   https://docs.aws.amazon.com/service-authorization/latest/reference/list_awsbatch.html
#   https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonsns.html
#   https://docs.aws.amazon.com/service-authorization/latest/reference/list_awsidentityandaccessmanagementiam.html
# Operations without resource-level permissions (Batch Describe*/List*,
# states:ListStateMachines, sns:ListTopics, ...) are matched against "*".
# Names are resolved, and ARNs made, in the request's account.


def _iam(account: str = DEFAULT_ACCOUNT):
    from moto.iam.models import iam_backends

    return iam_backends[account]["global"]


_ROLE_ARN = re.compile(r"^arn:aws[\w-]*:iam::(\d{12}):role/(?:.*/)?([^/]+)$")


def role_arn(name_or_arn: str, account: str = DEFAULT_ACCOUNT) -> str:
    if name_or_arn.startswith("arn:"):
        return name_or_arn
    try:
        return _iam(account).get_role(name_or_arn).arn
    except Exception:
        return f"arn:aws:iam::{account}:role/{name_or_arn}"


def find_role(arn_or_name: str, account: str = DEFAULT_ACCOUNT) -> Any:
    """The role an ARN (in its own account) or a name (in `account`) names;
    None when there is none (an account moto has no IAM for has no role)."""
    from moto.iam.models import iam_backends

    match = _ROLE_ARN.match(arn_or_name)
    if match:
        account, name = match.groups()
    else:
        name = arn_or_name.rsplit("/", 1)[-1]
    if account not in iam_backends:
        return None
    try:
        role = iam_backends[account]["global"].get_role(name)
    except Exception:
        return None
    if match and role.arn != arn_or_name:
        return None  # another path: not that role
    return role


def _batch_arn(region: str, account: str, kind: str, value: str | None) -> str:
    if not value:
        return "*"
    if value.startswith("arn:"):
        return value
    return f"arn:aws:batch:{region}:{account}:{kind}/{value}"


SNS_WITHOUT_RESOURCES = frozenset(
    {
        "Unsubscribe",
        "GetSubscriptionAttributes",
        "SetSubscriptionAttributes",
        "ListSubscriptions",
        "ListTopics",
    }
)


def resources(call: Call) -> list[str]:
    p, region, op, account = call.params, call.region, call.operation, call.account
    if call.service == "states":
        if op in ("CreateStateMachine",):
            return [f"arn:aws:states:{region}:{account}:stateMachine:{p.get('name', '')}"]
        if op == "CreateActivity":
            return [f"arn:aws:states:{region}:{account}:activity:{p.get('name', '')}"]
        for field in ("stateMachineArn", "executionArn", "resourceArn", "activityArn", "mapRunArn"):
            if p.get(field):
                return [p[field]]
        return ["*"]
    if call.service == "batch":
        if op == "CreateComputeEnvironment":
            return [_batch_arn(region, account, "compute-environment", p.get("computeEnvironmentName"))]
        if op in ("UpdateComputeEnvironment", "DeleteComputeEnvironment"):
            return [_batch_arn(region, account, "compute-environment", p.get("computeEnvironment"))]
        if op in ("CreateJobQueue", "UpdateJobQueue"):
            queue = p.get("jobQueueName") or p.get("jobQueue")
            envs = [
                _batch_arn(region, account, "compute-environment", o.get("computeEnvironment"))
                for o in _as_list(p.get("computeEnvironmentOrder"))
                if isinstance(o, dict)
            ]
            return [_batch_arn(region, account, "job-queue", queue)] + envs
        if op == "DeleteJobQueue":
            return [_batch_arn(region, account, "job-queue", p.get("jobQueue"))]
        if op == "RegisterJobDefinition":
            return [_batch_arn(region, account, "job-definition", p.get("jobDefinitionName"))]
        if op == "DeregisterJobDefinition":
            return [_batch_arn(region, account, "job-definition", p.get("jobDefinition"))]
        if op == "SubmitJob":
            return [
                _batch_arn(region, account, "job-definition", p.get("jobDefinition")),
                _batch_arn(region, account, "job-queue", p.get("jobQueue")),
            ]
        if op in ("TagResource", "UntagResource", "ListTagsForResource"):
            return [p.get("resourceArn") or "*"]
        return ["*"]
    if call.service == "sns":
        # No resource-level permissions for these: only "*" matches them
        # (list_amazonsns.html, Resource types column empty).
        if op in SNS_WITHOUT_RESOURCES:
            return ["*"]
        if op == "CreateTopic":
            return [f"arn:aws:sns:{region}:{account}:{p.get('Name', '')}"]
        for field in ("TopicArn", "TargetArn", "ResourceArn"):
            if p.get(field):
                return [p[field]]
        return ["*"]
    if call.service == "iam":
        if op == "CreateRole":
            path = p.get("Path") or "/"
            return [f"arn:aws:iam::{account}:role{path}{p.get('RoleName', '')}"]
        if p.get("RoleName"):
            return [role_arn(p["RoleName"], account)]
        if op == "CreateUser":
            return [f"arn:aws:iam::{account}:user{p.get('Path') or '/'}{p.get('UserName', '')}"]
        if p.get("UserName"):
            return [f"arn:aws:iam::{account}:user/{p['UserName']}"]
        if p.get("GroupName"):
            return [f"arn:aws:iam::{account}:group/{p['GroupName']}"]
        if p.get("PolicyArn"):
            return [p["PolicyArn"]]
        if op == "CreatePolicy":
            return [f"arn:aws:iam::{account}:policy{p.get('Path') or '/'}{p.get('PolicyName', '')}"]
        if p.get("InstanceProfileName"):
            return [f"arn:aws:iam::{account}:instance-profile/{p['InstanceProfileName']}"]
        return ["*"]
    if call.service == "sts" and p.get("RoleArn"):
        return [p["RoleArn"]]
    if call.service == "logs":
        return [logs_resource(call)]
    return ["*"]


# CloudWatch Logs (service prefix logs). Resource types, from the Service
# Authorization Reference: log-group "arn:${Partition}:logs:${Region}:${Account}:
# log-group:${LogGroupName}", log-stream "...:log-group:${LogGroupName}:log-stream:
# ${LogStreamName}"; GetLogEvents, PutLogEvents, CreateLogStream and
# DeleteLogStream on log-stream*; DescribeLogStreams, FilterLogEvents and the other
# log group operations below on log-group*; DescribeLogGroups on none ("*").
#   https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazoncloudwatchlogs.html
# The ARN AWS evaluates (and names in AccessDeniedException, HTTP 400) for a
# log-group* action is the group's ARN with an empty stream,
# "arn:aws:logs:R:A:log-group:G:log-stream:" (prowler-cloud/prowler#37, for
# DescribeMetricFilters), and for DescribeLogGroups "arn:aws:logs:R:A:log-group::
# log-stream:" (hashicorp/terraform-provider-aws#8804,
# FormidableLabs/terraform-aws-serverless#49); so "log-group:G:*" (what the
# CloudWatch Logs guide says to write for "all other API actions",
# https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/iam-access-control-overview-cwl.html)
# and AWS's own "log-group:RDS*:log-stream:*" (AmazonRDSEnhancedMonitoringRole,
# DescribeLogStreams and GetLogEvents) both match it.
LOGS_STREAM_ACTIONS = frozenset({"GetLogEvents", "PutLogEvents", "CreateLogStream", "DeleteLogStream"})
LOGS_GROUP_ACTIONS = frozenset(
    {
        "AssociateKmsKey", "CreateExportTask", "CreateLogGroup", "DeleteLogGroup", "DeleteMetricFilter",
        "DeleteRetentionPolicy", "DeleteSubscriptionFilter", "DescribeLogStreams", "DescribeMetricFilters",
        "DescribeSubscriptionFilters", "DisassociateKmsKey", "FilterLogEvents", "GetLogGroupFields",
        "ListTagsLogGroup", "PutMetricFilter", "PutRetentionPolicy", "PutSubscriptionFilter", "TagLogGroup",
        "UntagLogGroup",
    }
)
_LOG_GROUP_ARN = re.compile(r"^arn:aws[\w-]*:logs:[^:]*:\d{12}:log-group:(.+?)(?::\*)?$")


def logs_resource(call: Call) -> str:
    p, op = call.params, call.operation
    base = f"arn:aws:logs:{call.region}:{call.account}:log-group:"
    if op == "DescribeLogGroups":
        return f"{base}:log-stream:"
    group = p.get("logGroupName")
    identifier = p.get("logGroupIdentifier")
    if not group and isinstance(identifier, str):
        match = _LOG_GROUP_ARN.match(identifier)
        group = match.group(1) if match else identifier
    if not isinstance(group, str) or not group:
        return "*"
    if op in LOGS_STREAM_ACTIONS:
        return f"{base}{group}:log-stream:{p.get('logStreamName') or ''}"
    if op in LOGS_GROUP_ACTIONS:
        return f"{base}{group}:log-stream:"
    return "*"


# Roles passed to a service: (role, service principal it is passed to).
# https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_use_passrole.html
def passed_roles(call: Call) -> list[tuple[str, str]]:
    p, op = call.params, call.operation
    roles: list[tuple[str, str]] = []
    if call.service == "states" and op in ("CreateStateMachine", "UpdateStateMachine"):
        if p.get("roleArn"):
            roles.append((p["roleArn"], "states.amazonaws.com"))
    elif call.service == "batch" and op == "RegisterJobDefinition":
        container = p.get("containerProperties") or {}
        for field in ("jobRoleArn", "executionRoleArn"):
            if isinstance(container, dict) and container.get(field):
                roles.append((container[field], "ecs-tasks.amazonaws.com"))
        ecs = p.get("ecsProperties") or {}
        for task in _as_list(ecs.get("taskProperties") if isinstance(ecs, dict) else None):
            for field in ("taskRoleArn", "executionRoleArn"):
                if isinstance(task, dict) and task.get(field):
                    roles.append((task[field], "ecs-tasks.amazonaws.com"))
    elif call.service == "batch" and op in ("CreateComputeEnvironment", "UpdateComputeEnvironment"):
        if p.get("serviceRole"):
            roles.append((p["serviceRole"], "batch.amazonaws.com"))
        compute = p.get("computeResources") or {}
        if isinstance(compute, dict):
            if compute.get("spotIamFleetRole"):
                roles.append((compute["spotIamFleetRole"], "spotfleet.amazonaws.com"))
            instance = compute.get("instanceRole") or ""
            if ":role/" in instance:
                roles.append((instance, "ec2.amazonaws.com"))
    out = []
    for role, service in roles:
        arn = role_arn(role, call.account)
        # A service-linked role is used by its service directly; no PassRole.
        # https://docs.aws.amazon.com/IAM/latest/UserGuide/using-service-linked-roles.html
        if ":role/aws-service-role/" in arn:
            continue
        out.append((arn, service))
    return out


# --------------------------------------------------------------------------
# Step Functions assuming its role: propagation delay and trust policy.
# AWS answers CreateStateMachine/UpdateStateMachine with AccessDeniedException
# (HTTP 400) and this message both while a new role (or a new trust policy)
# propagates and when the trust policy does not allow states.amazonaws.com:
# https://docs.aws.amazon.com/step-functions/latest/dg/procedure-create-iam-role.html
# https://docs.aws.amazon.com/IAM/latest/UserGuide/troubleshoot_general.html#troubleshoot_general_eventual-consistency
CANNOT_ASSUME = (
    "Neither the global service principal states.amazonaws.com, nor the regional one "
    "is authorized to assume the provided role."
)
CHANGED_AT = "_batchnotify_trust_changed_at"


def trust_document(role: Any) -> Any:
    document = role.assume_role_policy_document
    try:
        return json.loads(document) if isinstance(document, str) else document
    except ValueError:
        try:
            return json.loads(unquote(document))
        except ValueError:
            return None


def trust_allows(role: Any, service: str, region: str, context: dict[str, str]) -> bool:
    policy = trust_document(role)
    if policy is None:
        return False
    names = {service, service.replace(".amazonaws.com", f".{region}.amazonaws.com")}
    allowed = False
    for statement in _as_list(policy.get("Statement") if isinstance(policy, dict) else None):
        if not isinstance(statement, dict):
            continue
        if not any(action_matches(a, "sts:AssumeRole") for a in _as_list(statement.get("Action"))):
            continue
        principal = statement.get("Principal")
        if principal == "*":
            matches = True
        elif isinstance(principal, dict):
            matches = bool(names & set(_as_list(principal.get("Service")))) or "*" in _as_list(
                principal.get("AWS")
            )
        else:
            matches = False
        if not matches or not conditions_match(statement.get("Condition"), context):
            continue
        if str(statement.get("Effect", "")).lower() == "deny":
            return False
        allowed = allowed or str(statement.get("Effect", "")).lower() == "allow"
    return allowed


def record_trust_changes() -> None:
    """Stamp each role when its trust policy is set (CreateRole, UpdateAssumeRolePolicy)."""
    from moto.iam.models import IAMBackend

    if getattr(IAMBackend, "_batchnotify_patched", False):
        return
    original_create = IAMBackend.create_role
    original_update = IAMBackend.update_assume_role_policy

    def create_role(self: Any, *args: Any, **kwargs: Any) -> Any:
        role = original_create(self, *args, **kwargs)
        setattr(role, CHANGED_AT, time.monotonic())
        return role

    def update_assume_role_policy(self: Any, role_name: str, policy_document: str) -> None:
        original_update(self, role_name, policy_document)
        setattr(self.get_role(role_name), CHANGED_AT, time.monotonic())

    IAMBackend.create_role = create_role
    IAMBackend.update_assume_role_policy = update_assume_role_policy
    IAMBackend._batchnotify_patched = True


# --------------------------------------------------------------------------
# STS AssumeRole: validation, trust policy and identity policy (sts-trust),
# session tags, and the lifetime of the credentials (sts-expiry).
#   https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRole.html
#   https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_common-scenarios_third-party.html
#   https://docs.aws.amazon.com/IAM/latest/UserGuide/id_session-tags.html
#   https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic-cross-account.html

# Attributes this module puts on moto's AssumedRole (moto keeps no tags).
SESSION_TAGS = "_batchnotify_tags"
SESSION_TRANSITIVE = "_batchnotify_transitive_tag_keys"
SESSION_ISSUED = "_batchnotify_issued"

# API_AssumeRole.html, Request Parameters: RoleSessionName "Length
# Constraints: Minimum length of 2. Maximum length of 64. Pattern: [\w+=,.@-]*";
# ExternalId "Minimum length of 2. Maximum length of 1224. Pattern:
# [\w+=,.@:\/-]*"; DurationSeconds "Minimum value of 900. Maximum value of
# 43200"; RoleArn "Minimum length of 20. Maximum length of 2048"; Tags "Array
# Members: Maximum number of 50 items"; TransitiveTagKeys likewise.
# Tag (API_Tag.html): Key 1..128 characters, Value 0..256.
#   https://docs.aws.amazon.com/STS/latest/APIReference/API_Tag.html
SESSION_NAME_PATTERN = r"[\w+=,.@-]*"
EXTERNAL_ID_PATTERN = r"[\w+=,.@:\/-]*"
MIN_DURATION, MAX_DURATION = 900, 43200
# "Role chaining limits your AWS CLI or AWS API role session to a maximum of
# one hour." (API_AssumeRole.html, DurationSeconds)
CHAINED_MAX_DURATION = 3600
# The errors AWS answers (ValidationError, HTTP 400), as clients report them.
EXCEEDS_MAX_SESSION = "The requested DurationSeconds exceeds the MaxSessionDuration set for this role."
EXCEEDS_CHAINING = (
    "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining."
)
# The root user cannot call AssumeRole ("You must use credentials for an IAM
# user or an IAM role to call AssumeRole", API_AssumeRole.html); AWS answers
# AccessDenied with this message.
ROOT_CANNOT_ASSUME = "Roles may not be assumed by root accounts."


def _members(params: dict[str, Any], prefix: str) -> list[str]:
    """The query protocol's list members: Prefix.member.1, Prefix.member.2, ..."""
    found = []
    for name, value in params.items():
        match = re.fullmatch(re.escape(prefix) + r"\.member\.(\d+)", name)
        if match:
            found.append((int(match.group(1)), str(value)))
    return [value for _, value in sorted(found)]


def session_tags(params: dict[str, Any]) -> list[tuple[str, str]]:
    """Tags.member.N.Key / .Value, in order."""
    found: dict[int, dict[str, str]] = {}
    for name, value in params.items():
        match = re.fullmatch(r"Tags\.member\.(\d+)\.(Key|Value)", name)
        if match:
            found.setdefault(int(match.group(1)), {})[match.group(2)] = str(value)
    return [(t.get("Key", ""), t.get("Value", "")) for _, t in sorted(found.items())]


def _constraint(errors: list[str], value: Any, member: str, constraint: str) -> None:
    errors.append(f"Value '{value}' at '{member}' failed to satisfy constraint: Member {constraint}")


def validate_assume_role(params: dict[str, Any]) -> str | None:
    """AWS's validation message for an AssumeRole request, or None when valid
    ("1 validation error detected: Value '...' at 'roleSessionName' failed to
    satisfy constraint: ...", several joined with '; ')."""
    errors: list[str] = []
    arn = params.get("RoleArn")
    if arn is not None and not 20 <= len(arn) <= 2048:
        _constraint(errors, arn, "roleArn", "must have length " + (
            "greater than or equal to 20" if len(arn) < 20 else "less than or equal to 2048"))
    name = params.get("RoleSessionName")
    if name is not None:
        if len(name) < 2:
            _constraint(errors, name, "roleSessionName", "must have length greater than or equal to 2")
        elif len(name) > 64:
            _constraint(errors, name, "roleSessionName", "must have length less than or equal to 64")
        if not re.fullmatch(SESSION_NAME_PATTERN, name):
            _constraint(errors, name, "roleSessionName",
                        f"must satisfy regular expression pattern: {SESSION_NAME_PATTERN}")
    external = params.get("ExternalId")
    if external is not None:
        if len(external) < 2:
            _constraint(errors, external, "externalId", "must have length greater than or equal to 2")
        elif len(external) > 1224:
            _constraint(errors, external, "externalId", "must have length less than or equal to 1224")
        if not re.fullmatch(EXTERNAL_ID_PATTERN, external):
            _constraint(errors, external, "externalId",
                        f"must satisfy regular expression pattern: {EXTERNAL_ID_PATTERN}")
    duration = params.get("DurationSeconds")
    if duration is not None:
        try:
            seconds = int(duration)
        except ValueError:
            seconds = None
        if seconds is None:
            _constraint(errors, duration, "durationSeconds", "must be an integer")
        elif seconds < MIN_DURATION:
            _constraint(errors, duration, "durationSeconds", f"must have value greater than or equal to {MIN_DURATION}")
        elif seconds > MAX_DURATION:
            _constraint(errors, duration, "durationSeconds", f"must have value less than or equal to {MAX_DURATION}")
    tags = session_tags(params)
    if len(tags) > 50:
        _constraint(errors, "[...]", "tags", "must have length less than or equal to 50")
    for i, (key, value) in enumerate(tags, 1):
        if not 1 <= len(key) <= 128:
            _constraint(errors, key, f"tags.{i}.member.key", "must have length less than or equal to 128"
                        if key else "must have length greater than or equal to 1")
        if len(value) > 256:
            _constraint(errors, value, f"tags.{i}.member.value", "must have length less than or equal to 256")
    if len(_members(params, "TransitiveTagKeys")) > 50:
        _constraint(errors, "[...]", "transitiveTagKeys", "must have length less than or equal to 50")
    if not errors:
        return None
    count = f"{len(errors)} validation error{'s' if len(errors) > 1 else ''} detected: "
    return count + "; ".join(errors)


def principal_matches(principal: Any, identity: Identity) -> tuple[bool, bool]:
    """Whether a trust statement's Principal names the caller, and whether it
    names the caller itself (its user or role ARN, or its session's ARN)
    rather than its whole account ("123456789012", "arn:aws:iam::123456789012:root")
    or everyone ("*").
    https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_principal.html"""
    if principal == "*":
        return True, False
    if not isinstance(principal, dict):
        return False, False
    found, named = False, False
    for entry in _as_list(principal.get("AWS")):
        entry = str(entry)
        if entry == "*":
            found = True
        elif entry in (identity.account, f"arn:aws:iam::{identity.account}:root"):
            found = True
        elif entry in (identity.principal_arn, identity.arn):
            found = named = True
    return found, named


def trust_decision(policy: Any, action: str, identity: Identity, context: dict[str, Any]) -> tuple[str, bool]:
    """('allow' | 'deny' | 'implicit', whether an allowing statement names the
    caller itself). NotPrincipal is not modelled: such statements never match."""
    allowed = named = False
    for statement in _as_list(policy.get("Statement") if isinstance(policy, dict) else None):
        if not isinstance(statement, dict) or "NotPrincipal" in statement:
            continue
        if "NotAction" in statement:
            if any(action_matches(a, action) for a in _as_list(statement["NotAction"])):
                continue
        elif not any(action_matches(a, action) for a in _as_list(statement.get("Action"))):
            continue
        found, names_caller = principal_matches(statement.get("Principal"), identity)
        if not found or not conditions_match(statement.get("Condition"), context):
            continue
        effect = str(statement.get("Effect", "")).lower()
        if effect == "deny":
            return "deny", False
        if effect == "allow":
            allowed = True
            named = named or names_caller
    return ("allow" if allowed else "implicit"), named


def assume_role_context(call: Call, identity: Identity) -> dict[str, Any]:
    """The request context of an AssumeRole call: the caller's keys and the
    request's (sts:ExternalId, sts:RoleSessionName, aws:RequestTag/K,
    aws:TagKeys, sts:TransitiveTagKeys).
    https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_iam-condition-keys.html"""
    p = call.params
    context = dict(principal_context(identity), **{"aws:requestedregion": call.region})
    for param, key in (("ExternalId", "sts:externalid"), ("RoleSessionName", "sts:rolesessionname"),
                       ("SourceIdentity", "sts:sourceidentity")):
        if p.get(param) is not None:
            context[key] = p[param]
    tags = session_tags(p)
    for key, value in tags:
        context[f"aws:requesttag/{key.lower()}"] = value
    if tags:
        context["aws:tagkeys"] = [key for key, _ in tags]
    transitive = _members(p, "TransitiveTagKeys")
    if transitive:
        context["sts:transitivetagkeys"] = transitive
    return context


def plain_denied_message(principal: str, action: str, resource: str) -> str:
    # AWS's AssumeRole refusal when the role's trust policy (or the role's
    # absence) refuses: no "because ..." clause.
    return f"User: {principal} is not authorized to perform: {action} on resource: {resource}"


def install_sts(args: Any) -> None:
    """Session tags on moto's AssumedRole (moto ignores them), when it was
    issued, transitive tags inherited through role chaining, and the lifetime
    cap of --assumed-role-seconds (the Expiration AssumeRole answers follows it)."""
    from moto.core.utils import utcnow
    from moto.sts.models import STSBackend
    from moto.sts.responses import TokenResponse

    if getattr(TokenResponse, "_batchnotify_sts", False):
        return
    cap = getattr(args, "assumed_role_seconds", None)
    original_backend = STSBackend.assume_role
    original_response = TokenResponse.assume_role

    def assume_role(self: Any, *a: Any, **kwargs: Any) -> Any:
        if cap is not None and kwargs.get("duration") is not None:
            kwargs["duration"] = min(float(kwargs["duration"]), float(cap))
        return original_backend(self, *a, **kwargs)

    def response_assume_role(self: Any) -> Any:
        caller = find_session(self.current_account, self.get_access_key())
        result = original_response(self)
        session = result.result["Credentials"]
        flat = {k: v[0] for k, v in self.querystring.items() if v}
        # "the new session inherits any transitive session tags from the
        # calling session" (id_session-tags.html, Chaining roles with session tags)
        inherited = getattr(caller, SESSION_TAGS, None) or {}
        inherited_keys = getattr(caller, SESSION_TRANSITIVE, None) or []
        tags = {k: v for k, v in inherited.items() if k.lower() in {t.lower() for t in inherited_keys}}
        tags.update(dict(session_tags(flat)))
        setattr(session, SESSION_TAGS, tags)
        setattr(session, SESSION_TRANSITIVE, list(inherited_keys) + _members(flat, "TransitiveTagKeys"))
        setattr(session, SESSION_ISSUED, utcnow())
        return result

    STSBackend.assume_role = assume_role
    TokenResponse.assume_role = response_assume_role
    TokenResponse._batchnotify_sts = True


def principals() -> dict[str, dict[str, Any]]:
    """Each access key the emulator knows: its principal's ARN and account
    (root key, IAM users' keys, assumed roles' session keys)."""
    from moto.iam.models import iam_backends
    from moto.sts.models import sts_backends

    out: dict[str, dict[str, Any]] = {
        ROOT_KEY: {"arn": f"arn:aws:iam::{DEFAULT_ACCOUNT}:root", "account": DEFAULT_ACCOUNT, "type": "root"}
    }
    for account, per_account in list(iam_backends.items()):
        for backend in list(per_account.values()):
            for key_id, key in list(backend.access_keys.items()):
                if not key.user_name:
                    continue
                try:
                    arn = backend.get_user(key.user_name).arn
                except Exception:
                    continue
                out[key_id] = {"arn": arn, "account": account, "type": "user"}
    for account, per_account in list(sts_backends.items()):
        for backend in list(per_account.values()):
            for session in list(backend.assumed_roles):
                out[session.access_key_id] = {
                    "arn": session.arn,
                    "account": session.account_id,
                    "type": "assumed-role",
                    "role": session.role_arn,
                    "expiration": session.expiration.strftime("%Y-%m-%dT%H:%M:%SZ"),
                }
    return out


# --------------------------------------------------------------------------
# Quotas: token buckets (bucket size, refill per second).

# Step Functions publishes its own table ("Quotas related to API action
# throttling"), first figure for us-east-1, us-west-2 and eu-west-1, second
# for all other regions:
# https://docs.aws.amazon.com/step-functions/latest/dg/service-quotas.html#service-limits-api-action-throttling-general
SFN_BIG_REGIONS = ("us-east-1", "us-west-2", "eu-west-1")
SFN_QUOTAS: dict[str, tuple[tuple[float, float], tuple[float, float]]] = {
    "CreateActivity": ((100, 1), (100, 1)),
    "CreateStateMachine": ((100, 1), (100, 1)),
    "DeleteActivity": ((100, 1), (100, 1)),
    "DeleteStateMachine": ((100, 1), (100, 1)),
    "DescribeActivity": ((200, 1), (200, 1)),
    "DescribeExecution": ((300, 15), (250, 10)),
    "DescribeStateMachine": ((200, 20), (200, 20)),
    "DescribeStateMachineForExecution": ((200, 1), (200, 1)),
    "GetActivityTask": ((3000, 500), (1500, 300)),
    "GetExecutionHistory": ((400, 20), (400, 20)),
    "ListActivities": ((100, 10), (100, 5)),
    "ListExecutions": ((200, 5), (100, 2)),
    "ListStateMachines": ((100, 5), (100, 5)),
    "ListTagsForResource": ((100, 1), (100, 1)),
    "SendTaskFailure": ((3000, 500), (1500, 300)),
    "SendTaskHeartbeat": ((3000, 500), (1500, 300)),
    "SendTaskSuccess": ((3000, 500), (1500, 300)),
    "StartExecution": ((1300, 300), (800, 150)),
    "StopExecution": ((1000, 200), (500, 25)),
    "TagResource": ((200, 1), (200, 1)),
    "UntagResource": ((200, 1), (200, 1)),
    "UpdateStateMachine": ((100, 1), (100, 1)),
}
# Batch: "The maximum number of transactions per second (TPS) for each account
# for AWS Batch API calls, including the SubmitJob operations, is 50."
# https://repost.aws/knowledge-center/aws-batch-requests-error
# https://docs.aws.amazon.com/batch/latest/userguide/service_limits.html
BATCH_QUOTA = (50.0, 50.0)
# SNS: the API reference states some actions' rates ("This action is
# throttled at N transactions per second (TPS)"; "Tagging actions are limited
# to 10 TPS per Amazon Web Services account, per Amazon Web Services Region"):
#   https://docs.aws.amazon.com/sns/latest/api/API_Subscribe.html            100
#   https://docs.aws.amazon.com/sns/latest/api/API_Unsubscribe.html          100
#   https://docs.aws.amazon.com/sns/latest/api/API_ListSubscriptionsByTopic.html 30
#   https://docs.aws.amazon.com/sns/latest/api/API_ListTopics.html           30
#   https://docs.aws.amazon.com/sns/latest/api/API_ListSubscriptions.html    30
#   https://docs.aws.amazon.com/sns/latest/api/API_TagResource.html          10 (tagging)
# The others (CreateTopic, DeleteTopic, Get/SetTopicAttributes) have figures in
# https://docs.aws.amazon.com/general/latest/gr/sns.html that could not be read
# from here: conservative 10 TPS for changes, 30 TPS for reads.
SNS_QUOTAS = {
    "Subscribe": (100.0, 100.0),
    "Unsubscribe": (100.0, 100.0),
    "ListSubscriptionsByTopic": (30.0, 30.0),
    "ListTopics": (30.0, 30.0),
    "ListSubscriptions": (30.0, 30.0),
    "TagResource": (10.0, 10.0),
    "UntagResource": (10.0, 10.0),
    "ListTagsForResource": (10.0, 10.0),
}
SNS_WRITE_QUOTA = (10.0, 10.0)
SNS_READ_QUOTA = (30.0, 30.0)
# CloudWatch Logs, per account per Region: GetLogEvents "10 requests per second
# per account per Region. This quota can't be changed."; FilterLogEvents "5
# transactions per second (TPS)/account/Region" (the quota table of the CloudWatch
# Logs User Guide, https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/cloudwatch_limits_cwl.html,
# as last published in awsdocs/amazon-cloudwatch-logs-user-guide); DescribeLogStreams
# "has a limit of 25 transactions per second, after which transactions are
# throttled" (https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_DescribeLogStreams.html).
# The bucket holds one second's worth.
LOGS_QUOTAS = {
    "GetLogEvents": (10.0, 10.0),
    "FilterLogEvents": (5.0, 5.0),
    "DescribeLogStreams": (25.0, 25.0),
}
# IAM throttles with token buckets per API but publishes no figures
# (https://repost.aws/knowledge-center/iam-sts-throttling-error); conservative:
# 10 bucket / 5 per second for changes, 20 / 10 for reads.
IAM_WRITE_QUOTA = (10.0, 5.0)
IAM_READ_QUOTA = (20.0, 10.0)


def quota_for(service: str, operation: str, region: str) -> tuple[float, float] | None:
    if service == "states":
        figures = SFN_QUOTAS.get(operation)
        if figures is None:
            return None
        return figures[0] if region in SFN_BIG_REGIONS else figures[1]
    reads = operation.startswith(("Get", "List", "Describe"))
    if service == "batch":
        return BATCH_QUOTA
    if service == "sns":
        return SNS_QUOTAS.get(operation, SNS_READ_QUOTA if reads else SNS_WRITE_QUOTA)
    if service == "iam":
        return IAM_READ_QUOTA if reads else IAM_WRITE_QUOTA
    if service == "logs":
        return LOGS_QUOTAS.get(operation)
    return None


# Throttling errors:
#   Step Functions: ThrottlingException "Rate exceeded", HTTP 400
#     https://docs.aws.amazon.com/step-functions/latest/apireference/CommonErrors.html
#   Batch: TooManyRequestsException "Too Many Requests", HTTP 429
#     https://repost.aws/knowledge-center/aws-batch-requests-error
#   SNS: ThrottlingException "Rate exceeded" (XML), HTTP 400
#     https://repost.aws/knowledge-center/sns-throttling-exception-errors
#   IAM: Throttling "Rate exceeded" (XML), HTTP 400
#     https://repost.aws/knowledge-center/iam-sts-throttling-error
#   CloudWatch Logs: ThrottlingException "Rate exceeded" (JSON), HTTP 400
#     https://repost.aws/knowledge-center/cloudwatch-logs-throttling
def throttled_response(start_response: Any, call: Call) -> list[bytes]:
    if call.service == "batch":
        return error_response(start_response, call, "TooManyRequestsException", "Too Many Requests", 429)
    if call.service == "iam":
        return error_response(start_response, call, "Throttling", "Rate exceeded", 400)
    return error_response(start_response, call, "ThrottlingException", "Rate exceeded", 400)


class Buckets:
    def __init__(self, scale: float) -> None:
        self.scale = scale
        self.lock = threading.Lock()
        self.state: dict[tuple[str, str, str, str], tuple[float, float]] = {}
        self.throttled: dict[str, dict[str, int]] = {}

    def take(self, call: Call) -> bool:
        quota = quota_for(call.service, call.operation, call.region)
        if quota is None:
            return True
        # Never below one token: a scaled-down API stays callable, slowly.
        size, rate = max(1.0, quota[0] * self.scale), quota[1] * self.scale
        region = "global" if call.service == "iam" else call.region
        key = (call.account, region, call.service, call.operation)
        now = time.monotonic()
        with self.lock:
            tokens, last = self.state.get(key, (size, now))
            tokens = min(size, tokens + (now - last) * rate)
            if tokens >= 1:
                self.state[key] = (tokens - 1, now)
                return True
            self.state[key] = (tokens, now)
            per_key = self.throttled.setdefault(call.key, {})
            per_key[call.action] = per_key.get(call.action, 0) + 1
            return False


# --------------------------------------------------------------------------
# The middleware.

_CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/[^/]+/([^/]+)/([^/]+)/")


def _json(start_response: Any, value: Any) -> list[bytes]:
    body = json.dumps(value).encode()
    return _send(start_response, 200, [("Content-Type", "application/json")], body)


class StrictAccess:
    """WSGI middleware applying the access rules before moto sees a request."""

    def __init__(self, app: Any, args: Any) -> None:
        self.app = app
        self.on = {name: _rule_on(args, name) for name in RULES}
        self.propagation = _delay(args, "iam-propagation")
        self.buckets = Buckets(getattr(args, "quota_scale", 1.0))

    def throttles(self, environ: dict, start_response: Any) -> list[bytes]:
        with self.buckets.lock:
            if environ.get("REQUEST_METHOD") == "DELETE":
                self.buckets.throttled.clear()
            counts = json.loads(json.dumps(self.buckets.throttled))
        return _json(start_response, counts)

    def __call__(self, environ: dict, start_response: Any) -> Any:
        if environ.get("PATH_INFO") == THROTTLES_PATH:
            return self.throttles(environ, start_response)
        credential = environ.get("HTTP_AUTHORIZATION", "")
        if "Credential=" not in credential and "X-Amz-Credential=" in environ.get("QUERY_STRING", ""):
            credential = unquote(environ["QUERY_STRING"]).replace("X-Amz-Credential=", "Credential=")
        match = _CREDENTIAL.search(credential)
        if not match:
            return self.app(environ, start_response)
        key, region, scope = match.groups()
        account = request_account(key, environ)
        call = Call(environ, key, region, scope, account)
        if call.protocol not in ("json", "query", "rest-json") or not call.operation:
            return self.app(environ, start_response)

        identity = None
        if key not in EXEMPT_KEYS:
            identity = find_identity(key, environ.get("HTTP_X_AMZ_SECURITY_TOKEN"), account)
            if identity is None:
                if self.on["unknown-key"]:
                    return unknown_key_response(start_response, call)
            else:
                if self.on["sts-expiry"] and self.expired(identity):
                    return expired_response(start_response, call)
                if self.on["quotas"] and not self.buckets.take(call):
                    return throttled_response(start_response, call)
                refused = self.authorize(call, identity, start_response)
                if refused is not None:
                    return refused
        refused = self.check_assume(call, start_response)
        if refused is None and self.on["sts-trust"]:
            refused = self.check_sts_assume(call, identity, start_response)
        if refused is not None:
            return refused
        return self.app(environ, start_response)

    @staticmethod
    def expired(identity: Identity) -> bool:
        from moto.core.utils import utcnow

        expiration = identity.expiration
        return expiration is not None and utcnow() >= expiration.replace(tzinfo=None)

    def authorize(self, call: Call, identity: Identity, start_response: Any) -> Any:
        # "You don't need permission to perform this operation." (GetCallerIdentity)
        # https://docs.aws.amazon.com/STS/latest/APIReference/API_GetCallerIdentity.html
        if call.service == "sts" and call.operation == "GetCallerIdentity":
            return None
        context = dict(
            principal_context(identity),
            **{"aws:requestedregion": call.region, "aws:securetransport": "false"},
        )
        # Service-specific condition keys the operator's policy uses.
        # https://docs.aws.amazon.com/service-authorization/latest/reference/list_awsidentityandaccessmanagementiam.html#awsidentityandaccessmanagementiam-policy-keys
        if call.service == "iam" and call.params.get("PolicyArn"):
            context["iam:policyarn"] = call.params["PolicyArn"]
        if call.service == "iam" and call.params.get("AWSServiceName"):
            context["iam:awsservicename"] = call.params["AWSServiceName"]
        # sts-trust evaluates AssumeRole's identity side with its trust policy.
        assume = call.service == "sts" and call.operation == "AssumeRole" and self.on["sts-trust"]
        if self.on["iam"] and not assume:
            for resource in resources(call):
                verdict = evaluate(identity.documents, call.action, resource, context)
                if verdict != "allow":
                    return denied_response(
                        start_response, call, identity.arn, call.action, resource, verdict == "deny"
                    )
        if self.on["pass-role"]:
            for role, service in passed_roles(call):
                verdict = evaluate(
                    identity.documents,
                    "iam:PassRole",
                    role,
                    dict(context, **{"iam:passedtoservice": service}),
                )
                if verdict != "allow":
                    # Step Functions and Batch both answer AccessDeniedException
                    # naming iam:PassRole (400 for awsJson, 403 for restJson).
                    return denied_response(
                        start_response, call, identity.arn, "iam:PassRole", role, verdict == "deny"
                    )
        return None

    def check_sts_assume(self, call: Call, identity: Identity | None, start_response: Any) -> Any:
        """sts-trust. Within one account a role's trust policy alone may let a
        principal it names assume the role; otherwise (it names the account, or
        the caller is in another account) the caller's identity-based policies
        must allow the action too. An explicit deny on either side refuses.
        "IAM role trust policies ... must explicitly allow access for principals."
        https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html
        https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic-cross-account.html
        Passing session tags (Tags, TransitiveTagKeys) needs sts:TagSession on
        both sides as well.
        https://docs.aws.amazon.com/IAM/latest/UserGuide/id_session-tags.html#id_session-tags_permissions-required"""
        if call.service != "sts" or call.operation != "AssumeRole" or call.key == INTERPRETER_KEY:
            return None
        p = call.params
        invalid = validate_assume_role(p)
        if invalid:
            return error_response(start_response, call, "ValidationError", invalid, 400)
        if identity is None:
            if call.key == ROOT_KEY:
                return error_response(start_response, call, "AccessDenied", ROOT_CANNOT_ASSUME, 403)
            return None  # an unknown key, with unknown-key off: moto's behaviour
        arn = str(p.get("RoleArn") or "")
        role = find_role(arn) if _ROLE_ARN.match(arn) else None
        role_account = _ROLE_ARN.match(arn).group(1) if role is not None else None
        policy = trust_document(role) if role is not None else None
        context = assume_role_context(call, identity)
        actions = ["sts:AssumeRole"]
        if session_tags(p) or _members(p, "TransitiveTagKeys"):
            actions.append("sts:TagSession")
        for action in actions:
            if self.on["iam"]:
                mine = evaluate(identity.documents, action, arn, context)
            else:
                mine = "allow"
            if mine == "deny":
                return denied_response(start_response, call, identity.arn, action, arn, True)
            if policy is None:  # no such role: AWS does not say so
                return error_response(
                    start_response, call, "AccessDenied", plain_denied_message(identity.arn, action, arn), 403
                )
            trusted, named = trust_decision(policy, action, identity, context)
            if trusted != "allow":
                return error_response(
                    start_response, call, "AccessDenied", plain_denied_message(identity.arn, action, arn), 403
                )
            if mine != "allow" and not (named and role_account == identity.account):
                return denied_response(start_response, call, identity.arn, action, arn, False)
        if p.get("DurationSeconds") is not None:
            asked = int(p["DurationSeconds"])
            if identity.kind == "assumed-role" and asked > CHAINED_MAX_DURATION:
                return error_response(start_response, call, "ValidationError", EXCEEDS_CHAINING, 400)
            try:
                most = int(role.max_session_duration or 3600)
            except (TypeError, ValueError):
                most = 3600
            if asked > most:
                return error_response(start_response, call, "ValidationError", EXCEEDS_MAX_SESSION, 400)
        return None

    def check_assume(self, call: Call, start_response: Any) -> Any:
        if call.service != "states" or call.operation not in ("CreateStateMachine", "UpdateStateMachine"):
            return None
        arn = call.params.get("roleArn")
        if not arn or not (self.on["iam-propagation"] or self.on["trust-policy"]):
            return None
        role = find_role(arn, call.account)
        if self.on["trust-policy"]:
            machine = (
                call.params.get("stateMachineArn")
                or f"arn:aws:states:{call.region}:{call.account}:stateMachine:{call.params.get('name', '')}"
            )
            context = {"aws:sourceaccount": call.account, "aws:sourcearn": machine}
            # A role that does not exist cannot be assumed either.
            if role is None or not trust_allows(role, "states.amazonaws.com", call.region, context):
                return error_response(start_response, call, "AccessDeniedException", CANNOT_ASSUME, 400)
        if self.on["iam-propagation"] and role is not None:
            changed = getattr(role, CHANGED_AT, None)
            if changed is not None and time.monotonic() - changed < self.propagation:
                return error_response(start_response, call, "AccessDeniedException", CANNOT_ASSUME, 400)
        return None


# --------------------------------------------------------------------------
# Paging. AWS pages every List/Describe the operator uses; moto pages some
# (ListExecutions, ListStateMachines: maxResults/nextToken, default 100;
# ListSubscriptionsByTopic: 100 a page) and not others (GetExecutionHistory,
# Batch DescribeJobDefinitions/DescribeJobQueues/DescribeComputeEnvironments).
#   https://docs.aws.amazon.com/step-functions/latest/apireference/API_ListExecutions.html
#   https://docs.aws.amazon.com/step-functions/latest/apireference/API_GetExecutionHistory.html
#   https://docs.aws.amazon.com/batch/latest/APIReference/API_DescribeJobQueues.html
#   https://docs.aws.amazon.com/sns/latest/api/API_ListSubscriptionsByTopic.html


def _encode_token(kind: str, offset: int) -> str:
    raw = json.dumps({"kind": kind, "offset": offset}).encode()
    return base64.urlsafe_b64encode(raw).decode()


def _decode_token(kind: str, token: str) -> int | None:
    try:
        data = json.loads(base64.urlsafe_b64decode(token.encode()))
        if data.get("kind") == kind and int(data["offset"]) >= 0:
            return int(data["offset"])
    except (ValueError, TypeError, KeyError, AttributeError):
        pass
    return None


def _page(kind: str, items: list, max_results: Any, token: Any, page_size: int, bad_token: Callable[[], Exception]) -> tuple[list, str | None]:
    size = page_size
    try:
        if max_results not in (None, "", 0) and 0 < int(max_results) < size:
            size = int(max_results)
    except (TypeError, ValueError):
        pass
    offset = 0
    if token:
        decoded = _decode_token(kind, str(token))
        if decoded is None:
            raise bad_token()
        offset = decoded
    page = items[offset : offset + size]
    more = offset + size < len(items)
    return page, _encode_token(kind, offset + size) if more else None


def patch_paging(page_size: int) -> None:
    from moto.batch.exceptions import ClientException
    from moto.batch.responses import BatchResponse
    from moto.core.responses import ActionResult
    from moto.sns.models import SNSBackend
    from moto.stepfunctions.exceptions import InvalidToken
    from moto.stepfunctions.models import StepFunctionBackend
    from moto.stepfunctions.responses import StepFunctionResponse

    if getattr(StepFunctionResponse, "_batchnotify_paged", False):
        return

    def clamp(value: Any) -> int:
        try:
            return min(int(value), page_size) if value else page_size
        except (TypeError, ValueError):
            return page_size

    # moto pages these itself: only the page size changes.
    for name in ("list_executions", "list_state_machines"):
        original = getattr(StepFunctionBackend, name)

        def paged(self: Any, *args: Any, _original: Any = original, **kwargs: Any) -> Any:
            kwargs["max_results"] = clamp(kwargs.get("max_results"))
            return _original(self, *args, **kwargs)

        setattr(StepFunctionBackend, name, paged)

    original_history = StepFunctionResponse.get_execution_history

    def get_execution_history(self: Any) -> Any:
        result = original_history(self)
        output = dict(result.result if isinstance(result, ActionResult) else result)
        events = list(output.get("events") or [])
        if self._get_param("reverseOrder"):
            events.reverse()
        output["events"], token = _page(
            "GetExecutionHistory",
            events,
            self._get_param("maxResults"),
            self._get_param("nextToken"),
            page_size,
            lambda: InvalidToken("Invalid token"),
        )
        output.pop("nextToken", None)
        if token:
            output["nextToken"] = token
        return ActionResult(output)

    StepFunctionResponse.get_execution_history = get_execution_history

    for method, key, kind in (
        ("describecomputeenvironments", "computeEnvironments", "DescribeComputeEnvironments"),
        ("describejobqueues", "jobQueues", "DescribeJobQueues"),
        ("describejobdefinitions", "jobDefinitions", "DescribeJobDefinitions"),
    ):
        original = getattr(BatchResponse, method)

        def describe(self: Any, _original: Any = original, _key: str = key, _kind: str = kind) -> str:
            output = json.loads(_original(self))
            output[_key], token = _page(
                _kind,
                list(output.get(_key) or []),
                self._get_param("maxResults"),
                self._get_param("nextToken"),
                page_size,
                lambda: ClientException("The nextToken is not valid."),
            )
            if token:
                output["nextToken"] = token
            return json.dumps(output)

        setattr(BatchResponse, method, describe)

    def list_subscriptions_by_topic(self: Any, topic_arn: str, next_token: str | None = None) -> Any:
        topic = self.get_topic(topic_arn)
        subscriptions = self._get_topic_subscriptions(topic)
        offset = int(next_token) if next_token and str(next_token).isdigit() else 0
        page = subscriptions[offset : offset + page_size]
        more = offset + page_size < len(subscriptions)
        return page, (offset + page_size if more else None)

    SNSBackend.list_subscriptions_by_topic = list_subscriptions_by_topic
    StepFunctionResponse._batchnotify_paged = True


# --------------------------------------------------------------------------
# Entry points used by moto_launcher.main().


def install(args: Any) -> None:
    """In-process patches; call before serving."""
    record_trust_changes()
    install_sts(args)
    if _rule_on(args, "paging"):
        patch_paging(max(1, int(getattr(args, "page_size", DEFAULT_PAGE_SIZE))))


def wrap(app: Any, args: Any) -> Any:
    return StrictAccess(app, args)
