"""A guarded call's arguments: those JSON can carry, by name, and the approver's edits put in place."""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable, Mapping
from typing import Any


def call_args(fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
    """The call's arguments by parameter name, leaving out those JSON cannot carry."""
    try:
        named = inspect.signature(fn).bind(*args, **kwargs).arguments
    except (TypeError, ValueError):
        named = kwargs

    def fits(value: Any) -> bool:
        try:
            return bool(json.dumps(value))
        except (TypeError, ValueError):
            return False
    return {name: value for name, value in named.items() if fits(value)}


def with_edits(fn: Callable[..., Any], edits: Mapping[str, Any], args: tuple[Any, ...],
               kwargs: dict[str, Any]) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """The call's arguments with the approver's edits in place of the ones they name (by
    parameter name, positional or not); edits that name no parameter go in as keywords."""
    if not edits:
        return args, kwargs
    try:
        parameters = inspect.signature(fn).parameters
        bound = inspect.signature(fn).bind(*args, **kwargs)
    except (TypeError, ValueError):
        return args, {**kwargs, **edits}
    variadic = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    extra = {}
    for name, value in edits.items():
        if name in parameters and parameters[name].kind not in variadic:
            bound.arguments[name] = value
        else:
            extra[name] = value
    return bound.args, {**bound.kwargs, **extra}
