"""The loop monitor on a gevent loop in this process: what counts as a block, its stack,
the gauge, and the setting. tests/e2e/test_loop_blocking.py runs it in gunicorn."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator

import gevent
import pytest

from shared.settings import SettingsError
from webapi.loop_monitor import REPORT_VAR, LoopMonitor, RunQueueWait, report_after

Watch = Callable[..., tuple[LoopMonitor, list[float]]]


def _compute_for(seconds: float) -> None:
    """Hold the loop: Python code that never waits, for ``seconds`` of this thread's CPU."""
    started = time.thread_time()
    while time.thread_time() - started < seconds:
        pass


@pytest.fixture
def watch() -> Iterator[Watch]:
    started: list[LoopMonitor] = []

    def start(**kwargs: object) -> tuple[LoopMonitor, list[float]]:
        published: list[float] = []
        monitor = LoopMonitor(report_after=0.1, on_longest=published.append, **kwargs)  # type: ignore[arg-type]
        monitor.start()
        started.append(monitor)
        return monitor, published

    yield start
    for monitor in started:
        monitor.stop()


def _blocks(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if getattr(r, "action", None) == "loop.blocked"]


def _until(check: Callable[[], object], what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"no {what} after {timeout} s"
        gevent.sleep(0.01)  # the monitor's greenlet logs and publishes meanwhile


def test_a_greenlet_that_computes_is_a_block_one_that_waits_is_not(
    watch: Watch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, "webapi.loop_monitor")
    monitor, published = watch()
    gevent.spawn(gevent.sleep, 0.3).join()  # waits 300 ms: the loop is free meanwhile
    assert monitor.longest < 0.01  # the loop waiting for something to do is no block
    gevent.spawn(_compute_for, 0.15).join()
    _until(lambda: _blocks(caplog), "block logged")
    [block] = _blocks(caplog)
    assert block.blocked_ms >= 150 - 20  # type: ignore[attr-defined]  # less the run queue
    assert "_compute_for" in block.stack  # type: ignore[attr-defined]
    assert published[-1] == monitor.longest >= 0.13


def test_time_spent_waiting_for_a_cpu_is_not_a_block(watch: Watch) -> None:
    """A run-queue clock that runs with the wall clock: the process waited all along."""
    monitor, _ = watch(waited=time.perf_counter)
    gevent.spawn(_compute_for, 0.15).join()
    assert monitor.longest == 0  # measured at the switch back, so already known


def test_the_run_queue_wait_is_read_and_only_grows() -> None:
    waited = RunQueueWait()
    first = waited()
    _compute_for(0.01)
    assert 0 <= first <= waited()


def test_the_report_threshold_setting() -> None:
    assert report_after({}) is None
    assert report_after({REPORT_VAR: ""}) is None
    assert report_after({REPORT_VAR: "100"}) == 0.1
    for bad in ("soon", "0", "-5"):
        with pytest.raises(SettingsError, match=REPORT_VAR):
            report_after({REPORT_VAR: bad})
