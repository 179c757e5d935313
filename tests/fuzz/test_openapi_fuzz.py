"""schemathesis over /api/openapi.json, as an ADMIN, an ANALYST, a WORKER and a MANAGER.

Every operation of the document gets generated requests, valid ones (positive) and
ones that break the schema (negative), with the caller's credentials. A response
must not be a 5xx, must have a status code, content type and body the document
describes, must name its status code explicitly (the catch-all ``default`` response
only stands for the errors any route can give), and must never carry a password
hash, an API key hash or a stack trace.

The run is deterministic (``derandomize``, no example database) and bounded: a few
examples per operation, more for the operations the role may use. Path parameters
are sometimes pinned to seeded rows and some requests start from a known-good one
(tests/fuzz/seed.py), so the fuzzer reaches success answers, not only 400s and 404s.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.fuzz.seed import Seeded, seed
from tests.webapi.conftest import IssuedKey, MakeUser

ROLES = ("ADMIN", "ANALYST", "WORKER", "MANAGER")
# Examples per operation the role may use (valid, invalid), and valid ones for the
# others: those answer 403 before any validation, a few requests say so.
POSITIVE_EXAMPLES = 10
NEGATIVE_EXAMPLES = 5
OUT_OF_SCOPE_EXAMPLES = 3
# Tags of the operations each role may use; ADMIN may use every one.
ROLE_TAGS = {
    "ANALYST": {"health", "auth", "polygons", "notes"}
    | {"jobs", "batches", "events", "logs", "files", "webhooks", "workflows"},
    "WORKER": {"health", "auth", "workers", "logs", "files"},
    "MANAGER": {"health", "auth", "compute"},
}
# Not fuzzed: the events stream of a PENDING or IN_PROGRESS job never ends (it
# follows the job to a terminal state), so a generated request to it would hang.
# Its answers to strangers and bad ids are tested in tests/security and tests/webapi/jobs.
EXCLUDED = {"GET /api/jobs/{job_id}/events"}
# Long polls: a generated waitSeconds (up to 30) is cut to this, so claims stay fast
# while every other part of the body is still fuzzed.
MAX_FUZZ_WAIT_SECONDS = 0.05
# Errors any route may give, which the document covers with ``default`` (error schema).
GENERIC_ERRORS = {405, 413, 415, 503}
# Operations that must have answered 2xx at least once: the credentials and the
# known-good requests worked, the run did not only collect 401s and 403s.
# (A WORKER no longer reaches the manager's lease, fleet and config: those need MANAGER.)
MIN_SUCCEEDED = {"ADMIN": 45, "ANALYST": 22, "WORKER": 13, "MANAGER": 10}
LEAKS = ("password_hash", "key_hash", "$argon2", "Traceback")


@dataclass
class Outcome:
    calls: int = 0
    statuses: Counter[tuple[str, int]] = field(default_factory=Counter)
    problems: dict[str, str] = field(default_factory=dict)

    def succeeded(self) -> set[str]:
        return {label for label, status in self.statuses if status < 300}


def no_leaks(ctx: Any, response: Any, case: Any) -> None:
    """No hash of a password or key and no stack trace, in any body."""
    text = response.content.decode("utf-8", "replace")
    found = [marker for marker in LEAKS if marker in text]
    assert not found, f"the body contains {found}"


def explicitly_documented(ctx: Any, response: Any, case: Any) -> None:
    """The status code is listed by the operation, not only covered by ``default``."""
    status = response.status_code
    documented = {str(code) for code in case.operation.definition.raw.get("responses", {})}
    assert str(status) in documented or status in GENERIC_ERRORS, (
        f"{status} is not documented for {case.operation.label} (only {sorted(documented)})"
    )


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    no_leaks,
    explicitly_documented,
]


@pytest.fixture
def seeded(
    app: Flask,
    make_user: MakeUser,
    api_key: Callable[..., IssuedKey],
    auth_headers: Callable[[str], dict[str, str]],
) -> Seeded:
    return seed(app, make_user, api_key, auth_headers)


def operations(live_url: str) -> list[Any]:
    """Every operation but the excluded ones, deletions last so seeded rows live long.

    Deletions run in reverse document order: notes before their polygons, and users
    (whose deletion takes their jobs, polygons and notes along) near the very end.
    """
    schema = schemathesis.openapi.from_url(f"{live_url}/api/openapi.json")
    found = [result.ok() for result in schema.get_all_operations()]
    found = [operation for operation in found if operation.label not in EXCLUDED]
    deletes = [operation for operation in found if operation.method.upper() == "DELETE"]
    return [operation for operation in found if operation not in deletes] + deletes[::-1]


def _in_scope(operation: Any, role: str) -> bool:
    tags = set(operation.definition.raw.get("tags", []))
    return role == "ADMIN" or bool(tags & ROLE_TAGS[role])


def _strategy(operation: Any, mode: GenerationMode, seeded: Seeded) -> Any:
    """Free cases, and cases whose path parameters name a seeded row."""
    strategies = [operation.as_strategy(generation_mode=mode)]
    for parameter in operation.path_parameters:
        for value in seeded.pins.get(parameter.name, []):
            pinned = {parameter.name: value}
            strategies.append(operation.as_strategy(generation_mode=mode, path_parameters=pinned))
    return st.one_of(strategies)


def _prepare(case: Any, role: str) -> None:
    """Send only the role's own credential, and keep long polls short."""
    other = "authorization" if role == "WORKER" else "x-api-key"
    for name in [name for name in case.headers or {} if name.lower() == other]:
        del case.headers[name]
    body = case.body
    if case.operation.path == "/api/jobs/claim" and isinstance(body, dict):
        wait = body.get("waitSeconds")
        if isinstance(wait, int | float) and not isinstance(wait, bool) and wait > 0:
            body["waitSeconds"] = min(wait, MAX_FUZZ_WAIT_SECONDS)


@dataclass
class Target:
    """Where the requests go, and with which credentials."""

    base_url: str
    session: requests.Session
    role: str
    headers: dict[str, str]


def fuzz_operation(operation: Any, target: Target, seeded: Seeded, outcome: Outcome) -> None:
    """Generated requests to one operation, valid and invalid; problems go to ``outcome``."""
    budget = {GenerationMode.POSITIVE: OUT_OF_SCOPE_EXAMPLES}
    if _in_scope(operation, target.role):
        budget = {
            GenerationMode.POSITIVE: POSITIVE_EXAMPLES,
            GenerationMode.NEGATIVE: NEGATIVE_EXAMPLES,
        }
    for mode, examples in budget.items():
        known = seeded.requests.get(operation.label, []) if mode is GenerationMode.POSITIVE else []
        try:
            _fuzz(
                operation,
                mode,
                target,
                examples,
                _strategy(operation, mode, seeded),
                known,
                outcome,
            )
        except Unsatisfiable:
            # Nothing in the operation can be made invalid (no parameters, or only a
            # free-form string): there is no negative case to send.
            assert mode is GenerationMode.NEGATIVE, operation.label


def _fuzz(
    operation: Any,
    mode: GenerationMode,
    target: Target,
    examples: int,
    strategy: Any,
    known: list[dict[str, Any]],
    outcome: Outcome,
) -> None:
    """``examples`` generated cases, after the ``known`` requests (always sent, first)."""

    @settings(
        max_examples=examples,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def run(case: Any) -> None:
        _prepare(case, target.role)
        response = case.call(
            base_url=target.base_url, session=target.session, headers=target.headers
        )
        outcome.calls += 1
        outcome.statuses[(operation.label, response.status_code)] += 1
        try:
            case.validate_response(response, checks=CHECKS)
        except FailureGroup as failure:
            key = f"{operation.label} → {response.status_code} ({mode.value})"
            outcome.problems.setdefault(key, str(failure)[:3000])

    for request in known:
        run = example(case=operation.Case(**request))(run)
    run()


@pytest.mark.slow
@pytest.mark.parametrize("role", ROLES)
def test_every_operation_answers_as_documented(live_url: str, seeded: Seeded, role: str) -> None:
    outcome = Outcome()
    started = time.monotonic()
    fuzzed = operations(live_url)
    with requests.Session() as session:
        target = Target(live_url, session, role, seeded.headers[role])
        for operation in fuzzed:
            fuzz_operation(operation, target, seeded, outcome)
    elapsed = time.monotonic() - started
    print(f"\n{role}: {len(fuzzed)} operations, {outcome.calls} requests in {elapsed:.1f} s")
    report = "\n\n".join(f"== {key}\n{text}" for key, text in sorted(outcome.problems.items()))
    assert not outcome.problems, f"{len(outcome.problems)} problems:\n\n{report}"
    never = sorted({label for label, _ in outcome.statuses} - outcome.succeeded())
    print(f"never 2xx: {never}")
    assert len(outcome.succeeded()) >= MIN_SUCCEEDED[role], never
    assert len(fuzzed) >= 50
