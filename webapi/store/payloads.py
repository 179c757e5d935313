"""Payloads: the cache key of an input, and what a worker's result payload carries
besides the type's result."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any


def canonical_hash(job_type: str, payload: Mapping[str, Any]) -> str:
    """The cache key: key order and whitespace do not matter."""
    body = json.dumps([job_type, payload], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(body.encode()).hexdigest()


def split_result_metadata(payload: Any) -> tuple[Any, dict[str, Any]]:
    """Keys starting with ``_`` (the ReefGuide worker adds ``_perf``) are metadata.

    They are kept with the result but not checked against the type's schema.
    """
    if not isinstance(payload, Mapping):
        return payload, {}
    extra = {k: v for k, v in payload.items() if isinstance(k, str) and k.startswith("_")}
    return {k: v for k, v in payload.items() if k not in extra}, extra
