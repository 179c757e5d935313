"""Claim + complete throughput: the queue layer beside raw SQL run by pgbench,
and the fair-share claim beside the plain oldest-first one.

    .venv/bin/python bench/queue_layer.py [--jobs 4000] [--connections 1 4 16] [--batch 10]
    .venv/bin/python bench/queue_layer.py --fair [--users 1000] [--per-user 1000] [--jobs 3000]
    .venv/bin/python bench/queue_layer.py --hot [--jobs 4000] [--connections 4]

Both sides run the same statements (webapi/store/sql/claim.py, lease.py) on the same server
in the same run, each alone (autocommit) and prepared (pgbench ``-M prepared``);
pgbench is the physical limit, the ratio is our overhead. ``--batch`` adds the
queue layer claiming that many jobs per statement, then completing each with its own
statement, and completing them together (``complete_many``: one statement, one commit).

``--fair`` fills the queue with ``--users`` × ``--per-user`` PENDING jobs once, then
runs ``--jobs`` claim + complete cycles (jobs/s) with fair share on and, alternately,
off (oldest first), and oldest first with the job_loads triggers disabled (what the
counters cost every claim and result); the same on a queue of one user (every claim
wants that user's counter row). fair / oldest is fair share's cost.

``--hot`` drains a queue of ``--jobs`` jobs of one user, oldest first and then by fair
share, and counts the updates of each hot table that were heap-only (HOT: no new
index entries), from pg_stat_user_tables, read once every backend of the drain has
ended (a backend hands in its counts when it ends).
"""

from __future__ import annotations

import argparse
import itertools
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import parse_qs, urlparse

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import Connection, Engine, text

from bench.support import benchmark_database, machine, print_table, run_threads
from shared.enums import JobStatus, StorageScheme
from shared.jobtypes import default_registry
from webapi.store.embedded_pg import bin_path
from webapi.store.engine import make_engine
from webapi.store.queue import Outcome, Queue, StorageTarget
from webapi.store.records import Claimant
from webapi.store.sql import claim as claim_sql
from webapi.store.sql import lease as lease_sql

CLAIM_LITERALS = {
    "type": "'TEST'",
    "limit": "1",
    "task_arn": "'bench'",
    "cluster_arn": "'bench'",
    "user_id": ":user_id",
    "api_key_id": "NULL",
    "storage_scheme": "'LOCAL'",
    "storage_base": "'file:///bench'",
    "sizes": "'{}'",
    "capacity": "'on_demand'",
}


def _empty(conn: Connection) -> int:
    """Empty every table the queue uses; a new user who owns and claims the jobs."""
    conn.execute(text("TRUNCATE jobs, job_assignments, job_results, job_requests, users CASCADE"))
    user: int = conn.execute(
        text(
            "INSERT INTO users (email, password_hash, roles) "
            "VALUES ('bench@example.org', 'x', ARRAY['WORKER']) RETURNING id"
        )
    ).scalar_one()
    return user


def reset(engine: Engine, jobs: int) -> int:
    """Empty the queue and fill it with ``jobs`` pending TEST jobs; returns the user id."""
    with engine.begin() as conn:
        user = _empty(conn)
        conn.execute(
            text(
                "INSERT INTO jobs (type, user_id, input_payload, hash, max_attempts,"
                " lease_seconds) "
                "SELECT 'TEST', :user, jsonb_build_object('id', i), md5(i::text), 3, 60 "
                "FROM generate_series(1, :n) i"
            ),
            {"user": user, "n": jobs},
        )
        conn.execute(text("ANALYZE jobs"))
    return int(user)


def run_queue_layer(
    engine: Engine,
    user: int,
    connections: int,
    batch: int = 1,
    *,
    fair_share: bool = False,
    jobs: int | None = None,
    together: bool = False,
) -> tuple[int, float]:
    """Claim and complete until the queue is empty, or ``jobs`` are done; ``together``:
    each claim's jobs are completed by one ``complete_many``."""
    storage = StorageTarget(StorageScheme.LOCAL, "file:///bench")
    queue = Queue(engine, default_registry(), storage, fair_share=fair_share)
    done = [0] * connections
    left = itertools.count(jobs or 0, -1) if jobs else itertools.repeat(1)

    def work(index: int) -> None:
        worker = Claimant(f"bench-{index}", "bench", user)
        while next(left) > 0 and (claimed := queue.claim_many(["TEST"], worker, batch)):
            if together:
                outcomes = [Outcome(c.assignment.id, JobStatus.SUCCEEDED, {}) for c in claimed]
                answers = queue.complete_many(outcomes, worker)
                assert not any(isinstance(a, Exception) for a in answers), answers
            for one in [] if together else claimed:
                queue.complete(
                    one.assignment.id, worker, status=JobStatus.SUCCEEDED, result_payload={}
                )
            done[index] += len(claimed)

    seconds = run_threads(connections, work)
    return sum(done), seconds


def pgbench_script(user: int) -> str:
    """The same claim and complete statements, with pgbench variables for the ids."""
    claim = claim_sql.CLAIM_ONE
    for name, literal in CLAIM_LITERALS.items():
        claim = re.sub(rf":{name}\b", literal, claim)
    complete = lease_sql.COMPLETE
    for name, literal in {
        "assignment_id": ":assignment__id",
        "user_id": str(user),
        "api_key_id": "NULL",
        "payload": "'{}'",
        "status": "'SUCCEEDED'",
        "error": "NULL",
        "metadata": "'{}'",
    }.items():
        complete = re.sub(rf":{name}\b", literal, complete)
    claim = claim.replace(":user_id", str(user))
    return "\n".join([claim.strip() + " \\gset", complete.strip() + ";", ""])


def run_pgbench(
    url: str, user: int, connections: int, jobs: int, prefix: str = ""
) -> tuple[int, float]:
    """Run the claim + complete script (after ``prefix``, more pgbench SQL) ``jobs`` times."""
    parsed = urlparse(url)
    host = parse_qs(parsed.query).get("host", [parsed.hostname or "localhost"])[0]
    database = parsed.path.lstrip("/") or "postgres"
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as script:
        script.write(prefix + pgbench_script(user))
    per_client = jobs // connections
    args = [
        bin_path("pgbench"),
        "-n",
        "-M",
        "prepared",
        "-h",
        host,
        "-U",
        parsed.username or "postgres",
        "-c",
        str(connections),
        "-j",
        str(min(connections, 4)),
        "-t",
        str(per_client),
        "-f",
        script.name,
        database,
    ]
    if parsed.port:
        args[1:1] = ["-p", str(parsed.port)]
    start = time.perf_counter()
    result = subprocess.run(args, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"pgbench failed: {result.stderr[-2000:]}")
    tps = re.search(r"tps = ([\d.]+) \(without initial connection time\)", result.stdout)
    done = per_client * connections
    return done, (done / float(tps.group(1))) if tps else elapsed


def measure(
    url: str, jobs: int, connection_counts: list[int], rounds: int = 3, batch: int = 10
) -> list[dict[str, object]]:
    """Median of ``rounds`` alternating runs of each side: the disk's fsync time drifts
    within a run, and alternating spreads the drift over both sides alike."""
    engine = make_engine(url, pool_size=max(connection_counts) + 2, max_overflow=0)
    rows: list[dict[str, object]] = []
    try:
        for connections in connection_counts:
            raw_rates, our_rates, batch_rates, together_rates = [], [], [], []
            for _ in range(rounds):
                user = reset(engine, jobs)
                raw_done, raw_seconds = run_pgbench(url, user, connections, jobs)
                raw_rates.append(raw_done / raw_seconds)
                user = reset(engine, jobs)
                done, seconds = run_queue_layer(engine, user, connections)
                assert done == jobs, f"queue layer completed {done} of {jobs}"
                our_rates.append(done / seconds)
                if batch > 1:
                    user = reset(engine, jobs)
                    done, seconds = run_queue_layer(engine, user, connections, batch)
                    assert done == jobs, f"queue layer (batch) completed {done} of {jobs}"
                    batch_rates.append(done / seconds)
                    user = reset(engine, jobs)
                    done, seconds = run_queue_layer(engine, user, connections, batch, together=True)
                    assert done == jobs, f"queue layer (together) completed {done} of {jobs}"
                    together_rates.append(done / seconds)
            raw, ours = statistics.median(raw_rates), statistics.median(our_rates)
            batched = statistics.median(batch_rates) if batch_rates else float("nan")
            together = statistics.median(together_rates) if together_rates else float("nan")
            rows.append(
                {
                    "connections": connections,
                    "queue": ours,
                    "batched": batched,
                    "together": together,
                    "raw": raw,
                    "ratio": ours / raw,
                }
            )
    finally:
        engine.dispose()
    return rows


def fill_users(engine: Engine, users: int, per_user: int) -> int:
    """Empty the queue; ``users`` analysts with ``per_user`` PENDING TEST jobs each.

    Returns the id of the worker user that claims."""
    with engine.begin() as conn:
        worker = _empty(conn)
        conn.execute(
            text(
                "INSERT INTO users (email, password_hash, roles) SELECT 'u' || u ||"
                " '@example.org', 'x', ARRAY['ANALYST'] FROM generate_series(1, :users) u"
            ),
            {"users": users},
        )
        conn.execute(
            text(
                "INSERT INTO jobs (type, user_id, input_payload, hash, max_attempts,"
                " lease_seconds) SELECT 'TEST', u.id, jsonb_build_object('id', i),"
                " md5(u.id || '-' || i), 3, 60"
                " FROM users u, generate_series(1, :n) i WHERE u.id <> :worker"
                " ORDER BY i, u.id"
            ),
            {"n": per_user, "worker": worker},
        )
        conn.execute(text("ANALYZE jobs"))
        conn.execute(text("ANALYZE job_loads"))
    return int(worker)


# The triggers that keep job_loads in step with claims and results.
_COUNTER_TRIGGERS = ("jobs_count_status_changes", "jobs_count_deleted")
_RECOUNT = """
UPDATE job_loads l SET pending = c.pending, running = c.running
FROM (SELECT type, user_id, count(*) FILTER (WHERE status = 'PENDING') AS pending,
             count(*) FILTER (WHERE status = 'IN_PROGRESS') AS running
      FROM jobs GROUP BY type, user_id) c
WHERE l.type = c.type AND l.user_id = c.user_id
"""


def run_mode(engine: Engine, worker: int, connections: int, jobs: int, mode: str) -> float:
    """Jobs/s of one run: ``fair``, ``oldest``, or ``bare`` (oldest, counters not kept)."""
    if mode != "bare":
        done, seconds = run_queue_layer(
            engine, worker, connections, fair_share=mode == "fair", jobs=jobs
        )
        return done / seconds
    with engine.begin() as conn:
        for trigger in _COUNTER_TRIGGERS:
            conn.execute(text(f"ALTER TABLE jobs DISABLE TRIGGER {trigger}"))
    try:
        done, seconds = run_queue_layer(engine, worker, connections, jobs=jobs)
    finally:
        with engine.begin() as conn:
            for trigger in _COUNTER_TRIGGERS:
                conn.execute(text(f"ALTER TABLE jobs ENABLE TRIGGER {trigger}"))
            conn.execute(text(_RECOUNT))
            conn.execute(text("DELETE FROM job_load_stripes"))
    return done / seconds


def measure_fair(
    url: str, users: int, per_user: int, jobs: int, connection_counts: list[int], rounds: int
) -> list[list[object]]:
    """Fair share, oldest first, and oldest first without the counters, alternating."""
    engine = make_engine(url, pool_size=max(connection_counts) + 2, max_overflow=0)
    rows: list[list[object]] = []
    modes = ("bare", "oldest", "fair")
    try:
        for label, owners in ((f"{users:,} users × {per_user:,}", users), ("1 user", 1)):
            if owners > 1:
                worker = fill_users(engine, users, per_user)
            else:
                worker = reset(engine, users * per_user)
            for mode in modes:  # warm up: caches, prepared statements
                run_mode(engine, worker, 1, jobs // 10, mode)
            for connections in connection_counts:
                rates: dict[str, list[float]] = {mode: [] for mode in modes}
                for _ in range(rounds):
                    for mode in modes:
                        rates[mode].append(run_mode(engine, worker, connections, jobs, mode))
                bare, plain, fair = (statistics.median(rates[mode]) for mode in modes)
                rows.append(
                    [
                        label,
                        connections,
                        bare,
                        plain,
                        fair,
                        f"{fair / plain:.0%}",
                        f"{fair / bare:.0%}",
                    ]
                )
    finally:
        engine.dispose()
    return rows


def main_fair(args: argparse.Namespace) -> None:
    with benchmark_database() as (url, _server):
        rows = measure_fair(
            url, args.users, args.per_user, args.jobs, args.connections, args.rounds
        )
    print(
        f"claim + complete, {args.jobs} per run out of the queue, median of {args.rounds}"
        f" alternating runs; {machine()}"
    )
    print_table(
        [
            "queue",
            "connections",
            "oldest first, no counters",
            "oldest first",
            "fair share",
            "fair / oldest",
            "fair / no counters",
        ],
        rows,
    )


HOT_TABLES = ("jobs", "job_assignments", "job_loads", "job_load_stripes")

_UPDATES = """
SELECT relname, n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables
WHERE relname = ANY(:tables)
"""


def table_updates(url: str) -> dict[str, tuple[int, int]]:
    """(updates, HOT updates) per hot table, once no other backend is left to report."""
    engine = make_engine(url, pool_size=1, max_overflow=0)
    try:
        with engine.connect() as conn:
            others = text(
                "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'"
                " AND datname = current_database() AND pid <> pg_backend_pid()"
            )
            while conn.execute(others).scalar_one():
                conn.rollback()
                time.sleep(0.05)
            conn.rollback()
            rows = conn.execute(text(_UPDATES), {"tables": list(HOT_TABLES)})
            return {name: (int(updates), int(hot)) for name, updates, hot in rows}
    finally:
        engine.dispose()


def measure_hot(url: str, jobs: int, connections: int) -> list[list[object]]:
    """Updates and HOT updates per table over a drain of ``jobs``, oldest first, then fair."""
    rows: list[list[object]] = []
    for mode in ("oldest", "fair"):
        engine = make_engine(url, pool_size=connections + 2, max_overflow=0)
        try:
            user = reset(engine, jobs)
        finally:
            engine.dispose()
        before = table_updates(url)
        engine = make_engine(url, pool_size=connections + 2, max_overflow=0)
        try:
            done, seconds = run_queue_layer(engine, user, connections, fair_share=mode == "fair")
        finally:
            engine.dispose()
        assert done == jobs, f"drained {done} of {jobs}"
        after = table_updates(url)
        for table in HOT_TABLES:
            if table not in after:
                continue
            updates = after[table][0] - before.get(table, (0, 0))[0]
            hot = after[table][1] - before.get(table, (0, 0))[1]
            share = f"{hot / updates:.0%}" if updates else "-"
            rows.append([mode, table, updates, hot, share, f"{done / seconds:,.0f}"])
    return rows


def main_hot(args: argparse.Namespace) -> None:
    with benchmark_database() as (url, _server):
        rows = measure_hot(url, args.jobs, args.connections[0])
    print(
        f"a drain of {args.jobs} jobs of one user at {args.connections[0]} connections,"
        f" claim + complete one at a time; {machine()}"
    )
    print_table(
        ["claim order", "table", "n_tup_upd", "n_tup_hot_upd", "HOT", "jobs/s"], rows
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch", type=int, default=10)
    parser.add_argument("--connections", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--fair", action="store_true", help="fair share beside oldest first")
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--per-user", type=int, default=1000)
    parser.add_argument("--hot", action="store_true", help="HOT updates per table in a drain")
    args = parser.parse_args()
    if args.hot:
        main_hot(args)
        return
    if args.fair:
        main_fair(args)
        return
    with benchmark_database() as (url, _server):
        rows = measure(url, args.jobs, args.connections, args.rounds, args.batch)
    print(f"claim + complete, {args.jobs} jobs per run, median of {args.rounds}; {machine()}")
    print_table(
        [
            "connections",
            "queue layer jobs/s",
            f"queue layer, {args.batch} per claim",
            f"{args.batch} per claim, results batched",
            "raw SQL (pgbench) jobs/s",
            "ratio",
        ],
        [
            [
                r["connections"],
                r["queue"],
                r["batched"],
                r["together"],
                r["raw"],
                f"{r['ratio']:.0%}",
            ]
            for r in rows
        ],
    )


if __name__ == "__main__":
    main()
