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

# Explicit embeddings, overrides and isolates (and their terminators): the characters
# that reorder text around them; plain letters of right-to-left scripts are untouched.
BIDI_CONTROLS = re.compile("[\u202a-\u202e\u2066-\u2069]")


def visible_controls(text: object) -> str:
    """``text`` with each bidi control character replaced by a visible ``⟨U+XXXX⟩``."""
    return BIDI_CONTROLS.sub(lambda m: f"⟨U+{ord(m.group()):04X}⟩", str(text))
