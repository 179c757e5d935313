"""Workflows: named steps, each a job or a sweep (a batch of one type), waiting for
each other by name, created all or nothing in one transaction and read back with each
step's status and the workflow's.

A step's ``after`` maps earlier steps' names to a condition (its dependencies); its
input may take ``{"$from": {"step": NAME}}`` (a job step's payload, or with ``"file"``
one of its files; a sweep step's manifest), bound to the step's job or batch id when it
is created (``shared/inputs_from``). Steps are created parents first, so the graph must
be acyclic: a cycle, an unknown name or a reference to a step it does not wait for is
refused before anything is written.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine

from shared import inputs_from
from shared.enums import DependencyCondition, JobStatus
from shared.errors import InvalidInput
from webapi.store.dependencies import Dependency
from webapi.store.payloads import canonical_hash
from webapi.store.prepared import text as _text
from webapi.store.queue import Queue
from webapi.store.queue_batches import MAX_BATCH_INPUTS, Batches, CheckedBatch, TypeLookup
from webapi.store.queue_reads import Page, decode_cursor, page_of
from webapi.store.sql import workflows as sql

MAX_STEPS = 50
STEP_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,63}")
_LIVE = (JobStatus.WAITING, JobStatus.PENDING, JobStatus.IN_PROGRESS)


@dataclass(frozen=True)
class Step:
    """A checked step: a job's input, or a sweep's checked inputs."""

    name: str
    type: str
    after: dict[str, DependencyCondition]
    input: dict[str, Any] | None = None
    sweep: CheckedBatch | None = None


@dataclass(frozen=True)
class StepState:
    name: str
    type: str
    after: dict[str, str]
    job_id: int | None
    batch_id: int | None
    status: JobStatus | None  # None: its jobs were deleted since (pruned)
    counts: dict[str, int] | None  # a sweep's inputs per status


@dataclass(frozen=True)
class WorkflowView:
    id: int
    user_id: int
    name: str
    created_at: datetime
    status: JobStatus | None
    steps: list[StepState]


def check(types: TypeLookup, steps: Sequence[Mapping[str, Any]], priority: int = 0) -> list[Step]:
    """The steps checked, in an order that creates parents first; else ``InvalidInput``
    naming the step. Pure Python, no database (the route runs it in a forked child)."""
    if not 1 <= len(steps) <= MAX_STEPS:
        raise _bad("steps", f"A workflow has 1 to {MAX_STEPS} steps, not {len(steps)}")
    by_name: dict[str, Mapping[str, Any]] = {}
    for index, step in enumerate(steps):
        name = step["name"]
        if not STEP_NAME.fullmatch(name) or name in by_name:
            why = "is named twice" if name in by_name else "needs a name of letters, digits, _ -"
            raise _bad(f"steps[{index}].name", f"Step {name!r} {why}")
        by_name[name] = step
    for name, step in by_name.items():
        for parent in step.get("after", {}):
            if parent not in by_name:
                raise _bad(f"{name}.after", f"Step {name} waits for {parent!r}: no such step")
        for parent, field in _step_refs(step):
            if parent not in step.get("after", {}):
                raise _bad(
                    f"{name}.{field}",
                    f"Step {name} takes $from step {parent!r}, which it does not wait for"
                    " (add it to after)",
                )
            if "file" in _ref_of(step, parent) and "inputs" in by_name[parent]:
                raise _bad(f"{name}.{field}", f"Step {parent} is a sweep: it has no one file")
    return [_checked(types, by_name[name], priority) for name in _parents_first(by_name)]


def _parents_first(by_name: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Kahn's order of the names (submitted order among equals); a cycle is refused."""
    waiting = {name: set(step.get("after", {})) for name, step in by_name.items()}
    order: list[str] = []
    while len(order) < len(waiting):
        ready = [n for n, parents in waiting.items() if n not in order and parents <= set(order)]
        if not ready:
            stuck = next(n for n in waiting if n not in order)
            raise _bad(f"{stuck}.after", f"Step {stuck} is on a cycle: no step can run first")
        order.extend(ready)
    return order


def _checked(types: TypeLookup, step: Mapping[str, Any], priority: int) -> Step:
    name, after = (
        step["name"],
        {p: DependencyCondition(c) for p, c in step.get("after", {}).items()},
    )
    try:
        if "inputs" in step:
            sweep = Batches.check(
                types, job_type=step["type"], inputs=step["inputs"], priority=priority
            )
            return Step(name, step["type"], after, sweep=sweep)
        spec = types.get(step["type"])
        return Step(name, step["type"], after, input=spec.input_loader()(step["input"]))
    except InvalidInput as error:
        errors = {f"{name}.{field}": why for field, why in (error.errors or {}).items()}
        raise InvalidInput(f"Step {name}: {error.message}", errors=errors or None) from None


def _step_refs(step: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(step named, field) of each ``$from`` step reference in the step's input(s)."""
    found: list[tuple[str, str]] = []
    field = "inputs" if "inputs" in step else "input"

    def collect(reference: dict[str, Any]) -> dict[str, Any]:
        ref = reference.get(inputs_from.KEY)
        if isinstance(ref, dict) and isinstance(ref.get("step"), str):
            found.append((ref["step"], field))
        return reference

    inputs_from.replace(step.get(field), collect)
    return found


def _ref_of(step: Mapping[str, Any], parent: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = []

    def collect(reference: dict[str, Any]) -> dict[str, Any]:
        ref = reference.get(inputs_from.KEY)
        if isinstance(ref, dict) and ref.get("step") == parent:
            found.append(ref)
        return reference

    inputs_from.replace(step.get("inputs" if "inputs" in step else "input"), collect)
    return {key: value for ref in found for key, value in ref.items()}


def _bind(payload: Any, made: Mapping[str, dict[str, int]]) -> Any:
    """``payload`` with each ``{"$from": {"step": NAME, ...}}`` naming NAME's job or batch."""

    def bind(reference: dict[str, Any]) -> dict[str, Any]:
        ref = reference.get(inputs_from.KEY)
        if not isinstance(ref, dict) or "step" not in ref or ref["step"] not in made:
            return reference
        bound = {k: v for k, v in ref.items() if k != "step"}
        parent = made[ref["step"]]
        bound.update(
            {"job": parent["job_id"]} if "job_id" in parent else {"batch": parent["batch_id"]}
        )
        return {**reference, inputs_from.KEY: bound}

    return inputs_from.replace(payload, bind)


def _bind_sweep(sweep: CheckedBatch, made: Mapping[str, dict[str, int]]) -> CheckedBatch:
    if not any(f'"{inputs_from.KEY}"' in p for p in sweep.payloads):
        return sweep
    payloads = [json.dumps(_bind(json.loads(p), made)) for p in sweep.payloads]
    hashes = [canonical_hash(sweep.type, json.loads(p)) for p in payloads]
    return dataclasses.replace(sweep, payloads=payloads, hashes=hashes)


class Workflows:
    def __init__(self, engine: Engine, queue: Queue, batches: Batches) -> None:
        self.engine = engine
        self.queue = queue
        self.batches = batches

    def create(self, *, user_id: int, name: str, steps: Sequence[Step], priority: int = 0) -> int:
        """Create every step's job or batch, parents first, and the workflow, in one
        transaction: all of it, or (any refusal) nothing. Returns its id."""
        if sum(len(s.sweep.payloads) for s in steps if s.sweep) > MAX_BATCH_INPUTS:
            raise _bad("steps", f"A workflow's sweeps have at most {MAX_BATCH_INPUTS:,} inputs")
        made: dict[str, dict[str, int]] = {}
        record: list[dict[str, Any]] = []
        reused: list[int] = []
        with self.engine.begin() as conn:
            row = conn.execute(
                _text(sql.INSERT_WORKFLOW), {"user_id": user_id, "name": name, "steps": "[]"}
            ).one()
            conn.execute(_text(sql.IN_WORKFLOW), {"workflow_id": row.id})
            for step in steps:
                dependencies = [
                    Dependency(condition, **made[parent])
                    for parent, condition in step.after.items()
                ]
                if step.sweep is not None:
                    created = self.batches.write_on(
                        conn,
                        user_id=user_id,
                        checked=_bind_sweep(step.sweep, made),
                        dependencies=dependencies,
                    )
                    made[step.name] = {"batch_id": created.batch.id}
                    hits = zip(created.job_ids, created.cached, strict=True)
                    reused.extend(job_id for job_id, hit in hits if hit)
                else:
                    job = self.queue.create_on(
                        conn,
                        user_id=user_id,
                        job_type=step.type,
                        payload=_bind(step.input, made),
                        dependencies=dependencies,
                        priority=priority,
                    )
                    made[step.name] = {"job_id": job.job.id}
                    reused.extend([job.job.id] if job.cached else [])
                after = {parent: condition.value for parent, condition in step.after.items()}
                record.append(
                    {"name": step.name, "type": step.type, "after": after, **made[step.name]}
                )
            conn.execute(_text(sql.SET_STEPS), {"id": row.id, "steps": json.dumps(record)})
            if reused:
                conn.execute(_text(sql.TAG_JOBS), {"workflow_id": row.id, "job_ids": reused})
        return int(row.id)

    def get(self, workflow_id: int) -> WorkflowView | None:
        with self.engine.connect() as conn:
            row = conn.execute(_text(sql.GET_WORKFLOW), {"id": workflow_id}).mappings().first()
        return None if row is None else self._view(dict(row))

    def mine(self, user_id: int, *, limit: int, cursor: str | None) -> Page:
        before = decode_cursor(cursor)
        with self.engine.connect() as conn:
            rows = (
                conn.execute(
                    _text(sql.LIST_WORKFLOWS),
                    {"user_id": user_id, "before": before, "limit": limit + 1},
                )
                .mappings()
                .all()
            )
        page = page_of([dict(row) for row in rows], limit, lambda row: row["id"])
        return Page([self._view(row) for row in page.items], page.next_cursor)

    def _view(self, row: Mapping[str, Any]) -> WorkflowView:
        job_ids = [step["job_id"] for step in row["steps"] if "job_id" in step]
        with self.engine.connect() as conn:
            found = conn.execute(_text(sql.JOB_STATUSES), {"job_ids": job_ids}).all()
        statuses = {job_id: JobStatus(status) for job_id, status in found}
        steps = [self._step(step, statuses) for step in row["steps"]]
        overall = summary({s.status: 1 for s in steps if s.status is not None})
        return WorkflowView(
            row["id"], row["user_id"], row["name"], row["created_at"], overall, steps
        )

    def _step(self, step: dict[str, Any], statuses: Mapping[int, JobStatus]) -> StepState:
        job_id, batch_id = step.get("job_id"), step.get("batch_id")
        counts = None
        if batch_id is not None:
            batch = self.batches.get(batch_id)
            by_status = self.batches.status(batch).counts if batch is not None else {}
            counts = {s.value: n for s, n in by_status.items() if n}
            status = summary(by_status)
        else:
            status = statuses.get(job_id) if job_id is not None else None
        return StepState(
            step["name"], step["type"], step["after"], job_id, batch_id, status, counts
        )


def summary(counts: Mapping[JobStatus, int]) -> JobStatus | None:
    """One status for many jobs: live while any is (IN_PROGRESS once any started or
    ended), else SUCCEEDED if all did, FAILED if any failed or timed out, else CANCELLED."""
    present = {status for status, n in counts.items() if n}
    if not present:
        return None
    if present & set(_LIVE):
        if present - {JobStatus.WAITING, JobStatus.PENDING}:
            return JobStatus.IN_PROGRESS
        return JobStatus.PENDING if JobStatus.PENDING in present else JobStatus.WAITING
    if present == {JobStatus.SUCCEEDED}:
        return JobStatus.SUCCEEDED
    if present & {JobStatus.FAILED, JobStatus.TIMED_OUT}:
        return JobStatus.FAILED
    return JobStatus.CANCELLED


def _bad(field: str, message: str) -> InvalidInput:
    return InvalidInput(f"{message}; nothing was created", errors={field: [message]})
