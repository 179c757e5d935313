"""Values a schema-driven fuzzer does not generate, sent to every operation over HTTP.

schemathesis builds bodies from Python objects, so it never writes an integer
literal longer than Python converts (4,300 digits) or a float that overflows to
infinity; and it fills a ``cursor`` with any text, almost never a well-formed one
whose id is past PostgreSQL's bigint. Here every operation of the OpenAPI
document gets such values: in each field of a known-good (or empty) body, as the
whole body, in each query parameter and in each integer path parameter. No
answer may be a 5xx, and every refusal names its problem in ``message``.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from flask import Flask

from tests.fuzz.seed import Seeded, seed
from tests.webapi.conftest import MakeUser

PLACEHOLDER = "\u2603hostile\u2603"
BIGINT_PAST = str(2**63)
LONG_DIGITS = "9" * 5000
# Raw JSON literals: past Python's int conversion, negative too, an overflowing float,
# and numbers past PostgreSQL's integer and bigint.
BODY_LITERALS = [LONG_DIGITS, "-" + LONG_DIGITS, "1e999999", BIGINT_PAST, str(2**31)]


def cursor_of(value: str) -> str:
    return base64.urlsafe_b64encode(f"v1:{value}".encode()).decode().rstrip("=")


QUERY_VALUES = [
    BIGINT_PAST,
    LONG_DIGITS,
    "-" + BIGINT_PAST,
    cursor_of(BIGINT_PAST),
    cursor_of(LONG_DIGITS),
    cursor_of("0"),
]
PATH_VALUES = [BIGINT_PAST, LONG_DIGITS, str(2**31)]
METHODS = {"get", "post", "put", "patch"}  # not delete: the seeded rows must live
EXCLUDED = {"GET /api/jobs/{job_id}/events"}  # follows a live job: never ends


def _leaves(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """The path of every value in ``value`` (objects and lists included, not the root)."""
    if path:
        yield path
    if isinstance(value, dict | list):
        items = value.items() if isinstance(value, dict) else enumerate(value)
        for key, inner in items:
            yield from _leaves(inner, (*path, key))


def _replaced(body: Any, path: tuple[Any, ...], literal: str) -> str:
    """``body`` as JSON text with the value at ``path`` replaced by the raw ``literal``."""
    copy = json.loads(json.dumps(body))
    target = copy
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = PLACEHOLDER
    return json.dumps(copy).replace(json.dumps(PLACEHOLDER), literal)


def _bodies(known: list[dict[str, Any]]) -> Iterator[str]:
    bodies = [request["body"] for request in known if "body" in request] or [{}]
    for literal in BODY_LITERALS:
        yield literal
        yield f'{{"x": {literal}}}'
        for body in bodies:
            for path in _leaves(body):
                yield _replaced(body, path, literal)


def _cases(operation: dict[str, Any], known: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Keyword arguments of ``requests.request`` (path parameters in ``path_values``)."""
    parameters = operation.get("parameters", [])
    good = next((request for request in known if "query" in request), {}).get("query", {})
    if "requestBody" in operation:
        for body in _bodies(known):
            yield {"data": body, "headers": {"Content-Type": "application/json"}}
    for parameter in parameters:
        name = parameter["name"]
        if parameter["in"] == "query":
            for value in QUERY_VALUES:
                yield {"params": {**good, name: value}}
        elif parameter["in"] == "path" and parameter["schema"].get("type") == "integer":
            for value in PATH_VALUES:
                yield {"path_values": {name: value}}


def _short(case: dict[str, Any]) -> str:
    return str(case).replace(LONG_DIGITS, "<5000 digits>")[:300]


def _url(base: str, path: str, pins: dict[str, Any], override: dict[str, str]) -> str:
    for name, value in {**pins, **override}.items():
        path = path.replace("{" + name + "}", str(value))
    return base + path


@pytest.fixture
def seeded(app: Flask, make_user: MakeUser, api_key, auth_headers) -> Seeded:
    return seed(app, make_user, api_key, auth_headers)


@pytest.mark.slow
def test_hostile_values_never_cause_a_server_error(live_url: str, seeded: Seeded) -> None:
    document = requests.get(f"{live_url}/api/openapi.json", timeout=30).json()
    pins = {name: values[0] for name, values in seeded.pins.items()} | {"relative_path": "x"}
    problems: list[str] = []
    sent = 0
    with requests.Session() as session:
        session.headers.update(seeded.headers["ADMIN"])
        for path, methods in document["paths"].items():
            for method, operation in methods.items():
                label = f"{method.upper()} {path}"
                if method not in METHODS or label in EXCLUDED:
                    continue
                for case in _cases(operation, seeded.requests.get(label, [])):
                    url = _url(live_url, path, pins, case.pop("path_values", {}))
                    response = session.request(method, url, timeout=30, **case)
                    sent += 1
                    status = response.status_code
                    if status >= 500 or (status >= 400 and "message" not in response.json()):
                        problems.append(f"{label} -> {status}: {_short(case)}")
    print(f"\n{sent} hostile requests")
    assert sent > 300
    assert not problems, f"{len(problems)} problems:\n" + "\n".join(problems[:40])
