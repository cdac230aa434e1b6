"""The overview's chart: drops per project per day as stacked bars, drawn on the server as SVG.

No script and no network: the browser gets finished markup, each bar segment carries its figure
in a <title> (shown on hover), and the colours are presentation attributes, so the page's
Content-Security-Policy needs no inline style.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date

from markupsafe import Markup, escape

# Distinct for the usual colour-vision deficiencies (Okabe-Ito), cycled past eight projects.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000")
WIDTH, HEIGHT = 760, 240
LEFT, RIGHT, TOP, BOTTOM = 40, 10, 10, 28


def colour(index: int) -> str:
    return PALETTE[index % len(PALETTE)]


def nice_top(peak: int) -> int:
    """A round axis maximum at or above `peak` (1, 2 or 5 times a power of ten)."""
    top = 1
    while True:
        for step in (1, 2, 5):
            if step * top >= peak:
                return step * top
        top *= 10


def stacked_bars(
    days: Sequence[date], projects: Sequence[str], drops: Mapping[tuple[date, str], int]
) -> Markup:
    """An SVG of drops per day (x) stacked by project, with the axis, day labels and a legend."""
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    totals = [sum(drops.get((d, p), 0) for p in projects) for d in days]
    top = nice_top(max(totals, default=0) or 1)
    slot = plot_w / max(len(days), 1)
    bar = max(slot * 0.7, 1.0)
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-labelledby="chart-title" xmlns="http://www.w3.org/2000/svg">',
        f'<title id="chart-title">Drops per project per day, {_day(days[0])} to {_day(days[-1])}'
        "</title>"
        if days
        else '<title id="chart-title">Drops per project per day</title>',
    ]
    step = top // 5 if top >= 10 else 1  # top is 1, 2, 5 or 10, 20, 50 …: five even steps
    for value in range(0, top + 1, step):
        y = TOP + plot_h - plot_h * value / top
        parts.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" '
            f'stroke="#d0d4d9" stroke-width="1"/>'
            f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11" '
            f'fill="#555">{value}</text>'
        )
    for i, day in enumerate(days):
        x = LEFT + slot * i + (slot - bar) / 2
        base = float(TOP + plot_h)
        for j, project in enumerate(projects):
            count = drops.get((day, project), 0)
            if not count:
                continue
            h = plot_h * count / top
            base -= h
            parts.append(
                f'<rect x="{x:.1f}" y="{base:.1f}" width="{bar:.1f}" height="{h:.1f}" '
                f'fill="{colour(j)}"><title>{_day(day)} {escape(project)}: {count}</title></rect>'
            )
        if i % 5 == (len(days) - 1) % 5:  # the last day is always labelled
            parts.append(
                f'<text x="{x + bar / 2:.1f}" y="{HEIGHT - 10}" text-anchor="middle" '
                f'font-size="11" fill="#555">{day:%d %b}</text>'
            )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704  every value above is a number, a date or escaped


def _day(day: date) -> str:
    return day.isoformat()
