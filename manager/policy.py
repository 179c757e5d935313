"""The scaling policy: how many workers to launch for a job type, as pure functions.

The baseline is the ReefGuide capacity manager's logarithmic curve::

    target(P) = clamp(round(sensitivity * ln(P / factor + 1) + min), min, max)
    target(P) = max(target(P), 1)   when P > 0 and max >= 1

where ``P`` is the number of PENDING jobs of the type. Unlike ReefGuide, the
number launched subtracts only the capacity that can still take those pending
jobs (workers starting, and running workers not holding a job), so one burst of
demand is never launched for twice, and the total never passes ``max``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class ScalingPolicy:
    """Per job type: bounds, cooldown between launches, and the curve's shape."""

    min: int = 0
    max: int = 5
    cooldown_seconds: float = 30.0
    sensitivity: float = 2.0
    factor: float = 3.0


@dataclass(frozen=True)
class Observation:
    """What one tick sees for one job type."""

    pending: int
    in_progress: int
    starting: int
    running: int


def target_workers(pending: int, policy: ScalingPolicy) -> int:
    """ReefGuide's logarithmic target for ``pending`` jobs, clamped to [min, max]."""
    if pending <= 0:
        return policy.min
    raw = policy.sensitivity * math.log(pending / policy.factor + 1) + policy.min
    target = min(max(round(raw), policy.min), policy.max)
    # One pending job always deserves one worker, unless max forbids any.
    return max(target, min(1, policy.max))


def idle_running(seen: Observation) -> int:
    """Running workers not holding a job: those can still claim pending ones."""
    return max(0, seen.running - seen.in_progress)


def launch_count(seen: Observation, policy: ScalingPolicy) -> int:
    """How many workers to launch now (before cooldown and caps), never negative.

    ``target(pending) - starting - idle running``, raised to reach ``min`` live
    workers and cut so that live workers never pass ``max``.
    """
    live = seen.starting + seen.running
    wanted = target_workers(seen.pending, policy) - seen.starting - idle_running(seen)
    wanted = max(wanted, policy.min - live)
    return max(0, min(wanted, policy.max - live))


def in_cooldown(now: float, last_launch: float | None, policy: ScalingPolicy) -> bool:
    """True while the type's last launch is more recent than its cooldown."""
    return last_launch is not None and now - last_launch < policy.cooldown_seconds


def backoff_seconds(failures: int, base: float = 10.0, cap: float = 600.0) -> float:
    """Exponential backoff after ``failures`` consecutive failed launches (0 → none)."""
    if failures <= 0:
        return 0.0
    return float(min(cap, base * 2 ** (failures - 1)))
