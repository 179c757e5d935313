"""The end state a run under faults must reach, read straight from the database.

Every job terminal and SUCCEEDED, one result per job (from its one SUCCEEDED
assignment, with its file on disk), no assignment left live; plus the counts of
what the faults caused: takeovers, releases and retries.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import Engine, text

from shared.storage.base import file_uri_path

# Each check names what it counts; a non-zero count is a broken invariant.
CHECKS = {
    "jobs with two results": """
        SELECT count(*) FROM (
          SELECT job_id FROM job_results GROUP BY 1 HAVING count(*) > 1) d""",
    "jobs with two SUCCEEDED assignments": """
        SELECT count(*) FROM (
          SELECT job_id FROM job_assignments WHERE outcome = 'SUCCEEDED'
          GROUP BY 1 HAVING count(*) > 1) d""",
    "live assignments": "SELECT count(*) FROM job_assignments WHERE completed_at IS NULL",
    "SUCCEEDED jobs without a result": """
        SELECT count(*) FROM jobs j WHERE j.status = 'SUCCEEDED'
          AND NOT EXISTS (SELECT 1 FROM job_results r WHERE r.job_id = j.id)""",
    "results not from the SUCCEEDED assignment": """
        SELECT count(*) FROM job_results r JOIN job_assignments a ON a.id = r.assignment_id
        WHERE a.outcome IS DISTINCT FROM 'SUCCEEDED' OR a.job_id <> r.job_id""",
}

COUNTS = {
    # An expired assignment followed by another attempt at the same job.
    "takeovers": """
        SELECT count(*) FROM job_assignments a WHERE a.outcome = 'EXPIRED'
          AND EXISTS (SELECT 1 FROM job_assignments b
                      WHERE b.job_id = a.job_id AND b.attempt > a.attempt)""",
    "releases": "SELECT count(*) FROM job_assignments WHERE outcome = 'RELEASED'",
    # Attempts whose worker the platform took (the manager declared it lost): not counted.
    "lost to the platform": """
        SELECT count(*) FROM job_assignments WHERE outcome = 'LOST' AND NOT counted""",
    # Attempts that ended without a result and counted against their job's maxAttempts.
    "counted attempts lost": """
        SELECT count(*) FROM job_assignments
        WHERE counted AND outcome IN ('EXPIRED', 'LOST')""",
    "retries": "SELECT coalesce(sum(attempts - 1), 0) FROM jobs",
    "assignments": "SELECT count(*) FROM job_assignments",
    "most attempts": "SELECT coalesce(max(attempts), 0) FROM jobs",
}


@dataclass
class EndState:
    by_status: dict[str, int]
    broken: dict[str, int]
    counts: dict[str, int]
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def read_end_state(engine: Engine, job_ids: Sequence[int]) -> EndState:
    """Check every invariant; ``problems`` says in words what is wrong (empty: all good)."""
    with engine.connect() as conn:
        by_status: dict[str, int] = dict(
            conn.execute(text("SELECT status::text, count(*) FROM jobs GROUP BY 1")).all()
        )
        broken = {name: conn.execute(text(sql)).scalar_one() for name, sql in CHECKS.items()}
        counts = {name: int(conn.execute(text(sql)).scalar_one()) for name, sql in COUNTS.items()}
        results = conn.execute(
            text(
                "SELECT j.id, j.input_payload, r.storage_uri FROM jobs j "
                "JOIN job_results r ON r.job_id = j.id WHERE j.id = ANY(:ids)"
            ),
            {"ids": list(job_ids)},
        ).all()
    broken["results whose file is missing or wrong"] = sum(
        1 for _, payload, uri in results if not _file_matches(uri, payload)
    )
    state = EndState(by_status, broken, counts)
    succeeded = by_status.get("SUCCEEDED", 0)
    if sum(by_status.values()) != len(job_ids):
        state.problems.append(f"{sum(by_status.values())} jobs in the table, {len(job_ids)} made")
    if succeeded != len(job_ids):
        state.problems.append(f"only {succeeded} of {len(job_ids)} jobs SUCCEEDED: {by_status}")
    state.problems += [f"{n} {name}" for name, n in broken.items() if n]
    return state


def _file_matches(uri: str, payload: object) -> bool:
    path = file_uri_path(uri) / "result.json"
    try:
        return bool(json.loads(path.read_text()) == payload)
    except (OSError, ValueError):
        return False
