"""Request helpers shared by the blueprints."""

from __future__ import annotations

from typing import Any

from flask import current_app, request
from werkzeug.exceptions import RequestEntityTooLarge, UnsupportedMediaType

from aiops.errors import InputError
from aiops.jsontext import parse_json
from aiops.runtime import Runtime


def runtime() -> Runtime:
    return current_app.extensions["aiops"]


def _body_bytes() -> bytes:
    """The request body; RequestEntityTooLarge when it is over ``MAX_CONTENT_LENGTH``.

    Werkzeug refuses a body over the limit by its ``Content-Length``, but one sent
    without it (``Transfer-Encoding: chunked``) it only cuts at the limit: the rest
    would be dropped unread and the cut text refused as malformed JSON at the limit's
    column (or, when the cut fell in trailing white space, accepted). One more byte
    of the server's input stream after the limit tells a body that goes on."""
    raw = request.get_data(cache=False)
    limit = request.max_content_length
    if (limit is not None and request.content_length is None and len(raw) >= limit
            and request.environ["wsgi.input"].read(1)):
        raise RequestEntityTooLarge()
    return raw


def json_body() -> Any:
    """The request body as JSON; InputError says whether it was empty, not UTF-8,
    malformed, or held text that is not Unicode (a lone surrogate escape)."""
    raw = _body_bytes()
    if not raw.strip():
        raise InputError("request body is empty; expected JSON")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"request body is not valid UTF-8 (byte {exc.start})") from None
    return parse_json(text)


def json_object(allowed: tuple[str, ...], optional: bool = False) -> dict[str, Any]:
    """The request body as a JSON object whose fields are all ``allowed``; an unknown
    field is refused by name, so a misspelt one cannot pass as an absent one. With
    ``optional`` an empty body is an empty object.

    For the operator's actions (feedback, playbook runs) the request must say
    ``Content-Type: application/json``: a web page cannot send that to another site
    without the browser asking first (CORS), and this API never says yes, so a page an
    operator opens cannot act on a server the browser reaches (cross-site request
    forgery). Ingestion does not ask for it: monitoring senders are not browsers."""
    if request.mimetype != "application/json":
        raise UnsupportedMediaType("send this request with Content-Type: application/json"
                                   + (" (also with an empty body)" if optional else ""))
    if optional and not request.get_data(cache=True).strip():
        return {}
    body = json_body()
    if not isinstance(body, dict):
        raise InputError("expected a JSON object")
    unknown = sorted(set(body) - set(allowed))
    if unknown:
        raise InputError(f"unknown field '{unknown[0]}'; expected {', '.join(allowed)}",
                         field=unknown[0])
    return body


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
