"""The Go values a template works with: the template data, safeHtml's HTML, args' map, their type names and truth."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


class _HTML(str):
    """html/template.HTML, the result of safeHtml: a string kind but not assignable to string."""


class _AnyMap(dict[str, Any]):
    """map[string]interface{}, the result of args: a missing key is nil, not ""."""


@dataclass(frozen=True)
class _Data:
    labels: dict[str, str]
    external_labels: dict[str, str]
    external_url: str
    value: float


_DATA_TYPE = ("struct { Labels map[string]string; ExternalLabels map[string]string; "
              "ExternalURL string; Value float64 }")


def _typename(v: Any) -> str:
    if v is None:
        return "<nil>"
    if isinstance(v, _HTML):
        return "template.HTML"
    for t, name in ((bool, "bool"), (int, "int"), (float, "float64"), (str, "string"),
                    (_AnyMap, "map[string]interface {}"), (dict, "map[string]string")):
        if isinstance(v, t):
            return name
    return _DATA_TYPE


def _truth(v: Any) -> bool:
    return True if isinstance(v, _Data) else bool(v)  # NaN is truthy in Go as in Python
