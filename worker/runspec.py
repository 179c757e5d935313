"""How a registered job type runs: its run spec, read from the revision a job was
submitted under, and kept once per (type, revision) for the life of the process.

A revision never changes once written, so its spec is fetched once; a job submitted
after the type changed names a new revision and gets that one's spec.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from referencing import Registry

from shared.client import ApiError, Claim, ShoalClient
from shared.errors import ShoalError

DEFAULT_STOP_GRACE_SECONDS = 10.0
# A result's problems named at most in the job's error.
MAX_RESULT_ERRORS = 5


class RunSpecError(ShoalError):
    """The job type's run spec cannot be used."""


@dataclass(frozen=True)
class RunSpec:
    """A command (an argv list, never a shell string), its environment, how long it gets
    to stop after SIGTERM, and the JSON Schema of its ``result.json`` (None: any object)."""

    command: tuple[str, ...]
    environment: Mapping[str, str] = field(default_factory=dict)
    stop_grace_seconds: float = DEFAULT_STOP_GRACE_SECONDS
    result_schema: Mapping[str, Any] | None = None

    @classmethod
    def from_document(cls, doc: Mapping[str, Any]) -> RunSpec:
        """The spec of a type document (a revision as the API answers it)."""
        name = f"job type {doc.get('name')} revision {doc.get('revision')}"
        run = doc.get("run")
        if not isinstance(run, Mapping):
            raise RunSpecError(f"{name} has no run command: workers of its own serve it")
        command = run.get("command")
        if (
            not isinstance(command, list)
            or not command
            or not all(isinstance(arg, str) and arg for arg in command)
        ):
            raise RunSpecError(f"{name}: run.command must be a list of strings")
        environment = run.get("environment") or {}
        if not isinstance(environment, Mapping) or not all(
            isinstance(value, str) for value in environment.values()
        ):
            raise RunSpecError(f"{name}: run.environment must map names to strings")
        grace = run.get("stopGraceSeconds", DEFAULT_STOP_GRACE_SECONDS)
        if isinstance(grace, bool) or not isinstance(grace, int | float) or grace < 0:
            raise RunSpecError(f"{name}: run.stopGraceSeconds must be a number of seconds")
        schema = doc.get("resultSchema")
        if schema is not None:
            try:
                Draft202012Validator.check_schema(schema)
            except SchemaError as error:
                raise RunSpecError(f"{name}: resultSchema is invalid: {error.message}") from None
        return cls(tuple(command), dict(environment), float(grace), schema)

    def result_problems(self, payload: Mapping[str, Any]) -> list[str]:
        """What is wrong with a result against the schema (``path: reason``), the first
        few; empty when it matches or there is no schema."""
        if self.result_schema is None:
            return []
        # A registry that retrieves nothing: no schema makes the worker read a URL or file.
        validator = Draft202012Validator(self.result_schema, registry=Registry())
        found = itertools.islice(validator.iter_errors(payload), MAX_RESULT_ERRORS)
        return [
            ".".join(["result.json", *(str(part) for part in error.absolute_path)])
            + f": {error.message}"
            for error in found
        ]


class RunSpecSource(Protocol):
    def spec_for(self, claim: Claim) -> RunSpec:
        """The run spec a claimed job runs under; RunSpecError if it has none."""
        ...


def type_revision(job: Mapping[str, Any]) -> int | None:
    """The revision of its type a job was submitted under (None: a built-in type)."""
    value = job.get("typeRevision")
    return value if isinstance(value, int) and not isinstance(value, bool) else None


class RunSpecs:
    """Run specs read from the API (``GET /api/job-types/{name}/revisions/{revision}``),
    each kept for the life of the process. Safe to share between job threads."""

    def __init__(self, client: ShoalClient) -> None:
        self._client = client
        self._specs: dict[tuple[str, int], RunSpec] = {}
        self._lock = threading.Lock()

    def spec_for(self, claim: Claim) -> RunSpec:
        """May raise ApiUnavailable (nothing known either way: try the job again later)."""
        revision = type_revision(claim.job)
        if revision is None:
            raise RunSpecError(
                f"job {claim.job_id} names no revision of job type {claim.job_type}: "
                "it has neither a handler in this worker nor a registered run command"
            )
        key = (claim.job_type, revision)
        with self._lock:
            known = self._specs.get(key)
        if known is not None:
            return known
        try:
            doc = self._client.job_type_revision(claim.job_type, revision)
        except ApiError as error:
            raise RunSpecError(
                f"job type {claim.job_type} revision {revision} could not be read: {error}"
            ) from None
        spec = RunSpec.from_document(doc)
        with self._lock:
            return self._specs.setdefault(key, spec)
