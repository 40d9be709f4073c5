"""Message templates: every kind renders; broken ones are named by file:line; a failure at send
time falls back to plain text instead of dropping the notification; no markup from outside;
messages that fit Block Kit's limits."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from takeover.notify.fit import fit, problems
from takeover.notify.templates import (
    SAMPLES,
    check_templates,
    humanize_seconds,
    render_message,
    safe_url,
    slack_escape,
    template_env,
)

ROOT = Path(__file__).resolve().parent.parent


def test_the_shipped_templates_render_every_kind_with_a_text() -> None:
    assert check_templates(ROOT / "templates") == []
    env = template_env(ROOT / "templates")
    for kind, context in SAMPLES.items():
        message = render_message(env, kind, context)
        assert message["text"] and message.get("blocks"), kind
        json.dumps(message)


def test_broken_templates_are_reported_with_file_and_line(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "templates", tmp_path, dirs_exist_ok=True)
    firing = tmp_path / "alert_firing.json.j2"
    lines = firing.read_text().splitlines()
    lines[15] = lines[15] + "{{ group.no_such_field.deeper }}"
    firing.write_text("\n".join(lines))
    (tmp_path / "mode_changed.json.j2").write_text("{{ {'text': 'x' }\n")
    (tmp_path / "escalation.json.j2").unlink()
    problems = check_templates(tmp_path)
    assert any(p.startswith(f"{firing}:16: UndefinedError") for p in problems), problems
    assert any(p.startswith(f"{tmp_path / 'mode_changed.json.j2'}:1: ") for p in problems), problems
    assert f"{tmp_path / 'escalation.json.j2'}:1: missing (takeover sends escalation messages)" in problems


def test_a_render_failure_at_send_time_falls_back_to_plain_text(tmp_path: Path) -> None:
    (tmp_path / "mode_changed.json.j2").write_text("{{ nope.nope }}")
    message = render_message(template_env(tmp_path), "mode_changed", {"fallback_text": "bot: normal → read_only"})
    assert message == {"text": "bot: normal → read_only"}


def test_slack_text_is_escaped_and_durations_read_well() -> None:
    assert slack_escape("<@here> & co") == "&lt;@here&gt; &amp; co"
    assert [humanize_seconds(s) for s in (None, 0, 42, 3725, 90061)] == ["-", "0s", "42s", "1h 2m", "1d 1h"]


MARKUP = ("<!channel>", "<!here>", "<@U1>", "<https://x|y>", "<!subteam^S9>")


def string_paths(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """The path of every string in a template context (but the routing file's mention)."""
    if isinstance(value, str) and path[-1:] != ("mention",):
        yield path
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from string_paths(item, (*path, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from string_paths(item, (*path, i))


def replaced(value: Any, path: tuple[Any, ...], new: str) -> Any:
    if not path:
        return new
    copy_ = dict(value) if isinstance(value, dict) else list(value)
    copy_[path[0]] = replaced(value[path[0]], path[1:], new)
    return copy_


def every_string(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, (dict, list)):
        for item in value.values() if isinstance(value, dict) else value:
            yield from every_string(item)


def test_every_string_position_of_every_template_fuzzed_with_markup_never_reaches_a_message_raw() -> None:
    env = template_env(ROOT / "templates")
    checked = 0
    for kind, sample in SAMPLES.items():
        for path in string_paths(sample):
            for markup in MARKUP:
                for value in (markup, f"a {markup} b", f"https://runbooks.example.com/x|Approve now> {markup}"):
                    message, _ = fit(render_message(env, kind, replaced(sample, path, value)))
                    raw = [s for s in every_string(message) if markup in s]
                    assert raw == [], (kind, path, raw)
                    checked += 1
    assert checked > 500
    # the markup a template writes stays: the routing file's mention
    assert "<!subteam^S1>" in json.dumps(render_message(env, "approval_requested", SAMPLES["approval_requested"]))


def test_a_url_from_a_label_cannot_leave_its_link() -> None:
    assert safe_url("https://runbooks.example/x|Approve now> <!here> <https://evil.example|open>") == (
        "https://runbooks.example/x%7CApprove%20now%3E%20%3C!here%3E%20%3Chttps://evil.example%7Copen%3E")
    assert safe_url("javascript:alert(1)") == "" and safe_url("runbooks/x") == "" and safe_url("https://") == ""
    assert safe_url("https://r.example/a?b=1&amp;c=2") == "https://r.example/a?b=1&c=2"


def test_text_too_long_for_block_kit_is_cut_at_a_character_boundary_and_links_to_the_console() -> None:
    long = "ü&amp;" * 1_000  # escaped text: never cut inside an entity
    message = {"text": "x" * 50_000, "blocks": [
        {"type": "header", "text": {"type": "plain_text", "text": "h" * 200}},
        {"type": "section", "text": {"type": "mrkdwn", "text": long}},
        {"type": "section", "fields": [{"type": "mrkdwn", "text": "f" * 3_000}] * 12},
    ] + [{"type": "divider"}] * 60}
    fitted, cut = fit(message, link="https://takeover.example.com/ui/alerts")
    assert cut and problems(fitted) == []
    section = fitted["blocks"][1]["text"]["text"]
    head, _, tail = section.partition("\n… (")
    assert head.endswith(("ü", "&amp;")) and len(section) <= 3_000  # never `&am`
    assert tail.endswith("more characters — <https://takeover.example.com/ui/alerts|full text in the console>)")
    assert int(tail.split(" ")[0].replace(",", "")) == len(long) - len(head)
    assert fitted["blocks"][0]["text"]["text"] == "h" * 149 + "…" and len(fitted["text"]) <= 40_000
    assert len(fitted["blocks"]) == 50


def test_takeover_check_reports_a_template_that_can_exceed_block_kits_limits(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "templates", tmp_path, dirs_exist_ok=True)
    assert check_templates(tmp_path) == []  # the shipped templates fit with the longest values
    release = tmp_path / "release.json.j2"
    release.write_text(release.read_text().replace('((r.reason or "—") | cut(2000))', '(r.reason or "—")')
                       .replace('(icon ~ " " ~ headline)[:150]', '(icon ~ " " ~ headline)'))
    (problem,) = check_templates(tmp_path)
    assert problem.startswith(f"{release}:1: with the longest values it can be sent, the message breaks Block Kit's")
    assert "blocks[0].text.text: " in problem
    assert check_templates(tmp_path, limits=False) == []
