"""``python -m webapi.devguard DATA_DIR RECORD``: what stops ``shoal dev``'s stack when
``shoal dev`` itself is killed.

The web API and the manager end with their parent on their own (``SHOAL_PARENT_PID``),
but PostgreSQL is started by ``pg_ctl`` and belongs to nobody. This small process
does: it asks for SIGTERM when ``shoal dev`` dies, and then stops the children named
in ``RECORD`` (``shoal dev`` rewrites it whenever it restarts one) as a Ctrl-C would:
the manager first (it got SIGTERM too, and stops its workers, which see ``shoal dev``
gone and hand their jobs back at once), then the web API with gunicorn's quick stop
(a graceful one would wait for idle keep-alive connections), then whatever is left of
their process groups; PostgreSQL last.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from pathlib import Path

from shared.lifetime import die_with_parent
from webapi.devprocs import recorded, signal_group
from webapi.store.embedded_pg import EmbeddedPostgres, process_alive

CHILDREN_GRACE_SECONDS = 10.0


def stop_stack(
    data_dir: Path, children: dict[str, int], grace: float = CHILDREN_GRACE_SECONDS
) -> None:
    """Wait for the manager, stop the web API quickly, kill what is left of the children's
    groups, stop PostgreSQL; the children get ``grace`` seconds in all."""
    deadline = time.monotonic() + grace
    _wait([children.get("manager")], deadline)
    signal_group(children.get("webapi"), signal.SIGINT)
    _wait(list(children.values()), deadline)
    for pid in children.values():
        signal_group(pid, signal.SIGKILL)
    EmbeddedPostgres(data_dir / "postgres").stop("fast")


def _wait(pids: list[int | None], deadline: float) -> None:
    while any(process_alive(pid) for pid in pids if pid) and time.monotonic() < deadline:
        time.sleep(0.1)


def main(argv: list[str]) -> None:
    data_dir, record = Path(argv[0]), Path(argv[1])
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is shoal dev's to handle
    if not die_with_parent(os.environ):
        return  # nothing would wake us: do not linger
    while not stop.wait(3600):
        pass
    children = {name: pid for name, pid in recorded(record).items() if pid != os.getpid()}
    stop_stack(data_dir, children)


if __name__ == "__main__":
    main(sys.argv[1:])
