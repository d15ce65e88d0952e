"""JSON text from outside (a request body, a line of a file) to Python values, or an
``InputError`` that says what was wrong with it.

Why one place: ``json.loads`` fails in four ways besides the decode errors everyone
catches, and each one missed was a traceback or a 500 somewhere: a document nested
deeper than the decoder recurses (``RecursionError``), an integer longer than Python
converts (a plain ``ValueError``), and a string holding a lone UTF-16 surrogate
escape (``"\\ud800"``): valid JSON but no text, which the tokenizer of the text model
and every database refuse later, far from the input that carried it.
"""

from __future__ import annotations

import json
import re
import sys
from typing import Any

from aiops.errors import InputError

# A UTF-16 surrogate on its own: JSON may write one but it is no character.
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def lone_surrogate_at(value: Any) -> str | None:
    """Where in a parsed JSON value a string (or an object key) holds a lone
    surrogate, as ``[3].labels.port``; None when there is none. Iterative: the value
    may be nested as deeply as the parser allows."""
    stack: list[tuple[Any, str]] = [(value, "")]
    while stack:
        item, where = stack.pop()
        if isinstance(item, str):
            if _LONE_SURROGATE.search(item):
                return where or "the top level"
        elif isinstance(item, dict):
            for key, inner in item.items():
                here = f"{where}.{key}" if where else str(key)
                if _LONE_SURROGATE.search(key):
                    return here
                stack.append((inner, here))
        elif isinstance(item, list):
            stack.extend((inner, f"{where}[{i}]") for i, inner in enumerate(item))
    return None


class MalformedJson(InputError):
    """``parse_json``'s refusal. ``reason`` is the fault without where it is, and
    ``position`` the character offset of a decode error (None for the other faults),
    for callers that say where in their own words (a server's answer)."""

    def __init__(self, message: str, reason: str, position: int | None = None,
                 field: str | None = None):
        super().__init__(message, field=field)
        self.reason = reason
        self.position = position


def parse_json(text: str, *, one_line: bool = False) -> Any:
    """``text`` as a JSON value; InputError naming the fault otherwise. ``one_line``:
    the text is one line of a file whose caller names the line, so a decode error
    gives only its column."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        at = f"column {exc.colno}" if one_line else f"line {exc.lineno} column {exc.colno}"
        raise MalformedJson(f"malformed JSON: {exc.msg} at {at}",
                            f"{exc.msg} at character {exc.pos}", exc.pos) from None
    except RecursionError:  # "[[[[..." deeper than the decoder recurses
        raise MalformedJson("malformed JSON: nested too deeply", "nested too deeply") from None
    except ValueError:  # an integer longer than Python converts (int_max_str_digits)
        reason = f"a number with more than {sys.get_int_max_str_digits()} digits"
        raise MalformedJson(f"malformed JSON: {reason}", reason) from None
    if "\\u" in text and (where := lone_surrogate_at(value)) is not None:
        reason = (f"string at {where} holds a lone UTF-16 surrogate escape "
                  "(\\ud800-\\udfff without its pair): not Unicode text")
        raise MalformedJson(reason, reason, field=where)
    return value
