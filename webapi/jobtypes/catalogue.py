"""Every job type one API process knows: the fixed ones and those registered through the API.

Built-in and entry-point types are fixed for the life of the process (with
``SHOAL_JOB_OVERRIDES`` applied); registered types are loaded from the database and
kept as one immutable table that a reload replaces whole, so a reader never sees
half a change. A change is a NOTIFY on ``shoal_job_types`` (``{"name", "revision"}``)
that every process's event listener turns into a reload of that type; a process
reloads its own changes at once. While the listener is not connected (notifications
may be lost) the table is reloaded whole on use once it is more than a second old, and
when the listener connects or loses its connection it is marked stale.

Older revisions (a job submitted before its type changed) are loaded on demand and
kept, a bounded number: a revision never changes.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from shared.errors import InvalidInput, ShoalError
from shared.jobtypes import JobTypeRegistry, JobTypeSpec
from shared.jobtypes.document import RegisteredType
from webapi.store.job_types import JobTypeStore
from webapi.store.records import JobTypeRecord

log = logging.getLogger(__name__)

# How old the table may get while the listener is away (notifications may be lost).
UNLISTENED_SECONDS = 1.0
# Old revisions kept compiled; past this the oldest loaded goes.
REVISIONS_KEPT = 256


@dataclass(frozen=True)
class Registered:
    """A registered type as loaded: its row and its compiled current revision."""

    record: JobTypeRecord
    type: RegisteredType
    spec: JobTypeSpec

    @property
    def retired(self) -> bool:
        return self.record.retired_at is not None


@dataclass(frozen=True)
class Snapshot:
    """The types as a catalogue held them at one moment; it never reloads, so it never
    touches the database (a forked child may not: its connections are its parent's)."""

    fixed: JobTypeRegistry
    registered: Mapping[str, Registered]

    def get(self, name: str) -> JobTypeSpec:
        spec, retired = self._find(name)
        if retired:
            raise InvalidInput(
                f"Job type {name} is retired",
                errors={"type": [f"Job type {name} is retired: it takes no new jobs."]},
            )
        return spec

    def known(self, name: str) -> JobTypeSpec:
        return self._find(name)[0]

    def names(self) -> list[str]:
        live = [n for n, r in self.registered.items() if not r.retired]
        return sorted([*self.fixed.names(), *live])

    def _find(self, name: str) -> tuple[JobTypeSpec, bool]:
        if name in self.fixed:
            return self.fixed.get(name), False
        found = self.registered.get(name)
        if found is None:
            known = ", ".join(self.names())
            raise InvalidInput(
                f"Unknown job type {name!r}; known types: {known}",
                errors={"type": [f"Must be one of: {known}."]},
            )
        return found.spec, found.retired


class Catalogue:
    def __init__(self, engine: Engine, fixed: JobTypeRegistry, sources: Mapping[str, str]) -> None:
        """``fixed``: the built-in and entry-point types; ``sources``: name → builtin | plugin."""
        self.engine = engine
        self.store = JobTypeStore()
        self.fixed = fixed
        self.sources = dict(sources)
        self._registered: dict[str, Registered] = {}
        self._revisions: dict[tuple[str, int], JobTypeSpec] = {}
        self._loaded_at: float | None = None  # None: stale, load before use
        self._lock = threading.Lock()
        self._listening: Callable[[], bool] = lambda: False

    def follow(self, listening: Callable[[], bool]) -> None:
        """Trust the table while ``listening()`` (the event listener is connected)."""
        self._listening = listening

    # -- lookups (the queue's JobTypes protocol) ----------------------------
    def get(self, name: str) -> JobTypeSpec:
        return self.snapshot().get(name)

    def known(self, name: str) -> JobTypeSpec:
        return self.snapshot().known(name)

    def at(self, name: str, revision: int | None) -> JobTypeSpec:
        if revision is None:
            return self.known(name)
        current = self.registered().get(name)
        if current is not None and current.record.revision == revision:
            return current.spec
        found = self._revisions.get((name, revision))
        if found is None:
            found = self._load_revision(name, revision)
        return found

    def names(self) -> list[str]:
        return self.snapshot().names()

    def __contains__(self, name: object) -> bool:
        return name in self.fixed or name in self.registered()

    def __iter__(self) -> Iterator[JobTypeSpec]:
        """Every type new jobs may be submitted to."""
        return iter(self.get(name) for name in self.names())

    def registered(self) -> dict[str, Registered]:
        """Name → registered type (retired ones too), fresh enough to trust."""
        listening = self._listening()
        loaded_at = self._loaded_at
        if loaded_at is None or (
            not listening and time.monotonic() - loaded_at > UNLISTENED_SECONDS
        ):
            self.reload()
        return self._registered

    def snapshot(self) -> Snapshot:
        """The types as they are now (reloaded first if the table may be stale)."""
        return Snapshot(self.fixed, self.registered())

    def source(self, name: str) -> str:
        return self.sources.get(name, "registered")

    # -- keeping up with changes -------------------------------------------
    def reload(self, name: str | None = None) -> None:
        """Load one registered type again (a change), or all of them (``None``)."""
        with self._lock:
            started = time.monotonic()
            with self.engine.connect() as conn:
                rows = self.store.all(conn) if name is None else [self.store.current(conn, name)]
            table = {} if name is None else dict(self._registered)
            if name is not None:
                table.pop(name, None)
            for record in rows:
                if record is not None:
                    loaded = _compiled(record)
                    if loaded is not None:
                        table[record.name] = loaded
            self._registered = table
            if name is None or self._loaded_at is not None:
                self._loaded_at = started

    def on_notify(self, payload: str | None) -> None:
        """The listener's handler: reload the type named, or mark the table stale (None:
        notifications may have been lost). Runs on the listener's thread: never raises."""
        name = _name_of(payload)
        if name is None:
            self._loaded_at = None
            return
        try:
            self.reload(name)
        except (SQLAlchemyError, ShoalError) as error:
            log.warning(
                "could not reload job type %s: %s", name, error, extra={"action": "job_types"}
            )
            self._loaded_at = None

    # -- internals ----------------------------------------------------------
    def _load_revision(self, name: str, revision: int) -> JobTypeSpec:
        with self.engine.connect() as conn:
            found = self.store.revision(conn, name, revision)
        if found is None:
            raise InvalidInput(f"Job type {name} has no revision {revision}")
        spec = RegisteredType.from_wire(found.definition).spec(revision)
        with self._lock:
            if len(self._revisions) >= REVISIONS_KEPT:
                self._revisions.pop(next(iter(self._revisions)))
            self._revisions[(name, revision)] = spec
        return spec


def _compiled(record: JobTypeRecord) -> Registered | None:
    """The stored revision compiled; a definition that no longer passes is logged, skipped."""
    try:
        registered = RegisteredType.from_wire(record.definition)
    except InvalidInput as error:
        log.error(
            "job type %s revision %s does not load: %s %s",
            record.name,
            record.revision,
            error.message,
            error.errors,
            extra={"action": "job_types"},
        )
        return None
    return Registered(record, registered, registered.spec(record.revision))


def _name_of(payload: str | None) -> str | None:
    try:
        data: Any = json.loads(payload or "")
    except ValueError:
        return None
    name = data.get("name") if isinstance(data, dict) else None
    return name if isinstance(name, str) else None
