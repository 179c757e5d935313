"""What the live-platform fixtures (here and in tests/worker) share: keys, settings,
and credentials written through the web API's own account code."""

from __future__ import annotations

import json
import os
import secrets
import socket
from pathlib import Path

from webapi import accounts
from webapi.auth.api_keys import create_api_key
from webapi.auth.keys import generate_jwt_key_pair
from webapi.services import build_services
from webapi.settings import WebSettings

LEASE_SECONDS = 3
# A greenlet that keeps the loop this long stalls every other request of its process:
# the live fixtures fail the test (webapi/loop_monitor.py says how it is measured).
LOOP_BLOCK_REPORT_MS = 100


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def base_env() -> dict[str, str]:
    """This process's environment without any shoal, database or AWS settings."""
    return {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("SHOAL_", "DATABASE_URL", "AWS_", "ECS_"))
    }


def jwt_pems() -> tuple[str, str]:
    """A fresh RS256 key pair as (private PEM, public PEM)."""
    return generate_jwt_key_pair()


def api_env(
    db_url: str,
    pems: tuple[str, str],
    storage_dir: Path,
    url: str,
    job_overrides: dict[str, dict[str, object]] | None = None,
) -> dict[str, str]:
    """The web API's settings: local storage, TEST leases of LEASE_SECONDS (or the overrides)."""
    overrides = job_overrides or {"TEST": {"leaseSeconds": LEASE_SECONDS, "maxAttempts": 3}}
    return {
        "DATABASE_URL": db_url,
        "SHOAL_JWT_PRIVATE_KEY": pems[0],
        "SHOAL_JWT_PUBLIC_KEY": pems[1],
        "SHOAL_PASSWORD_HASH_FAST": "1",
        "SHOAL_STORAGE": "local",
        "SHOAL_LOCAL_STORAGE_DIR": str(storage_dir),
        "SHOAL_SIGNING_SECRET": secrets.token_hex(16),
        "SHOAL_PUBLIC_URL": url,
        "SHOAL_JOB_OVERRIDES": json.dumps(overrides),
        # Expired leases are noticed and long polls re-checked within half a second.
        "SHOAL_SWEEP_SECONDS": "0.5",
        "SHOAL_CLAIM_RECHECK_SECONDS": "0.5",
        "SHOAL_DB_POOL_SIZE": "10",
        # Every greenlet that holds a process's loop past this is logged (loop_blocks).
        "SHOAL_LOOP_BLOCK_REPORT_MS": str(LOOP_BLOCK_REPORT_MS),
    }


def loop_blocks(log: str, at_least_ms: int = LOOP_BLOCK_REPORT_MS, since: str = "") -> list[str]:
    """What in a ``shoal webapi`` log shows a blocked event loop: each ``loop.blocked``
    line of ``at_least_ms`` or more (how long, and the stack that held the loop; only
    some are sampled), logged at ``since`` (an ISO time) or later, and each worker
    gunicorn killed for its timeout."""
    found = []
    for line in log.splitlines():
        if "WORKER TIMEOUT" in line:
            found.append(line)
        elif '"loop.blocked"' in line:
            entry = json.loads(line)
            if entry["blocked_ms"] >= at_least_ms and entry["ts"] >= since:
                found.append(f"held {entry['blocked_ms']} ms by:\n{entry['stack']}")
    return found


def credentials(env: dict[str, str]) -> tuple[str, str]:
    """An ADMIN and a WORKER API key, owned by a new admin user."""
    services = build_services(WebSettings.from_env(env))
    try:
        with services.transaction() as conn:
            admin = accounts.create_user(
                conn,
                services.passwords,
                email="e2e-admin@example.org",
                password=secrets.token_urlsafe(16),
                roles=["ADMIN"],
            )
            owner = admin.id
        keys = []
        for roles in (["ADMIN"], ["WORKER"]):
            with services.transaction() as conn:
                _, key = create_api_key(
                    conn, name=f"e2e {roles[0]}", roles=roles, owner_id=owner, actor_id=owner
                )
                keys.append(key)
        return keys[0], keys[1]
    finally:
        services.close()
