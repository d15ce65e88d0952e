"""Request helpers shared by the blueprints."""

from __future__ import annotations

import json
from typing import Any

from flask import current_app, request

from aiops.errors import InputError
from aiops.runtime import Runtime


def runtime() -> Runtime:
    return current_app.extensions["aiops"]


def json_body() -> Any:
    """The request body as JSON; InputError says whether it was empty, not UTF-8 or malformed."""
    raw = request.get_data(cache=False)
    if not raw.strip():
        raise InputError("request body is empty; expected JSON")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"request body is not valid UTF-8 (byte {exc.start})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"malformed JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
                         ) from None


def int_arg(name: str, default: int, low: int, high: int) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise InputError(f"query parameter '{name}' must be an integer, got {raw!r}",
                         field=name) from None
    if not low <= value <= high:
        raise InputError(f"query parameter '{name}' must be between {low} and {high}",
                         field=name)
    return value
