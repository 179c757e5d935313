"""The fleet's last hour as a small server-drawn SVG line chart: pending jobs per type,
running and finished jobs, and the fleet's size, one point a minute on one time axis."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC

from markupsafe import Markup

from webapi.store.queue_history import Activity

WIDTH, HEIGHT, LEFT, RIGHT, BOTTOM, TOP = 600, 200, 40, 12, 24, 10
LABEL_EVERY = 10  # minutes between time labels
# Distinguishable for the common colour-vision deficiencies (Okabe-Ito), dark enough on white.
COLOURS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#56B4E9", "#E69F00")
# The totals: black dashed, grey dotted, a wide light grey line behind.
RUNNING, FINISHED, WORKERS = ("#000", "6 4"), ("#555", "2 3"), ("#999", "")


@dataclass(frozen=True)
class Series:
    name: str
    values: list[int | None]  # None: not known (no fleet report that minute)
    colour: str
    dash: str = ""
    width: int = 2


@dataclass(frozen=True)
class Chart:
    svg: Markup
    series: list[Series]  # the same numbers, for the table and the legend
    times: list[str]


def activity_chart(history: Activity, job_types: list[str]) -> Chart:
    """The chart and its data; types without jobs in the window are flat zero."""
    count = len(history.minutes)
    zero: list[int | None] = [0] * count
    series = []
    for index, name in enumerate(sorted(set(job_types) | set(history.types))):
        found = history.types.get(name)
        values: list[int | None] = list(found.pending) if found else zero
        series.append(Series(f"{name} pending", values, COLOURS[index % len(COLOURS)]))
    series += [
        Series("running", _total(history, "running", count), *RUNNING),
        Series("finished per minute", _total(history, "finished", count), *FINISHED),
        Series("workers", list(history.workers), *WORKERS, width=4),
    ]
    peak = max([1, *(v for s in series for v in s.values if v is not None)])
    labels = [at.astimezone(UTC).strftime("%H:%M") for at in history.minutes]
    # The workers' line goes first, so that the others are drawn over it.
    parts = [_axes(peak, labels), *(_line(s, peak) for s in [series[-1], *series[:-1]])]
    # Every value drawn is a number or escaped text.
    svg = Markup(  # noqa: S704
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="Pending jobs per type, running and finished jobs and workers, '
        f'per minute over the last hour">{"".join(parts)}</svg>'
    )
    return Chart(svg=svg, series=series, times=labels)


def _total(history: Activity, field: str, count: int) -> list[int | None]:
    totals: list[int | None] = [0] * count
    for counts in history.types.values():
        totals = [(t or 0) + v for t, v in zip(totals, getattr(counts, field), strict=True)]
    return totals


def _x(index: int, count: int) -> float:
    return LEFT + (WIDTH - LEFT - RIGHT) * (index / max(count - 1, 1))


def _y(value: int, peak: int) -> float:
    return HEIGHT - BOTTOM - (HEIGHT - BOTTOM - TOP - 8) * value / peak


def _axes(peak: int, labels: list[str]) -> str:
    base = HEIGHT - BOTTOM
    parts = [
        f'<line x1="{LEFT}" y1="{base}" x2="{WIDTH - RIGHT}" y2="{base}" stroke="#555"/>',
        f'<text x="{LEFT - 6}" y="{_y(peak, peak) + 4:.0f}" text-anchor="end" '
        f'font-size="12">{peak}</text>',
        f'<text x="{LEFT - 6}" y="{base + 4}" text-anchor="end" font-size="12">0</text>',
    ]
    last = len(labels) - 1
    # Every tenth minute from the oldest, and the newest; none so close to it that they
    # would overlap. The ends are anchored inwards so that neither is cut off.
    shown = [i for i in range(0, last, LABEL_EVERY) if last - i >= LABEL_EVERY // 2]
    for index in [*shown, last] if labels else []:
        anchor = "start" if index == 0 else "end" if index == last else "middle"
        parts.append(
            f'<text x="{_x(index, len(labels)):.0f}" y="{HEIGHT - 6}" text-anchor="{anchor}" '
            f'font-size="12">{labels[index]}</text>'
        )
    return "".join(parts)


def _line(series: Series, peak: int) -> str:
    """A polyline per run of known values (a gap where the value is unknown)."""
    runs: list[list[str]] = [[]]
    for i, value in enumerate(series.values):
        if value is None:
            runs.append([])
            continue
        runs[-1].append(f"{_x(i, len(series.values)):.1f},{_y(value, peak):.1f}")
    dash = f' stroke-dasharray="{series.dash}"' if series.dash else ""
    return "".join(
        f'<polyline points="{" ".join(points)}" fill="none" stroke="{series.colour}" '
        f'stroke-width="{series.width}"{dash}/>'
        for points in runs
        if points
    )
