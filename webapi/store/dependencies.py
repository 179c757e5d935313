"""Dependencies between jobs: making them (inside a submission's transaction),
cancelling what waits downstream, and reading them.

The judging itself (WAITING → PENDING, or CANCELLED naming the parent) runs in the
database whenever a job ends (``job_ended`` in ``functions.sql``); see
``sql/dependencies.py`` for why a new dependent locks its parents first.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine

from shared import inputs_from
from shared.enums import DependencyCondition, JobStatus
from shared.errors import InvalidInput, NotFound
from webapi.store.prepared import text as _text
from webapi.store.sql import dependencies as sql

MAX_DEPENDENCIES = 100


@dataclass(frozen=True)
class Dependency:
    """What a job waits for: a job or a whole batch (exactly one), on a condition."""

    condition: DependencyCondition
    job_id: int | None = None
    batch_id: int | None = None

    def __post_init__(self) -> None:
        if (self.job_id is None) == (self.batch_id is None):
            raise InvalidInput(
                "A dependency names one job or one batch",
                errors={"dependencies": ["Give job or batch, not both."]},
            )

    @property
    def parent(self) -> str:
        return f"job {self.job_id}" if self.job_id is not None else f"batch {self.batch_id}"

    def as_json(self) -> dict[str, Any]:
        return {"job": self.job_id, "batch": self.batch_id, "condition": self.condition.value}


@dataclass(frozen=True)
class DependencyState:
    """One dependency of a job as it stands: a job parent's status, a batch's counts."""

    condition: DependencyCondition
    job_id: int | None
    batch_id: int | None
    status: JobStatus | None  # a job parent's
    size: int | None  # a batch parent's inputs, how many ended and succeeded
    ended: int | None
    succeeded: int | None


def checked(dependencies: Sequence[Dependency]) -> list[Dependency]:
    """At most ``MAX_DEPENDENCIES``, each parent named once."""
    if len(dependencies) > MAX_DEPENDENCIES:
        raise InvalidInput(
            f"A job has at most {MAX_DEPENDENCIES} dependencies, not {len(dependencies)}",
            errors={"dependencies": [f"Longer than maximum length {MAX_DEPENDENCIES}."]},
        )
    parents = [d.parent for d in dependencies]
    twice = sorted({p for p in parents if parents.count(p) > 1})
    if twice:
        raise InvalidInput(
            f"Dependency on {twice[0]} is given twice",
            errors={"dependencies": [f"{twice[0]} is named twice."]},
        )
    return list(dependencies)


def owners(engine: Engine, dependencies: Sequence[Dependency]) -> dict[str, int]:
    """Each parent (``job 12``, ``batch 7``) → its owner; ``NotFound`` names a missing one."""
    with engine.connect() as conn:
        rows = conn.execute(_text(sql.PARENT_OWNERS), _ids(dependencies)).all()
    found = {f"{kind} {parent_id}": user_id for kind, parent_id, user_id in rows}
    _require(dependencies, found)
    return found


def depend(conn: Connection, job_ids: Sequence[int], dependencies: Sequence[Dependency]) -> None:
    """Make the new WAITING jobs ``job_ids`` depend on ``dependencies``, then settle
    them: a job whose dependencies are met is PENDING, one that can never run CANCELLED.

    Run it in the transaction that created the jobs.
    """
    ids = _ids(dependencies)
    conn.execute(_text(sql.LOCK_PARENTS), ids)
    rows = conn.execute(_text(sql.PARENT_OWNERS), ids).all()
    _require(dependencies, {f"{kind} {parent_id}": user for kind, parent_id, user in rows})
    body = json.dumps([d.as_json() for d in dependencies])
    conn.execute(_text(sql.INSERT_DEPENDENCIES), {"job_ids": list(job_ids), "dependencies": body})
    if ids["batch_ids"]:
        conn.execute(_text(sql.COUNT_BATCHES), {"batch_ids": ids["batch_ids"]})
    conn.execute(_text(sql.SETTLE), {"job_ids": list(job_ids)})


def cancel_downstream(
    conn: Connection, reason: str, *, job_ids: Sequence[int] = (), batch_ids: Sequence[int] = ()
) -> int:
    """Cancel every WAITING job downstream of these jobs and batches; how many."""
    params = {"job_ids": list(job_ids), "batch_ids": list(batch_ids), "reason": reason}
    return len(conn.execute(_text(sql.CANCEL_DOWNSTREAM), params).all())


def has_dependencies(engine: Engine, job_id: int) -> bool:
    with engine.connect() as conn:
        return bool(conn.execute(_text(sql.HAS_DEPENDENCIES), {"job_id": job_id}).scalar())


def of_job(engine: Engine, job_id: int) -> list[DependencyState]:
    """The job's dependencies, in the order they were given."""
    with engine.connect() as conn:
        rows = conn.execute(_text(sql.DEPENDENCIES_OF), {"job_id": job_id}).mappings().all()
    return [
        DependencyState(
            condition=DependencyCondition(row["condition"]),
            job_id=row["job_id"],
            batch_id=row["batch_id"],
            status=None if row["status"] is None else JobStatus(row["status"]),
            size=row["size"],
            ended=row["ended_jobs"],
            succeeded=row["succeeded_jobs"],
        )
        for row in rows
    ]


def _ids(dependencies: Sequence[Dependency]) -> dict[str, list[int]]:
    return {
        "job_ids": [d.job_id for d in dependencies if d.job_id is not None],
        "batch_ids": [d.batch_id for d in dependencies if d.batch_id is not None],
    }


def _require(dependencies: Sequence[Dependency], found: dict[str, int]) -> None:
    missing = [d.parent for d in dependencies if d.parent not in found]
    if missing:
        raise NotFound(f"Dependency on {missing[0]}: {missing[0]} not found; nothing was created")


def check_refs(
    payload: Any, dependencies: Sequence[Dependency], root: str = "inputPayload"
) -> None:
    """Each ``$from`` of the input names a job or batch it depends on (else ``InvalidInput``
    naming where): what a job reads of another is what its submitter may read."""
    jobs = {d.job_id for d in dependencies if d.job_id is not None}
    batches = {d.batch_id for d in dependencies if d.batch_id is not None}
    for ref in inputs_from.refs(payload, root):
        if ref.job in jobs or ref.batch in batches:
            continue
        reason = f"$from names {ref.parent}, which is not one of its dependencies"
        raise InvalidInput(f"{ref.path}: {reason}", errors={f"{ref.path}.$from": [reason]})


def results(
    engine: Engine, *, job_id: int | None = None, batch_id: int | None = None
) -> list[dict[str, Any]]:
    """The job's, or each input's of the batch in input order: ``job_id``, ``status``,
    result ``payload`` and ``storage_uri`` (None unless it succeeded)."""
    statement, params = (
        (sql.JOB_RESULT, {"job_id": job_id})
        if batch_id is None
        else (sql.BATCH_RESULTS, {"batch_id": batch_id})
    )
    with engine.connect() as conn:
        return [dict(row) for row in conn.execute(_text(statement), params).mappings()]
