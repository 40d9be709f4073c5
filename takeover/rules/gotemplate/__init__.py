"""Go text/template as Prometheus 2.42 renders alert templates, refusing what it can't reproduce exactly: lexer ←
parse ← execute ← template, over nodes, values, fmt, literals, regexp and functions. Imports only the standard library
and takeover.config.regex (RE2, as Go's regexp)."""

from takeover.rules.gotemplate.errors import TemplateSyntaxError
from takeover.rules.gotemplate.fmt import format_value
from takeover.rules.gotemplate.template import Template, compile_template, render_text

__all__ = ["Template", "TemplateSyntaxError", "compile_template", "format_value", "render_text"]
