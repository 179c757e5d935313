"""Where one API process spends a claim + result: a py-spy profile of the drain in
bench/api.py, and the statements each request runs.

    .venv/bin/python bench/api_profile.py [--seconds 15] [--clients 16] [--max-jobs 1]

``shoal webapi`` runs with one gevent worker process, so every request goes through
the one process py-spy samples (``py-spy record --nonblocking --gil``: only while the
process holds the GIL, so waits on sockets and the database mostly drop out; install
it with ``pip install py-spy``; it needs ptrace rights on the process). PostgreSQL is
restarted with ``pg_stat_statements`` loaded, and its counts are reset after a
warm-up, so the statements counted are those of the timed drain only. Prints the
jobs per second (lower than bench/api.py's: one process, and the sampler takes a
share of the two cores), the statements per request, and the share of the sampled
time by area and by function.
"""

from __future__ import annotations

import sys
from pathlib import Path

# The repository root, so that ``bench.*`` and the packages import when run as a script.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import argparse
import shutil
import signal
import subprocess
import tempfile
import time
from collections import Counter
from dataclasses import dataclass

from sqlalchemy import text

from bench.api import API_ENV, _empty_queue, analyst_id, http_drain
from bench.harness import Platform, running_platform
from bench.round_trips import backlog
from bench.support import machine, print_table

FUNCTIONS_SQL = Path(__file__).resolve().parents[1] / "webapi" / "store" / "functions.sql"
# Areas of the code, by the path of a frame's file (first match wins, in this order).
AREAS = (
    ("auth (keys, tokens, principals)", ("webapi/auth/", "flask_jwt_extended", "jwt/")),
    ("queue layer (webapi/store)", ("webapi/store/",)),
    ("SQLAlchemy + psycopg2", ("sqlalchemy/", "psycopg2", "psycogreen")),
    ("marshmallow / webargs / smorest", ("marshmallow/", "webargs/", "flask_smorest/")),
    ("JSON", ("json/",)),
    ("metrics (prometheus_client)", ("prometheus_client/",)),
    ("logging", ("logging/",)),
    ("loop monitor", ("webapi/loop_monitor",)),
    ("security headers", ("webapi/headers",)),
    ("routes (webapi/jobs)", ("webapi/jobs/",)),
    ("Flask / Werkzeug", ("flask/", "werkzeug/")),
    ("gunicorn / gevent serving", ("gunicorn/", "gevent/", "webapi/serving")),
)


@dataclass
class Profile:
    samples: int
    by_area: Counter[str]  # samples whose stack passes through the area
    by_leaf: Counter[str]  # samples by the innermost frame
    by_function: Counter[str]  # samples whose stack holds the function (once per stack)


def worker_pid(platform: Platform) -> int:
    """The one gunicorn worker's process id (the master's only child)."""
    assert platform.api.process is not None
    master = platform.api.process.pid
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    [child] = children
    return int(child)


def with_statement_counts(platform: Platform) -> None:
    """Restart PostgreSQL with pg_stat_statements loaded, and create the extension."""
    alter = "ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'"
    with platform.sql().connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(alter))
    platform.sql().dispose()
    platform.database.restart("fast")
    time.sleep(1.5)  # the API pings connections idle past 1 s and replaces the dead ones
    with platform.sql().begin() as conn:
        conn.execute(text("CREATE EXTENSION IF NOT EXISTS pg_stat_statements"))


def reset_statement_counts(platform: Platform) -> None:
    with platform.sql().begin() as conn:
        conn.execute(text("SELECT pg_stat_statements_reset()"))


def statement_counts(platform: Platform) -> list[tuple[str, int]]:
    """(statement, calls) since the reset, most called first.

    The statements of trigger functions (webapi/store/functions.sql) are marked: they
    cost no round trip.
    """
    with platform.sql().connect() as conn:
        rows = conn.execute(
            text(
                "SELECT s.query, s.calls FROM pg_stat_statements s"
                " WHERE s.dbid = (SELECT oid FROM pg_database WHERE datname = current_database())"
                " AND s.query NOT LIKE '%pg_stat_statements%'"
                " ORDER BY s.calls DESC"
            )
        ).all()
    triggers = " ".join(FUNCTIONS_SQL.read_text().split())
    found = []
    for query, calls in rows:
        flat = " ".join(query.split())
        in_trigger = len(flat) > 30 and flat[:60] in triggers
        found.append((f"(trigger) {flat}" if in_trigger else flat, calls))
    return found


def read_profile(path: Path) -> Profile:
    """py-spy's collapsed stacks (``--format raw``) summed by area, leaf and function."""
    samples, by_area, by_leaf, by_function = 0, Counter[str](), Counter[str](), Counter[str]()
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack:
            continue
        count = int(count_text)
        frames = stack.split(";")
        samples += count
        by_leaf[_short(frames[-1])] += count
        for name in {_short(frame) for frame in frames}:
            by_function[name] += count
        for area in {_area(frame) for frame in frames} - {None}:
            by_area[str(area)] += count
    return Profile(samples, by_area, by_leaf, by_function)


def _area(frame: str) -> str | None:
    for name, needles in AREAS:
        if any(needle in frame for needle in needles):
            return name
    return None


def _short(frame: str) -> str:
    """``function (path/to/site-packages/pkg/mod.py:12)`` → ``function (pkg/mod.py:12)``."""
    name, _, where = frame.partition(" (")
    where = where.rstrip(")")
    for marker in ("site-packages/", "/lib/python3", "/work/"):
        if marker in where:
            where = where.split(marker, 1)[1]
    parts = where.split("/")
    return f"{name} ({'/'.join(parts[-2:])})"


def profile_drain(
    platform: Platform, out: Path, *, clients: int, seconds: float, max_jobs: int
) -> float:
    """Drain a backlog over HTTP while py-spy samples the API process; jobs per second."""
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    command = [py_spy, "record", "--nonblocking", "--gil", "--rate", "250", "--format", "raw"]
    spy = subprocess.Popen(
        [*command, "--output", str(out), "--pid", str(worker_pid(platform))],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    time.sleep(1.0)  # py-spy attaches
    try:
        return http_drain(platform, clients, seconds, max_jobs)
    finally:
        spy.send_signal(signal.SIGINT)  # writes the profile and exits
        _, errors = spy.communicate(timeout=60)
        if not out.exists():
            raise RuntimeError(f"py-spy wrote no profile: {errors.decode()[-2000:]}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--max-jobs", type=int, default=1)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--keep", type=Path, help="also copy py-spy's collapsed stacks here")
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory(prefix="shoal-profile-") as root,
        running_platform(Path(root), api_workers=1, api_extra_env=API_ENV) as platform,
    ):
        with_statement_counts(platform)
        profile, rate, statements = _measure(platform, Path(root), args)
        if platform.api.internal_errors():
            print(platform.api.log_tail(20_000), file=sys.stderr)
    report(profile, rate, statements, args)


def _measure(
    platform: Platform, root: Path, args: argparse.Namespace
) -> tuple[Profile, float, list[tuple[str, int]]]:
    user = analyst_id(platform)
    backlog(platform, user, 20_000)
    http_drain(platform, args.clients, 2.0, args.max_jobs)  # warm-up: pools, prepares
    _empty_queue(platform)
    backlog(platform, user, 20_000)
    reset_statement_counts(platform)
    out = root / "profile.txt"
    rate = profile_drain(
        platform, out, clients=args.clients, seconds=args.seconds, max_jobs=args.max_jobs
    )
    statements = statement_counts(platform)
    profile = read_profile(out)
    if args.keep:
        shutil.copy(out, args.keep)
    return profile, rate, statements


def report(
    profile: Profile, rate: float, statements: list[tuple[str, int]], args: argparse.Namespace
) -> None:
    jobs = rate * args.seconds
    requests = jobs * (1 + 1 / args.max_jobs)  # a result per job, a claim per max_jobs
    print(f"API profile; {machine()}; {args.clients} clients, maxJobs {args.max_jobs}")
    print(f"{rate:.0f} jobs/s over HTTP, one API process, sampled")
    total = sum(calls for query, calls in statements if not query.startswith("(trigger)"))
    print(
        f"statements sent per request (all the process's, background included): "
        f"{total / requests:.2f} ({total} for ~{requests:.0f})"
    )
    print_table(
        ["statement", "calls", "per request"],
        [[q[:90], c, f"{c / requests:.2f}"] for q, c in statements[:12]],
    )
    n = max(profile.samples, 1)
    print(f"{profile.samples} samples of the busy process")
    print_table(
        ["area (stack passes through)", "share"],
        [[a, f"{c / n:.1%}"] for a, c in profile.by_area.most_common()],
    )
    print_table(
        ["function (in the stack)", "share"],
        [[f, f"{c / n:.1%}"] for f, c in profile.by_function.most_common(args.top)],
    )
    print_table(
        ["innermost frame (self time)", "share"],
        [[f, f"{c / n:.1%}"] for f, c in profile.by_leaf.most_common(args.top)],
    )


if __name__ == "__main__":
    main()
