"""takeover's label matchers decide as Alertmanager's own silences do. A real Alertmanager (Debian's
prometheus-alertmanager 0.25) is given one alert per label set and, per matcher, two silences: the
matcher as takeover parses it, in the API's {name, value, isRegex, isEqual} form, and the same text
as Alertmanager parses it (`amtool silence add`). Each alert's `status.silencedBy` must be what
`Matcher.matches` says, and Alertmanager's parse what takeover's is; a text one refuses, both refuse."""

from __future__ import annotations

import datetime
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from takeover.config.matchers import Matcher, parse_matcher
from takeover.tools.promproc import free_port, stop_process
from tests.conftest import need
from tests.test_alertmanager_e2e import binary, eventually, start_alertmanager

pytestmark = pytest.mark.slow

ALERTNAME = "MatcherParity"  # on every alert and in every silence: Alertmanager refuses a silence that matches ""

# the `team` label of each alert, by the alert's `case` label; None: no `team` label
TEAMS: dict[str, str | None] = {
    "sre": "sre", "SRE": "SRE", "sr": "sr", "sre1": "sre1", "ops": "ops", "missing": None,
    "empty": "",  # Alertmanager drops an empty label: the same as missing
    "equipe": "équipe", "EQUIPE": "ÉQUIPE", "k": "k", "kelvin": "\u212a", "strasse": "straße", "STRASSE": "STRAẞE",
    "rocket": "🚀", "quote": 'say "hi"', "newline": "line1\nline2", "backslash": "C:\\temp", "space": "a b",
}

# matcher texts as a person writes them in a silence, a routing file or a console filter
MATCHERS = [
    r'team="sre"',
    r'team=sre',  # unquoted
    r'  team = "sre" ',
    r'team!="sre"',
    r'team=~"sre|ops"',  # alternation
    r'team!~"sre|ops"',
    r'team=~"sre|"',  # an empty alternative matches the missing label
    r'team=~"sr"',  # anchored: not sre
    r'team=~"sr.*"',
    r'team=~"[[:alpha:]]+"',  # POSIX classes: ASCII only
    r'team!~"[[:alpha:]]*"',
    r'team=~"[[:lower:]]+[[:digit:]]"',
    r'team=~".*"',  # matches the missing and the empty label
    r'team=~".+"',
    r'team!~".+"',  # a missing label is ""
    r'team!~"sre"',
    r'team=""',
    r'team!=""',
    r'team="SRE"',  # case-sensitive
    r'team=~"(?i)sre"',
    r'team=~"(?i)équipe"',
    r'team=~"(?i)K"',  # folds to the Kelvin sign too
    r'team=~"(?i)straße"',  # ß and ẞ fold
    r'team="équipe"',
    r'team=~".quipe"',  # . is a character, not a byte
    r'team=~"\pL+"',
    r'team=~"."',
    r'team="🚀"',
    r'team="say \"hi\""',  # escaped quotes
    r'team=~"say \".*\""',
    r'team=s\"ay',  # an escape outside quotes is unescaped too
    r'team="line1\nline2"',  # \n is a newline
    r'team=~"line1.line2"',  # . does not match a newline
    r'team=~"(?s)line1.line2"',
    r'team="C:\\temp"',  # \\ is one backslash
    r'team="C:\temp"',  # \t is not an escape: the backslash stays
    r'team=~"C:\\\\temp"',  # the regex C:\\temp
    r'team=~"C:\\temp"',  # the regex C:\temp: a tab
    r'team=~"a\sb"',
    r'team=~"(?P<word>[a-z]+) b"',
]

# texts both refuse: a bad quote, a bad name, a regex Go's regexp refuses (RE2 alone takes \C and (?<n>…))
REFUSED = [
    r'team="a"b"', r'team="sre', r'team=sre"', r'team="', r'team="sre\"',
    r'1team="x"', r'team', r'team~="x"', r'te-am="x"',
    r'team=~"("', r'team=~"a**"', r'team=~"(a)\1"', r'team=~"(?=x)"', r'team=~"a{1001}"', r'team=~"(a{10}){200}"',
    r'team=~"\C"', r'team=~"[\C]"', r'team=~"(?<word>x)"',
]

# takeover's one deliberate difference: RE2's 1 MiB budget per pattern refuses what Go would compile
STRICTER = [r'team=~"\pL{1000}"']


@dataclass
class Parity:
    """What the real Alertmanager did with the table."""

    muted: dict[str, set[str]]  # silence id -> the cases it mutes
    silences: dict[str, list[dict[str, Any]]]  # silence id -> its matchers as Alertmanager stored them
    structured: dict[str, str]  # matcher text -> id of the silence posted in the API's form
    as_text: dict[str, str]  # matcher text -> id of the silence amtool made from the text
    refused: dict[str, str]  # matcher text -> amtool's error, for those it refused


def as_api(matcher: Matcher) -> dict[str, Any]:
    """The matcher as Alertmanager's API takes it."""
    return {"name": matcher.name, "value": matcher.value, "isRegex": "~" in matcher.op,
            "isEqual": not matcher.op.startswith("!")}


def labels_of(case: str) -> dict[str, str]:
    team = TEAMS[case]
    return {"alertname": ALERTNAME, "case": case} | ({} if team is None else {"team": team})


@pytest.fixture(scope="module")
def parity(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Parity]:
    amtool = shutil.which("amtool")
    if amtool is None:
        need("amtool not found on PATH: apt-get install prometheus-alertmanager (scripts/ensure-alertmanager)")
    assert amtool is not None
    binary()
    am = start_alertmanager(tmp_path_factory.mktemp("am-matchers"), port=free_port())
    try:
        yield _run_table(am.url, amtool)
    finally:
        stop_process(am.process)


def _run_table(url: str, amtool: str) -> Parity:
    now = datetime.datetime.now(datetime.UTC)
    window = {"startsAt": now.isoformat(), "endsAt": (now + datetime.timedelta(hours=1)).isoformat()}
    texts = MATCHERS + REFUSED + STRICTER
    # amtool parses each text with Alertmanager's own parser; all of them at once, collected below
    runs = {text: subprocess.Popen([amtool, f"--alertmanager.url={url}", "silence", "add", "--author=parity",
                                    f"--comment={text}", "--duration=1h", f'alertname="{ALERTNAME}"', text],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for text in texts}
    with httpx.Client(base_url=url, timeout=5) as client:
        alerts = [{"labels": labels_of(case), **window} for case in TEAMS]
        assert client.post("/api/v2/alerts", json=alerts).status_code == 200
        structured = {}
        for text in MATCHERS:
            body = {"matchers": [{"name": "alertname", "value": ALERTNAME, "isRegex": False, "isEqual": True},
                                 as_api(parse_matcher(text))],
                    "createdBy": "parity", "comment": text, **window}
            answer = client.post("/api/v2/silences", json=body)
            assert answer.status_code == 200, (text, answer.text)
            structured[text] = answer.json()["silenceID"]
        as_text, refused = {}, {}
        for text, run in runs.items():
            out, err = run.communicate(timeout=10)
            if run.returncode == 0:
                as_text[text] = out.strip()
            else:
                refused[text] = err.strip()
        ids = set(structured.values()) | set(as_text.values())

        def all_active() -> list[dict[str, Any]] | None:
            found = [s for s in client.get("/api/v2/silences").json() if s["id"] in ids]
            return found if len(found) == len(ids) and all(s["status"]["state"] == "active" for s in found) else None

        silences = eventually(all_active, timeout=5, what=lambda: client.get("/api/v2/silences").text)
        muted: dict[str, set[str]] = {sid: set() for sid in ids}
        shown = client.get("/api/v2/alerts", params={"filter": f'alertname="{ALERTNAME}"'}).json()
    assert sorted(a["labels"]["case"] for a in shown) == sorted(TEAMS)
    for alert in shown:
        for sid in alert["status"]["silencedBy"]:
            muted[sid].add(alert["labels"]["case"])
    return Parity(muted, {s["id"]: s["matchers"] for s in silences}, structured, as_text, refused)


def test_each_matcher_mutes_in_alertmanager_exactly_the_label_sets_it_matches_in_takeover(parity: Parity) -> None:
    differences = []
    for text in MATCHERS:
        matcher = parse_matcher(text)
        takeover = {case for case in TEAMS if matcher.matches(labels_of(case))}
        for form, ids in [("API form", parity.structured), ("amtool", parity.as_text)]:
            alertmanager = parity.muted[ids[text]] if text in ids else {"refused: " + parity.refused.get(text, "")}
            if alertmanager != takeover:
                differences.append(f"{text} ({form}): Alertmanager {sorted(alertmanager)}, takeover {sorted(takeover)}")
    assert not differences, "\n".join(differences)


def test_alertmanager_parses_each_matcher_text_as_takeover_does(parity: Parity) -> None:
    differences = []
    for text in MATCHERS:
        theirs = parity.silences[parity.as_text[text]][1] if text in parity.as_text else parity.refused[text]
        if theirs != as_api(parse_matcher(text)):
            differences.append(f"{text}: Alertmanager {theirs!r}, takeover {as_api(parse_matcher(text))!r}")
    assert not differences, "\n".join(differences)


def test_a_matcher_alertmanager_refuses_takeover_refuses(parity: Parity) -> None:
    differences = []
    for text in REFUSED:
        try:
            parse_matcher(text)
            differences.append(f"{text}: takeover takes it; Alertmanager: {parity.refused.get(text, 'takes it too')}")
        except ValueError:
            if text not in parity.refused:
                differences.append(f"{text}: Alertmanager takes it too")
    assert not differences, "\n".join(differences)


def test_the_one_deliberate_difference_is_a_pattern_too_large_for_re2s_budget(parity: Parity) -> None:
    for text in STRICTER:
        assert text in parity.as_text, parity.refused.get(text)
        with pytest.raises(ValueError, match="too large"):
            parse_matcher(text)
