"""``shoal jobs get``: a job's run time, against the real web API over HTTP."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import text

from tests.cli.conftest import FakeWorker, Shoal


def _row(shown: str, name: str) -> str:
    [line] = [line for line in shown.splitlines() if line.startswith(f"{name}  ")]
    return line.removeprefix(name).strip()


def test_get_shows_the_run_time_of_a_finished_job(
    shoal_as_analyst: Shoal,
    submit_job: Callable[..., int],
    fake_worker: Callable[..., FakeWorker],
    engine,
) -> None:
    job_id = submit_job({"id": 31})
    assert _row(shoal_as_analyst("jobs", "get", str(job_id)).stdout, "run time") == (
        "not started yet"
    )
    fake_worker(progress=[], pause=0).join()
    with engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE jobs SET finished_at = now() - interval '1 day',"
                " started_at = now() - interval '1 day 185 seconds' WHERE id = :id"
            ),
            {"id": job_id},
        )
    shown = shoal_as_analyst("jobs", "get", str(job_id))
    assert shown.exit_code == 0, shown.output
    assert _row(shown.stdout, "run time") == "3 min 05 s"


def test_get_says_why_a_pending_job_waits(
    shoal_as_analyst: Shoal, submit_job: Callable[..., int]
) -> None:
    job_id = submit_job({"id": 32})
    shown = shoal_as_analyst("jobs", "get", str(job_id), COLUMNS="200")
    assert shown.exit_code == 0, shown.output
    # No manager runs beside this web API.
    assert _row(shown.stdout, "waiting") == (
        "No manager has reported the fleet for over 60 s: nothing starts a TEST worker."
    )
