"""Text from devices and webhooks as the view shows it: bidi controls made visible.

Alert text, entity names and ticket text are written by whoever can send a syslog
line or a webhook. An unpaired right-to-left override (U+202E) in one device name
reversed everything after it in the same line: the other device names of an
incident's title, a root cause's score. The view shows such characters as a visible
``⟨U+202E⟩`` instead of obeying them (what the text says, not what it pretends);
the API keeps them as they came.
"""

from __future__ import annotations

import re
import unicodedata

# Explicit embeddings, overrides and isolates (and their terminators): the characters
# that reorder text around them; plain letters of right-to-left scripts are untouched.
BIDI_CONTROLS = re.compile("[\u202a-\u202e\u2066-\u2069]")


def visible_controls(text: object) -> str:
    """``text`` with each bidi control character replaced by a visible ``⟨U+XXXX⟩``."""
    return BIDI_CONTROLS.sub(lambda m: f"⟨U+{ord(m.group()):04X}⟩", str(text))


def columns(text: str) -> int:
    """How many Latin character widths ``text`` takes: East Asian wide characters take
    two, combining marks none. Labels are cut and boxed by this, not by ``len``: forty
    Chinese characters are twice as wide as forty Latin ones."""
    return sum(0 if unicodedata.combining(c) else
               2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def shorten(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` columns, ending in "…" when it was cut."""
    if columns(text) <= limit:
        return text
    kept, used = [], 0
    for c in text:
        used += columns(c)
        if used > limit - 1:
            break
        kept.append(c)
    return "".join(kept) + "…"
