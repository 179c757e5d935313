"""Webhook deliveries across a receiver's outage, with the default back-off.

A real web API (gunicorn) and a worker; a subscription to ``job.ended`` on a local
receiver that is down (nothing listens on its port) while ``--jobs`` jobs end, and
comes back after ``--down-minutes``. The table shows, per event: when its job ended,
each try (seconds after the end, and what it got), when it arrived, and how many times
it arrived (a 2xx answered). With the default back-off (10 s doubling, with jitter, to
an hour) a 10-minute outage takes about 20 to 30 minutes of wall time.

    .venv/bin/python -m bench.webhook_outage --down-minutes 10 --jobs 5
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from collections import Counter
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import text

from bench.harness import Platform, environment_ready, running_platform
from bench.support import machine, print_table
from tests.e2e import live
from tests.support.webhook_receiver import Received, Receiver

# Only what a local receiver needs; the back-off and timeouts stay the defaults.
API_ENV = {"SHOAL_WEBHOOK_ALLOW_PRIVATE": "1", "SHOAL_WEBHOOK_ALLOW_HTTP": "1"}
TRIES = """
SELECT j.id AS job_id, j.finished_at, CAST(e.uid AS text) AS event_id, d.state,
  t.created_at AS tried_at, t.status_code, t.error
FROM webhook_deliveries d JOIN webhook_events e ON e.id = d.event_id
JOIN jobs j ON j.id = e.subject_id
LEFT JOIN webhook_attempts t ON t.delivery_id = d.id
WHERE e.kind = 'job.ended' AND j.id = ANY(:job_ids)
ORDER BY j.id, t.id
"""


class Arrivals:
    """The receiver's 2xx answers: the times each event id arrived."""

    def __init__(self) -> None:
        self.times: dict[str, list[datetime]] = {}
        self.lock = threading.Lock()

    def answer(self, received: Received) -> int:
        with self.lock:
            at = datetime.now(UTC)
            self.times.setdefault(received.headers["Shoal-Event-Id"], []).append(at)
        return 200


def run(platform: Platform, jobs: int, down_seconds: float, timeout: float) -> int:
    """The outage and the table; how many events did not arrive exactly once."""
    port = live.free_port()
    went_down = datetime.now(UTC)
    with platform.admin_client() as client:
        client.create_webhook({"url": f"http://127.0.0.1:{port}/hook", "events": ["job.ended"]})
        job_ids = [
            client.submit_job("TEST", {"id": n, "durationSeconds": 0})["jobId"] for n in range(jobs)
        ]
    platform.start_worker()
    time.sleep(max(0.0, down_seconds - (datetime.now(UTC) - went_down).total_seconds()))
    arrivals = Arrivals()
    receiver = Receiver(arrivals.answer)
    with receiver.serving(port):
        came_back = datetime.now(UTC)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and _pending(platform, job_ids):
            time.sleep(5)
    return _report(platform, job_ids, arrivals, went_down, came_back)


def _pending(platform: Platform, job_ids: list[int]) -> bool:
    """Some job not ended yet, or some delivery of theirs not settled."""
    with platform.sql().connect() as conn:
        rows = conn.execute(text(TRIES), {"job_ids": job_ids}).mappings().all()
    ended = {row["job_id"] for row in rows}
    return len(ended) < len(job_ids) or any(row["state"] == "PENDING" for row in rows)


def _report(
    platform: Platform,
    job_ids: list[int],
    arrivals: Arrivals,
    went_down: datetime,
    came_back: datetime,
) -> int:
    with platform.sql().connect() as conn:
        rows = conn.execute(text(TRIES), {"job_ids": job_ids}).mappings().all()
    by_event: dict[str, list[dict[str, object]]] = {}
    for row in rows:
        by_event.setdefault(row["event_id"], []).append(dict(row))

    def since(at: datetime) -> str:
        return f"{(at - went_down).total_seconds():.0f}"

    table, wrong = [], 0
    for event_id, tries in by_event.items():
        first = tries[0]
        ended: datetime = first["finished_at"]  # type: ignore[assignment]
        answers = [
            f"{since(t['tried_at'])}:{t['status_code'] or str(t['error']).split(':')[0]}"  # type: ignore[arg-type]
            for t in tries
            if t["tried_at"] is not None
        ]
        arrived = arrivals.times.get(event_id, [])
        wrong += len(arrived) != 1
        table.append(
            [
                first["job_id"],
                since(ended),
                len(answers),
                " ".join(answers),
                since(arrived[0]) if arrived else "never",
                len(arrived),
                first["state"],
            ]
        )
    missing = len(job_ids) - len(by_event)
    print(f"webhook outage; {machine()}")
    print(
        f"receiver down from 0 s to {since(came_back)} s; {len(job_ids)} jobs; "
        "times in seconds since it went down; a try is time:answer"
    )
    print_table(
        ["job", "ended", "tries", "tries (time:answer)", "arrived", "times arrived", "state"],
        table,
    )
    counts = Counter(len(t) for t in arrivals.times.values())
    print(f"events arrived exactly once: {counts.get(1, 0)} of {len(job_ids)}")
    if missing:
        print(f"jobs with no event: {missing}")
    return wrong + missing


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--down-minutes", type=float, default=10.0)
    parser.add_argument("--jobs", type=int, default=5)
    parser.add_argument(
        "--timeout-minutes", type=float, default=120.0, help="give up waiting after this long"
    )
    parser.add_argument("--keep", type=Path, help="run in this directory and keep its logs")
    args = parser.parse_args()
    environment_ready()
    with ExitStack() as stack:
        root = args.keep or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="outage-")))
        platform = stack.enter_context(running_platform(root, api_extra_env=API_ENV))
        wrong = run(platform, args.jobs, args.down_minutes * 60, args.timeout_minutes * 60)
    sys.exit(1 if wrong else 0)


if __name__ == "__main__":
    main()
