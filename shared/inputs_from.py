"""References from a job's input to what the jobs and batches it waits for produced.

An object ``{"$from": {"job": ID, "file": "stats.json"}}`` anywhere in an input stands
for one result file of job ID, ``{"$from": {"job": ID}}`` for its result payload, and
``{"$from": {"batch": ID}}`` for a manifest of every input of batch ID: its job, status,
result payload and files. The web API checks them at submit (each names a dependency of
the job) and adds to each, in the claim's answer, ``"$resolved"``: the payload and signed
links to the files. The worker fetches the files into the job's input folder and puts
local paths (or the payload) where the references were, before the job runs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from shared.errors import InvalidInput

KEY = "$from"
RESOLVED = "$resolved"


@dataclass(frozen=True)
class FromRef:
    """One reference, and where it is (``inputPayload.a[2]``)."""

    path: str
    job: int | None = None
    batch: int | None = None
    file: str | None = None

    @property
    def parent(self) -> str:
        return f"job {self.job}" if self.job is not None else f"batch {self.batch}"


def refs(payload: Any, root: str = "inputPayload") -> list[FromRef]:
    """Every reference in ``payload``, in document order; ``InvalidInput`` names a bad one."""
    found: list[FromRef] = []
    stack: list[tuple[str, Any]] = [(root, payload)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, dict):
            if KEY in value:
                found.append(_ref(path, value))
                continue
            stack.extend((f"{path}.{k}", v) for k, v in reversed(value.items()))
        elif isinstance(value, list):
            stack.extend((f"{path}[{i}]", v) for i, v in reversed(list(enumerate(value))))
    return found


def mentions(payload: Any, budget: int) -> bool | None:
    """Whether ``payload`` holds a reference, looking at no more than ``budget`` values
    (None: it is larger; ask what it was submitted with instead)."""
    stack = [payload]
    while stack:
        value = stack.pop()
        if isinstance(value, dict | list):
            budget -= len(value) + 1
            if budget < 0:
                return None
            if isinstance(value, dict):
                if KEY in value:
                    return True
                stack.extend(value.values())
            else:
                stack.extend(value)
    return False


def replace(payload: Any, resolve: Callable[[dict[str, Any]], Any]) -> Any:
    """A copy of ``payload`` with each reference object replaced by ``resolve(it)``."""
    if isinstance(payload, dict):
        if KEY in payload:
            return resolve(payload)
        return {k: replace(v, resolve) for k, v in payload.items()}
    if isinstance(payload, list):
        return [replace(v, resolve) for v in payload]
    return payload


def _ref(path: str, value: dict[str, Any]) -> FromRef:
    body = value[KEY]
    extra = sorted(set(value) - {KEY, RESOLVED})
    if extra or not isinstance(body, dict):
        raise _bad(path, "must be an object with the one key $from, an object")
    keys = set(body)
    job, batch, file = body.get("job"), body.get("batch"), body.get("file")
    if keys in ({"job"}, {"job", "file"}) and _is_id(job):
        if file is not None and not _is_file(file):
            raise _bad(path, "file must be a relative path inside the job's results")
        return FromRef(path, job=job, file=file)
    if keys == {"batch"} and _is_id(batch):
        return FromRef(path, batch=batch)
    raise _bad(path, 'must be {"job": ID}, {"job": ID, "file": NAME} or {"batch": ID}')


def _is_id(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value < 2**63


def _is_file(value: Any) -> bool:
    parts = value.split("/") if isinstance(value, str) else []
    return bool(parts) and len(value) <= 1024 and all(p not in ("", ".", "..") for p in parts)


def _bad(path: str, reason: str) -> InvalidInput:
    return InvalidInput(f"{path}.$from {reason}", errors={f"{path}.$from": [reason]})
