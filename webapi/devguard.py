"""``python -m webapi.devguard DATA_DIR PID...``: what stops ``shoal dev``'s stack when
``shoal dev`` itself is killed.

The web API and the manager end with their parent on their own (``SHOAL_PARENT_PID``),
but PostgreSQL is started by ``pg_ctl`` and belongs to nobody. This small process
does: it asks for SIGTERM when ``shoal dev`` dies, then gives the children a moment
to stop (the manager hands its workers' jobs back through the API), kills what is
left of their process groups, and stops PostgreSQL.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
from pathlib import Path

from shared.lifetime import die_with_parent
from webapi.store.embedded_pg import EmbeddedPostgres, process_alive

CHILDREN_GRACE_SECONDS = 10.0


def stop_stack(data_dir: Path, pids: list[int], grace: float = CHILDREN_GRACE_SECONDS) -> None:
    """Wait for the children, kill what is left of their groups, stop PostgreSQL."""
    deadline = time.monotonic() + grace
    while any(process_alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)
    EmbeddedPostgres(data_dir / "postgres").stop("fast")


def main(argv: list[str]) -> None:
    data_dir, pids = Path(argv[0]), [int(pid) for pid in argv[1:]]
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is shoal dev's to handle
    if not die_with_parent(os.environ):
        return  # nothing would wake us: do not linger
    while not stop.wait(3600):
        pass
    stop_stack(data_dir, pids)


if __name__ == "__main__":
    main(sys.argv[1:])
