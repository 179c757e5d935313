"""``workflow.ended`` on a real PostgreSQL: written once, at the commit that ends the last
live job of a workflow's steps, with the status its page shows; and only for the
subscriptions that match (the user's, or the workflow's own)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Engine, text

from shared.enums import JobStatus
from tests.support.queue import claimant, make_queue, make_user
from tests.webapi.store.test_webhook_outbox import end_two_at_once, subscribe
from webapi.store import workflows
from webapi.store.queue import Queue
from webapi.store.queue_batches import Batches
from webapi.store.workflows import Workflows


def _flow(base: int) -> list[dict[str, Any]]:
    """prepare, a sweep of three after it, an aggregate after the sweep (inputs from
    ``base``: two workflows with the same inputs would share jobs through the cache)."""
    return [
        {"name": "prepare", "type": "TEST", "input": {"id": base}},
        {
            "name": "sweep",
            "type": "TEST",
            "inputs": [{"id": base + n} for n in range(1, 4)],
            "after": {"prepare": "afterok"},
        },
        {
            "name": "aggregate",
            "type": "TEST",
            "input": {"id": base + 9},
            "after": {"sweep": "afterok"},
        },
    ]


@pytest.fixture
def user(engine: Engine) -> int:
    return make_user(engine)


@pytest.fixture
def queue(engine: Engine) -> Queue:
    return make_queue(engine, max_attempts=1)


def _create(engine: Engine, queue: Queue, user: int, base: int = 0) -> int:
    flows = Workflows(engine, queue, Batches(engine, queue.registry))
    steps = workflows.check(queue.registry, _flow(base))
    return flows.create(user_id=user, name="flow", steps=steps)


def _workflow_ends(engine: Engine) -> list[tuple[int, int, str, str]]:
    """(webhook, workflow, status, sequence key) of each workflow.ended delivery."""
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT d.webhook_id, e.subject_id, e.status, d.sequence_key "
                "FROM webhook_deliveries d JOIN webhook_events e ON e.id = d.event_id "
                "WHERE e.kind = 'workflow.ended' ORDER BY d.id"
            )
        ).all()
    return [tuple(row) for row in rows]  # type: ignore[misc]


def _job_of(engine: Engine, queue: Queue, flow: int, step: str) -> int:
    view = Workflows(engine, queue, Batches(engine, queue.registry)).get(flow)
    assert view is not None
    [job_id] = [s.job_id for s in view.steps if s.name == step]
    assert job_id is not None
    return job_id


def _run_next(queue: Queue, user: int, status: JobStatus) -> None:
    claimed = queue.claim(["TEST"], claimant(user))
    assert claimed is not None
    queue.complete(
        claimed.assignment.id, claimant(user), status=status, result_payload={}, error="e"
    )


def test_a_workflow_s_end_is_written_once_when_its_last_job_ends(
    engine: Engine, queue: Queue, user: int
) -> None:
    mine = subscribe(engine, user, events=["workflow.ended"])
    other_flow = _create(engine, queue, make_user(engine, "other@example.org"), 100)
    flow = _create(engine, queue, user)
    only_this = subscribe(engine, user, events=["workflow.ended"], workflow_id=flow)
    only_other = subscribe(engine, user, events=["workflow.ended"], workflow_id=other_flow)
    # The other user's workflow ends first: its prepare cancelled, and with it the rest.
    queue.cancel(_job_of(engine, queue, other_flow, "prepare"))
    assert _workflow_ends(engine) == [
        (only_other, other_flow, "CANCELLED", f"workflow:{other_flow}")
    ]
    for _ in range(4):  # prepare, then the sweep's three
        _run_next(queue, user, JobStatus.SUCCEEDED)
        assert len(_workflow_ends(engine)) == 1
    view = Workflows(engine, queue, Batches(engine, queue.registry)).get(flow)
    assert view is not None and view.status is JobStatus.IN_PROGRESS  # the aggregate left
    _run_next(queue, user, JobStatus.SUCCEEDED)
    key = f"workflow:{flow}"
    assert _workflow_ends(engine)[1:] == [
        (mine, flow, "SUCCEEDED", key),
        (only_this, flow, "SUCCEEDED", key),
    ]
    with engine.connect() as conn:
        data = conn.execute(
            text("SELECT data FROM webhook_events WHERE subject_id = :id"), {"id": flow}
        ).scalar_one()
    assert data["workflow"]["counts"] == {"SUCCEEDED": 5}
    assert (data["workflow"]["name"], data["workflow"]["userId"]) == ("flow", user)


def test_a_failed_parent_ends_its_workflow_failed_once(
    engine: Engine, queue: Queue, user: int
) -> None:
    """The prepare step fails: the transaction that ends it cancels the sweep and the
    aggregate (afterok), and its commit writes the workflow's end, FAILED, once."""
    hook = subscribe(engine, user, events=["workflow.ended"], failures_only=True)
    flow = _create(engine, queue, user)
    _run_next(queue, user, JobStatus.FAILED)
    assert _workflow_ends(engine) == [(hook, flow, "FAILED", f"workflow:{flow}")]
    view = Workflows(engine, queue, Batches(engine, queue.registry)).get(flow)
    assert view is not None and view.status is JobStatus.FAILED
    with engine.connect() as conn:
        data = conn.execute(
            text("SELECT data FROM webhook_events WHERE kind = 'workflow.ended'")
        ).scalar_one()
    assert data["workflow"]["counts"] == {"FAILED": 1, "CANCELLED": 4}


def test_a_workflow_that_succeeds_is_not_sent_to_failures_only(
    engine: Engine, queue: Queue, user: int
) -> None:
    subscribe(engine, user, events=["workflow.ended"], failures_only=True)
    _create(engine, queue, user)
    for _ in range(5):
        _run_next(queue, user, JobStatus.SUCCEEDED)
    assert _workflow_ends(engine) == []


def test_every_job_of_a_workflow_knows_it(engine: Engine, queue: Queue, user: int) -> None:
    flow = _create(engine, queue, user)
    with engine.connect() as conn:
        tagged = conn.execute(
            text("SELECT count(*) FROM jobs WHERE workflow_id = :id"), {"id": flow}
        ).scalar_one()
    assert tagged == 5


def test_the_last_two_jobs_of_a_workflow_ending_at_once_write_one_end(
    engine: Engine, queue: Queue, user: int
) -> None:
    """Each transaction checks for the workflow's end before either commits: the second
    waits for the first's lock on the workflow row, so it sees the first's end."""
    hook = subscribe(engine, user, events=["workflow.ended"])
    steps = [{"name": n, "type": "TEST", "input": {"id": i}} for i, n in enumerate("ab")]
    flows = Workflows(engine, queue, Batches(engine, queue.registry))
    flow = flows.create(user_id=user, name="two", steps=workflows.check(queue.registry, steps))
    job_ids = [_job_of(engine, queue, flow, name) for name in "ab"]
    end_two_at_once(engine, job_ids, "jobs_webhook_workflow_ended")
    assert _workflow_ends(engine) == [(hook, flow, "CANCELLED", f"workflow:{flow}")]


def test_a_live_job_a_workflow_reused_ends_it(engine: Engine, queue: Queue, user: int) -> None:
    """A step answered by a job submitted before (the type caches): that job is the
    workflow's too, so its end is the workflow's."""
    hook = subscribe(engine, user, events=["workflow.ended"])
    earlier = queue.create(user_id=user, job_type="TEST", payload={"id": 7}).job.id
    steps = [{"name": "only", "type": "TEST", "input": {"id": 7}}]
    flows = Workflows(engine, queue, Batches(engine, queue.registry))
    flow = flows.create(user_id=user, name="one", steps=workflows.check(queue.registry, steps))
    assert _job_of(engine, queue, flow, "only") == earlier
    _run_next(queue, user, JobStatus.SUCCEEDED)
    assert _workflow_ends(engine) == [(hook, flow, "SUCCEEDED", f"workflow:{flow}")]
