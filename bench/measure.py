"""Latency samples per route, and the percentiles the benchmarks print."""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field


def percentile(values: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile (``fraction`` in 0–1) of ``values``; nan when empty."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


@dataclass
class RouteStats:
    """What one route saw: latencies of answered requests, and every failure."""

    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    error_examples: list[str] = field(default_factory=list)

    def record(self, seconds: float, error: str | None = None) -> None:
        self.latencies.append(seconds)
        if error is not None:
            self.errors += 1
            if len(self.error_examples) < 3:
                self.error_examples.append(error)

    def merge(self, other: RouteStats) -> None:
        self.latencies += other.latencies
        self.errors += other.errors
        self.error_examples += other.error_examples[: 3 - len(self.error_examples)]

    @property
    def count(self) -> int:
        return len(self.latencies)

    def row(self, route: str) -> list[object]:
        ms = [1000 * value for value in self.latencies]
        return [
            route,
            self.count,
            self.errors,
            f"{percentile(ms, 0.50):.1f}",
            f"{percentile(ms, 0.95):.1f}",
            f"{percentile(ms, 0.99):.1f}",
            f"{max(ms, default=math.nan):.1f}",
        ]


ROUTE_HEADERS = ["route", "requests", "errors", "p50 ms", "p95 ms", "p99 ms", "max ms"]


def merge_all(parts: Iterable[dict[str, RouteStats]]) -> dict[str, RouteStats]:
    merged: dict[str, RouteStats] = {}
    for part in parts:
        for route, stats in part.items():
            merged.setdefault(route, RouteStats()).merge(stats)
    return merged


def load_average() -> str:
    """The machine's 1-minute load average: other work on it skews every figure."""
    try:
        return f"load average {os.getloadavg()[0]:.1f}"
    except OSError:
        return "load average unknown"
