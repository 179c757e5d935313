"""The usage figures as the dashboard writes them, and the per-day chart drawn from them."""

from __future__ import annotations

import itertools
import re
from datetime import date, timedelta
from decimal import Decimal

import pytest

from webapi.ui.figures import amount, hours, money
from webapi.ui.usage_chart import BOTTOM, HEIGHT, LEFT, RIGHT, TOP, WIDTH, Day, day_chart


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (0, "$0.00"),
        (0.000022, "$0.000022"),
        (Decimal("0.0000224"), "$0.000022"),
        (12.5, "$12.50"),
        (12.345678, "$12.345678"),
        (999.9999999, "$1,000.00"),
        (1234567.891, "$1,234,567.89"),
        (None, "–"),
    ],
)
def test_money_keeps_the_apis_millionths_until_cents_are_enough(value, shown) -> None:
    assert money(value) == shown


def test_amounts_have_separators_and_no_trailing_zeros() -> None:
    assert [amount(v) for v in (0, 2.0, 2.0134, 12345.5, 1e6)] == [
        "0",
        "2",
        "2.013",
        "12,345.5",
        "1,000,000",
    ]


def test_hours_keep_small_figures_from_showing_as_zero() -> None:
    assert [hours(s) for s in (0, 6.522, 72, 7200, 5_400_000)] == [
        "0",
        "0.001812",
        "0.02",
        "2",
        "1,500",
    ]


def _days(costs: list[int]) -> list[Day]:
    first = date(2026, 12, 1)
    # vCPU-seconds: half an hour per dollar.
    return [
        Day(first + timedelta(days=n), Decimal(c), Decimal(c) * 1800) for n, c in enumerate(costs)
    ]


def test_a_bar_per_day_with_cost_as_high_as_its_share_of_the_peak() -> None:
    svg = str(day_chart(_days([0, 10, 40, 20])).svg)
    rect = r'<rect x="([\d.]+)" y="[\d.]+" width="[\d.]+" height="([\d.]+)"'
    bars = [(float(x), float(h)) for x, h in re.findall(rect, svg)]
    assert len(bars) == 3  # the day without cost has no bar
    full = HEIGHT - BOTTOM - TOP
    assert [h for _, h in bars] == [pytest.approx(full / 4), full, pytest.approx(full / 2)]
    assert [x for x, _ in bars] == sorted(x for x, _ in bars)
    assert all(LEFT <= x <= WIDTH - RIGHT for x, _ in bars)
    assert ">$40.00</text>" in svg and ">20 vCPU-h</text>" in svg  # both scales' peaks
    points = re.search(r'<polyline points="([^"]+)"', svg)
    assert points and len(points.group(1).split()) == 4  # vCPU-hours: a point a day


LABEL = r'<text x="(\d+)" y="\d+" text-anchor="(\w+)" font-size="12">(\d\d \w+)<'


def test_the_day_labels_stay_inside_and_apart() -> None:
    for count in (1, 2, 7, 31, 32, 366):
        svg = str(day_chart(_days([1] * count)).svg)
        labels = re.findall(LABEL, svg)
        assert 1 <= len(labels) <= 7, count
        xs = [int(x) for x, _, _ in labels]
        assert xs == sorted(xs) and xs[0] == LEFT and xs[-1] in (LEFT, WIDTH - RIGHT)
        assert all(b - a >= 40 for a, b in itertools.pairwise(xs)), (count, xs)
        assert labels[-1][2] == (date(2026, 12, 1) + timedelta(days=count - 1)).strftime("%d %b")


def test_an_empty_period_draws_only_the_axes() -> None:
    svg = str(day_chart(_days([0, 0])).svg)
    assert "<rect" not in svg and ">$0.00</text>" in svg
