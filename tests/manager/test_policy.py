"""The scaling policy: ReefGuide's curve, clamps, cooldown, and no double launch."""

from __future__ import annotations

import pytest

from manager.policy import (
    Observation,
    ScalingPolicy,
    backoff_seconds,
    idle_running,
    in_cooldown,
    launch_count,
    target_workers,
)

POLICY = ScalingPolicy(min=0, max=10, cooldown_seconds=30, sensitivity=2.0, factor=3.0)


def seen(pending: int, in_progress: int = 0, starting: int = 0, running: int = 0) -> Observation:
    return Observation(pending, in_progress, starting, running)


@pytest.mark.parametrize(
    ("pending", "expected"),
    [
        (0, 0),  # no demand, min 0
        (1, 1),  # 2·ln(1/3 + 1) = 0.575 → 1
        (2, 1),  # 2·ln(2/3 + 1) = 1.022 → 1
        (3, 1),  # 2·ln(2) = 1.386 → 1
        (5, 2),  # 2·ln(5/3 + 1) = 1.962 → 2
        (10, 3),  # 2·ln(10/3 + 1) = 2.933 → 3
        (30, 5),  # 2·ln(11) = 4.796 → 5
        (100, 7),  # 2·ln(100/3 + 1) = 7.072 → 7
        (1000, 10),  # 2·ln(1000/3 + 1) = 11.62 → 12, clamped to max 10
    ],
)
def test_target_follows_the_logarithmic_curve(pending: int, expected: int) -> None:
    assert target_workers(pending, POLICY) == expected


def test_min_shifts_the_curve_and_is_the_floor() -> None:
    policy = ScalingPolicy(min=2, max=10, sensitivity=2.0, factor=3.0)
    assert target_workers(0, policy) == 2
    assert target_workers(10, policy) == 5  # 2.9 + 2 → 5


def test_max_clamps_and_zero_max_never_launches() -> None:
    assert target_workers(10**6, ScalingPolicy(max=4)) == 4
    assert target_workers(50, ScalingPolicy(max=0)) == 0
    assert launch_count(seen(50), ScalingPolicy(max=0)) == 0


def test_one_pending_job_gets_a_worker_even_with_low_sensitivity() -> None:
    assert target_workers(1, ScalingPolicy(sensitivity=0.1, factor=100)) == 1


def test_launch_subtracts_starting_and_idle_workers() -> None:
    assert launch_count(seen(10), POLICY) == 3
    assert launch_count(seen(10, starting=2), POLICY) == 1
    assert launch_count(seen(10, running=2), POLICY) == 1  # both idle
    assert launch_count(seen(10, in_progress=2, running=2), POLICY) == 3  # both busy


def test_one_burst_is_never_launched_twice_across_ticks() -> None:
    """Tick by tick while the first launch is still starting, then running and claiming."""
    ticks = [
        seen(10),  # burst arrives: launch 3
        seen(10, starting=3),  # still starting
        seen(10, starting=1, running=2),  # two running, not yet claimed
        seen(7, in_progress=3, running=3),  # all three claimed one job each
    ]
    launched = [launch_count(tick, POLICY) for tick in ticks]
    assert launched[:3] == [3, 0, 0]
    # Busy workers cannot take the 7 still pending: the curve asks for 2·ln(7/3+1) → 2 more.
    assert launched[3] == 2


def test_total_never_passes_max() -> None:
    policy = ScalingPolicy(max=4, sensitivity=5, factor=1)
    assert launch_count(seen(100, in_progress=3, running=3), policy) == 1
    assert launch_count(seen(100, in_progress=4, running=4), policy) == 0
    assert launch_count(seen(100, starting=6), policy) == 0


def test_scale_to_min_without_demand() -> None:
    policy = ScalingPolicy(min=2, max=5)
    assert launch_count(seen(0), policy) == 2
    assert launch_count(seen(0, running=1), policy) == 1
    assert launch_count(seen(0, starting=1, running=1), policy) == 0
    assert launch_count(seen(0, running=4), policy) == 0  # above min: idle exit scales down


def test_in_progress_held_by_other_workers_never_goes_negative() -> None:
    assert idle_running(seen(0, in_progress=5, running=2)) == 0
    assert launch_count(seen(0, in_progress=5), POLICY) == 0


def test_cooldown() -> None:
    assert not in_cooldown(100.0, None, POLICY)
    assert in_cooldown(100.0, 80.0, POLICY)
    assert not in_cooldown(110.0, 80.0, POLICY)


def test_backoff_doubles_and_is_capped() -> None:
    assert [backoff_seconds(n) for n in range(6)] == [0, 10, 20, 40, 80, 160]
    assert backoff_seconds(30) == 600
