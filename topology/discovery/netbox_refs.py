"""Reading NetBox's nested references (``{"id": 1, "name": "DC1", ...}``) defensively.

Shared by the device, cable and VM reader (``netbox``) and the power cabling reader
(``netbox_power``): an answer with a number, a list or null where a reference belongs
is skipped, not a traceback.
"""

from __future__ import annotations

from typing import Any


def ref_name(obj: Any, key: str = "name") -> str | None:
    """``name`` of a nested reference (``{"id": 1, "name": "DC1", ...}``) or None."""
    if isinstance(obj, dict):
        value = obj.get(key)
        return str(value) if value not in (None, "") else None
    return None


def ref_id(obj: Any) -> int | None:
    """``id`` of a nested reference (``{"id": 1, ...}``), None for anything else: an
    answer with a number or a list in its place failed with a traceback
    (AttributeError, or TypeError as a dict key) instead of being skipped."""
    value = obj.get("id") if isinstance(obj, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) else None
