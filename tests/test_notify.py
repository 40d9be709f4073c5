"""Message templates: every kind renders; broken ones are named by file:line; a failure at send
time falls back to plain text instead of dropping the notification."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from takeover.notify.templates import (
    SAMPLES,
    check_templates,
    humanize_seconds,
    render_message,
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
