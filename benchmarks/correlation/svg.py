"""A grouped bar chart as plain SVG text.

matplotlib is not a dependency of the project and a chart of a few bars does not
justify one, so the chart is built from strings: groups of bars on a 0–1 axis,
a legend, and a tooltip (``<title>``) with the exact value on every bar.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from xml.sax.saxutils import escape

PALETTE = ("#1f6feb", "#d4a72c", "#8c959f", "#2da44e", "#cf222e", "#8250df")
WIDTH, HEIGHT = 820, 360
LEFT, RIGHT, TOP, BOTTOM = 48, 16, 44, 64


def bar_chart(title: str, groups: Sequence[str], series: Mapping[str, Sequence[float]]) -> str:
    """Bars for each name of ``series`` within each of ``groups``; values in [0, 1]."""
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    names = list(series)
    slot = plot_w / max(len(groups), 1)
    bar = slot * 0.8 / max(len(names), 1)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
           f'viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">',
           f'<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>',
           f'<text x="{WIDTH / 2:.0f}" y="20" text-anchor="middle" font-size="14">'
           f'{escape(title)}</text>']
    for tick in range(6):
        value = tick / 5
        y = TOP + plot_h * (1 - value)
        out.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" '
                   f'stroke="#d0d7de" stroke-width="1"/>')
        out.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{value:.1f}</text>')
    for g, group in enumerate(groups):
        x0 = LEFT + g * slot + slot * 0.1
        for s, name in enumerate(names):
            value = min(max(float(series[name][g]), 0.0), 1.0)
            h = plot_h * value
            x = x0 + s * bar
            colour = PALETTE[s % len(PALETTE)]
            out.append(f'<rect x="{x:.1f}" y="{TOP + plot_h - h:.1f}" width="{bar - 1:.1f}" '
                       f'height="{h:.1f}" fill="{colour}"><title>{escape(name)} '
                       f'{escape(group)}: {value:.3f}</title></rect>')
        out.append(f'<text x="{LEFT + (g + 0.5) * slot:.1f}" y="{TOP + plot_h + 18}" '
                   f'text-anchor="middle">{escape(group)}</text>')
    out.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{TOP + plot_h}" '
               f'y2="{TOP + plot_h}" stroke="#57606a"/>')
    legend_x = LEFT
    for s, name in enumerate(names):
        y = HEIGHT - 18
        out.append(f'<rect x="{legend_x}" y="{y - 10}" width="12" height="12" '
                   f'fill="{PALETTE[s % len(PALETTE)]}"/>')
        out.append(f'<text x="{legend_x + 16}" y="{y}">{escape(name)}</text>')
        legend_x += 24 + 8 * len(name) + 16
    out.append("</svg>")
    return "\n".join(out) + "\n"
