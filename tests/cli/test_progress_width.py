"""``shoal jobs watch``'s progress bar takes the terminal's width."""

from __future__ import annotations

import re
from collections.abc import Callable

from tests.cli.conftest import FakeWorker, Shoal


def _last_frame(stderr: str) -> str:
    frames = [f for f in re.split(r"[\r\n]", re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", stderr)) if f]
    return [f for f in frames if "━" in f][-1]


def test_the_bar_uses_the_terminals_width(
    shoal_as_analyst: Shoal, submit_job: Callable[..., int], fake_worker: Callable[..., FakeWorker]
) -> None:
    widths = {}
    for columns in (80, 160):
        job_id = submit_job({"id": columns})
        playing = fake_worker(progress=[(0.5, "a message long enough to be cut at 80 columns")])
        result = shoal_as_analyst(
            "jobs", "watch", str(job_id), TTY_COMPATIBLE="1", COLUMNS=str(columns)
        )
        playing.join()
        assert result.exit_code == 0, result.output
        frame = _last_frame(result.stderr)
        assert len(frame) <= columns, frame
        widths[columns] = frame.count("━")  # the job succeeded: the whole bar is drawn
    # Two thirds of what the other columns leave (the message has the rest; before, the
    # bar had a fixed 40 that a message squeezed to 2 at 80 columns).
    assert widths == {80: 29, 160: 83}
