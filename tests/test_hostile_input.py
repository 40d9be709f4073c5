"""Hostile input at every door (issue #11), over real HTTP against a real `takeover serve`:
each bad value is refused with a 4xx before anything is stored or sent to Slack, bodies are
capped and the token is checked before the body is read, and schemathesis finds no server error
and no answer that breaks the OpenAPI document, as any role."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import httpx
import pytest

from takeover.tools.promproc import free_port
from tests.conftest import Server, start_server, stop_server
from tests.fakeslack import FakeSlack, start_fake_slack
from tests.test_e2e import poll
from tests.test_slack import ROUTING, SECRET, click, signed

pytestmark = pytest.mark.slow
BIG = str(2**63)  # one past the largest database id
LONG = "9" * 400 + "s"  # a duration of 400 digits
NOT_AGENT = "is not an agent name"
NOT_ACTION = "is not an action name"
BLANK = "must not be empty or only whitespace"
UNICODE = "unable to parse raw data as a unicode string"  # pydantic's word for a lone surrogate in a str field


@pytest.fixture(scope="module")
def slack() -> Iterator[FakeSlack]:
    fake, http = start_fake_slack()
    yield fake
    http.shutdown()
    http.server_close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, slack: FakeSlack) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("hostile")
    (tmp / "rules.yml").write_text("groups: []\n")
    (tmp / "routing.yml").write_text(ROUTING)
    srv = start_server({
        "TAKEOVER_DATABASE_URL": f"sqlite:///{tmp / 'takeover.db'}", "TAKEOVER_RULES": str(tmp / "rules.yml"),
        "TAKEOVER_ROUTING": str(tmp / "routing.yml"), "TAKEOVER_PROMETHEUS_URL": f"http://127.0.0.1:{free_port()}",
        "TAKEOVER_SLACK_TOKEN": "xoxb-test", "TAKEOVER_SLACK_API_URL": slack.url,
        "TAKEOVER_SLACK_SIGNING_SECRET": SECRET, "TAKEOVER_DELIVER_INTERVAL": "0.2",
        "TAKEOVER_LOG_FORMAT": "json"}, log=tmp / "serve.log")
    yield srv
    stop_server(srv)


@pytest.fixture(scope="module")
def tokens(server: Server) -> dict[str, str]:
    return {"agent": server.token("--role", "agent", "--agent", "bot-a"),
            "operator": server.token("--role", "operator", "--name", "op"),
            "admin": server.token("--role", "admin", "--name", "root")}


def call(server: Server, token: str | None, method: str, path: str, body: Any = None,
         **kwargs: Any) -> httpx.Response:
    """One request; `body` is sent as JSON exactly as Python's json writes it (NaN, lone surrogates)."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    if body is not None:
        headers["Content-Type"] = "application/json"
        kwargs["content"] = json.dumps(body)
    return httpx.request(method, f"{server.url}{path}", headers={**headers, **kwargs.pop("headers", {})},
                         timeout=30, **kwargs)


def nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for _ in range(depth):
        value = {"k": value}
    return value


def approval(**extra: Any) -> dict[str, Any]:
    return {"agent": "bot-a", "action": "refund", "args": {"order": "A-1"}, **extra}


def agent_path(name: str) -> str:
    return f"/v1/agents/{quote(name, safe='')}/control"


TAKE = {"mode": "read_only", "reason": "test"}
# (case, role, method, path, body, status, what the refusal says)
REFUSED = [
    ("a lone surrogate in args", "agent", "POST", "/v1/approvals", approval(args={"k": "\ud800"}), 422, "lone surrogate"),
    ("a lone surrogate in an args key", "agent", "POST", "/v1/approvals", approval(args={"\udfff": 1}), 422, "lone surrogate"),
    ("args nested 900 deep", "agent", "POST", "/v1/approvals", approval(args=nested(900)), 422, "nested deeper"),
    ("NaN in args", "agent", "POST", "/v1/approvals", approval(args={"amount": float("nan")}), 422, "finite"),
    ("Infinity in args", "agent", "POST", "/v1/agents/bot-a/actions",
     {"action": "refund", "kind": "write", "args": {"x": [float("inf")]}}, 422, "finite"),
    ("NUL in args", "agent", "POST", "/v1/approvals", approval(args={"k": "a\x00b"}), 422, "NUL"),
    ("a lone surrogate in an action name", "agent", "POST", "/v1/agents/bot-a/actions",
     {"action": "re\udc00fund", "kind": "write"}, 422, NOT_ACTION),
    ("markup in an action name", "agent", "POST", "/v1/approvals", approval(action="refund <!channel>"), 422,
     NOT_ACTION),
    ("a link in an action name", "agent", "POST", "/v1/agents/bot-a/actions",
     {"action": "<https://evil.example|Approve>", "kind": "write"}, 422, NOT_ACTION),
    ("a newline in an approval reason", "agent", "POST", "/v1/approvals",
     approval(reason='x\n{"level": "info", "message": "approved by admin"}'), 422, "one line"),
    ("a lone surrogate in a silence comment", "operator", "POST", "/v1/silences",
     {"matchers": ["alertname=A"], "comment": "\ud800"}, 422, UNICODE),
    ("a lone surrogate in a source reason", "operator", "PUT", "/v1/agents/bot-a/control",
     {"mode": "read_only", "reason": "\ud800"}, 422, UNICODE),
    ("a reason of one million characters", "operator", "PUT", "/v1/agents/bot-a/control",
     {"mode": "read_only", "reason": "x" * 1_000_000}, 422, "at most 1000 characters"),
    ("canary_ratio Infinity", "operator", "POST", "/v1/agents", {"name": "bot-c", "canary_ratio": float("inf")}, 422, ""),
    ("canary_ratio NaN", "operator", "POST", "/v1/agents", {"name": "bot-c", "canary_ratio": float("nan")}, 422, ""),
    ("expires_in 0s on a take-over", "operator", "PUT", "/v1/agents/bot-a/control",
     {**TAKE, "expires_in": "0s"}, 422, "more than 0s"),
    ("expires_in 0s on an override", "operator", "POST", "/v1/agents/bot-a/sources",
     {**TAKE, "expires_in": "0s"}, 422, "more than 0s"),
    ("expires_in 0s on a token", "admin", "POST", "/v1/tokens", {"role": "operator", "name": "x", "expires_in": "0s"},
     422, "more than 0s"),
    ("expires_in of 400 digits", "operator", "PUT", "/v1/agents/bot-a/control", {**TAKE, "expires_in": LONG}, 422, ""),
    ("a silence duration of 400 digits", "operator", "POST", "/v1/silences",
     {"matchers": ["alertname=A"], "comment": "c", "duration": LONG}, 422, ""),
    ("wait=nan on a control poll", "agent", "GET", "/v1/agents/bot-a/control?wait=nan", None, 422, "finite"),
    ("wait=inf on an approval", "agent", "GET", "/v1/approvals/abc?wait=inf", None, 422, "finite"),
    ("wait of 400 digits", "agent", "GET", f"/v1/agents/bot-a/control?wait={LONG}", None, 422, "longer than"),
    ("a silence id of 2^63", "operator", "POST", f"/v1/silences/{BIG}/expire", None, 422, ""),
    ("a source id of 2^63", "operator", "POST", f"/v1/agents/bot-a/sources/{BIG}/release", {"reason": "r"}, 422, ""),
    ("an alert group id of 2^63", "operator", "POST", f"/v1/alert-groups/{BIG}/ack", None, 422, ""),
    ("a token id of 2^63", "admin", "POST", f"/v1/tokens/{BIG}/revoke", None, 422, ""),
    ("an audit after_id of 2^63", "operator", "GET", f"/v1/audit?after_id={BIG}", None, 422, ""),
    ("NaN as an audit since", "operator", "GET", "/v1/audit?since=nan", None, 422, ""),
    ("NUL in an audit filter", "operator", "GET", "/v1/audit?actor=a%00b", None, 422, "control characters"),
    ("an agent token for *", "admin", "POST", "/v1/tokens", {"role": "agent", "name": "x", "agents": ["*"]}, 422, NOT_AGENT),
    ("an agent named *", "operator", "POST", "/v1/agents", {"name": "*"}, 422, NOT_AGENT),
    ("an agent token bound to a look-alike", "admin", "POST", "/v1/tokens",
     {"role": "agent", "name": "x", "agents": ["bot-a\u200b"]}, 422, NOT_AGENT),
    ("an approval for a look-alike agent", "agent", "POST", "/v1/approvals", approval(agent="bot-a\u200b"), 422, NOT_AGENT),
    ("no responders", "agent", "POST", "/v1/approvals", approval(responders=[]), 422, "at least 1"),
    ("role:agent as the only responder", "agent", "POST", "/v1/approvals", approval(responders=["role:agent"]),
     422, "can answer nothing"),
    ("a whitespace-only take-over reason", "operator", "PUT", "/v1/agents/bot-a/control",
     {"mode": "read_only", "reason": "   "}, 422, BLANK),
    ("a whitespace-only release reason", "operator", "POST", "/v1/agents/bot-a/release", {"reason": " \t"}, 422, ""),
    ("a whitespace-only silence comment", "operator", "POST", "/v1/silences",
     {"matchers": ["alertname=A"], "comment": "  "}, 422, BLANK),
    ("an operator asking for an agent's decision", "operator", "POST", "/v1/agents/bot-a/actions",
     {"action": "refund", "kind": "write"}, 403, "only agent tokens"),
    ("an operator opening an approval", "operator", "POST", "/v1/approvals", approval(), 403, "only agent tokens"),
]
LOOK_ALIKES = {
    "a zero-width space": "bot-a\u200b", "NUL": "bot-a\x00", "a newline": "bot-a\n", "U+202E": "bot-\u202ea",
    "trailing spaces": "bot-a  ", "10,000 characters": "b" * 10_000, "a dot": ".", "a lone surrogate escape": "bot-%ED%A0%80",
}


@pytest.mark.parametrize(("case", "role", "method", "path", "body", "status", "says"), REFUSED, ids=[c[0] for c in REFUSED])
def test_a_bad_value_is_refused_with_a_4xx_before_anything_is_stored(
        server: Server, tokens: dict[str, str], case: str, role: str, method: str, path: str, body: Any,
        status: int, says: str) -> None:
    before = audit_ids(server, tokens)
    answer = call(server, tokens[role], method, path, body)
    assert answer.status_code == status, answer.text
    assert says in answer.text
    assert audit_ids(server, tokens) == before  # nothing stored, so nothing queued for Slack either


def audit_ids(server: Server, tokens: dict[str, str]) -> list[int]:
    rows = call(server, tokens["admin"], "GET", "/v1/audit?limit=1000").json()["rows"]
    return [r["id"] for r in rows if r["action"] != "token.create"]


@pytest.mark.parametrize("name", list(LOOK_ALIKES.values()), ids=list(LOOK_ALIKES))
def test_an_agent_name_outside_the_pattern_is_refused_the_same_way_on_every_route(
        server: Server, tokens: dict[str, str], name: str) -> None:
    path = agent_path(name) if "%" not in name else f"/v1/agents/{name}/control"
    answers = [
        call(server, tokens["operator"], "PUT", path, TAKE),
        call(server, tokens["operator"], "POST", path.replace("/control", "/release"), {"reason": "r"}),
        call(server, tokens["operator"], "GET", path),
        call(server, tokens["agent"], "POST", path.replace("/control", "/actions"), {"action": "a", "kind": "read"}),
    ]
    if "%" not in name:
        answers += [call(server, tokens["agent"], "POST", "/v1/approvals", approval(agent=name)),
                    call(server, tokens["operator"], "POST", "/v1/agents", {"name": name})]
    # "." never reaches an agent: the client resolves /v1/agents/./control to /v1/agents/control, which
    # is GET /v1/agents/{agent} for an agent named "control" (404), and no other method there (405)
    assert {a.status_code for a in answers} <= {404, 405, 422}, [a.text for a in answers]
    messages = {a.json()["detail"][0]["msg"] for a in answers if a.status_code == 422}
    assert len(messages) <= 1 and all(NOT_AGENT in m for m in messages), messages
    names = [a["agent"] for a in call(server, tokens["operator"], "GET", "/v1/agents").json()]
    assert name not in names


def test_nothing_refused_reached_slack_and_every_page_still_reads(
        server: Server, tokens: dict[str, str], slack: FakeSlack) -> None:
    for case in REFUSED:  # whatever ran before, this test sends them all
        call(server, tokens[case[1]], case[2], case[3], case[4])
    good = call(server, tokens["agent"], "POST", "/v1/approvals", approval(reason="the last request"))
    assert good.status_code == 201, good.text
    made = good.json()["id"]
    slack.wait_for(lambda s: any(made in json.dumps(c.params) for c in s.of("chat.postMessage")))
    # delivery keeps the outbox's order: a refused request queued before would have been posted before
    posted = [json.dumps(c.params) for c in slack.of("chat.postMessage") if "bot-a" in json.dumps(c.params)]
    assert len(posted) == 1 and made in posted[0]
    assert call(server, tokens["operator"], "GET", f"/v1/approvals/{good.json()['id']}").status_code == 200
    assert call(server, tokens["operator"], "GET", "/v1/approvals?agent=bot-a").status_code == 200
    assert call(server, tokens["operator"], "GET", "/v1/audit?limit=1000").status_code == 200


def raw_request(server: Server, head: str, body: bytes = b"") -> tuple[int, bytes]:
    """Send `head` and part of a body on a socket; the status and answer the server gave."""
    host, port = server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(head.encode() + b"\r\n" + body)
        answer = b""
        while b"\r\n\r\n" not in answer or len(answer) < answer.index(b"\r\n\r\n") + 4 + int(
                (answer.split(b"content-length: ")[1:] or [b"0\r"])[0].split(b"\r")[0]):
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
    return int(answer.split(b" ")[1]), answer


def test_a_huge_body_without_a_token_is_refused_401_before_it_is_read(server: Server) -> None:
    head = (f"POST /v1/tokens HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Content-Length: {300 * 1024 * 1024}\r\n")
    status, answer = raw_request(server, head, b"{" * 65536)  # 64 KiB of the promised 300 MB
    assert status == 401 and b"missing bearer token" in answer


def test_a_body_over_the_cap_is_refused_413_with_a_clear_message(server: Server, tokens: dict[str, str]) -> None:
    head = (f"POST /v1/agents/bot-a/actions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Authorization: Bearer {tokens['agent']}\r\nContent-Length: {100 * 1024 * 1024}\r\n")
    status, answer = raw_request(server, head, b" " * 65536)
    assert status == 413 and b"TAKEOVER_MAX_BODY_BYTES" in answer
    chunks = [b"[" * 65536] * 24  # 1.5 MiB without a Content-Length: counted as it arrives
    streamed = call(server, tokens["agent"], "POST", "/v1/agents/bot-a/actions", content=iter(chunks),
                    headers={"Content-Type": "application/json"})
    assert streamed.status_code == 413 and "TAKEOVER_MAX_BODY_BYTES" in streamed.text


def test_bearer_is_case_insensitive_and_tolerates_a_double_space(server: Server, tokens: dict[str, str]) -> None:
    for header in (f"bearer {tokens['operator']}", f"BEARER  {tokens['operator']}"):
        assert httpx.get(f"{server.url}/v1/agents", headers={"Authorization": header}).status_code == 200
    assert httpx.get(f"{server.url}/v1/agents", headers={"Authorization": f"Basic {tokens['operator']}"}).status_code == 401


def test_a_client_request_id_that_could_pose_as_slack_is_not_stored(server: Server, tokens: dict[str, str]) -> None:
    posed = call(server, tokens["operator"], "PUT", "/v1/agents/rid-bot/control", TAKE,
                 headers={"X-Request-ID": "slack:U0ALICE"})
    plain = call(server, tokens["operator"], "PUT", "/v1/agents/rid-bot/control", TAKE,
                 headers={"X-Request-ID": "client-42.a_b"})
    assert posed.headers["X-Request-ID"] != "slack:U0ALICE" and plain.headers["X-Request-ID"] == "client-42.a_b"
    rows = call(server, tokens["operator"], "GET", "/v1/audit?agent=rid-bot&action=mode.override").json()["rows"]
    assert [r["request_id"] for r in rows] == [posed.headers["X-Request-ID"], "client-42.a_b"]


def test_approvals_page_oldest_first_with_a_link_to_the_next_page(server: Server, tokens: dict[str, str]) -> None:
    made = [call(server, tokens["agent"], "POST", "/v1/approvals",
                 approval(idempotency_key=f"page-{i}", args={"i": i})).json()["id"] for i in range(3)]
    first = call(server, tokens["operator"], "GET", "/v1/approvals?agent=bot-a&limit=2")
    seen = [a["id"] for a in first.json()]
    link = first.headers["Link"]
    while link:
        url = link.split(";")[0].strip("<>")
        page = call(server, tokens["operator"], "GET", url)
        seen += [a["id"] for a in page.json()]
        link = page.headers.get("Link", "")
    assert [i for i in seen if i in made] == made and len(seen) == len(set(seen))
    unknown = call(server, tokens["operator"], "GET", "/v1/approvals?after=nosuchid")
    assert unknown.status_code == 422 and "after" in unknown.text


def slack_post(server: Server, body: bytes | str, headers: dict[str, str]) -> httpx.Response:
    return httpx.post(f"{server.url}/slack/interactions", content=body, headers=headers)


def signed_payload(payload: Any) -> tuple[str, dict[str, str]]:
    body = urlencode({"payload": json.dumps(payload)})
    return body, signed(body)


@pytest.mark.parametrize(("case", "status"), [
    ("a timestamp that is not a number", 401), ("a body that is not UTF-8", 400),
    ("a payload that is a list", 400), ("a user that is a string", 400),
    ("a button value that does not parse", 400), ("a button takeover does not have", 400),
])
def test_a_slack_request_takeover_cannot_use_is_refused_not_answered_500(server: Server, case: str, status: int) -> None:
    body, headers = signed_payload({"type": "block_actions", "user": {"id": "U_ALICE"}, "actions": []})
    if case == "a timestamp that is not a number":
        headers["X-Slack-Request-Timestamp"] = "soon"
    elif case == "a body that is not UTF-8":
        raw = b"payload=\xff\xfe"
        headers = signed(raw.decode("latin-1"))
        assert slack_post(server, raw, headers).status_code == status
        return
    elif case == "a payload that is a list":
        body, headers = signed_payload([1, 2])
    elif case == "a user that is a string":
        body, headers = signed_payload({"type": "block_actions", "user": "U_ALICE", "actions": [{}]})
    elif case == "a button value that does not parse":
        body = click("ack", "not-a-number")
        headers = signed(body)
    else:
        body = click("delete_everything", "1")
        headers = signed(body)
    assert slack_post(server, body, headers).status_code == status


def test_a_refused_button_press_is_not_marked_handled(server: Server, tokens: dict[str, str]) -> None:
    bad = click("takeover", "slack-bot\n", action_ts="1700000000.5")
    assert slack_post(server, bad, signed(bad)).status_code == 400
    good = click("takeover", "slack-bot", action_ts="1700000000.5")  # the same press key, a good value
    assert slack_post(server, good, signed(good)).status_code == 200
    poll(lambda: call(server, tokens["operator"], "GET", "/v1/agents/slack-bot/control"),
         until=lambda r: r.status_code == 200 and r.json()["mode"] == "read_only")


def test_the_openapi_document_declares_bearer_auth_answers_and_every_error(server: Server) -> None:
    doc = httpx.get(f"{server.url}/openapi.json").json()
    assert doc["components"]["securitySchemes"]["HTTPBearer"] == {
        "type": "http", "scheme": "bearer", "description": "a takeover token (`takeover token create`)"}
    for path, item in doc["paths"].items():
        for method, op in item.items():
            where = f"{method.upper()} {path}"
            assert op["security"] == [{"HTTPBearer": []}], where
            assert {"401", "403", "404", "409", "413", "422"} <= set(op["responses"]), where
            ok = next(v for k, v in op["responses"].items() if k in ("200", "201"))
            assert ok["content"]["application/json"]["schema"], where
    assert httpx.get(f"{server.url}/docs").status_code == 404  # off by default: its scripts come from a CDN
    assert httpx.get(f"{server.url}/redoc").status_code == 404


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("fuzzed")
    (tmp / "rules.yml").write_text("groups: []\n")
    srv = start_server({"TAKEOVER_DATABASE_URL": f"sqlite:///{tmp / 'takeover.db'}",
                        "TAKEOVER_RULES": str(tmp / "rules.yml"),
                        "TAKEOVER_PROMETHEUS_URL": f"http://127.0.0.1:{free_port()}"}, log=tmp / "serve.log")
    yield srv
    stop_server(srv)


# Checks left out: positive_data_acceptance (valid input is refused for good reasons: an unknown
# id is 404, a decided approval 409, `0s` 422) and allow_header_conformance (Starlette's 405
# names the methods of the first route whose path matches, not of every route on that path).
CHECKS = ("not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,"
          "response_headers_conformance,negative_data_rejection,missing_required_header,ignored_auth")
EXAMPLES = 12


@pytest.mark.parametrize("role", ["agent", "operator", "admin"])
def test_schemathesis_finds_no_server_error_and_no_answer_outside_the_schema(
        fuzzed: Server, role: str, tmp_path: Path) -> None:
    token = fuzzed.token("--role", role, "--name", f"fuzz-{role}", *(["--agent", "bot-a"] if role == "agent" else []))
    result = subprocess.run(
        [sys.executable, "-m", "schemathesis.cli", "run", f"{fuzzed.url}/openapi.json",
         "--header", f"Authorization: Bearer {token}", "--checks", CHECKS,
         "--phases", "examples,coverage,fuzzing", "--max-examples", str(EXAMPLES), "--seed", "11",
         "--workers", "1", "--continue-on-failure", "--no-color"],
        capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-20000:] + result.stderr[-5000:]
    assert "Server error" not in result.stdout


@pytest.mark.parametrize("args", [
    ["--role", "agent", "--agent", "*"],
    ["--role", "agent", "--agent", "bot-b\u200b"],
    ["--role", "operator", "--name", "alice\n{\"level\": \"error\"}"],
])
def test_the_cli_refuses_the_names_the_api_refuses(tmp_path: Path, args: list[str]) -> None:
    from tests.conftest import takeover_cli

    result = takeover_cli("token", "create", *args, env={"TAKEOVER_DATABASE_URL": f"sqlite:///{tmp_path / 't.db'}"})
    assert result.returncode == 1 and result.stdout == ""
    assert "--agent/--name:" in result.stderr
    assert not (tmp_path / "t.db").exists()  # refused before anything is stored


def test_text_from_an_agent_cannot_pass_for_a_log_line_on_the_console() -> None:
    import io

    from takeover.notify.slack import ConsoleNotifier

    out = io.StringIO()
    ConsoleNotifier(out).post(channel="#c", message={"text": 'refund\n{"level": "error"}\x1b[31m'})
    lines = out.getvalue().splitlines()
    assert all(line.startswith(("──", "  ")) for line in lines)  # every line indented under its message
    assert "\x1b" not in out.getvalue() and "\\x1b" in out.getvalue()
