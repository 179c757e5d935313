"""Queue depth over the last hour, from the jobs' own timestamps (real PostgreSQL)."""

from __future__ import annotations

from sqlalchemy import Engine, text

from tests.support.queue import claimant, make_queue, make_user
from webapi.store.queue_history import queue_depth


def _now(engine: Engine) -> dict[str, int]:
    return {name: points[-1][1] for name, points in queue_depth(engine).items()}


def test_pending_now_and_in_the_past(engine: Engine) -> None:
    queue = make_queue(engine)
    user = make_user(engine)
    for n in range(3):
        queue.create(user_id=user, job_type="TEST", payload={"id": n})
    assert _now(engine) == {"TEST": 3}
    queue.claim(["TEST"], claimant(user))
    assert _now(engine) == {"TEST": 2}
    # Jobs created 30 minutes ago were pending at the points before, not at the first.
    with engine.begin() as conn:
        conn.execute(text("UPDATE jobs SET created_at = now() - interval '30 minutes'"))
    [points] = queue_depth(engine).values()
    assert len(points) == 13  # every 5 minutes over the hour, both ends
    assert points[0][1] == 0
    assert points[7][1] == 3  # 35 minutes after the start: all three, none started yet
    assert points[-1][1] == 2
