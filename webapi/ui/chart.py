"""Queue depth as a small server-drawn SVG line chart (one line per job type)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from markupsafe import Markup

WIDTH, HEIGHT, LEFT, BOTTOM, TOP = 600, 180, 36, 22, 10
# Distinguishable for the common colour-vision deficiencies (Okabe-Ito), dark enough on white.
COLOURS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#56B4E9", "#E69F00")


@dataclass(frozen=True)
class Chart:
    svg: Markup
    rows: list[tuple[str, list[int]]]  # per type, the same numbers, for the table
    times: list[str]
    legend: list[tuple[str, str]]  # (type, colour)


def depth_chart(series: dict[str, list[tuple[datetime, int]]], job_types: list[str]) -> Chart:
    """The chart and its data table; types without jobs in the window are flat zero."""
    times = sorted({at for points in series.values() for at, _ in points})
    labels = [at.strftime("%H:%M") for at in times]
    rows = []
    for name in sorted(set(job_types) | set(series)):
        by_time = dict(series.get(name, []))
        rows.append((name, [by_time.get(at, 0) for at in times]))
    peak = max([1, *(v for _, values in rows for v in values)])
    parts = [_axes(peak, labels)]
    legend = [(name, COLOURS[index % len(COLOURS)]) for index, (name, _) in enumerate(rows)]
    for (_, values), (_, colour) in zip(rows, legend, strict=True):
        parts.append(_line(values, peak, colour))
    # Every value drawn is a number or escaped text.
    svg = Markup(  # noqa: S704
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="Pending jobs per type over the last hour">{"".join(parts)}</svg>'
    )
    return Chart(svg=svg, rows=rows, times=labels, legend=legend)


def _x(index: int, count: int) -> float:
    return LEFT + (WIDTH - LEFT - 8) * (index / max(count - 1, 1))


def _y(value: int, peak: int) -> float:
    return HEIGHT - BOTTOM - (HEIGHT - BOTTOM - TOP - 8) * value / peak


def _axes(peak: int, labels: list[str]) -> str:
    base = HEIGHT - BOTTOM
    parts = [
        f'<line x1="{LEFT}" y1="{base}" x2="{WIDTH - 8}" y2="{base}" stroke="#555"/>',
        f'<text x="{LEFT - 6}" y="{_y(peak, peak) + 4:.0f}" text-anchor="end" '
        f'font-size="11">{peak}</text>',
        f'<text x="{LEFT - 6}" y="{base + 4}" text-anchor="end" font-size="11">0</text>',
    ]
    for index in range(0, len(labels), 3):
        parts.append(
            f'<text x="{_x(index, len(labels)):.0f}" y="{HEIGHT - 6}" text-anchor="middle" '
            f'font-size="11">{labels[index]}</text>'
        )
    return "".join(parts)


def _line(values: list[int], peak: int, colour: str) -> str:
    points = " ".join(f"{_x(i, len(values)):.1f},{_y(v, peak):.1f}" for i, v in enumerate(values))
    return f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="2"/>'
