"""A period's usage per day as a small server-drawn SVG: cost as bars on the left scale,
vCPU-hours as a line on the right scale, one slot per day of the period."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from markupsafe import Markup

from webapi.ui.figures import hours, money

WIDTH, HEIGHT, LEFT, RIGHT, BOTTOM, TOP = 600, 230, 20, 20, 24, 28
COST, VCPU = "#0072B2", "#D55E00"  # Okabe-Ito: told apart by the common deficiencies
# Their scales' labels, darker: 4.5:1 or more on white.
COST_TEXT, VCPU_TEXT = "#005A8C", "#A04000"
LABELS = 6  # at most this many day labels under the axis


@dataclass(frozen=True)
class Day:
    day: date
    cost: Decimal
    vcpu_seconds: Decimal


@dataclass(frozen=True)
class DayChart:
    svg: Markup
    days: list[Day]  # the same numbers, for the table under the chart


def day_chart(days: list[Day]) -> DayChart:
    """The chart of ``days`` (every day of the period, in order, zeros included)."""
    cost_peak = max([Decimal(0), *(d.cost for d in days)])
    vcpu_peak = max([Decimal(0), *(d.vcpu_seconds for d in days)])
    parts = [_axes(days, cost_peak, vcpu_peak)]
    slot = (WIDTH - LEFT - RIGHT) / max(len(days), 1)
    bar = max(slot * 0.7, 1.0)
    for index, d in enumerate(days):
        if d.cost > 0:
            height = _height(d.cost, cost_peak)
            x = LEFT + slot * index + (slot - bar) / 2
            parts.append(
                f'<rect x="{x:.1f}" y="{HEIGHT - BOTTOM - height:.1f}" width="{bar:.1f}" '
                f'height="{height:.1f}" fill="{COST}"/>'
            )
    points = " ".join(
        f"{LEFT + slot * (i + 0.5):.1f},{HEIGHT - BOTTOM - _height(d.vcpu_seconds, vcpu_peak):.1f}"
        for i, d in enumerate(days)
    )
    if days:
        parts.append(
            f'<polyline points="{points}" fill="none" stroke="{VCPU}" stroke-width="2" '
            f'stroke-dasharray="6 3"/>'
        )
    # Every value drawn is a number or a figure made of digits and punctuation.
    svg = Markup(  # noqa: S704
        f'<svg class="chart" id="usage-chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="Cost (bars) and vCPU-hours (dashed line) per day">{"".join(parts)}</svg>'
    )
    return DayChart(svg=svg, days=days)


def _height(value: Decimal, peak: Decimal) -> float:
    return 0.0 if peak <= 0 else float((HEIGHT - BOTTOM - TOP) * value / peak)


def _axes(days: list[Day], cost_peak: Decimal, vcpu_peak: Decimal) -> str:
    base, peak = HEIGHT - BOTTOM, TOP
    # Each scale's peak above the plot, at its own side, with a faint line at its height.
    parts = [
        f'<line x1="{LEFT}" y1="{base}" x2="{WIDTH - RIGHT}" y2="{base}" stroke="#555"/>',
        f'<text x="{LEFT - 4}" y="{base + 4}" text-anchor="end" font-size="12">0</text>',
        f'<line x1="{LEFT}" y1="{peak}" x2="{WIDTH - RIGHT}" y2="{peak}" stroke="#ccc" '
        f'stroke-dasharray="2 3"/>',
        f'<text x="{LEFT}" y="{peak - 8}" font-size="12" fill="{COST_TEXT}">'
        f"{money(cost_peak)}</text>",
        f'<text x="{WIDTH - RIGHT}" y="{peak - 8}" text-anchor="end" font-size="12" '
        f'fill="{VCPU_TEXT}">{hours(vcpu_peak)} vCPU-h</text>',
    ]
    slot = (WIDTH - LEFT - RIGHT) / max(len(days), 1)
    step = max(1, -(-len(days) // LABELS))
    last = len(days) - 1
    # Every step-th day from the first, and the last; none so close to it that they overlap.
    shown = [i for i in range(0, last, step) if last - i >= step // 2 + 1 or i == 0]
    for index in [*shown, last] if days else []:
        anchor = "start" if index == 0 else "end" if index == last else "middle"
        x = LEFT if index == 0 else WIDTH - RIGHT if index == last else LEFT + slot * (index + 0.5)
        parts.append(
            f'<text x="{x:.0f}" y="{HEIGHT - 6}" text-anchor="{anchor}" font-size="12">'
            f"{days[index].day.strftime('%d %b')}</text>"
        )
    return "".join(parts)
