"""Regexes in linear time, everywhere (takeover.config.regex): RE2's semantics and refusals for label
matchers (anchored as Prometheus and Alertmanager anchor them), policy conditions and the routing
file; and, over real HTTP against a real `takeover serve` on SQLite and PostgreSQL, a viewer's or
an operator's catastrophic pattern leaving another agent's control poll answering."""

from __future__ import annotations

import re
import statistics
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from takeover.config.matchers import Matcher, parse_matcher
from takeover.config.mode import Mode
from takeover.config.regex import RegexError, compile_anchored, compile_regex
from takeover.config.yamlfile import ConfigError
from takeover.control.policy import Situation, judge
from takeover.control.policyfile import parse_policies
from takeover.control.sources import Decision
from takeover.notify.routing import GroupKey, load_routing
from tests.conftest import Server, start_server, stop_server, takeover_cli
from tests.test_approvals import bearer, server_env
from tests.test_e2e import poll

STALENESS_BOUND = 30.0  # the SDK's default max_staleness: a poll slower than this leaves the agent failing closed
SLOW = 5.0  # far above what RE2 needs, far below what a backtracking engine needs for these patterns
VALUE = "payments-oncall-eu"  # 18 characters: (.*.*)*Z took Python's re over 100 s on it (15: 11 s)


def seconds(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def test_a_posix_class_matcher_matches_as_in_prometheus() -> None:
    assert parse_matcher('team=~"[[:alpha:]]+"').matches({"team": "sre"})
    assert not parse_matcher('team=~"[[:alpha:]]+"').matches({"team": "sre-2"})
    assert parse_matcher('team!~"[[:^alpha:]]"').matches({"team": "sre"})
    assert parse_matcher(r'team=~"\pL+"').matches({"team": "équipe"})


def test_a_matcher_is_anchored_at_both_ends_as_alertmanager_anchors_it() -> None:
    assert not parse_matcher('team=~"a|b"').matches({"team": "ab"})  # ^(?:a|b)$, not ^a|b$
    assert parse_matcher('team=~"a|b"').matches({"team": "b"})
    assert not parse_matcher('team=~"pay"').matches({"team": "payments"})
    assert not parse_matcher('team=~"x$"').matches({"team": "x\n"})  # $ is the end of the text, as in Go
    assert compile_anchored("a)|(b").search("a-anything")  # the same odd reading as Prometheus's "^(?:" + v + ")$"


def test_a_pattern_re2_refuses_is_an_error_that_says_what_to_change() -> None:
    for pattern, words in [(r"(a)\1", "no backreferences"), ("(?=x)y", "no lookahead or lookbehind"),
                           ("(?<!x)y", "no lookahead or lookbehind"), ("a{1001}", "up to 1000"),
                           ("((a{100}){100}){100}", "nested ones multiplied"), ("(", "missing )"),
                           (r"\pL{1000}", "too large")]:
        with pytest.raises(RegexError, match=re.escape(words)):
            compile_anchored(pattern)
        with pytest.raises(ValueError, match=f"bad matcher .*invalid regex: .*{re.escape(words)}"):
            parse_matcher(f'team=~"{pattern}"')


def test_catastrophic_patterns_match_in_linear_time() -> None:
    cases = [("(.*.*)*Z", VALUE * 1000), ("(.|.|.|.)+X", VALUE * 1000), ("(a+)+", "a" * 100_000 + "!"),
             (r"^(\w+\s?)*$", "a" * 100_000 + "!")]
    for pattern, text in cases:
        took = seconds(lambda: compile_anchored(pattern).search(text) or compile_regex(pattern).search(text))
        print(f"{pattern} over {len(text)} characters: {took * 1000:.2f} ms")
        assert took < SLOW, (pattern, took)
    assert not parse_matcher('owner=~"(.*.*)*Z"').matches({"owner": VALUE})
    assert parse_matcher('owner=~"(.*.*)*-oncall.*"').matches({"owner": VALUE})


def test_a_label_value_with_a_lone_surrogate_is_matched_not_crashed_on() -> None:
    assert parse_matcher('note=~".*x"').matches({"note": "\ud800x"})
    assert compile_regex("é+").search("caf\udfffé")


POLICY = """\
policies:
  - name: plain-memos
    action: write_memo
    when: ['memo =~ "^(\\w+\\s?)*$"']
    decision: allow
  - name: the-rest
    action: write_memo
    decision: deny
    reason: memos are words
"""


def test_a_policy_file_with_a_catastrophic_pattern_is_matched_in_linear_time() -> None:
    policies = parse_policies(POLICY, filename="policies.yml")
    assert policies[0].when[0].value == r"^(\w+\s?)*$"
    for memo, decision in [("a" * 28 + "!", Decision.deny), ("a" * 100_000 + "!", Decision.deny),
                           ("refund approved by the customer", Decision.allow)]:
        situation = Situation(agent="pay-bot", action="write_memo", kind="write", risk="low", args={"memo": memo},
                              mode=Mode.normal)
        verdict = None

        def judged() -> None:
            nonlocal verdict
            verdict = judge(policies, situation)

        took = seconds(judged)
        print(f"memo of {len(memo)} characters judged in {took * 1000:.2f} ms")
        assert verdict is not None and verdict.decision == decision and took < SLOW


def test_a_policy_or_routing_pattern_re2_refuses_is_a_file_line_column_error(tmp_path: Path) -> None:
    text = POLICY.replace('^(\\w+\\s?)*$', '^(?!internal-)')
    with pytest.raises(ConfigError) as info:
        parse_policies(text, filename="policies.yml")
    assert str(info.value).startswith("policies.yml:4:12: bad condition") and "no lookahead" in str(info.value)
    (tmp_path / "policies.yml").write_text(text)
    (tmp_path / "rules.yml").write_text("groups: []\n")
    check = takeover_cli("check", str(tmp_path / "rules.yml"), env={"TAKEOVER_POLICIES": str(tmp_path / "policies.yml")})
    assert check.returncode != 0 and f"{tmp_path / 'policies.yml'}:4:12: bad condition" in check.stdout + check.stderr
    (tmp_path / "routing.yml").write_text('owners:\n  pay:\n    channel: "#pay"\n    matchers: [\'team=~"(p)\\\\1"\']\n')
    with pytest.raises(ConfigError) as info:
        load_routing(tmp_path / "routing.yml", default_channel="#alerts")
    assert f"{tmp_path / 'routing.yml'}:4:16: owner pay: bad matcher" in str(info.value)
    assert "no backreferences" in str(info.value)


# over real HTTP ----------------------------------------------------------------------------------

RULES = f"""\
groups:
  - name: payments
    interval: 1s
    rules:
      - alert: PaymentsRefundErrorRateHighForTheLastTenMinutes
        expr: label_replace(vector(1), "note", "{"a" * 30}!", "", "")
        labels: {{owner: {VALUE}, severity: ticket}}
        annotations: {{runbook_url: "https://runbooks.example.com/refunds", first_check: "the refund dashboard"}}
      - alert: PaymentsPayoutLatencyHighForTheLastTenMinutes
        expr: vector(1)
        labels: {{owner: {VALUE}, severity: ticket}}
        annotations: {{runbook_url: "https://runbooks.example.com/payouts", first_check: "the payout dashboard"}}
"""


@pytest.fixture
def server(tmp_path: Path, database_url: str, prometheus: str) -> Iterator[Server]:
    env = {**server_env(tmp_path, database_url), "TAKEOVER_PROMETHEUS_URL": prometheus}
    Path(env["TAKEOVER_RULES"]).write_text(RULES)
    srv = start_server(env, log=tmp_path / "serve.log")
    yield srv
    stop_server(srv)


def firing(server: Server, operator: str) -> list[dict[str, object]]:
    """Both alerts firing (waits for them)."""
    def alerts() -> list[dict[str, object]]:
        found = httpx.get(f"{server.url}/v1/alerts", headers=bearer(operator)).json()
        return [a for a in found if a["state"] == "firing"]
    return poll(alerts, until=lambda found: len(found) == 2)  # type: ignore[no-any-return]


def signed_in(server: Server, token: str) -> httpx.Client:
    client = httpx.Client(base_url=server.url, timeout=STALENESS_BOUND * 4)
    form = client.get("/ui/login").text
    csrf = form.split('name="csrf" value="', 1)[1].split('"', 1)[0]
    assert client.post("/ui/login", data={"csrf": csrf, "token": token, "next": "/ui/"}).status_code == 303
    return client


def polls_during(server: Server, agent_token: str, request: Callable[[], httpx.Response],
                 *, repeat: int = 5) -> tuple[httpx.Response, list[float]]:
    """Send `request` `repeat` times on another thread while the agent polls its control document one
    poll after another; (the last answer, each poll's seconds)."""
    def requests() -> httpx.Response:
        for _ in range(repeat):
            answer = request()
        return answer

    times: list[float] = []
    with ThreadPoolExecutor(1) as pool, httpx.Client(base_url=server.url, timeout=STALENESS_BOUND) as agent:
        future = pool.submit(requests)
        while not future.done() or len(times) < 5:
            start = time.perf_counter()
            answer = agent.get("/v1/agents/other-bot/control", headers=bearer(agent_token))
            times.append(time.perf_counter() - start)
            assert answer.status_code == 200, answer.text
        return future.result(), times


def report(what: str, times: list[float]) -> None:
    print(f"{what}: {len(times)} polls, median {statistics.median(times) * 1000:.1f} ms, "
          f"max {max(times) * 1000:.1f} ms")
    assert max(times) < STALENESS_BOUND


@pytest.mark.slow
def test_a_viewers_catastrophic_filter_leaves_another_agents_poll_answering(server: Server) -> None:
    agent = server.token("--role", "agent", "--agent", "other-bot")
    firing(server, server.token("--role", "operator", "--name", "olga"))
    viewer = signed_in(server, server.token("--role", "viewer", "--name", "vic"))
    page = viewer.get("/ui/alerts", params={"match": ['owner=~"pay.*-on.*"']}).text
    assert page.count("PaymentsRefundErrorRate") >= 1 and page.count("PaymentsPayoutLatency") >= 1
    catastrophic = ['owner=~"(.*.*)*Z"'] * 20
    answer, times = polls_during(server, agent, lambda: viewer.get("/ui/alerts", params={"match": catastrophic}))
    report("polls during 5 filters of 20 x owner=~\"(.*.*)*Z\"", times)
    assert answer.status_code == 200 and "No alert matches these filters." in answer.text
    refused = viewer.get("/ui/alerts", params={"match": [r'owner=~"(p)\1"']})
    assert refused.status_code == 422 and "no backreferences" in refused.text
    viewer.close()


@pytest.mark.slow
def test_an_operators_catastrophic_silence_leaves_polls_answering_and_expires(server: Server) -> None:
    agent = server.token("--role", "agent", "--agent", "other-bot")
    operator = server.token("--role", "operator", "--name", "otto")
    firing(server, operator)
    console = signed_in(server, operator)
    preview_of = 'alertname=~"(.|.|.|.)+X"\nnote=~"(a+)+"'
    answer, times = polls_during(server, agent, lambda: console.get("/ui/silences", params={"matchers": preview_of}))
    report("polls during 5 silence previews", times)
    assert answer.status_code == 200 and "No alert firing or pending now matches" in answer.text
    made = []
    for matchers in (['alertname=~"(.|.|.|.)+X"'], ['note=~"(a+)+"'], ['note=~"(a+)+!"']):
        created = httpx.post(f"{server.url}/v1/silences", headers=bearer(operator),
                             json={"matchers": matchers, "duration": "1h", "comment": "regex test"})
        assert created.status_code == 201, created.text
        made.append(created.json()["id"])
    # the evaluator and the dispatcher read the silences every second: poll through a few of their runs
    times = []
    with httpx.Client(base_url=server.url, timeout=STALENESS_BOUND) as client:
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            start = time.perf_counter()
            assert client.get("/v1/agents/other-bot/control", headers=bearer(agent)).status_code == 200
            times.append(time.perf_counter() - start)
            time.sleep(0.01)  # paced as a busy agent polls, not to let anything settle
    report("polls while the catastrophic silences are in force", times)
    board = console.get("/ui/alerts").text
    assert board.count(f"silenced ({made[2]})") == 1 and f"silenced ({made[0]})" not in board  # RE2 read the note
    for silence_id in made:
        expired = httpx.post(f"{server.url}/v1/silences/{silence_id}/expire", headers=bearer(operator))
        assert expired.status_code == 200, expired.text
    refused = httpx.post(f"{server.url}/v1/silences", headers=bearer(operator),
                         json={"matchers": ['alertname=~"(?=Pay)"'], "duration": "1h", "comment": "lookahead"})
    assert refused.status_code == 422 and "no lookahead" in refused.text
    assert "no lookahead" in console.get("/ui/silences", params={"matchers": 'alertname=~"(?=Pay)"'}).text
    console.close()


def test_a_matcher_written_back_by_str_reads_back_the_same_whatever_its_value_holds() -> None:
    for value in ['say "hi"', "C:\\temp", "line1\nline2", "a\\\"b", "\\", '"', ""]:
        for op in ("=", "!=", "=~", "!~"):
            matcher = Matcher("team", op, value if "~" not in op else re.escape(value))
            assert parse_matcher(str(matcher)) == matcher, str(matcher)
    group = GroupKey("#sre", (("alertname", "A"), ("team", 'say "hi" \\o/')))
    assert [parse_matcher(m).matches({"alertname": "A", "team": 'say "hi" \\o/'}) for m in group.matchers()] == [True] * 2
