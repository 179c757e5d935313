"""What ``in_child`` brings back from its forked child, whatever happens there (the
gevent branch, called directly: this process is not monkey-patched, so ``in_child`` itself
runs inline here; tests/e2e/test_loop_blocking.py drives it through gunicorn), and a
request body that lets the loop turn while it is read."""

from __future__ import annotations

import io
import os
import signal
import time
from pathlib import Path

import gevent
import psutil
import pytest

from shared.errors import InvalidInput, TooManyRequests
from webapi.offload import OFFLOADED_NICENESS, _in_fork, _run_in_child, in_child, offload
from webapi.serving import READ_BYTES_PER_TURN, YieldingInput


def _refuse() -> None:
    raise InvalidInput("inputs[3] is bad", errors={"inputs[3].id": ["Not a number."]})


def _throttle() -> None:
    raise TooManyRequests("slow down", retry_after=7)


def _fail() -> None:
    raise KeyError("not a shoal error")


def _die() -> None:
    os._exit(3)


def test_the_value_comes_back_from_another_process_at_a_lower_priority() -> None:
    pid, niceness = _in_fork(lambda: (os.getpid(), os.nice(0)), ())
    assert pid != os.getpid()
    assert niceness == os.nice(0) + OFFLOADED_NICENESS
    assert _in_fork(lambda size: "x" * size, (3_000_000,)) == "x" * 3_000_000  # > a pipe


def test_a_shoal_error_comes_back_whole() -> None:
    with pytest.raises(InvalidInput) as refused:
        _in_fork(_refuse, ())
    assert (refused.value.message, refused.value.errors) == (
        "inputs[3] is bad",
        {"inputs[3].id": ["Not a number."]},
    )
    with pytest.raises(TooManyRequests) as throttled:
        _in_fork(_throttle, ())
    assert throttled.value.retry_after == 7


def test_any_other_failure_or_a_dead_child_is_a_runtime_error() -> None:
    with pytest.raises(RuntimeError, match=r"(?s)forked child failed.*KeyError"):
        _in_fork(_fail, ())
    with pytest.raises(RuntimeError, match=r"died without answering \(status 768\)"):
        _in_fork(_die, ())


def test_without_gevent_both_run_inline() -> None:
    assert in_child(os.getpid) == os.getpid()
    assert offload(os.getpid) == os.getpid()


def _note_then_sleep(folder: str) -> None:
    with open(f"{folder}/pid", "w") as note:
        note.write(str(os.getpid()))
    time.sleep(30)
    open(f"{folder}/done", "w").close()


def test_a_child_whose_answer_nobody_waits_for_is_killed(tmp_path: Path) -> None:
    """The request's greenlet killed (a stopping worker): the child does not run on."""
    waiter = gevent.spawn(_in_fork, _note_then_sleep, (str(tmp_path),))
    while not (tmp_path / "pid").exists() or not (tmp_path / "pid").read_text():
        gevent.sleep(0.01)
    waiter.kill()  # returns once the child is reaped
    pid = int((tmp_path / "pid").read_text())
    assert not psutil.pid_exists(pid)
    assert not (tmp_path / "done").exists()


def test_a_child_past_its_limit_is_killed_and_is_a_timeout(tmp_path: Path) -> None:
    """A check that does not end (a pattern that backtracks for ever) frees its slot."""
    started = time.monotonic()
    with pytest.raises(TimeoutError, match=r"ran past 0\.5 s"):
        _in_fork(_note_then_sleep, (str(tmp_path),), 0.5)
    assert time.monotonic() - started < 10
    assert not psutil.pid_exists(int((tmp_path / "pid").read_text()))
    assert not (tmp_path / "done").exists()


def _spin() -> None:
    while True:
        pass


def test_a_child_past_its_limit_ends_even_with_nobody_to_kill_it() -> None:
    """Its parent SIGKILLed (nobody waits, nobody kills): the kernel ends it at its limit,
    in CPU seconds (1 s here, so 2 with the second of slack)."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        _run_in_child(write_end, read_end, _spin, (), 1.0)
    os.close(write_end)
    os.close(read_end)
    _, status = os.waitpid(pid, 0)  # what the test waits on: the child's end, not a clock
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGXCPU


def test_a_large_body_already_received_lets_the_loop_turn_as_it_is_read() -> None:
    """12 MB in the socket's buffer, read 64 KiB at a time as werkzeug does: another
    greenlet runs about once a MiB, not only when all of it has been read."""
    body = io.BytesIO(b"x" * 12_000_000)
    turns: list[int] = []
    reader = YieldingInput(body)

    def read_all() -> int:
        total = 0
        while chunk := reader.read(64 * 1024):
            total += len(chunk)
        return total

    def count_turns() -> None:
        while True:
            turns.append(body.tell())
            gevent.sleep(0)

    counter = gevent.spawn(count_turns)
    gevent.sleep(0)  # the counter's first turn, before any read
    assert gevent.spawn(read_all).get() == 12_000_000
    counter.kill()
    assert len(turns) >= 12_000_000 // READ_BYTES_PER_TURN
    assert turns[1] <= READ_BYTES_PER_TURN + 64 * 1024
