"""The alert timeline of the incident view, drawn server-side as SVG.

Drawing on the server keeps the view a plain page (no JavaScript bundle to build or
ship) and lets the browser test assert on real shapes.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from markupsafe import Markup, escape

from aiops.api import display
from aiops.api.display import visible_controls

SEVERITY_COLOURS = {"critical": "#c0392b", "major": "#e67e22", "minor": "#f1c40f",
                    "warning": "#3498db", "info": "#95a5a6"}
MAX_TIMELINE_ROWS = 60
MAX_LABEL_CHARS = 40


def _clock(ts: float, dated: bool = False) -> str:
    """A tick's time in UTC; with its date when the axis crosses midnight, since ticks
    of an incident three days long read "08:21:25, 23:21:25, 14:21:25" with no day."""
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%m-%d %H:%M" if dated else "%H:%M:%S")


def _drawn(alerts: list[dict[str, Any]], root_alerts: set[Any]) -> list[dict[str, Any]]:
    """The first ``MAX_TIMELINE_ROWS`` alerts by onset, with the top root cause's alarm
    in its place among them even when it started later (it was left out of a storm)."""
    drawn = alerts[:MAX_TIMELINE_ROWS]
    if any(a["id"] in root_alerts for a in drawn):
        return drawn
    root = [a for a in alerts[MAX_TIMELINE_ROWS:] if a["id"] in root_alerts]
    return drawn[: MAX_TIMELINE_ROWS - len(root)] + root if root else drawn


def _offset(seconds: float) -> str:
    """Onset relative to the first alert, compact: +7s, +2m05s, +1h02m."""
    s = int(round(seconds))
    if s < 60:
        return f"+{s}s"
    if s < 3600:
        return f"+{s // 60}m{s % 60:02d}s"
    return f"+{s // 3600}h{s % 3600 // 60:02d}m"


def shorten(text: str, limit: int = MAX_LABEL_CHARS) -> str:
    """A label cut to ``limit`` Latin character widths (a Chinese character counts two:
    forty of them ran past the picture's left edge)."""
    return display.shorten(text, limit)


def timeline_svg(incident: dict[str, Any], width: int = 900) -> Markup:
    """One bar per alert from start to clear (or to the latest event while firing).

    Alerts of one fault start seconds apart but clear minutes later, so on a shared
    time axis their onsets are indistinguishable; the ``+Ns`` column next to each
    label carries the order that matters for finding the root cause.
    """
    root_alerts = {rc.get("alert_id") for rc in incident["root_causes"][:1]}
    alerts = _drawn(incident["alerts"], root_alerts)
    if not alerts:
        return Markup("<p>No alerts.</p>")
    starts = [a["starts_at_epoch"] for a in alerts]
    ends = [a["ends_at_epoch"] or a["starts_at_epoch"] for a in alerts]
    t0 = min(starts)
    t1 = max(max(ends), max(starts)) + 1.0
    label_w, offset_w, row_h, top = 270, 56, 18, 28
    plot_x = label_w + offset_w
    plot_w = width - plot_x - 10
    height = top + row_h * len(alerts) + 8

    def x(ts: float) -> float:
        return plot_x + (ts - t0) / (t1 - t0) * plot_w

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="timeline" width="{width}" '
             f'height="{height}" viewBox="0 0 {width} {height}" role="img" '
             'aria-label="alert timeline" font-family="system-ui, sans-serif">',
             f'<text x="{plot_x - 6}" y="14" font-size="10" fill="#777" '
             'text-anchor="end">onset</text>']
    parts.extend(f'<rect x="0" y="{top + row * row_h}" width="{width}" height="{row_h}" '
                 'fill="#f7f7f7"/>' for row in range(1, len(alerts), 2))
    dated = _clock(t0, True)[:5] != _clock(t1, True)[:5]
    for i in range(5):
        ts = t0 + (t1 - t0) * i / 4
        anchor = "start" if i == 0 else ("end" if i == 4 else "middle")
        parts.append(f'<line x1="{x(ts):.1f}" y1="{top - 6}" x2="{x(ts):.1f}" y2="{height}" '
                     'stroke="#e5e5e5"/>')
        parts.append(f'<text x="{x(ts):.1f}" y="14" font-size="10" fill="#555" '
                     f'text-anchor="{anchor}">{_clock(ts, dated)}</text>')
    for row, alert in enumerate(alerts):
        y = top + row * row_h
        start = alert["starts_at_epoch"]
        firing = alert["ends_at_epoch"] is None
        end = t1 if firing else alert["ends_at_epoch"]
        colour = SEVERITY_COLOURS.get(alert["severity"], "#777")
        is_root = alert["id"] in root_alerts
        outline = ' stroke="#000" stroke-width="2"' if is_root else ""
        weight = ' font-weight="700"' if is_root else ""
        full = visible_controls(f"{alert['name']} @ {alert['entity']}")
        classes = "alert-bar firing" if firing else "alert-bar"
        parts.append(f'<text x="{label_w - 6}" y="{y + 13}" font-size="11" '
                     f'text-anchor="end"{weight}>{escape(shorten(full))}'
                     f'<title>{escape(full)}</title></text>')
        parts.append(f'<text x="{plot_x - 6}" y="{y + 13}" font-size="10" fill="#555" '
                     f'text-anchor="end">{_offset(start - t0)}</text>')
        parts.append(
            f'<rect class="{classes}" data-alert-id="{escape(alert["id"])}" '
            f'x="{x(start):.1f}" y="{y + 3}" width="{max(x(end) - x(start), 3):.1f}" '
            f'height="{row_h - 6}" rx="2" fill="{colour}"{outline}>'
            f'<title>{escape(full)}: {escape(alert["starts_at"])} → '
            f'{escape(alert["ends_at"] or "firing")}</title></rect>')
        if firing and x(end) - x(start) >= 44:  # a bar that reaches "now" is not a clear
            parts.append(f'<text x="{x(end) - 4:.1f}" y="{y + 12}" font-size="9" '
                         'fill="#fff" text-anchor="end" font-style="italic">firing</text>')
    parts.append("</svg>")
    more = len(incident["alerts"]) - len(alerts)
    note = f'<p class="note">{more} more alerts not drawn.</p>' if more > 0 else ""
    return Markup("".join(parts) + note)
