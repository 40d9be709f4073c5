"""The readiness file: its items (item, owner, status, evidence, next_action), read and checked."""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from takeover.config import yamlfile
from takeover.config.yamlfile import ConfigError, ErrorSink, compose_yaml

# the seed's items and the warning each one raises when missing
ITEM_WARNINGS = {
    "tools": "missing_tools",
    "permissions": "missing_permissions",
    "tracing": "missing_tracing",
    "evaluation_cases": "missing_evaluation_cases",
    "rollback": "missing_rollback",
    "budget_limits": "missing_budget_limit",
    "human_approval": "missing_human_approval",
    "incident_response": "missing_incident_response",
    "rate_limits": "missing_rate_limit",
}
REQUIRED_ITEMS = tuple(name for name in ITEM_WARNINGS if name != "rate_limits")
ITEM_FIELDS = ("item", "owner", "status", "evidence", "next_action")
ITEM_NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")


class Status(str, enum.Enum):
    done = "done"  # in place, and the evidence shows it
    partial = "partial"  # started: the evidence shows what is there, next_action what is not
    missing = "missing"  # not there yet


@dataclass(frozen=True)
class Item:
    """One entry of the readiness file; `line` 0 for a required item the file leaves out."""

    item: str
    owner: str
    status: Status
    evidence: str = ""
    next_action: str = ""
    line: int = 0

    @property
    def required(self) -> bool:
        return self.item in REQUIRED_ITEMS

    @property
    def warning(self) -> str | None:
        """The warning this item raises: only a missing item raises one."""
        if self.status is not Status.missing:
            return None
        return ITEM_WARNINGS.get(self.item, f"missing_{self.item}")



def load_readiness(path: str | Path) -> list[Item]:
    """Read and check the readiness file; raise ConfigError listing every problem."""
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise yamlfile.unreadable(str(path), "readiness file", exc) from None
    items, errors = parse_readiness(text, filename=str(path))
    if errors:
        raise ConfigError(errors)
    return items


def parse_readiness(text: str, *, filename: str) -> tuple[list[Item], list[yamlfile.Problem]]:
    """Parse the readiness file's text: the valid items and every problem found."""
    root, errors, err = compose_yaml(text, filename=filename)
    if errors:
        return [], errors
    if not isinstance(root, yaml.SequenceNode):
        err(root, f"the readiness file must be a list of items, each with {', '.join(ITEM_FIELDS)}")
        return [], errors
    items: list[Item] = []
    seen: dict[str, int] = {}
    for node in root.value:
        item = _parse_item(node, err)
        if item is None:
            continue
        if item.item in seen:
            err(node, f'item "{item.item}" is listed twice (first at line {seen[item.item]})')
            continue
        seen[item.item] = item.line
        items.append(item)
    return items, sorted(errors, key=lambda e: (e.line, e.column))


def _parse_item(node: yaml.Node, err: ErrorSink) -> Item | None:
    if not isinstance(node, yaml.MappingNode):
        err(node, f"an item must be a mapping with {', '.join(ITEM_FIELDS)}")
        return None
    values: dict[str, tuple[yaml.Node, str]] = {}
    for key, value in node.value:
        name = str(key.value)
        if name not in ITEM_FIELDS:
            err(key, f"unknown field {name} in item (allowed: {', '.join(ITEM_FIELDS)})")
        elif not isinstance(value, yaml.ScalarNode):
            err(value, f"{name} must be a string")
            values[name] = (value, "-")  # reported once: not again as "required"
        else:
            values[name] = (value, "" if value.tag.endswith(":null") else str(value.value).strip())
    item_node, name = values.get("item", (node, ""))
    if not name:
        err(item_node, "item is required: what this entry is about, e.g. tracing")
        return None
    if not ITEM_NAME_RE.match(name):
        err(item_node, f'item "{name}" must be lower_snake_case, e.g. rate_limits')
        return None
    owner = values.get("owner", (node, ""))[1]
    if not owner:
        err(values.get("owner", (node, ""))[0], f'item "{name}": owner is required (who answers for it)')
    status_node, status_text = values.get("status", (node, ""))
    if status_text not in Status.__members__:
        err(status_node, f'item "{name}": status must be one of {", ".join(Status.__members__)}; '
                         f'got "{status_text}"')
        return None
    status = Status(status_text)
    evidence, next_action = values.get("evidence", (node, ""))[1], values.get("next_action", (node, ""))[1]
    if status is not Status.missing and not evidence:
        err(node, f'item "{name}": evidence is required when status is {status.value} (what shows it?)')
    if status is not Status.done and not next_action:
        err(node, f'item "{name}": next_action is required when status is {status.value} (what closes the gap?)')
    return Item(item=name, owner=owner, status=status, evidence=evidence, next_action=next_action,
                line=node.start_mark.line + 1)
