"""YAML files read with positions: every file takeover reads (rules, routing, readiness, rule
unit tests) reports each problem as `file:line:column: message` through one error type.

    ConfigError          a file (or files) failed the check; `.errors` lists every Problem
      └ .errors: [Problem(file, line, column, message)]
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import yaml

from takeover.config.duration import parse_duration

ErrorSink = Callable[[yaml.Node | None, str], None]  # reports a problem at a node


@dataclass(frozen=True)
class Problem:
    """One problem in a configuration file, printed as `file:line:column: message`."""

    file: str
    line: int
    column: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}: {self.message}"


class ConfigError(Exception):
    """Files that failed the check; `.errors` holds every problem found."""

    def __init__(self, errors: list[Problem]) -> None:
        self.errors = errors
        super().__init__("\n".join(str(e) for e in errors))


def unreadable(path: str, what: str, exc: OSError) -> ConfigError:
    return ConfigError([Problem(path, 1, 1, f"cannot read {what}: {exc.strerror}")])


def compose_yaml(text: str, *, filename: str) -> tuple[yaml.Node | None, list[Problem], ErrorSink]:
    """Compose YAML keeping positions: (root node, the error list, a sink that appends to it)."""
    errors: list[Problem] = []

    def err(node: yaml.Node | None, message: str) -> None:
        mark = node.start_mark if node is not None else None
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        errors.append(Problem(filename, line, col, message))

    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        if root is not None:
            merge_keys(root)
        return root, errors, err
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        errors.append(Problem(filename, line, col, f"invalid YAML: {exc.problem}"))
        return None, errors, err
    except yaml.reader.ReaderError as exc:  # a character YAML does not allow (a control character, a lone surrogate)
        before = text[:exc.position]
        errors.append(Problem(filename, before.count("\n") + 1, len(before) - before.rfind("\n"),
                              f"invalid YAML: character #x{exc.character:04x} is not allowed"))
        return None, errors, err


def merge_keys(root: yaml.Node) -> None:
    """Apply YAML merge keys (`<<: *base`, `<<: [*a, *b]`) in every mapping under `root`, in
    place, as Go's yaml.v3 does: a key written in the mapping wins over a merged one, an earlier
    merged mapping over a later. Merged entries keep the positions of where they were written."""
    loader = yaml.SafeLoader("")
    seen: set[int] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            loader.flatten_mapping(node)  # raises ConstructorError (with its mark) on a bad merge
            stack.extend(n for pair in node.value for n in pair)
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)


def is_null(node: yaml.Node | None) -> bool:
    """The node is absent or YAML null (`~`, `null`, or nothing after the colon)."""
    return node is None or (isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:null")


def keys(node: yaml.Node | None) -> dict[str, tuple[yaml.Node, yaml.Node]]:
    """A mapping node's entries by key: (key node, value node); {} for anything else."""
    if not isinstance(node, yaml.MappingNode):
        return {}
    return {str(k.value): (k, v) for k, v in node.value}


def mapping(node: yaml.Node, err: ErrorSink, what: str) -> dict[str, yaml.Node]:
    if not isinstance(node, yaml.MappingNode):
        err(node, f"{what} must be a mapping")
        return {}
    return {str(k.value): v for k, v in node.value}


def scalar(node: yaml.Node | None, err: ErrorSink, what: str) -> str | None:
    if node is None:
        return None
    if not isinstance(node, yaml.ScalarNode):
        err(node, f"{what} must be a string")
        return None
    return str(node.value)


def duration(node: yaml.Node | None, err: ErrorSink, what: str, default: float = 0.0) -> float:
    """A duration field in seconds; `default` when absent or (after reporting it) malformed."""
    text = scalar(node, err, what)
    if text is None:
        return default
    try:
        return parse_duration(text)
    except ValueError as exc:
        err(node, f"{what}: {exc}")
        return default


def value_node(node: yaml.Node | None, key: str) -> yaml.Node | None:
    """The value node of `key` in a mapping (the mapping itself when absent): where to point."""
    pair = keys(node).get(key) if node is not None else None
    return pair[1] if pair else node
