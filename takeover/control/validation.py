"""What takeover accepts at every door (the API, Slack buttons, the CLI): one policy, one message.

Text is valid Unicode on one line (no NUL, no control or bidi-override characters) and bounded;
names follow one pattern; numbers are finite; durations and ids are in range; `args` are a
bounded JSON object. Each check raises ValueError with the message every door shows, so the same
bad value gets the same answer wherever it comes in. The pydantic types below carry the same
checks (and their JSON Schema, so the OpenAPI document says what is accepted). Pure: no I/O.
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from collections.abc import Callable
from typing import Annotated, Any

from pydantic import AfterValidator, Field, WithJsonSchema

from takeover.config.duration import parse_duration
from takeover.config.mode import ALL_AGENTS

MAX_NAME = 200  # agent, token and action names, args keys, idempotency keys
MAX_REASON = 1000  # reasons and comments: shown in Slack and in every control poll
MAX_ARGS_BYTES = 64 * 1024  # the JSON of an action's arguments
MAX_ARGS_DEPTH = 16  # nested objects and lists in args
MAX_ID = 2**63 - 1  # the largest database id (a signed 64-bit integer)
MAX_DURATION = 10 * 365 * 86400.0  # ten years: longer is a typo, not a plan
AGENT_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,199}$"
AGENT_RULE = ("an agent name is 1-200 characters of letters, digits, '_', '.', ':' and '-', "
              "starting with a letter or digit")
# action (tool) names reach Slack messages and their notification text: the same safe set as
# agent names plus '/' (MCP and framework tool names), so no markup, space or quote ever comes in
ACTION_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:/-]{0,199}$"
ACTION_RULE = ("an action name is 1-200 characters of letters, digits, '_', '.', ':', '/' and '-', "
               "starting with a letter or digit")
REQUEST_ID_PATTERN = r"^[A-Za-z0-9._-]{1,64}$"  # no ':': internal ids are `slack:U…`, `system:…`
APPROVAL_ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
ROLES_THAT_ANSWER = ("operator", "admin")

_AGENT_RE = re.compile(AGENT_PATTERN)
_ACTION_RE = re.compile(ACTION_PATTERN)
_REQUEST_ID_RE = re.compile(REQUEST_ID_PATTERN)
_APPROVAL_ID_RE = re.compile(APPROVAL_ID_PATTERN)
# bidi embeddings, overrides and isolates: they make text read differently than it is stored
_BIDI = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def check_text(value: str, *, max_length: int = MAX_REASON, blank_ok: bool = False) -> str:
    """`value` if it is valid one-line text of at most `max_length` characters."""
    if len(value) > max_length:
        raise ValueError(f"is longer than {max_length} characters")
    if not blank_ok and not value.strip():
        raise ValueError("must not be empty or only whitespace")
    for ch in value:
        category = unicodedata.category(ch)
        if category == "Cs":
            raise ValueError("is not valid Unicode (a lone surrogate)")
        if category == "Cc" or ch in _BIDI:
            raise ValueError(f"must be one line of text without control characters (found U+{ord(ch):04X})")
    return value


def check_agent(value: str) -> str:
    """`value` if it is an agent name (never `*`)."""
    if _AGENT_RE.fullmatch(value) is None:
        raise ValueError(f"{value[:60]!r} is not an agent name: {AGENT_RULE}")
    return value


def check_action(value: str) -> str:
    """`value` if it is an action name."""
    if _ACTION_RE.fullmatch(value) is None:
        raise ValueError(f"{value[:60]!r} is not an action name: {ACTION_RULE}")
    return value


def check_agent_scope(value: str) -> str:
    """An agent name, or `*` for every agent (where a route means all of them)."""
    return value if value == ALL_AGENTS else check_agent(value)


def check_id(value: str | int) -> int:
    """A database id: a whole number from 1 to 2^63-1."""
    text = str(value)
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= MAX_ID:
        raise ValueError(f"{text[:40]!r} is not an id (a whole number from 1 to {MAX_ID})")
    return int(text)


def check_approval_id(value: str) -> str:
    if _APPROVAL_ID_RE.fullmatch(value) is None:
        raise ValueError(f"{value[:40]!r} is not an approval id")
    return value


def check_responder(value: str) -> str:
    """`role:operator`, `role:admin` or `operator:NAME`: someone who can answer an approval."""
    kind, _, who = value.partition(":")
    if kind == "role" and who in ROLES_THAT_ANSWER:
        return value
    if kind == "operator" and who:
        check_text(who, max_length=MAX_NAME)
        return value
    if kind == "role":
        raise ValueError(f"{value[:60]!r} can answer nothing: only role:operator or role:admin answer approvals")
    raise ValueError(f"{value[:60]!r} is neither role:operator, role:admin nor operator:NAME")


def check_args(args: Any) -> dict[str, Any]:
    """`args` if they are a JSON object of finite numbers and valid text, at most
    MAX_ARGS_DEPTH deep and MAX_ARGS_BYTES long."""
    if not isinstance(args, dict):
        raise ValueError("args must be a JSON object")
    _check_json(args, depth=1, where="args")
    try:
        size = len(json.dumps(args, allow_nan=False, ensure_ascii=False).encode())
    except (ValueError, RecursionError):  # unreachable after _check_json; kept as the last word
        raise ValueError("args are not plain JSON") from None
    if size > MAX_ARGS_BYTES:
        raise ValueError(f"args are larger than {MAX_ARGS_BYTES} bytes")
    return args


def _check_json(value: Any, *, depth: int, where: str) -> None:
    if depth > MAX_ARGS_DEPTH:
        raise ValueError(f"{where}: args are nested deeper than {MAX_ARGS_DEPTH} levels")
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise ValueError(f"{where}: keys must be strings")
            try:
                check_text(key, max_length=MAX_NAME)
            except ValueError as exc:
                raise ValueError(f"{where}: key {key[:40]!r} {exc}") from None
            _check_json(item, depth=depth + 1, where=f"{where}.{key[:40]}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _check_json(item, depth=depth + 1, where=f"{where}[{i}]")
    elif isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{where}: numbers must be finite (no NaN or Infinity)")
    elif isinstance(value, str):
        # values may span lines (an email body), but must be valid Unicode without NUL
        if any(unicodedata.category(ch) == "Cs" for ch in value):
            raise ValueError(f"{where}: text is not valid Unicode (a lone surrogate)")
        if "\x00" in value:
            raise ValueError(f"{where}: text must not hold NUL characters")
    elif value is not None and not isinstance(value, (bool, int, float)):
        raise ValueError(f"{where}: not a JSON value")


def duration(text: str, *, allow_zero: bool = False) -> float:
    """Seconds in a Prometheus duration (`30m`, `1h30m`), more than 0 and at most ten years."""
    try:
        seconds = parse_duration(check_text(text, max_length=64))
    except OverflowError:
        seconds = math.inf
    if not math.isfinite(seconds) or seconds > MAX_DURATION:
        raise ValueError(f"{text[:40]!r} is longer than ten years")
    if seconds <= 0 and not allow_zero:
        raise ValueError("must be more than 0s")
    return seconds


def seconds_or_duration(text: str) -> float:
    """`?wait=`: plain seconds (`2.5`) or a duration (`30s`); finite and not negative."""
    try:
        seconds = float(text)
    except ValueError:
        return duration(text, allow_zero=True)
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError("must be a finite number of seconds, not negative")
    return seconds


def request_id(value: str | None, fresh: Callable[[], str]) -> str:
    """The client's X-Request-ID when it is a plain token (so it cannot pose as `slack:U…`
    or `system:…` in the audit trail); otherwise a fresh one."""
    return value if value and _REQUEST_ID_RE.fullmatch(value) else fresh()


def _validator(check: Callable[[Any], Any]) -> AfterValidator:
    """Run `check` (which raises ValueError) and keep the value as it came."""
    def keep(value: Any) -> Any:
        check(value)
        return value
    return AfterValidator(keep)


def _text(max_length: int, *, blank_ok: bool = False) -> AfterValidator:
    return _validator(lambda v: check_text(v, max_length=max_length, blank_ok=blank_ok))


AgentName = Annotated[str, _validator(check_agent),
                      WithJsonSchema({"type": "string", "pattern": AGENT_PATTERN, "maxLength": MAX_NAME,
                                      "description": AGENT_RULE})]
ActionName = Annotated[str, _validator(check_action),
                       WithJsonSchema({"type": "string", "pattern": ACTION_PATTERN, "maxLength": MAX_NAME,
                                       "description": ACTION_RULE})]
AgentScope = Annotated[str, _validator(check_agent_scope),
                       WithJsonSchema({"type": "string", "pattern": rf"^(\*|{AGENT_PATTERN[1:-1]})$",
                                       "maxLength": MAX_NAME,
                                       "description": f"{AGENT_RULE}; or * for every agent"})]
# the same rules as JSON Schema patterns (ECMA regex), so the OpenAPI document says them too
_LINE = "\\x00-\\x1f\\x7f-\\x9f\\u202a-\\u202e\\u2066-\\u2069"
ONE_LINE = f"^[^{_LINE}]*$"
NOT_BLANK = f"^[^{_LINE}]*[^\\s{_LINE}][^{_LINE}]*$"
DURATION_PATTERN = r"^([0-9]+y)?([0-9]+w)?([0-9]+d)?([0-9]+h)?([0-9]+m)?([0-9]+s)?([0-9]+ms)?$"

Name = Annotated[str, Field(min_length=1, max_length=MAX_NAME, json_schema_extra={"pattern": NOT_BLANK}),
                 _text(MAX_NAME)]
Reason = Annotated[str, Field(min_length=1, max_length=MAX_REASON, json_schema_extra={"pattern": NOT_BLANK}),
                   _text(MAX_REASON)]
OptionalText = Annotated[str, Field(max_length=MAX_REASON, json_schema_extra={"pattern": ONE_LINE}),
                         _text(MAX_REASON, blank_ok=True)]
Responder = Annotated[str, Field(max_length=MAX_NAME + 9, json_schema_extra={
    "pattern": f"^(role:operator|role:admin|operator:[^{_LINE}]*[^\\s{_LINE}][^{_LINE}]*)$"}),
    _validator(check_responder)]
Args = Annotated[dict[str, Any], _validator(check_args)]
Duration = Annotated[str, Field(min_length=2, max_length=64, examples=["30m"],
                                json_schema_extra={"pattern": DURATION_PATTERN}), _validator(duration)]
