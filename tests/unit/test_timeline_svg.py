"""The alert timeline of the incident view."""

from __future__ import annotations

import re
from typing import Any

from aiops.api.timeline_svg import MAX_TIMELINE_ROWS, timeline_svg
from aiops.timeutil import to_rfc3339

T0 = 1_800_000_000.0  # 2027-01-15T08:00:00Z


def alert(alert_id: str, start: float, end: float | None = None) -> dict[str, Any]:
    return {"id": alert_id, "name": "LINK_DOWN", "entity": "ne-1", "severity": "major",
            "starts_at": to_rfc3339(start), "ends_at": to_rfc3339(end),
            "starts_at_epoch": start, "ends_at_epoch": end}


def ticks(svg: str) -> list[str]:
    return re.findall(r'<text x="[\d.]+" y="14" font-size="10" fill="#555" '
                      r'text-anchor="\w+">([^<]*)</text>', svg)


def test_an_incident_over_days_dates_its_ticks() -> None:
    """Three days drew the ticks 08:00:00, 02:00:00, 20:00:00...: no day to tell them apart."""
    svg = str(timeline_svg({"alerts": [alert("a", T0, T0 + 3 * 86_400), alert("b", T0 + 5)],
                            "root_causes": []}))
    assert ticks(svg) == ["01-15 08:00", "01-16 02:00", "01-16 20:00", "01-17 14:00",
                          "01-18 08:00"]


def test_an_incident_within_a_day_keeps_seconds() -> None:
    svg = str(timeline_svg({"alerts": [alert("a", T0), alert("b", T0)], "root_causes": []}))
    assert ticks(svg) == ["08:00:00", "08:00:00", "08:00:00", "08:00:00", "08:00:01"]


def test_the_root_cause_alarm_is_drawn_even_past_the_cap() -> None:
    """In a storm the top root cause's alarm started late: it was cut off with the rest,
    so the picture had no outlined bar at all."""
    alerts = [alert(f"s{i:03d}", T0 + i) for i in range(MAX_TIMELINE_ROWS + 20)]
    root = alerts[MAX_TIMELINE_ROWS + 5]["id"]
    svg = str(timeline_svg({"alerts": alerts, "root_causes": [{"alert_id": root}]}))
    drawn = re.findall(r'class="alert-bar[^"]*" data-alert-id="([^"]+)"', svg)
    assert drawn == [a["id"] for a in alerts[:MAX_TIMELINE_ROWS - 1]] + [root]
    assert re.search(rf'data-alert-id="{root}"[^>]* stroke="#000"', svg)
    assert '<p class="note">20 more alerts not drawn.</p>' in svg


def test_a_label_of_wide_characters_is_cut_to_the_same_width() -> None:
    """Forty Chinese characters passed the 40-character cut and, twice as wide as
    Latin ones, ran past the picture's left edge."""
    wide = dict(alert("a", T0), name="链路中断" * 10, entity="核心路由器")
    svg = str(timeline_svg({"alerts": [wide], "root_causes": []}))
    label = re.search(r'<text x="264" y="\d+" font-size="11" text-anchor="end">([^<]*)<title>',
                      svg).group(1)
    assert label == "链路中断" * 4 + "链路中" + "…"
    assert f"<title>{'链路中断' * 10} @ 核心路由器</title>" in svg
