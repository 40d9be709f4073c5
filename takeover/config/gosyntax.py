"""Go's regexp syntax (Go 1.19, as in Prometheus and Alertmanager 0.25), checked: RE2 itself accepts a
few patterns Go refuses (`\\C`, `(?<name>…)`, a bad escape), so a pattern from or for a Go program is
checked here first, then run by RE2 (takeover.config.regex)."""

from __future__ import annotations

import re


class GoSyntaxError(ValueError):
    """Go's regexp refuses this pattern; str() is in Go's words."""


_PERL = {"d": "0-9", "w": "0-9A-Za-z_", "s": "\\t\\n\\f\\r "}
_POSIX = {"alnum": "0-9A-Za-z", "alpha": "A-Za-z", "ascii": "\\x00-\\x7f", "blank": "\\t ", "cntrl": "\\x00-\\x1f\\x7f",
          "digit": "0-9", "graph": "!-~", "lower": "a-z", "print": " -~", "punct": "!-/:-@\\[-`{-~",
          "space": "\\t\\n\\v\\f\\r ", "upper": "A-Z", "word": "0-9A-Za-z_", "xdigit": "0-9A-Fa-f"}


def check_go_syntax(pattern: str) -> None:
    """GoSyntaxError, in Go's words, for a pattern Go 1.19's regexp/syntax refuses."""
    _re2py(pattern)


def _re2py(p: str) -> str:
    """Check a Go RE2 pattern as Go's regexp/syntax does, by translating it into the equivalent
    Python pattern."""
    out: list[str] = []
    groups: list[tuple[bool, list[str]]] = [(False, [])]  # per open group: (?m) state, mid-group (?flags) opened
    i, last_rep = 0, ""
    while i < len(p):
        c, rep = p[i], ""
        if c == "\\":
            s, i = _re_escape(p, i, False)
            out.append(s)
        elif c == "[":
            s, i = _re_class(p, i)
            out.append(s)
        elif c == "(":
            m = re.match(r"\(\?(?:P<(\w+)>|([imsU]*)(?:-([imsU]*))?([:)]))", p[i:])
            if p.startswith("(?", i) and not m:
                raise GoSyntaxError(f"invalid or unsupported Perl syntax: `{p[i:i + 3]}`")
            multiline, opened = groups[-1]
            if m and m.group(4):
                on, off = m.group(2).replace("U", ""), (m.group(3) or "").replace("U", "")  # (?U): RE2 does it
                multiline = ("m" in on or multiline) and "m" not in off
                out.append(f"(?{on}{'-' + off if off else ''}:")
                if m.group(4) == ")":  # flags for the rest of the current group, in every later alternative
                    groups[-1] = (multiline, opened + [out[-1]])
                else:
                    groups.append((multiline, []))
            else:
                out.append(m.group(0) if m else "(")
                groups.append((multiline, []))
            i += len(m.group(0)) if m else 1
        elif c == ")":
            if len(groups) == 1:
                raise GoSyntaxError(f"unexpected ): `{p}`")
            out.append(")" * (len(groups.pop()[1]) + 1))
            i += 1
        elif c == "|":
            opened = groups[-1][1]
            out.append(")" * len(opened) + "|" + "".join(opened))
            i += 1
        elif c in "*+?{":
            m = re.match(r"\{(\d+)(,(\d*))?\}", p[i:]) if c == "{" else None
            if c == "{" and not m:
                out.append("\\{")
                i += 1
            else:
                n = m.group(0) if m else c
                if last_rep:
                    raise GoSyntaxError(f"invalid nested repetition operator: `{last_rep}{n}`")
                if m and max(int(m.group(1)), int(m.group(3) or 0)) > 1000:
                    raise GoSyntaxError(f"invalid repeat count: `{n}`")
                lazy = p[i + len(n): i + len(n) + 1] == "?"
                out.append(n + "?" * lazy)
                i += len(n) + lazy
                rep = n + "?" * lazy
        elif c == "$":
            out.append("$" if groups[-1][0] else "\\Z")  # without (?m) Go's $ matches only at the very end
            i += 1
        else:
            out.append(c)
            i += 1
        last_rep = rep
    if len(groups) > 1:
        raise GoSyntaxError(f"missing closing ): `{p}`")
    return "".join(out) + ")" * len(groups[0][1])


def _re_escape(p: str, i: int, in_class: bool) -> tuple[str, int]:
    e = p[i + 1: i + 2]
    if not e:
        raise GoSyntaxError("trailing backslash at end of expression: ``")
    if e in _PERL or e.lower() in _PERL:
        body = _PERL[e.lower()]
        return (body if in_class else f"[{'^' if e.isupper() else ''}{body}]"), i + 2
    if e in "01234567":
        m = re.match(r"[0-7]{1,3}", p[i + 1:])
        assert m
        if e != "0" and len(m.group(0)) == 1:
            raise GoSyntaxError(f"invalid escape sequence: `\\{e}`")
        return re.escape(chr(int(m.group(0), 8))), i + 1 + m.end()
    if e == "x":
        m = re.match(r"x(?:\{([0-9a-fA-F]+)\}|([0-9a-fA-F]{2}))", p[i + 1:])
        if not m or int(m.group(1) or m.group(2), 16) > 0x10FFFF:
            raise GoSyntaxError(f"invalid escape sequence: `{p[i:i + 4]}`")
        return re.escape(chr(int(m.group(1) or m.group(2), 16))), i + 1 + m.end()
    if e == "Q":
        end = p.find("\\E", i + 2)
        lit = p[i + 2:] if end < 0 else p[i + 2:end]
        return re.escape(lit), len(p) if end < 0 else end + 2
    if e in "afnrtv":
        return "\\" + e, i + 2
    if not in_class and e in "AzbB":
        return {"A": "\\A", "z": "\\Z", "b": "(?a:\\b)", "B": "(?a:\\B)"}[e], i + 2
    if e in "pP":  # a Unicode class, \pL or \p{Greek}: RE2 checks the name
        end = p.find("}", i + 3) if p[i + 2: i + 3] == "{" else i + 2
        if end < 0 or i + 2 >= len(p):
            raise GoSyntaxError(f"invalid character class range: `{p[i:]}`")
        return ".", end + 1
    if e.isascii() and not e.isalnum():
        return "\\" + e, i + 2
    raise GoSyntaxError(f"invalid escape sequence: `\\{e}`")


def _re_class(p: str, i: int) -> tuple[str, int]:
    out, j = ["["], i + 1
    if p.startswith("^", j):
        out.append("^")
        j += 1
    first = True
    while j < len(p) and (p[j] != "]" or first):
        first = False
        m = re.match(r"\[:(\^?)(\w+):\]", p[j:])
        if m and m.group(2) in _POSIX:
            out.append(_POSIX[m.group(2)])  # negated or not, the check is the same
            j += m.end()
            continue
        if p[j] == "\\":
            s, j = _re_escape(p, j, True)
        else:
            s, j = re.escape(p[j]), j + 1
        out.append(s)
        if p.startswith("-", j) and p[j + 1: j + 2] not in ("", "]"):
            out.append("-")
            j += 1
    if j >= len(p):
        raise GoSyntaxError(f"missing closing ]: `{p[i:]}`")
    return "".join(out) + "]", j + 1
