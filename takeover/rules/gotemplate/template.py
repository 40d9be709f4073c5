"""The public face: compile a template once, render it per alert the way Prometheus's template/template.go does."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from types import MappingProxyType
from typing import Mapping

from takeover.rules.gotemplate.errors import TemplateSyntaxError, _linecol
from takeover.rules.gotemplate.execute import _ExecError, _State
from takeover.rules.gotemplate.nodes import _Node, _show
from takeover.rules.gotemplate.parse import _check_literals, _Parser
from takeover.rules.gotemplate.values import _Data

_EMPTY: Mapping[str, str] = MappingProxyType({})


# Prometheus prepends "{{$labels := .Labels}}{{$externalLabels := ...}}..." to every template
PROMETHEUS_PREFIX_LEN = 112


@dataclass(frozen=True)
class Template:
    """A compiled template; render it as often as needed."""

    source: str
    root: tuple[_Node, ...]

    def render(self, *, labels: Mapping[str, str], value: float,
               external_labels: Mapping[str, str] = _EMPTY, external_url: str = "", name: str = "") -> str:
        """Never raises: a failure while executing returns '<error expanding template: ...>' like Prometheus.

        With `name` (Prometheus's is `__alert_<alertname>`) the error text is Prometheus's to the
        letter, columns on the first line counted after the variable definitions it prepends."""
        data = _Data(dict(labels), dict(external_labels), external_url, float(value))
        state = _State(data)
        try:
            state.walk(data, self.root)
        except _ExecError as e:
            line, col = _linecol(self.source, e.node.pos)
            if name:  # Go counts columns from 0, on line 1 after the prepended definitions
                col += -1 + (PROMETHEUS_PREFIX_LEN if line == 1 else 0)
                return (f"<error expanding template: error executing template {name}: template: {name}:{line}:{col}: "
                        f'executing "{name}" at <{_show(e.node)}>: {e}>')
            return (f"<error expanding template: error executing template: template: {line}:{col}: "
                    f"executing at <{_show(e.node)}>: {e}>")
        except Exception as e:  # a bug here must not take the alerting pipeline down
            return f"<error expanding template: panic expanding template: {e!r}>"
        return "".join(state.out)


@functools.lru_cache(maxsize=4096)  # rules render the same few templates every evaluation
def compile_template(text: str) -> Template:
    """Parse once; raise TemplateSyntaxError for bad syntax AND for any construct or function this interpreter does not support (never silently render something different from Prometheus)."""
    parser = _Parser(text)
    root = parser.parse()
    _check_literals(text, root)
    return Template(text, root)


def render_text(text: str, *, labels: Mapping[str, str], value: float,
                external_labels: Mapping[str, str] = _EMPTY, external_url: str = "", name: str = "") -> str:
    """compile + render convenience; a syntax error renders as '<error expanding template: ...>' too."""
    try:
        tmpl = compile_template(text)
    except TemplateSyntaxError as e:
        return f"<error expanding template: error parsing template: template: {e.line}:{e.column}: {e.message}>"
    return tmpl.render(labels=labels, value=value, external_labels=external_labels, external_url=external_url,
                       name=name)
