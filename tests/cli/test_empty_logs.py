"""``shoal jobs logs`` of a job that logged nothing says so, on stderr."""

from __future__ import annotations

from collections.abc import Callable

from tests.cli.conftest import FakeWorker, Shoal


def test_an_empty_log_says_so_on_stderr(
    shoal_as_analyst: Shoal, submit_job: Callable[..., int], fake_worker: Callable[..., FakeWorker]
) -> None:
    job_id = submit_job({"id": 21})
    waiting = shoal_as_analyst("jobs", "logs", str(job_id))
    assert waiting.exit_code == 0, waiting.output
    assert (waiting.stdout, waiting.stderr) == ("", f"job {job_id}: no log lines yet\n")
    playing = fake_worker(progress=[])
    followed = shoal_as_analyst("jobs", "logs", str(job_id), "-f")
    playing.join()
    assert followed.exit_code == 0, followed.output
    assert (followed.stdout, followed.stderr) == (
        "",
        f"job {job_id}: no log lines\njob {job_id} SUCCEEDED\n",
    )
