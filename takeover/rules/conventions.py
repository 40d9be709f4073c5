"""Defaults for takeover's conventions, so a team's existing rule files load without editing
every rule: an owner by label matchers, a runbook URL template, a first check per owner.

A team writes them once in the routing file; they are applied to each alerting rule at load,
only where the rule does not say it itself, and `takeover check` lists which rule took which
default. Pure: label matching and template rendering on a rule's own labels.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from takeover.config.matchers import Matcher

REQUIRED_LABELS = ("owner",)
REQUIRED_ANNOTATIONS = ("runbook_url", "first_check")


@dataclass(frozen=True)
class OwnerDefault:
    """Rules without an `owner` label whose labels all match take `owner` (first match wins)."""

    owner: str
    matchers: tuple[Matcher, ...]
    where: str = ""  # file:line of the matchers, named when a rule takes this default


@dataclass(frozen=True)
class Defaults:
    owners: tuple[OwnerDefault, ...] = ()
    runbook_url: str = ""  # a template over the rule's labels (with alertname), rendered at load
    first_checks: Mapping[str, str] = field(default_factory=dict)  # owner -> first check
    where: str = ""  # the file they come from

    def __bool__(self) -> bool:
        return bool(self.owners or self.runbook_url or self.first_checks)


@dataclass(frozen=True)
class Filled:
    labels: dict[str, str]
    annotations: dict[str, str]
    applied: dict[str, str]  # label or annotation name -> which default set it


def fill(name: str, labels: Mapping[str, str], annotations: Mapping[str, str], defaults: Defaults) -> Filled:
    """The rule's labels and annotations with every missing convention the defaults can give."""
    labels, annotations, applied = dict(labels), dict(annotations), {}
    where = defaults.where or "the routing file"
    if not labels.get("owner"):
        view = {**labels, "alertname": name}
        for owner in defaults.owners:
            if all(m.matches(view) for m in owner.matchers):
                labels["owner"] = owner.owner
                applied["owner"] = f"{owner.where or where} ({', '.join(map(str, owner.matchers))})"
                break
    if not annotations.get("runbook_url") and defaults.runbook_url:
        from takeover.rules.gotemplate import render_text

        annotations["runbook_url"] = render_text(defaults.runbook_url, labels={**labels, "alertname": name},
                                                 value=0.0, name=name)
        applied["runbook_url"] = f"{where} runbook_url"
    owner_name = labels.get("owner", "")
    if not annotations.get("first_check") and owner_name in defaults.first_checks:
        annotations["first_check"] = defaults.first_checks[owner_name]
        applied["first_check"] = f"{where} owners.{owner_name}.first_check"
    return Filled(labels, annotations, applied)


def missing(name: str, labels: Mapping[str, str], annotations: Mapping[str, str]) -> list[str]:
    """What the rule still lacks of the conventions, as messages."""
    out = [f'alert "{name}": label "{label}" is required (who owns this alert?)'
           for label in REQUIRED_LABELS if not labels.get(label)]
    out += [f'alert "{name}": annotation "{annotation}" is required'
            for annotation in REQUIRED_ANNOTATIONS if not annotations.get(annotation)]
    return out
