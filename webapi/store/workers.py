"""What the web API knows of each worker, by its identity (the ``ecsTaskArn`` it claims with).

The manager reads it to tell a worker that stopped answering (frozen, cut off) from
one that is idle: an idle worker waits in a claim, a busy one heartbeats, and either
way the API hears from it; a frozen one is silent. Whether a lost worker's attempts
count is the queue's business (``Queue.lose_worker``); this module only records
and reads contact.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from time import monotonic

from sqlalchemy import Engine

from webapi.store.prepared import text as _text

# A claim that may wait ``:wait`` seconds shows its worker alive until then.
TOUCH = """
INSERT INTO workers AS w (identity, claimed_at, contact_until)
VALUES (:identity, now(), now() + CAST(:wait AS double precision) * interval '1 second')
ON CONFLICT (identity) DO UPDATE
SET claimed_at = EXCLUDED.claimed_at,
    contact_until = greatest(w.contact_until, EXCLUDED.contact_until)
"""

# How long each worker has been silent (0 while a claim of it may still be waiting),
# by the database's clock: since its claims' wait ended, or since its newest live
# attempt's heartbeat (or start); NULL when it was never heard from. A claim that
# returned with a job (one assigned since it started) shows nothing past that job, so
# a worker that froze on its new job is silent from then, not from the claim's wait.
# Live attempts are found through the IN_PROGRESS jobs (a small partial index), not
# by scanning job_assignments.
CONTACTS = """
WITH asked AS (
  SELECT DISTINCT identity FROM unnest(CAST(:identities AS text[])) AS i(identity)
), beats AS (
  SELECT a.ecs_task_arn AS identity, max(greatest(a.heartbeat_at, a.created_at)) AS at,
         max(a.created_at) AS assigned_at
  FROM jobs j JOIN job_assignments a ON a.job_id = j.id AND a.attempt = j.attempts
  WHERE j.status = 'IN_PROGRESS' AND a.ecs_task_arn = ANY(CAST(:identities AS text[]))
  GROUP BY a.ecs_task_arn
)
SELECT q.identity,
       CASE WHEN heard.at IS NOT NULL
            THEN greatest(0, extract(epoch FROM now() - heard.at)) END AS silent_seconds,
       w.lost_at IS NOT NULL AS lost
FROM asked q
LEFT JOIN workers w ON w.identity = q.identity
LEFT JOIN beats b ON b.identity = q.identity
CROSS JOIN LATERAL (
  SELECT CASE WHEN b.assigned_at >= w.claimed_at THEN b.at
              ELSE greatest(w.contact_until, b.at) END AS at
) heard
"""

# Workers not heard from for a day are forgotten (the manager judges silence in
# seconds; an expiry judges a lost worker's late attempts within a lease).
FORGET = """
DELETE FROM workers
WHERE contact_until < now() - interval '1 day'
  AND (lost_at IS NULL OR lost_at < now() - interval '1 day')
"""

# A process writes a worker's contact again only once it would move this much.
TOUCH_SLACK_SECONDS = 5.0
_REMEMBERED = 50_000


@dataclass(frozen=True)
class Contact:
    identity: str
    silent_seconds: float | None  # None: never heard from
    lost: bool  # the manager declared it lost


class ContactBook:
    """Records workers' contact, writing a worker's row at most once per
    ``TOUCH_SLACK_SECONDS`` of news from this process (a claim per job is common)."""

    def __init__(self, engine: Engine, clock: Callable[[], float] = monotonic) -> None:
        self.engine = engine
        self.clock = clock
        self._written: OrderedDict[str, float] = OrderedDict()  # identity → alive until
        self._lock = threading.Lock()

    def touch(self, identity: str, wait_seconds: float) -> None:
        """The worker ``identity`` claimed, and may wait ``wait_seconds`` for a job."""
        until = self.clock() + wait_seconds
        with self._lock:
            known = self._written.get(identity)
        if known is not None and until < known + TOUCH_SLACK_SECONDS:
            return
        with self.engine.begin() as conn:
            conn.execute(_text(TOUCH), {"identity": identity, "wait": wait_seconds})
        with self._lock:
            self._written[identity] = max(until, self._written.get(identity, until))
            self._written.move_to_end(identity)
            while len(self._written) > _REMEMBERED:
                self._written.popitem(last=False)


def contacts(engine: Engine, identities: Sequence[str]) -> list[Contact]:
    """How long each worker asked about has been silent, in the order asked."""
    with engine.connect() as conn:
        rows = conn.execute(_text(CONTACTS), {"identities": list(identities)}).mappings()
        found = {
            row["identity"]: Contact(
                row["identity"],
                None if row["silent_seconds"] is None else float(row["silent_seconds"]),
                bool(row["lost"]),
            )
            for row in rows
        }
    return [found[identity] for identity in dict.fromkeys(identities)]


def forget_old(engine: Engine) -> int:
    """Delete workers not heard from (nor lost) for a day; how many."""
    with engine.begin() as conn:
        return int(conn.execute(_text(FORGET)).rowcount)
