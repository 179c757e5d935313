"""Registered job types the manager launches workers for, as ``GET /api/job-types`` says.

A type registered over the API with a ``run`` section gets workers like a type of the
settings document: its scaling policy is its own ``scaling`` (absent: the default
policy), its demand is read from the queue like any type's. A type without ``run`` is
served by workers of its own (ReefGuide's, for one): the manager launches nothing for
it. A retired type takes no new jobs, but its queue still runs: it keeps a policy with
no minimum, so its workers are launched while jobs wait and leave by their idle
timeout once the queue is empty.

A failed read keeps the last list read whole (logged and counted): a flaky API never
takes a type's workers away. Each revision's document is parsed once.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from manager.config_schema import PolicySchema
from manager.policy import ScalingPolicy
from manager.targets import JobTypeConfig, LocalTarget
from shared.client import ShoalClient
from shared.errors import InvalidInput, ShoalError
from shared.jobtypes.document import RegisteredType

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Known:
    revision: int
    retired: bool
    type: RegisteredType


def policy_of(registered: RegisteredType, *, retired: bool = False) -> ScalingPolicy:
    """The type's own ``scaling`` as the manager's policy; no minimum once retired."""
    scaling: Mapping[str, Any] | None = registered.document["scaling"]
    # The same fields as a policy of the settings document (from_wire checked them).
    policy: ScalingPolicy = ScalingPolicy() if scaling is None else PolicySchema().load(scaling)
    return dataclasses.replace(policy, min=0) if retired else policy


class RegisteredTypes:
    """The registered types that run (``run`` present), as last read whole."""

    def __init__(self) -> None:
        self._known: dict[str, _Known] = {}

    def refresh(self, client: ShoalClient) -> bool:
        """Read every registered type (retired ones too); False kept the last list."""
        try:
            docs = client.job_types(retired=True)
        except (ShoalError, httpx.HTTPError) as error:
            log.warning(
                "cannot read the registered job types; keeping the last list: %s",
                error,
                extra={"action": "job_types_read_error"},
            )
            return False
        known: dict[str, _Known] = {}
        for doc in docs:
            if doc.get("source") != "registered" or not doc.get("run"):
                continue
            found = self._parse(doc)
            if found is not None:
                known[found.type.name] = found
        for name in known.keys() - self._known.keys():
            log.info(
                "registered job type %s (revision %d) gets workers",
                name,
                known[name].revision,
                extra={"action": "job_type_added", "job_type": name},
            )
        self._known = known
        return True

    def _parse(self, doc: Mapping[str, Any]) -> _Known | None:
        name, revision, retired = str(doc.get("name")), int(doc["revision"]), bool(doc["retired"])
        before = self._known.get(name)
        if before is not None and before.revision == revision:
            return dataclasses.replace(before, retired=retired)
        try:
            parsed = RegisteredType.from_wire(doc)
        except InvalidInput as error:  # the API checked it: only a newer API's document
            log.warning(
                "registered job type %s (revision %d) is not understood here: %s",
                name,
                revision,
                error,
                extra={"action": "job_type_unreadable", "job_type": name},
            )
            return before
        return _Known(revision, retired, parsed)

    def get(self, name: str) -> RegisteredType | None:
        """The type's current revision, if it is registered and runs (``run`` present)."""
        found = self._known.get(name)
        return None if found is None else found.type

    def names(self) -> tuple[str, ...]:
        return tuple(sorted(self._known))

    def configs(self) -> dict[str, JobTypeConfig]:
        """Each type as the manager's loop scales it (the local backend's default worker)."""
        return {
            name: JobTypeConfig(name, policy_of(k.type, retired=k.retired), local=LocalTarget())
            for name, k in self._known.items()
        }
