"""Registering, changing and retiring job types (ADMIN): the rules, the audit, the reload.

Each change is one transaction: the new revision (or the retirement), its audit entry
and the NOTIFY that makes every API process reload the type. This process reloads it
as soon as the transaction commits, so the next request here already sees it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shared.enums import AuditAction
from shared.errors import Conflict, NotFound
from shared.jobtypes.document import RegisteredType, check_image
from webapi import audit
from webapi.auth import Principal
from webapi.jobtypes.catalogue import Catalogue, Registered
from webapi.services import Services
from webapi.store.job_types import Change

_AUDITED = {
    Change.CREATED: AuditAction.JOB_TYPE_CREATED,
    Change.CHANGED: AuditAction.JOB_TYPE_CHANGED,
}


@dataclass(frozen=True)
class Applied:
    change: Change
    current: Registered


def apply(
    services: Services,
    catalogue: Catalogue,
    name: str,
    body: Any,
    *,
    actor: Principal,
    allowed_images: tuple[str, ...],
) -> Applied:
    """Make ``body`` the type's content: 400 naming what is wrong, 409 for a fixed type."""
    refuse_fixed(catalogue, name)
    registered = RegisteredType.from_wire(body, name=name)
    check_image(registered.image, allowed_images)
    with services.transaction() as conn:
        put = catalogue.store.put(
            conn,
            name,
            registered.document,
            registered.content_hash(),
            actor_id=actor.user_id,
        )
        if put.change is not Change.UNCHANGED:
            audit.record(
                conn,
                _AUDITED[put.change],
                actor_id=actor.user_id,
                jobType=name,
                revision=put.current.revision,
                contentHash=put.current.content_hash,
                image=registered.image,
            )
    catalogue.reload(name)
    return Applied(put.change, _loaded(catalogue, name))


def retire(services: Services, catalogue: Catalogue, name: str, *, actor: Principal) -> Registered:
    """No new submissions of the type from now on; its queued jobs still run."""
    refuse_fixed(catalogue, name)
    with services.transaction() as conn:
        retired, current = catalogue.store.retire(conn, name)
        if current is None:
            raise NotFound(f"Job type {name} not found")
        if retired:
            audit.record(
                conn,
                AuditAction.JOB_TYPE_RETIRED,
                actor_id=actor.user_id,
                jobType=name,
                revision=current.revision,
            )
    catalogue.reload(name)
    return _loaded(catalogue, name)


def refuse_fixed(catalogue: Catalogue, name: str) -> None:
    if name in catalogue.fixed:
        source = "built-in" if catalogue.source(name) == "builtin" else "entry-point"
        raise Conflict(
            f"Job type {name} is a {source} type: it cannot be registered, changed or retired"
            " through the API"
        )


def _loaded(catalogue: Catalogue, name: str) -> Registered:
    found = catalogue.registered().get(name)
    if found is None:  # stored, but this process cannot compile it: never after a PUT
        raise NotFound(f"Job type {name} not found")
    return found
