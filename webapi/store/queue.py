"""The queue layer: the only code that changes a job's state.

Each method runs one short transaction on the engine it was given. Claims are one
statement with ``FOR UPDATE SKIP LOCKED``; everything else that touches a running
job first locks that job's row, so no two changes to one job ever interleave. The
statements are in ``sql/``: ``create.py``, ``claim.py``, ``lease.py``, ``prune.py``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, RowMapping

from shared.enums import AssignmentOutcome, JobStatus, StorageScheme
from shared.errors import IllegalState, InvalidInput, NotFound, ShoalError
from shared.jobtypes import JobTypes, JobTypeSpec
from webapi.store import budgets, idempotency
from webapi.store import dependencies as deps
from webapi.store.dependencies import Dependency
from webapi.store.engine import Autocommit
from webapi.store.idempotency import IdempotencyKey
from webapi.store.labels import NO_LABELS, Labels
from webapi.store.limits import check_pending_limit, check_priority
from webapi.store.payloads import canonical_hash, split_result_metadata
from webapi.store.prepared import Prepared
from webapi.store.prepared import text as _text
from webapi.store.queue_checks import (
    lock_assignment,
    require_latest,
    require_live,
    require_within_deadline,
)
from webapi.store.records import AssignmentRecord, Claimant, JobRecord
from webapi.store.sql import claim as claim_sql
from webapi.store.sql import create as create_sql
from webapi.store.sql import events as events_sql
from webapi.store.sql import lease as lease_sql
from webapi.store.sql import prune as prune_sql
from webapi.store.sql import reads as reads_sql


@dataclass(frozen=True)
class StorageTarget:
    """Where assignments put their files: a scheme and a base URI (no trailing slash)."""

    scheme: StorageScheme
    base_uri: str


@dataclass(frozen=True)
class Created:
    job: JobRecord
    cached: bool
    request_id: int
    replayed: bool = False  # the answer of an earlier submission with the same key


@dataclass(frozen=True)
class Cancelled:
    job: JobRecord
    dependents: int  # WAITING jobs downstream of it cancelled with it


@dataclass(frozen=True)
class Claimed:
    job: JobRecord
    assignment: AssignmentRecord


@dataclass(frozen=True)
class Outcome:
    """One result of ``complete_many``: what ``complete`` takes for one assignment."""

    assignment_id: int
    status: JobStatus
    result_payload: Any = None
    error: str | None = None
    metadata: Mapping[str, Any] | None = None


# Each result's answer: the finished job, or why it was refused (as ``complete`` raises it).
Completion = JobRecord | ShoalError


@dataclass(frozen=True)
class Heartbeat:
    cancelled: bool
    expires_at: datetime | None


@dataclass(frozen=True)
class Expired:
    """What one expiry sweep did, per job type."""

    requeued: dict[str, int] = field(default_factory=dict)
    timed_out: dict[str, int] = field(default_factory=dict)

    def totals(self) -> tuple[int, int]:
        return sum(self.requeued.values()), sum(self.timed_out.values())


@dataclass(frozen=True)
class LostWorker:
    """What declaring a worker lost did to the jobs it held."""

    requeued: tuple[int, ...] = ()
    timed_out: tuple[int, ...] = ()
    spared: int = 0  # attempts not counted: lost to the platform


@dataclass(frozen=True)
class Demand:
    pending: int = 0
    in_progress: int = 0


# The hot statements, prepared on each connection; the ids' types are declared
# because a parameter in an INSERT's SELECT list would otherwise be taken as text.
_IDS = {"user_id": "bigint", "api_key_id": "bigint", "assignment_id": "bigint"}
_CLAIMANT = {
    **_IDS,
    "task_arn": "text",
    "cluster_arn": "text",
    "storage_base": "text",
    "sizes": "text",
    "capacity": "text",
}


def _claims(name: str, one: str, many: str) -> tuple[Prepared, Prepared]:
    """The claim of one type and of several, prepared."""
    types = {**_CLAIMANT, "limit": "int"}
    return Prepared(f"shoal_{name}_one", one, types), Prepared(f"shoal_{name}_any", many, types)


_CLAIM_ONE, _CLAIM_ANY = _claims("claim", claim_sql.CLAIM_ONE, claim_sql.CLAIM_ANY)
_FAIR_CLAIM_ONE, _FAIR_CLAIM_ANY = _claims(
    "fair_claim", claim_sql.FAIR_CLAIM_ONE, claim_sql.FAIR_CLAIM_ANY
)
_HEARTBEAT = Prepared("shoal_heartbeat", lease_sql.HEARTBEAT, _IDS)
_COMPLETE = Prepared("shoal_complete", lease_sql.COMPLETE, _IDS)
_COMPLETE_MANY = Prepared(
    "shoal_complete_many", lease_sql.COMPLETE_MANY, {"user_id": "bigint", "api_key_id": "bigint"}
)
_ASSIGNMENT_TYPE = Prepared("shoal_assignment_type", lease_sql.ASSIGNMENT_TYPE, _IDS)
_ASSIGNMENT_TYPES = Prepared("shoal_assignment_types", lease_sql.ASSIGNMENT_TYPES)
# At most this many results in one complete_many.
MAX_RESULTS = 50
# Assignment id → (job type, type revision), for checking results without asking the database.
_TYPES_KEPT = 100_000


class Queue:
    def __init__(
        self,
        engine: Engine,
        registry: JobTypes,
        storage: StorageTarget,
        *,
        fair_share: bool = True,
    ) -> None:
        """``fair_share``: claims serve the least loaded user first, else the oldest job."""
        self.engine = engine
        self._claims = (
            (_FAIR_CLAIM_ONE, _FAIR_CLAIM_ANY) if fair_share else (_CLAIM_ONE, _CLAIM_ANY)
        )
        # One statement, one round trip: no BEGIN and COMMIT around the hot statements.
        self.autocommit = Autocommit(engine)
        self.registry = registry
        self.storage = storage
        # See _TYPES_KEPT.
        self._types: dict[int, tuple[str, int | None]] = {}

    # -- users' side -------------------------------------------------------
    def create(
        self,
        *,
        user_id: int,
        job_type: str,
        payload: Any,
        priority: int = 0,
        idempotency_key: str | None = None,
        labels: Labels = NO_LABELS,
        use_cache: bool = True,
        dependencies: Sequence[Dependency] = (),
    ) -> Created:
        """Create a job, or return the live or cached one with the same canonical payload
        (not without ``use_cache``: then the job is always new).

        A new job counts against the user's max PENDING (429 past it); a cached one does not.
        With ``idempotency_key``, a submission that used it in the last day is answered
        again (``replayed``) and nothing is created (409 if it asked for something else).
        A new job gets ``labels``; without ``use_cache`` no earlier job answers it.
        With ``dependencies`` the job is always new (never the cache's): WAITING until
        they are met, PENDING at once if they are, CANCELLED if they never can be.
        """
        check_priority(priority)
        spec = self.registry.get(job_type)
        loaded = spec.validate_input(payload)
        digest = canonical_hash(job_type, loaded)
        dependencies = deps.checked(dependencies)
        deps.check_refs(loaded, dependencies)
        asked: list[Any] = [job_type, digest, priority]
        if labels != NO_LABELS or not use_cache:  # keys taken before labels stay valid
            asked += [labels.asked(), use_cache]
        if dependencies:
            asked.append([d.as_json() for d in dependencies])
        key = IdempotencyKey.of(idempotency_key, "job", *asked)
        with self.engine.begin() as conn:
            earlier = None if key is None else idempotency.take(conn, user_id, key)
            if earlier is not None:
                found = conn.execute(
                    _text(create_sql.REQUEST_ANSWER), {"request_id": earlier.request_id}
                )
                row = found.mappings().one()
                return Created(
                    JobRecord.from_row(row, "job__"), row["cache_hit"], row["request_id"], True
                )
            created = self._create(
                conn, spec, user_id, loaded, digest, priority, labels, use_cache, dependencies
            )
            if key is not None:
                idempotency.answered(conn, user_id, key, request_id=created.request_id)
        return created

    def create_on(
        self,
        conn: Connection,
        *,
        user_id: int,
        job_type: str,
        payload: Any,
        dependencies: Sequence[Dependency],
        priority: int = 0,
    ) -> Created:
        """``create`` in the caller's transaction (a workflow's), without idempotency."""
        spec = self.registry.get(job_type)
        loaded = spec.validate_input(payload)
        deps.check_refs(loaded, dependencies)
        digest = canonical_hash(job_type, loaded)
        return self._create(
            conn, spec, user_id, loaded, digest, priority, dependencies=dependencies
        )

    def _create(
        self,
        conn: Connection,
        spec: JobTypeSpec,
        user_id: int,
        loaded: Any,
        digest: str,
        priority: int,
        labels: Labels = NO_LABELS,
        use_cache: bool = True,
        dependencies: Sequence[Dependency] = (),
    ) -> Created:
        body = json.dumps(loaded)
        row: RowMapping | None = None
        if spec.cache_results and use_cache and not dependencies:
            conn.execute(_text(create_sql.LOCK_HASH), {"hash": digest})
            owner = user_id if spec.cache_scope == "user" else None
            found = conn.execute(
                _text(create_sql.FIND_CACHED), {"type": spec.name, "hash": digest, "owner": owner}
            )
            row = found.mappings().first()
        cached = row is not None
        if row is None:
            check_pending_limit(conn, user_id)
            budgets.check(conn, self.registry, user_id, spec, 1)
            row = _one(
                conn,
                create_sql.INSERT_JOB,
                priority=priority,
                type=spec.name,
                user_id=user_id,
                payload=body,
                hash=digest,
                max_attempts=spec.max_attempts,
                lease_seconds=spec.lease_seconds,
                timeout_seconds=spec.timeout_seconds,
                type_revision=spec.revision,
                **labels.params(),
                status=(JobStatus.WAITING if dependencies else JobStatus.PENDING).value,
            )
            if dependencies:
                deps.depend(conn, [row["job__id"]], dependencies)
                row = _one(conn, reads_sql.GET_JOB, job_id=row["job__id"])
        job = JobRecord.from_row(row, "job__")
        request_id = conn.execute(
            _text(create_sql.INSERT_REQUEST),
            {
                "user_id": user_id,
                "type": spec.name,
                "payload": body,
                "cache_hit": cached,
                "job_id": job.id,
            },
        ).scalar_one()
        return Created(job=job, cached=cached, request_id=request_id)

    def cancel(self, job_id: int) -> JobRecord:
        """WAITING, PENDING or IN_PROGRESS → CANCELLED, and the WAITING jobs downstream
        of it with it; the holder learns it at its next heartbeat."""
        return self.cancel_job(job_id).job

    def cancel_job(self, job_id: int, *, dependents: bool = True) -> Cancelled:
        """Cancel a live job; with ``dependents`` (the default) every WAITING job
        downstream of it too, else those are judged by their conditions (an
        ``afterany`` one runs)."""
        with self.engine.begin() as conn:
            row = conn.execute(_text(lease_sql.LOCK_JOB), {"job_id": job_id}).mappings().first()
            if row is None:
                raise NotFound(f"Job {job_id} not found")
            job = JobRecord.from_row(row, "job__")
            if job.status.terminal:
                raise IllegalState(f"Job {job_id} is already {job.status.value}")
            cancelled = 0
            if dependents:
                reason = f"dependency job {job_id} was cancelled"
                cancelled = deps.cancel_downstream(conn, reason, job_ids=[job_id])
            row = _one(conn, lease_sql.CANCEL, job_ids=[job_id])
            return Cancelled(JobRecord.from_row(row, "job__"), cancelled)

    def invalidate_cache(self, job_type: str) -> int:
        """Stop reusing results of a type; returns how many results were affected."""
        self.registry.known(job_type)
        with self.engine.begin() as conn:
            return conn.execute(_text(create_sql.INVALIDATE_CACHE), {"type": job_type}).rowcount

    # -- workers' side -----------------------------------------------------
    def poll(self, job_type: str | None = None, limit: int = 10) -> list[JobRecord]:
        if job_type is not None:
            self.registry.known(job_type)
        with self.engine.connect() as conn:
            rows = conn.execute(
                _text(reads_sql.POLL), {"type": job_type, "limit": limit}
            ).mappings()
            return [JobRecord.from_row(row, "job__") for row in rows]

    def assign(self, job_id: int, claimant: Claimant) -> Claimed:
        """Assign one PENDING job; of concurrent assigns of a job exactly one succeeds.

        The lease is the type's ``assign_lease_seconds``: ReefGuide workers never heartbeat.
        """
        leases = self._fixed_types_json(lambda spec: spec.assign_lease_seconds)
        params = self._claim_params(claimant, job_id=job_id, assign_leases=leases)
        with self.engine.begin() as conn:
            row = conn.execute(_text(claim_sql.ASSIGN), params)
            found = row.mappings().first()
            if found is None:
                status = conn.execute(_text(claim_sql.JOB_STATUS), {"job_id": job_id}).scalar()
                if status is None:
                    raise NotFound(f"Job {job_id} not found")
                raise IllegalState(f"Job {job_id} is {status}, not PENDING")
            return _claimed(found)

    def claim(self, job_types: Sequence[str], claimant: Claimant) -> Claimed | None:
        """Take the next claimable job of the given types, or None."""
        claimed = self.claim_many(job_types, claimant, 1)
        return claimed[0] if claimed else None

    def claim_many(self, job_types: Sequence[str], claimant: Claimant, limit: int) -> list[Claimed]:
        """Take up to ``limit`` claimable jobs of the given types.

        Expired leases first, then fair share (the least loaded users first, each
        user's jobs by priority, then age) or, with fair share off, the oldest.
        """
        if not job_types:
            raise InvalidInput("jobTypes must name at least one job type")
        for name in job_types:
            self.registry.known(name)
        of_one, of_many = self._claims
        if len(job_types) == 1:
            statement, params = of_one, self._claim_params(claimant, type=job_types[0])
        else:
            statement, params = of_many, self._claim_params(claimant, types=list(job_types))
        with self.autocommit.connect() as conn:
            rows = statement(conn, {**params, "limit": limit}).mappings().all()
        claimed = sorted((_claimed(row) for row in rows), key=lambda c: c.job.id)
        for one in claimed:
            self._remember_type(one.assignment.id, (one.job.type, one.job.type_revision))
        return claimed

    def watch(self, *job_ids: int) -> None:
        """Someone follows these jobs: from now on their claim, progress and result are notified."""
        with self.engine.begin() as conn:
            conn.execute(_text(events_sql.WATCH), {"job_ids": list(job_ids)})

    def heartbeat(
        self,
        assignment_id: int,
        claimant: Claimant,
        progress: float | None = None,
        message: str | None = None,
    ) -> Heartbeat:
        """Extend the lease and record progress; says whether the job was cancelled."""
        if progress is not None and not 0 <= progress <= 1:
            raise InvalidInput("progress must be between 0 and 1", errors={"progress": ["0–1"]})
        params = {
            **_holder(claimant),
            "assignment_id": assignment_id,
            "progress": progress,
            "message": message,
        }
        with self.autocommit.connect() as conn:
            row = _HEARTBEAT(conn, params).mappings().first()
        if row is not None:
            return Heartbeat(cancelled=False, expires_at=row["expires_at"])
        with self.engine.begin() as conn:  # refused: find out why, under the job's lock
            assignment, job, now = lock_assignment(conn, assignment_id, claimant)
            if assignment.outcome is AssignmentOutcome.CANCELLED:
                return Heartbeat(cancelled=True, expires_at=assignment.expires_at)
            require_within_deadline(assignment, job, now)
            require_live(assignment, job, now)
            return Heartbeat(
                cancelled=False, expires_at=_again(_HEARTBEAT(conn, params))["expires_at"]
            )

    def complete(
        self,
        assignment_id: int,
        claimant: Claimant,
        *,
        status: JobStatus,
        result_payload: Any = None,
        error: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> JobRecord:
        """Record the outcome of an assignment; anything refused changes nothing.

        A result after the lease expired is still taken while nobody else holds the
        job and it is not finished (workers that never heartbeat, like ReefGuide's);
        a job taken over by another worker refuses it.
        """
        outcome = Outcome(assignment_id, status, result_payload, error, metadata)
        job_type = self._type_of(assignment_id) if status is JobStatus.SUCCEEDED else None
        params = {**_holder(claimant), **self._checked(outcome, job_type)}
        with self.autocommit.connect() as conn:
            row = _COMPLETE(conn, params).mappings().first()
        if row is None:
            row = self._complete_refused(claimant, params)
        self._types.pop(assignment_id, None)
        return JobRecord.from_row(row, "job__")

    def complete_many(self, results: Sequence[Outcome], claimant: Claimant) -> list[Completion]:
        """``complete`` for up to ``MAX_RESULTS`` assignments in one statement and one
        commit, each answered on its own, in order: the job, or the error ``complete``
        would raise for it (one refused result changes nothing of the others).

        An assignment named twice, or more than ``MAX_RESULTS``, refuses the whole call.
        """
        ids = [one.assignment_id for one in results]
        if len(ids) > MAX_RESULTS:
            raise InvalidInput(f"At most {MAX_RESULTS} results at once, not {len(ids)}")
        twice = sorted({i for i in ids if ids.count(i) > 1})
        if twice:
            raise InvalidInput(f"Assignment {twice[0]} appears more than once")
        answers: dict[int, Completion] = {}
        checked: dict[int, dict[str, Any]] = {}
        succeeded = [one.assignment_id for one in results if one.status is JobStatus.SUCCEEDED]
        types = self._types_of(succeeded)
        for one in results:
            try:
                found = types.get(one.assignment_id)
                if found is None and one.status is JobStatus.SUCCEEDED:
                    raise NotFound(f"Assignment {one.assignment_id} not found")
                checked[one.assignment_id] = self._checked(one, found)
            except ShoalError as error:
                answers[one.assignment_id] = error
        if checked:
            rows = self._complete_together(claimant, list(checked.values()))
            for row in rows:
                answers[row["completed_assignment_id"]] = JobRecord.from_row(row, "job__")
        for assignment_id, params in checked.items():
            if assignment_id not in answers:
                try:
                    row = self._complete_refused(claimant, {**_holder(claimant), **params})
                    answers[assignment_id] = JobRecord.from_row(row, "job__")
                except ShoalError as error:
                    answers[assignment_id] = error
        for assignment_id in ids:
            self._types.pop(assignment_id, None)
        return [answers[assignment_id] for assignment_id in ids]

    def _complete_together(
        self, claimant: Claimant, checked: list[dict[str, Any]]
    ) -> list[RowMapping]:
        params = {
            **_holder(claimant),
            "assignment_ids": [p["assignment_id"] for p in checked],
            "statuses": [p["status"] for p in checked],
            "payloads": [p["payload"] for p in checked],
            "errors": [p["error"] for p in checked],
            "metadata": [p["metadata"] for p in checked],
        }
        with self.autocommit.connect() as conn:
            return list(_COMPLETE_MANY(conn, params).mappings().all())

    def _checked(self, outcome: Outcome, job_type: tuple[str, int | None] | None) -> dict[str, Any]:
        """A result's parameters for ``COMPLETE``, its status and payload checked
        (``job_type``: its job's type and revision, needed for a SUCCEEDED one)."""
        if outcome.status not in (JobStatus.SUCCEEDED, JobStatus.FAILED):
            raise InvalidInput(
                "status must be SUCCEEDED or FAILED", errors={"status": ["Invalid."]}
            )
        payload, extra = split_result_metadata(outcome.result_payload)
        if outcome.status is JobStatus.SUCCEEDED and job_type is not None:
            # Checked against the revision the job was submitted under, not today's type.
            payload = self.registry.at(*job_type).validate_result(payload)
        return {
            "assignment_id": outcome.assignment_id,
            "status": outcome.status.value,
            "payload": json.dumps(payload),
            "error": outcome.error,
            "metadata": json.dumps({**extra, **(outcome.metadata or {})}),
        }

    def _complete_refused(self, claimant: Claimant, params: dict[str, Any]) -> RowMapping:
        """The slow path of a result the hot statement refused: why, under the job's lock
        (or the result after all, when what refused it has passed)."""
        with self.engine.begin() as conn:
            assignment, job, now = lock_assignment(conn, params["assignment_id"], claimant)
            require_latest(assignment, job, now)
            return _again(_COMPLETE(conn, params))

    def release(
        self, assignment_id: int, claimant: Claimant, error: str | None = None
    ) -> JobRecord:
        """Hand a live assignment back: the job is PENDING again at once.

        Without ``error`` (a graceful stop) no attempt is charged. With it the attempt
        failed outside the handler (its results could not be stored): it is charged, and
        the last one ends the job FAILED with ``error``.
        """
        with self.engine.begin() as conn:
            assignment, job, now = lock_assignment(conn, assignment_id, claimant)
            require_live(assignment, job, now)
            ids = {"job_id": job.id, "assignment_id": assignment_id}
            if error is None:
                row = _one(conn, lease_sql.RELEASE, **ids)
            else:
                row = _one(conn, lease_sql.RELEASE_FAILED, **ids, error=error)
            return JobRecord.from_row(row, "job__")

    def unclaim(self, assignment_ids: Sequence[int]) -> int:
        """Undo claims whose answer never reached their worker, as if never made.

        Each job is PENDING again without an attempt spent, its assignment deleted, and
        a waiting claimer is woken. A claim acted on since (a cancel) stays. Returns
        how many were undone.
        """
        with self.engine.begin() as conn:
            params = {"assignment_ids": list(assignment_ids)}
            uris = [row.storage_uri for row in conn.execute(_text(lease_sql.UNCLAIM), params)]
            if uris:
                conn.execute(_text(lease_sql.KEEP_UNCLAIMED_FILES), {"uris": uris})
        for assignment_id in assignment_ids:
            self._types.pop(assignment_id, None)
        return len(uris)

    # -- housekeeping ------------------------------------------------------
    def expire(self, batch: int = 500) -> Expired:
        """Requeue expired leases with attempts left, time out the rest."""
        expired = Expired()
        params = {"batch": batch, "platform_bounds": self._platform_bounds()}
        with self.engine.begin() as conn:
            for job_type, status, _ in conn.execute(_text(lease_sql.EXPIRE), params):
                counts = expired.requeued if status == JobStatus.PENDING else expired.timed_out
                counts[job_type] = counts.get(job_type, 0) + 1
        return expired

    def lose_worker(self, identity: str, reason: str, *, platform: bool) -> LostWorker:
        """The manager saw the worker ``identity`` go: record it as lost, and end its
        live attempts at once (jobs requeued, or TIMED_OUT past their attempts).

        ``platform``: the platform took it (not the job): its attempts are not counted,
        up to each job type's ``max_platform_retries``. Later expiries of attempts
        handed to it are judged by this record too (``EXPIRE``).
        """
        params = {
            "identity": identity,
            "reason": reason,
            "platform": platform,
            "platform_bounds": self._platform_bounds(),
        }
        with self.engine.begin() as conn:
            rows = conn.execute(_text(lease_sql.LOSE_WORKER), params).mappings().all()
        jobs = [(JobRecord.from_row(row, "job__"), bool(row["spared"])) for row in rows]
        return LostWorker(
            requeued=tuple(j.id for j, _ in jobs if j.status is JobStatus.PENDING),
            timed_out=tuple(j.id for j, _ in jobs if j.status is JobStatus.TIMED_OUT),
            spared=sum(spared for _, spared in jobs),
        )

    def demand(self) -> dict[str, Demand]:
        """Pending and in-progress counts per type (every registered type appears)."""
        counts: dict[str, dict[str, int]] = {name: {} for name in self.registry.names()}
        with self.engine.connect() as conn:
            for job_type, status, n in conn.execute(_text(reads_sql.DEMAND)):
                counts.setdefault(job_type, {})[status] = n
        return {
            name: Demand(pending=c.get("PENDING", 0), in_progress=c.get("IN_PROGRESS", 0))
            for name, c in counts.items()
        }

    def prune(self, retention_seconds: int, batch: int = 1000) -> int:
        """Delete jobs finished longer ago than the retention, then the batches left
        without jobs; returns how many jobs."""
        total = 0
        while True:
            with self.engine.begin() as conn:
                deleted = conn.execute(
                    _text(prune_sql.PRUNE_JOBS), {"retention": retention_seconds, "batch": batch}
                ).rowcount
            total += deleted
            if deleted < batch:
                break
        with self.engine.begin() as conn:
            conn.execute(_text(prune_sql.PRUNE_BATCHES), {"retention": retention_seconds})
        return total

    def forget_idempotency_keys(self, batch: int = 1000) -> int:
        """Delete the idempotency keys older than a day; returns how many."""
        total = 0
        while True:
            with self.engine.begin() as conn:
                deleted = idempotency.forget_expired(conn, batch)
            total += deleted
            if deleted < batch:
                return total

    def _platform_bounds(self) -> str:
        return self._fixed_types_json(lambda spec: spec.max_platform_retries)

    def _fixed_types_json(self, setting: Callable[[JobTypeSpec], Any]) -> str:
        """{type: setting} of the fixed types as JSON; a registered type's job reads its
        revision's instead (the statements' coalesce)."""
        fixed = (spec for spec in self.registry if spec.revision is None)
        return json.dumps({spec.name: setting(spec) for spec in fixed})

    @property
    def _sizes(self) -> str:
        """{type: [vcpu, memory GB]} of the fixed types as JSON (claim_sql.INSERT_ASSIGNMENT)."""
        return self._fixed_types_json(lambda spec: [spec.vcpu, spec.memory_gb])

    def _remember_type(self, assignment_id: int, job_type: tuple[str, int | None]) -> None:
        if len(self._types) >= _TYPES_KEPT:
            self._types.pop(next(iter(self._types)))
        self._types[assignment_id] = job_type

    def _type_of(self, assignment_id: int) -> tuple[str, int | None]:
        """The job type and type revision of an assignment (remembered from its claim,
        else looked up)."""
        found = self._types.get(assignment_id)
        if found is None:
            with self.autocommit.connect() as conn:
                row = _ASSIGNMENT_TYPE(conn, {"assignment_id": assignment_id}).mappings().first()
            if row is None:
                raise NotFound(f"Assignment {assignment_id} not found")
            found = (row["type"], row["type_revision"])
        return found

    def _types_of(self, assignment_ids: Sequence[int]) -> dict[int, tuple[str, int | None]]:
        """``_type_of`` for several assignments, those not remembered looked up at once;
        an unknown one is left out."""
        found = {i: self._types[i] for i in assignment_ids if i in self._types}
        missing = [i for i in assignment_ids if i not in found]
        if missing:
            with self.autocommit.connect() as conn:
                rows = _ASSIGNMENT_TYPES(conn, {"assignment_ids": missing}).mappings()
                found.update({r["assignment_id"]: (r["type"], r["type_revision"]) for r in rows})
        return found

    def _claim_params(self, claimant: Claimant, **extra: Any) -> dict[str, Any]:
        return {
            "task_arn": claimant.ecs_task_arn,
            "cluster_arn": claimant.ecs_cluster_arn,
            "user_id": claimant.user_id,
            "api_key_id": claimant.api_key_id,
            "storage_scheme": self.storage.scheme.value,
            "storage_base": self.storage.base_uri.rstrip("/"),
            "sizes": self._sizes,
            "capacity": claimant.capacity.value,
            **extra,
        }


def _one(conn: Connection, statement: str, **params: Any) -> RowMapping:
    return conn.execute(_text(statement), params).mappings().one()


def _holder(claimant: Claimant) -> dict[str, Any]:
    return {"user_id": claimant.user_id, "api_key_id": claimant.api_key_id}


def _again(result: Any) -> RowMapping:
    """The row of a hot statement run again after the slow path's checks passed."""
    row: RowMapping | None = result.mappings().first()
    if row is None:  # the checks in SQL and in Python disagree: refuse, change nothing
        raise IllegalState("The assignment changed meanwhile; nothing was done")
    return row


def _claimed(row: RowMapping) -> Claimed:
    return Claimed(
        job=JobRecord.from_row(row, "job__"),
        assignment=AssignmentRecord.from_row(row, "assignment__"),
    )
