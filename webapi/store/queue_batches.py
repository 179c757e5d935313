"""Batches: many jobs of one type submitted in one request, and followed as one.

Creating a batch is all or nothing: every input is checked before anything is
written, then the jobs, their requests and the batch are written in one statement
(after the payloads' hash locks, when the type caches) and announced in one
notification. The result cache applies per input exactly as for one submission.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import Connection, Engine

from shared import inputs_from
from shared.enums import JobStatus
from shared.errors import InvalidInput
from shared.jobtypes import JobTypes, JobTypeSpec
from webapi.store import budgets, idempotency
from webapi.store import dependencies as deps
from webapi.store.dependencies import Dependency
from webapi.store.idempotency import IdempotencyKey
from webapi.store.labels import NO_LABELS, Labels
from webapi.store.limits import check_pending_limit, check_priority
from webapi.store.payloads import canonical_hash
from webapi.store.prepared import text as _text
from webapi.store.queue_reads import Page, decode_cursor, page_of
from webapi.store.records import BatchRecord, JobRecord
from webapi.store.sql import batches as batches_sql
from webapi.store.sql import lease as lease_sql
from webapi.store.sql.fragments import CHANNEL, NOTIFY

MAX_BATCH_INPUTS = 10_000
# The least statement timeout a batch's writes run under (see AT_LEAST_STATEMENT_TIMEOUT).
BATCH_STATEMENT_MS = 60_000
# How many bad inputs a refused batch names in ``errors`` (the message names the first).
_BAD_INPUTS_NAMED = 20


@dataclass(frozen=True)
class BatchCreated:
    batch: BatchRecord
    job_ids: list[int]  # in input order
    cached: list[bool]  # per input: answered by an existing job (or an earlier input)
    replayed: bool = False  # the answer of an earlier submission with the same key

    @property
    def created(self) -> int:
        return self.cached.count(False)


@dataclass(frozen=True)
class CheckedBatch:
    """A batch's checked inputs, as writing them needs them: JSON text, not parsed values
    (those take ten times the text's memory, and parsing them again as long as checking)."""

    type: str
    revision: int | None  # of the registered type the inputs were checked against
    priority: int
    hashes: list[str]  # per input, its canonical hash
    payloads: list[str]  # per input, its checked payload as JSON
    labels: Labels = NO_LABELS  # every new job's name and tags
    use_cache: bool = True  # False: no earlier job answers an input


class TypeLookup(Protocol):
    def get(self, name: str) -> JobTypeSpec:
        """A type new jobs may be submitted to; else ``InvalidInput``."""


@dataclass(frozen=True)
class BatchStatus:
    batch: BatchRecord
    counts: dict[JobStatus, int]  # inputs per status of their job; every status present
    deleted: int  # inputs whose job was deleted since (pruned after it finished)
    finished: float  # the fraction of inputs whose job is finished (or deleted)
    progress: float  # the mean progress of the inputs' jobs, a finished one counting 1
    running: int  # jobs IN_PROGRESS now
    mean_run_seconds: float | None  # over its jobs that ran to an end; None before one has
    eta_seconds: float | None  # see ``eta``


@dataclass(frozen=True)
class BatchInput:
    input_index: int  # from 1, in input order
    job: JobRecord


@dataclass(frozen=True)
class StoredResult:
    input_index: int
    job_id: int
    storage_uri: str  # where its files are


def eta(mean_run_seconds: float | None, remaining: int, running: int) -> float | None:
    """Seconds until the batch's live jobs end: their mean run time so far times the jobs
    left, over the jobs running at once now. 0 when none is left; None when it cannot be
    told (no job has ended yet, or none is running)."""
    if remaining == 0:
        return 0.0
    if mean_run_seconds is None or running == 0:
        return None
    return mean_run_seconds * remaining / running


@dataclass(frozen=True)
class BatchCancelled:
    by_type: dict[str, int]  # the batch's jobs cancelled, per job type
    dependents: int  # WAITING jobs downstream of it cancelled with it


class Batches:
    def __init__(self, engine: Engine, registry: JobTypes) -> None:
        self.engine = engine
        self.registry = registry

    def create(
        self,
        *,
        user_id: int,
        job_type: str,
        inputs: Sequence[Any],
        priority: int = 0,
        idempotency_key: str | None = None,
        labels: Labels = NO_LABELS,
        use_cache: bool = True,
        dependencies: Sequence[Dependency] = (),
    ) -> BatchCreated:
        """Create the batch's jobs, or change nothing and name the bad inputs.

        Its new jobs count against the user's max PENDING (429 past it, nothing created).
        With ``idempotency_key``, a submission that used it in the last day is answered
        again (``replayed``) and nothing is created (409 if it asked for something else).
        """
        checked = self.check(
            self.registry,
            job_type=job_type,
            inputs=inputs,
            priority=priority,
            labels=labels,
            use_cache=use_cache,
        )
        return self.create_checked(
            user_id=user_id,
            checked=checked,
            idempotency_key=idempotency_key,
            dependencies=dependencies,
        )

    @staticmethod
    def check(
        types: TypeLookup,
        *,
        job_type: str,
        inputs: Sequence[Any],
        priority: int = 0,
        labels: Labels = NO_LABELS,
        use_cache: bool = True,
    ) -> CheckedBatch:
        """Every input checked against the type's schema as ``types`` has it, or
        ``InvalidInput`` naming the bad ones. Pure Python, and no database if ``types``
        needs none (a catalogue's snapshot): the web API runs it in a forked child."""
        check_priority(priority)
        spec = types.get(job_type)
        if not 1 <= len(inputs) <= MAX_BATCH_INPUTS:
            raise InvalidInput(
                f"A batch has 1 to {MAX_BATCH_INPUTS:,} inputs, not {len(inputs):,}",
                errors={"inputs": [f"Length must be between 1 and {MAX_BATCH_INPUTS}."]},
            )
        loaded = check_inputs(spec, inputs)
        hashes = [canonical_hash(job_type, payload) for payload in loaded]
        payloads = [json.dumps(p) for p in loaded]
        return CheckedBatch(job_type, spec.revision, priority, hashes, payloads, labels, use_cache)

    def create_checked(
        self,
        *,
        user_id: int,
        checked: CheckedBatch,
        idempotency_key: str | None = None,
        dependencies: Sequence[Dependency] = (),
    ) -> BatchCreated:
        """Create the jobs of a checked batch (``check``); see ``create``. They record the
        revision their inputs were checked against, even if the type changed since.

        With ``dependencies`` every job of it is new (none is the cache's) and waits
        for them (``Queue.create``)."""
        spec = self.registry.get(checked.type)  # unknown or retired since: refused
        if spec.revision != checked.revision:
            spec = self.registry.at(checked.type, checked.revision)
        dependencies = deps.checked(dependencies)
        for index, payload in enumerate(checked.payloads):
            if f'"{inputs_from.KEY}"' in payload:  # only those need parsing again
                deps.check_refs(json.loads(payload), dependencies, f"inputs[{index}]")
        asked: list[Any] = [checked.type, checked.priority, checked.hashes]
        if checked.labels != NO_LABELS or not checked.use_cache:  # older keys stay valid
            asked += [checked.labels.asked(), checked.use_cache]
        if dependencies:
            asked.append([d.as_json() for d in dependencies])
        key = IdempotencyKey.of(idempotency_key, "batch", *asked)
        with self.engine.begin() as conn:
            earlier = None if key is None else idempotency.take(conn, user_id, key)
            if earlier is not None:
                return _replayed(conn, earlier.batch_id)
            conn.execute(_text(batches_sql.AT_LEAST_STATEMENT_TIMEOUT), {"ms": BATCH_STATEMENT_MS})
            created = self._write(conn, spec, user_id, checked, dependencies)
            if key is not None:
                idempotency.answered(conn, user_id, key, batch_id=created.batch.id)
        return created

    def write_on(
        self,
        conn: Connection,
        *,
        user_id: int,
        checked: CheckedBatch,
        dependencies: Sequence[Dependency],
    ) -> BatchCreated:
        """``create_checked`` in the caller's transaction (a workflow's), without
        idempotency; the inputs' ``$from`` must name the dependencies."""
        spec = self.registry.at(checked.type, checked.revision)
        for index, payload in enumerate(checked.payloads):
            if f'"{inputs_from.KEY}"' in payload:
                deps.check_refs(json.loads(payload), dependencies, f"inputs[{index}]")
        conn.execute(_text(batches_sql.AT_LEAST_STATEMENT_TIMEOUT), {"ms": BATCH_STATEMENT_MS})
        return self._write(conn, spec, user_id, checked, dependencies)

    def _write(
        self,
        conn: Connection,
        spec: JobTypeSpec,
        user_id: int,
        checked: CheckedBatch,
        dependencies: Sequence[Dependency],
    ) -> BatchCreated:
        hashes = checked.hashes
        cache = spec.cache_results and not dependencies
        firsts = _firsts(hashes) if cache else list(range(len(hashes)))
        reuse = self._reusable(conn, spec, user_id, hashes) if cache and checked.use_cache else {}
        new = sum(1 for i, first in enumerate(firsts) if i == first and hashes[i] not in reuse)
        if new:
            check_pending_limit(conn, user_id, adding=new)
            budgets.check(conn, self.registry, user_id, spec, new)
        params = {
            "type": spec.name,
            "user_id": user_id,
            "max_attempts": spec.max_attempts,
            "lease_seconds": spec.lease_seconds,
            "timeout_seconds": spec.timeout_seconds,
            "type_revision": spec.revision,
            "priority": checked.priority,
            **checked.labels.params(),
            "status": (JobStatus.WAITING if dependencies else JobStatus.PENDING).value,
        }
        rows = _rows(checked, firsts, reuse)
        members = conn.execute(_text(batches_sql.CREATE_BATCH), {**params, "inputs": rows}).all()
        batch = _batch(conn, members[0].batch_id)
        if dependencies:
            deps.depend(conn, [m.job_id for m in members], dependencies)  # wakes claimers
        elif new:
            conn.execute(_text(NOTIFY), _notification(batch, new))
        return BatchCreated(batch, [m.job_id for m in members], [m.hit for m in members])

    @staticmethod
    def _reusable(
        conn: Connection, spec: JobTypeSpec, user_id: int, hashes: list[str]
    ) -> dict[str, int]:
        """Hash → the job the cache answers it with; the hashes stay locked till commit."""
        if not spec.cache_results:
            return {}
        conn.execute(_text(batches_sql.LOCK_HASHES), {"hashes": hashes})
        owner = user_id if spec.cache_scope == "user" else None
        found = conn.execute(
            _text(batches_sql.FIND_REUSABLE),
            {"type": spec.name, "hashes": sorted(set(hashes)), "owner": owner},
        )
        return {digest: job_id for digest, job_id in found.all()}  # noqa: C416 - rows

    def get(self, batch_id: int) -> BatchRecord | None:
        with self.engine.connect() as conn:
            row = (
                conn.execute(_text(batches_sql.GET_BATCH), {"batch_id": batch_id})
                .mappings()
                .first()
            )
        return None if row is None else BatchRecord.from_row(row, "batch__")

    def status(self, batch: BatchRecord) -> BatchStatus:
        """Counts, progress and ETA from one statement's row per status."""
        counts = dict.fromkeys(JobStatus, 0)
        jobs = dict.fromkeys(JobStatus, 0)
        done = run_seconds = 0.0
        ran = 0
        with self.engine.connect() as conn:
            for row in conn.execute(_text(batches_sql.BATCH_COUNTS), {"batch_id": batch.id}):
                status = JobStatus(row.status)
                counts[status], jobs[status] = int(row.n), row.jobs
                done += float(row.progress)
                if status is not JobStatus.CANCELLED:  # cut short: says nothing of run time
                    ran += row.ran
                    run_seconds += float(row.run_seconds)
        deleted = batch.size - sum(counts.values())
        finished = deleted + sum(n for status, n in counts.items() if status.terminal)
        mean = run_seconds / ran if ran else None
        running = jobs[JobStatus.IN_PROGRESS]
        remaining = jobs[JobStatus.PENDING] + running
        return BatchStatus(
            batch,
            counts,
            deleted,
            finished / batch.size,
            (done + deleted) / batch.size,
            running,
            mean,
            eta(mean, remaining, running),
        )

    def failed(self, batch_id: int, *, limit: int, after: int | None) -> list[BatchInput]:
        """The batch's inputs whose job FAILED or TIMED_OUT, in input order after input
        ``after``, ``limit`` of them."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                _text(batches_sql.BATCH_FAILED),
                {"batch_id": batch_id, "after": after, "limit": limit},
            ).mappings()
            return [BatchInput(r["input_index"], JobRecord.from_row(r, "job__")) for r in rows]

    def results(self, batch_id: int, *, page: int = 100) -> Iterator[StoredResult]:
        """Where each SUCCEEDED input's files are, in input order; read ``page`` at a time,
        each page on a connection of its own (a slow reader holds none meanwhile)."""
        after = None
        while True:
            with self.engine.connect() as conn:
                rows = conn.execute(
                    _text(batches_sql.BATCH_RESULTS),
                    {"batch_id": batch_id, "after": after, "limit": page},
                ).all()
            yield from (StoredResult(r.input_index, r.job_id, r.storage_uri) for r in rows)
            if len(rows) < page:
                return
            after = rows[-1].input_index

    def of_job(self, job_id: int) -> BatchRecord | None:
        """The batch that created the job, if a batch did."""
        with self.engine.connect() as conn:
            found = conn.execute(_text(batches_sql.JOB_BATCH), {"job_id": job_id})
            return BatchRecord.first_of(found, "batch__")

    def cancel(self, batch_id: int, *, creator: int | None) -> BatchCancelled:
        """Cancel the batch's live jobs that ``creator`` created (None: all, for an admin),
        and every WAITING job downstream of the batch or of them."""
        with self.engine.begin() as conn:
            locked = conn.execute(
                _text(batches_sql.LOCK_BATCH_LIVE), {"batch_id": batch_id, "user_id": creator}
            )
            job_ids = list(locked.scalars())
            if not job_ids:
                return BatchCancelled({}, 0)
            reason = f"dependency batch {batch_id} was cancelled"
            downstream = deps.cancel_downstream(conn, reason, job_ids=job_ids, batch_ids=[batch_id])
            cancelled: dict[str, int] = {}
            for row in conn.execute(_text(lease_sql.CANCEL), {"job_ids": job_ids}).mappings():
                job_type = row["job__type"]
                cancelled[job_type] = cancelled.get(job_type, 0) + 1
            return BatchCancelled(cancelled, downstream)

    def jobs(self, batch_id: int, *, limit: int, cursor: str | None) -> Page:
        """The batch's inputs (``BatchInput``) in input order, ``limit`` at a time."""
        after = decode_cursor(cursor)
        with self.engine.connect() as conn:
            rows = conn.execute(
                _text(batches_sql.BATCH_JOBS),
                {"batch_id": batch_id, "after": after, "limit": limit + 1},
            ).mappings()
            found = [
                (
                    row["request_id"],
                    BatchInput(row["input_index"], JobRecord.from_row(row, "job__")),
                )
                for row in rows
            ]
        page = page_of(found, limit, lambda item: item[0])
        return Page([member for _, member in page.items], page.next_cursor)

    def mine(self, user_id: int, *, limit: int, cursor: str | None) -> Page:
        """The user's batches, newest first."""
        before = decode_cursor(cursor)
        with self.engine.connect() as conn:
            rows = conn.execute(
                _text(batches_sql.LIST_BATCHES),
                {"user_id": user_id, "before": before, "limit": limit + 1},
            ).mappings()
            batches = [BatchRecord.from_row(row, "batch__") for row in rows]
        return page_of(batches, limit, lambda batch: batch.id)


def check_inputs(spec: JobTypeSpec, inputs: Sequence[Any]) -> list[dict[str, Any]]:
    """Each input checked against the type's schema; bad ones are named by index: from 0
    in ``errors`` (``inputs[1].id``, the body's own indexes), from 1 in the message."""
    load = spec.input_loader()
    loaded: list[dict[str, Any]] = []
    bad: list[tuple[int, InvalidInput]] = []
    for index, payload in enumerate(inputs):
        try:
            loaded.append(load(payload))
        except InvalidInput as error:
            bad.append((index, error))
    if not bad:
        return loaded
    errors: dict[str, list[str]] = {}
    for index, refused in bad[:_BAD_INPUTS_NAMED]:
        for field, reasons in (refused.errors or {"inputPayload": [refused.message]}).items():
            errors[field.replace("inputPayload", f"inputs[{index}]", 1)] = reasons
    # The message is read by people: inputs counted from 1 ("input 2"), as lines are.
    first, refused = bad[0]
    name = f"input {first + 1}"
    message = refused.message.replace("inputPayload", name)
    if refused.errors:
        field, reasons = next(iter(refused.errors.items()))
        inner = field.removeprefix("inputPayload").removeprefix(".") or name
        detail = " ".join(reasons)
        if detail not in message:  # a JSON Schema refusal already names its first field
            message += f" ({inner}: {detail})"
    more = f"; {len(bad) - 1:,} more inputs are bad" if len(bad) > 1 else ""
    raise InvalidInput(f"{message}{more}; nothing was created", errors=errors)


def _batch(conn: Connection, batch_id: int | None) -> BatchRecord:
    row = conn.execute(_text(batches_sql.GET_BATCH), {"batch_id": batch_id}).mappings().one()
    return BatchRecord.from_row(row, "batch__")


def _replayed(conn: Connection, batch_id: int | None) -> BatchCreated:
    """The answer of the earlier submission that created batch ``batch_id``."""
    members = conn.execute(_text(batches_sql.BATCH_MEMBERS), {"batch_id": batch_id}).all()
    jobs, cached = [m.job_id for m in members], [m.cache_hit for m in members]
    return BatchCreated(_batch(conn, batch_id), jobs, cached, replayed=True)


def _rows(checked: CheckedBatch, firsts: list[int], reuse: dict[str, int]) -> str:
    """The insert's rows as a JSON array, each payload spliced in as the text it was checked
    as (hashes are hex, the rest numbers: nothing here needs escaping)."""
    rows = (
        f'{{"ord":{i},"first":{first},"hash":"{digest}","reuse":{reuse.get(digest, "null")},'
        f'"payload":{payload}}}'
        for i, (first, digest, payload) in enumerate(
            zip(firsts, checked.hashes, checked.payloads, strict=True)
        )
    )
    return f"[{','.join(rows)}]"


def _firsts(hashes: Sequence[str]) -> list[int]:
    """For each input, the index of the first input with the same canonical payload."""
    seen: dict[str, int] = {}
    return [seen.setdefault(digest, index) for index, digest in enumerate(hashes)]


def _notification(batch: BatchRecord, created: int) -> dict[str, str]:
    payload = {
        "event": "created",
        "type": batch.type,
        "status": JobStatus.PENDING.value,
        "count": created,
        "batch_id": batch.id,
    }
    return {"channel": CHANNEL, "payload": json.dumps(payload)}
