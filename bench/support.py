"""What every benchmark needs: a migrated PostgreSQL and a table printer."""

from __future__ import annotations

import os
import platform
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config

from webapi.store.embedded_pg import EmbeddedPostgres

ROOT = Path(__file__).resolve().parents[1]


@contextmanager
def benchmark_database() -> Iterator[tuple[str, EmbeddedPostgres | None]]:
    """A migrated database: ``$DATABASE_URL`` if set, else a fresh embedded server."""
    if os.environ.get("DATABASE_URL"):
        url = os.environ["DATABASE_URL"]
        migrate(url)
        yield url, None
        return
    data_dir = Path(tempfile.mkdtemp(prefix="shoal-bench-"))
    server = EmbeddedPostgres(data_dir, durable=True)
    try:
        url = server.start()
        migrate(url)
        yield url, server
    finally:
        server.stop("fast")
        shutil.rmtree(data_dir, ignore_errors=True)


def migrate(url: str) -> None:
    config = Config(str(ROOT / "alembic.ini"))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    command.upgrade(config, "head")


def machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"


def print_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    cells = [[str(h) for h in headers]] + [[_fmt(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    for index, row in enumerate(cells):
        print("| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |")
        if index == 0:
            print("|" + "|".join("-" * (w + 2) for w in widths) + "|")


def _fmt(value: object) -> str:
    return f"{value:,.1f}" if isinstance(value, float) else str(value)


def run_threads(count: int, target: Callable[[int], None]) -> float:
    """Run ``target(i)`` in ``count`` threads at once; the wall time they took, in seconds."""
    threads = [threading.Thread(target=target, args=(i,)) for i in range(count)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started
