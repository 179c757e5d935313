"""Helpers for tests that drive the queue layer directly."""

from __future__ import annotations

import dataclasses

from sqlalchemy import Engine, text

from shared.enums import StorageScheme
from shared.jobtypes import JobTypeRegistry, default_registry
from webapi.store import accounts
from webapi.store.queue import Queue, StorageTarget
from webapi.store.records import Claimant


def registry_with(**changes: int | None) -> JobTypeRegistry:
    """The default registry with these spec fields (lease_seconds, max_attempts, …) of
    every type overridden; None leaves a field as it is."""
    given = {name: value for name, value in changes.items() if value is not None}
    return JobTypeRegistry(dataclasses.replace(spec, **given) for spec in default_registry())


def make_queue(engine: Engine, *, fair_share: bool = True, **overrides: int) -> Queue:
    storage = StorageTarget(StorageScheme.LOCAL, "file:///tmp/shoal-results")
    return Queue(engine, registry_with(**overrides), storage, fair_share=fair_share)


def make_user(engine: Engine, email: str = "analyst@example.org", roles: str = "ANALYST") -> int:
    with engine.begin() as conn:
        return conn.execute(
            text(
                "INSERT INTO users (email, password_hash, roles) "
                "VALUES (:email, 'x', string_to_array(:roles, ',')::varchar[]) RETURNING id"
            ),
            {"email": email, "roles": roles},
        ).scalar_one()


def claimant(user_id: int, name: str = "worker-1") -> Claimant:
    return Claimant(
        ecs_task_arn=f"arn:aws:ecs:local:0:task/shoal/{name}",
        ecs_cluster_arn="arn:aws:ecs:local:0:cluster/shoal",
        user_id=user_id,
    )


def expire_leases(engine: Engine) -> None:
    """Move every live lease into the past, as if its holder had stopped heartbeating."""
    with engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE jobs SET lease_expires_at = now() - interval '1 second' "
                "WHERE status = 'IN_PROGRESS'"
            )
        )
        conn.execute(
            text(
                "UPDATE job_assignments SET expires_at = now() - interval '1 second' "
                "WHERE completed_at IS NULL"
            )
        )


def bulk_jobs(
    engine: Engine,
    user_id: int,
    count: int,
    *,
    status: str = "PENDING",
    job_type: str = "TEST",
    lease_seconds: int = 30,
    max_attempts: int = 3,
) -> None:
    """Insert many jobs in one statement (the queue's create is exercised elsewhere)."""
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO jobs (type, status, user_id, input_payload, hash, max_attempts,"
                " lease_seconds, finished_at) "
                "SELECT :type, CAST(:status AS job_status), :user_id,"
                " jsonb_build_object('id', i), md5(:type || i), :max_attempts, :lease,"
                " CASE WHEN :status = 'PENDING' THEN NULL ELSE now() END "
                "FROM generate_series(1, :count) AS i"
            ),
            {
                "type": job_type,
                "status": status,
                "user_id": user_id,
                "count": count,
                "lease": lease_seconds,
                "max_attempts": max_attempts,
            },
        )


def set_quota(
    engine: Engine,
    user_id: int,
    *,
    weight: int = 1,
    max_pending: int | None = None,
    max_running: int | None = None,
) -> None:
    with engine.begin() as conn:
        assert accounts.set_quota(
            conn, user_id, weight=weight, max_pending=max_pending, max_running=max_running
        )


def load_drift(engine: Engine) -> list[tuple[object, ...]]:
    """(type, user, pending, running counted, pending, running in job_loads and its
    stripes) that differ."""
    with engine.connect() as conn:
        return [
            tuple(row)
            for row in conn.execute(
                text(
                    "SELECT coalesce(c.type, l.type), coalesce(c.user_id, l.user_id),"
                    " coalesce(c.pending, 0), coalesce(c.running, 0),"
                    " coalesce(l.pending, 0), coalesce(l.running, 0)"
                    " FROM (SELECT type, user_id,"
                    "   count(*) FILTER (WHERE status = 'PENDING') AS pending,"
                    "   count(*) FILTER (WHERE status = 'IN_PROGRESS') AS running"
                    "   FROM jobs GROUP BY type, user_id) c"
                    " FULL JOIN (SELECT type, user_id, sum(pending) AS pending,"
                    "   sum(running) AS running FROM (SELECT type, user_id, pending, running"
                    "   FROM job_loads UNION ALL SELECT type, user_id, pending, running"
                    "   FROM job_load_stripes) parts GROUP BY type, user_id) l"
                    " ON l.type = c.type AND l.user_id = c.user_id"
                    " WHERE coalesce(c.pending, 0) <> coalesce(l.pending, 0)"
                    "    OR coalesce(c.running, 0) <> coalesce(l.running, 0)"
                )
            )
        ]
