"""Where notifications go: owners → Slack destinations, grouping timings, Slack users → operators.

The routing file (TAKEOVER_ROUTING, YAML) is checked like a rule file: every problem is
reported as `file:line:column: message` by `takeover check`.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from takeover.config.matchers import parse_matcher, quote
from takeover.config.yamlfile import ConfigError, ErrorSink, compose_yaml, duration, unreadable
from takeover.rules.conventions import Defaults, OwnerDefault

TOP_FIELDS = {"default_channel", "group_by", "group_wait", "group_interval", "repeat_interval",
              "owners", "agents", "slack_users", "runbook_url"}
OWNER_FIELDS = {"channel", "mention", "escalation", "matchers", "first_check"}
STEP_FIELDS = {"after", "target"}


@dataclass(frozen=True)
class Escalation:
    after: float  # seconds after the group first fired without an acknowledgement
    target: str  # a Slack channel ("#x" / "C…") or user ("U…") to re-notify


@dataclass(frozen=True)
class Destination:
    channel: str
    mention: str = ""  # a Slack user group id (S…) or user id (U…) to @-mention
    escalation: tuple[Escalation, ...] = ()
    known: bool = True  # False: an unknown owner, sent to the default channel with a warning


@dataclass(frozen=True)
class Routing:
    default_channel: str = "#alerts"
    group_by: tuple[str, ...] = ("alertname", "owner")
    group_wait: float = 30.0
    group_interval: float = 300.0
    repeat_interval: float = 4 * 3600.0
    owners: Mapping[str, Destination] = field(default_factory=dict)
    slack_users: Mapping[str, str] = field(default_factory=dict)  # Slack user id → operator name
    agents: tuple[tuple[str, str], ...] = ()  # (agent name or glob, owner), first match wins
    rule_defaults: Defaults = field(default_factory=Defaults)  # owners by matchers, runbook, first checks

    def agent_owner(self, agent: str) -> str | None:
        """The owner of an agent: the first `agents:` entry whose name or glob matches."""
        return next((owner for pattern, owner in self.agents if fnmatch.fnmatchcase(agent, pattern)), None)

    def agent_destination(self, agent: str) -> tuple[str, Destination]:
        """Where news about an agent goes (its owner's route; the default channel, flagged, when
        it has no owner); `*` (every agent) goes to the default channel."""
        owner = self.agent_owner(agent) if agent != "*" else None
        if owner is None:
            return "", Destination(self.default_channel, known=agent == "*")
        return owner, self.destination(owner)

    def destination(self, owner: str) -> Destination:
        """The owner's destination; an unknown owner goes to the default channel, flagged."""
        return self.owners.get(owner) or Destination(self.default_channel, known=False)

    def group_key(self, labels: Mapping[str, str], *, channel: str) -> GroupKey:
        """The group an alert with `labels` joins in `channel` (Alertmanager's aggregation group)."""
        return GroupKey(channel, tuple((name, labels.get(name, "")) for name in self.group_by))


@dataclass(frozen=True)
class GroupKey:
    """Which Slack message alerts share: a channel and their values of the `group_by` labels.
    Stored as its text, `#channel|alertname=A,owner=o`, which is never parsed back (a value
    may hold `,` or `=`): what needs the values takes them from the group's alerts."""

    channel: str
    labels: tuple[tuple[str, str], ...]

    def __str__(self) -> str:
        return f"{self.channel}|" + ",".join(f"{name}={value}" for name, value in self.labels)

    def matchers(self) -> list[str]:
        """The silence matchers that mute exactly this group (labels it has a value for)."""
        return [f"{name}={quote(value)}" for name, value in self.labels if value]


def mention_text(mention: str) -> str:
    """Slack's syntax for mentioning a user group (S…) or a user (U…/W…)."""
    if not mention:
        return ""
    return f"<!subteam^{mention}>" if mention.startswith("S") else f"<@{mention}>"


def load_routing(path: str | Path | None, *, default_channel: str) -> Routing:
    """Read the routing file; no file means defaults. Raises ConfigError with every problem."""
    if path is None:
        return Routing(default_channel=default_channel)
    filename = str(path)
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise unreadable(filename, "routing file", exc) from None
    root, errors, err = compose_yaml(text, filename=filename)
    if errors:
        raise ConfigError(errors)
    top = _fields(root, TOP_FIELDS, err, "routing file")
    durations = {}
    for name, default in (("group_wait", 30.0), ("group_interval", 300.0), ("repeat_interval", 14400.0)):
        durations[name] = duration(top.get(name), err, name, default)
    group_by = tuple(_strings(top.get("group_by"), err, "group_by")) or ("alertname", "owner")
    owners = {}
    owners_node = top.get("owners")
    if owners_node is not None:
        if not isinstance(owners_node, yaml.MappingNode):
            err(owners_node, "owners must be a mapping of owner name to destination")
        else:
            for key, value in owners_node.value:
                owners[str(key.value)] = _destination(value, err, str(key.value), default_channel)
    agents: list[tuple[str, str]] = []
    agents_node = top.get("agents")
    if isinstance(agents_node, yaml.MappingNode):
        for key, value in agents_node.value:
            if not isinstance(value, yaml.ScalarNode) or not str(value.value):
                err(value, f"agents: {key.value} must name an owner")
            elif str(value.value) not in owners:
                err(value, f"agents: {key.value} is owned by {value.value!r}, which has no route under owners")
            else:
                agents.append((str(key.value), str(value.value)))
    elif agents_node is not None:
        err(agents_node, "agents must map agent names (or globs like refund-*) to owners")
    users: dict[str, str] = {}
    users_node = top.get("slack_users")
    if isinstance(users_node, yaml.MappingNode):
        users = {str(k.value): str(v.value) for k, v in users_node.value}
    elif users_node is not None:
        err(users_node, "slack_users must map Slack user ids (U…) to operator names")
    defaults = _rule_defaults(top, owners_node, err, filename)
    if errors:
        raise ConfigError(sorted(errors, key=lambda e: (e.line, e.column)))
    channel = top.get("default_channel")
    return Routing(default_channel=str(channel.value) if isinstance(channel, yaml.ScalarNode) else default_channel,
                   group_by=group_by, owners=owners, slack_users=users, agents=tuple(agents),
                   rule_defaults=defaults, **durations)


def _rule_defaults(top: dict[str, yaml.Node], owners_node: yaml.Node | None, err: ErrorSink,
                   filename: str) -> Defaults:
    """The conventions' defaults: `owners.<o>.matchers` and `.first_check`, top-level `runbook_url`."""
    from takeover.rules.gotemplate import TemplateSyntaxError, compile_template

    by_matchers, first_checks = [], {}
    for key, value in owners_node.value if isinstance(owners_node, yaml.MappingNode) else ():
        owner = str(key.value)
        fields = {str(k.value): v for k, v in value.value} if isinstance(value, yaml.MappingNode) else {}
        if (check := fields.get("first_check")) is not None:
            if not isinstance(check, yaml.ScalarNode) or not str(check.value).strip():
                err(check, f"owner {owner}: first_check must be a sentence (the first thing on-call checks)")
            else:
                first_checks[owner] = str(check.value)
        if (node := fields.get("matchers")) is None:
            continue
        if not isinstance(node, yaml.SequenceNode) or not node.value:
            err(node, f'owner {owner}: matchers must be a list like [\'team="sre"\']')
            continue
        matchers = []
        for item in node.value:
            try:
                matchers.append(parse_matcher(str(item.value)))
            except ValueError as exc:
                err(item, f"owner {owner}: {exc}")
        by_matchers.append(OwnerDefault(owner, tuple(matchers), f"{filename}:{node.start_mark.line + 1}"))
    runbook = ""
    if (node := top.get("runbook_url")) is not None:
        runbook = str(node.value) if isinstance(node, yaml.ScalarNode) else ""
        try:
            compile_template(runbook)
        except TemplateSyntaxError as exc:
            err(node, f"runbook_url: template: {exc.message}")
        if not runbook:
            err(node, "runbook_url must be a URL template, e.g. https://runbooks.example.com/{{ $labels.alertname }}")
    return Defaults(tuple(by_matchers), runbook, first_checks, filename)


def _fields(node: yaml.Node | None, allowed: set[str], err: ErrorSink, what: str) -> dict[str, yaml.Node]:
    if node is None:
        return {}
    if not isinstance(node, yaml.MappingNode):
        err(node, f"{what} must be a mapping")
        return {}
    out = {}
    for key, value in node.value:
        if str(key.value) not in allowed:
            err(key, f"unknown field {key.value} in {what} (allowed: {', '.join(sorted(allowed))})")
        out[str(key.value)] = value
    return out


def _strings(node: yaml.Node | None, err: ErrorSink, what: str) -> list[str]:
    if node is None:
        return []
    if not isinstance(node, yaml.SequenceNode) or not all(isinstance(n, yaml.ScalarNode) for n in node.value):
        err(node, f"{what} must be a list of label names")
        return []
    return [str(n.value) for n in node.value]


def _destination(node: yaml.Node, err: ErrorSink, owner: str, default_channel: str) -> Destination:
    fields = _fields(node, OWNER_FIELDS, err, f"owner {owner}")
    steps = []
    esc = fields.get("escalation")
    if esc is not None and not isinstance(esc, yaml.SequenceNode):
        err(esc, f"owner {owner}: escalation must be a list of {{after, target}} steps")
    elif esc is not None:
        for step in esc.value:
            sf = _fields(step, STEP_FIELDS, err, f"owner {owner} escalation step")
            if "after" not in sf or "target" not in sf:
                err(step, f"owner {owner}: an escalation step needs after and target")
                continue
            steps.append(Escalation(duration(sf["after"], err, "after", 0.0), str(sf["target"].value)))
    channel = fields.get("channel")
    if channel is None:
        err(node, f"owner {owner}: channel is required")
    mention = fields.get("mention")
    return Destination(channel=str(channel.value) if channel is not None else default_channel,
                       mention=str(mention.value) if mention is not None else "",
                       escalation=tuple(sorted(steps, key=lambda s: s.after)))
