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

from webapi.store.engine import Autocommit
from webapi.store.prepared import text as _text
from webapi.store.sql import workers as sql

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
        with Autocommit(self.engine).connect() as conn:  # one statement: no BEGIN, no COMMIT
            conn.execute(_text(sql.TOUCH), {"identity": identity, "wait": wait_seconds})
        with self._lock:
            self._written[identity] = max(until, self._written.get(identity, until))
            self._written.move_to_end(identity)
            while len(self._written) > _REMEMBERED:
                self._written.popitem(last=False)


def contacts(engine: Engine, identities: Sequence[str]) -> list[Contact]:
    """How long each worker asked about has been silent, in the order asked."""
    with engine.connect() as conn:
        rows = conn.execute(_text(sql.CONTACTS), {"identities": list(identities)}).mappings()
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
        return int(conn.execute(_text(sql.FORGET)).rowcount)
