"""Alert text → template: the variable parts (numbers, addresses, ids) masked.

A storm of "LINK_DOWN on port 1/1/7 of 10.2.3.4" alerts differs only in such parts;
masking them lets one embedding serve the whole storm.
"""

from __future__ import annotations

import re
from functools import lru_cache

from aiops.models import Alert

# Each mask with the characters one of its matches must contain, and how many of them:
# a text short of them cannot match, and skipping the pattern then leaves it as it is.
_MASKS: tuple[tuple[re.Pattern[str], str, str, int], ...] = (
    (re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b"), "<uuid>",
     "-", 4),
    (re.compile(r"\b(?:[0-9a-f]{2}[:-]){5}[0-9a-f]{2}\b"), "<mac>", ":-", 5),
    (re.compile(r"\b\d{1,3}(?:\.\d{1,3}){3}(?:/\d{1,2})?(?::\d{1,5})?\b"), "<ip>", ".", 3),
    (re.compile(r"\b(?:[0-9a-f]{1,4}:){2,7}[0-9a-f]{1,4}\b"), "<ip6>", ":", 2),
    (re.compile(r"\b(?=[0-9a-f]*\d)[0-9a-f]{8,}\b"), "<hex>", "", 0),
    (re.compile(r"\d+(?:\.\d+)?"), "<num>", "", 0),
)
_SPACE = re.compile(r"\s+")


@lru_cache(maxsize=65536)
def template(text: str) -> str:
    """Lower-cased text with variable parts masked and white space folded.

    Runs for most alerts (a summary naming a device and a port rarely repeats), so a
    mask whose separators the text lacks (no '.' for an address, too few '-' for a
    UUID) is skipped without running its pattern: the same result, fewer passes.
    """
    out = text.lower()
    for pattern, mask, separators, needed in _MASKS:
        if needed and sum(map(out.count, separators)) < needed:
            continue
        out = pattern.sub(mask, out)
    return _SPACE.sub(" ", out).strip()


@lru_cache(maxsize=65536)
def alert_text(name: str, summary: str) -> str:
    """What the text model reads of an alert: its type (kept whole: ``ALM_12`` names a
    type, its digits are not a variable part) and its templated one-line summary."""
    return f"{name.replace('_', ' ').lower()}: {template(summary)}"


def event_text(event: Alert) -> str:
    """What the correlator's text model reads of one alert event."""
    return alert_text(event.name, event.summary)
