"""Fixtures for /api/job-types: callers of each role and a type document to register."""

from __future__ import annotations

import copy
from typing import Any

import pytest

# The jobs area's fixtures: the app over real HTTP, analysts, workers, submissions.
from tests.webapi.jobs.conftest import (  # noqa: F401 - fixtures
    Caller,
    analyst,
    http,
    live_url,
    submit,
    web_env,
    worker,
)

MODEL = {
    "name": "MY_MODEL",
    "description": "Fits the model to one region.",
    "inputSchema": {
        "type": "object",
        "required": ["region"],
        "additionalProperties": False,
        "properties": {
            "region": {"type": "string", "minLength": 1},
            "params": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["lower"],
                    "properties": {"lower": {"type": "number"}},
                },
            },
        },
    },
    "resultSchema": {
        "type": "object",
        "required": ["cells"],
        "properties": {"cells": {"type": "integer", "minimum": 0}},
    },
    "exampleInput": {"region": "cairns"},
    "leaseSeconds": 30,
    "maxAttempts": 2,
    "timeoutSeconds": 600,
}


@pytest.fixture
def model() -> dict[str, Any]:
    """A fresh copy of a valid type document, to change at will."""
    return copy.deepcopy(MODEL)


@pytest.fixture
def admin_caller(admin, auth_headers) -> Caller:
    user_id, token = admin
    return Caller(user_id, auth_headers(token))
