"""The text of a JSON column's value: exactly ``json.dumps(value)``, with less overhead.

Why: every raw event (its payload), alert (its labels) and incident (its root causes)
stored is one ``json.dumps`` call through SQLAlchemy's JSON type, 50,000 calls for a
replay of 20,000 alerts, and most of a call on such small values is ``json.dumps``
building a new ``JSONEncoder`` and its C encoder each time (measured: 8.5 µs a call
against 5.5 µs here on the ingest benchmark's alerts). The C encoder is built once,
with ``json.dumps``'s own defaults, so the text stored does not change. It is built
without the circular-reference check: that check's memo would be shared state between
threads writing at once, and a value that contains itself is a bug either way (it
now fails the write with ``RecursionError`` instead of ``ValueError``).
"""

from __future__ import annotations

import json
from json.encoder import encode_basestring_ascii
from typing import Any

from aiops.models import Alert
from aiops.timeutil import to_rfc3339

try:
    from json.encoder import c_make_encoder as _c_make_encoder
except ImportError:  # an interpreter without the C accelerator: json.dumps itself
    _c_make_encoder = None

_DEFAULTS = json.JSONEncoder()
_ENCODE = None if _c_make_encoder is None else _c_make_encoder(
    None, _DEFAULTS.default, encode_basestring_ascii, None, _DEFAULTS.key_separator,
    _DEFAULTS.item_separator, False, False, True)


def column_json(value: Any) -> str:
    """``json.dumps(value)``, the same text; ``JsonText`` as it is."""
    if type(value) is JsonText:
        return str(value)
    if _ENCODE is None:
        return json.dumps(value)
    return "".join(_ENCODE(value, 0))


class JsonText(str):
    """JSON text encoded already: ``column_json`` stores it as it is.

    Why: every raw event stores its alert's canonical form (``Alert.to_dict``), and
    building that dict only to encode it again was about a tenth of a replay
    (``alert_json`` writes the same text in about half the time). Only a data dir's
    engine (``aiops.store.db.create_db_engine``) serializes with ``column_json``; the
    recorder decodes such text for any other (``plain_json``).
    """

    __slots__ = ()


def alert_json(alert: Alert) -> JsonText:
    """Exactly ``json.dumps(alert.to_dict())``, written from the fields directly.

    Anything but the validated shapes (a non-string field, labels that are not a dict)
    goes through ``to_dict`` and ``column_json``, so the text is the same either way.
    """
    enc = encode_basestring_ascii
    description, labels = alert.description, alert.labels
    if not (type(alert.id) is str and type(alert.source) is str and type(alert.name) is str
            and type(alert.entity) is str and type(alert.severity) is str
            and type(alert.summary) is str and type(labels) is dict
            and (description is None or type(description) is str)):
        return JsonText(column_json(alert.to_dict()))
    ends = alert.ends_at
    text = ('{"id": ' + enc(alert.id) + ', "source": ' + enc(alert.source)
            + ', "name": ' + enc(alert.name) + ', "entity": ' + enc(alert.entity)
            + ', "severity": ' + enc(alert.severity) + ', "summary": ' + enc(alert.summary)
            + ', "starts_at": ' + enc(to_rfc3339(alert.starts_at))
            + ', "ends_at": ' + ("null" if ends is None else enc(to_rfc3339(ends)))
            + ', "labels": ' + column_json(labels))
    if description is not None:
        text += ', "description": ' + enc(description)
    return JsonText(text + "}")


def plain_json(value: Any) -> Any:
    """``value`` with encoded text (``JsonText``) decoded again, for an engine whose
    JSON serializer is not ``column_json`` (a scratch in-memory database) and would
    store the text as a JSON string."""
    return json.loads(value) if type(value) is JsonText else value
