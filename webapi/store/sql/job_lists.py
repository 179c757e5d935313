"""The job lists: a user's jobs (with those the result cache handed them, "reused"),
one user's, or everyone's, filtered and sorted, a page at a time by keyset.

Each statement is built for the filters a request gives, so that PostgreSQL plans
exactly those conditions and picks the index for them (an optional filter written as
``:x IS NULL OR …`` keeps a batch's semi-join out of the plan). The sort keys are the
expressions of the ``ix_jobs_*_id`` indexes (``models.LIST_SORT_KEYS``; unqualified,
as the indexes have them: each statement reads ``jobs`` alone), each followed by the
id, so a page continues after the last row's ``(key, id)`` however many jobs arrive.
"""

from __future__ import annotations

from functools import cache

from webapi.store.models import LIST_SORT_KEYS
from webapi.store.sql.fragments import JOB

# Sort → (key expression, the SQL type of a cursor's key value).
SORTS = {
    "id": ("j.id", "bigint"),
    "status": (LIST_SORT_KEYS["status"], "job_status"),
    "type": (LIST_SORT_KEYS["type"], "text"),
    "name": (LIST_SORT_KEYS["name"], "text"),
    "runtime": (LIST_SORT_KEYS["runtime"], "numeric"),
}

# Filter → its condition on ``j``; a statement has those of the filters given.
FILTERS = {
    "owner": "j.user_id = :owner",
    # One status as ``=``, so the (user, status, id) index gives the id order too.
    "status": "j.status = CAST(:status AS job_status)",
    "statuses": "j.status = ANY(CAST(:statuses AS job_status[]))",
    "type": "j.type = :type",
    # The batch's jobs (at most 10,000) looked up by id: as a join, PostgreSQL may rather
    # walk a user's jobs in order and probe the batch for each (300,000 probes).
    "batch": "j.id = ANY(ARRAY(SELECT b.job_id FROM job_requests b WHERE b.batch_id = :batch))",
    # A prefix (``:name`` is a LIKE pattern ending in %, its own % _ \ escaped): in the
    # name index's order, so a C-collated database reads it as a range.
    "name": f"{LIST_SORT_KEYS['name']} LIKE :name",
    "tags": "j.tags @> CAST(:tags AS jsonb)",
    "since": "j.created_at >= :since",
    "until": "j.created_at < :until",
}

# The jobs the result cache answered one of ``:user_id``'s requests with, not theirs:
# looked up by id from the user's cache hits, as the batch's are.
_REUSED = """j.id = ANY(ARRAY(
    SELECT q.job_id FROM job_requests q WHERE q.user_id = :user_id AND q.cache_hit))
  AND j.user_id <> :user_id"""

# Whose jobs: ``mine`` (:user_id's, and the ones reused for them), ``all`` (anyone's;
# ``owner`` narrows it to one user).
SCOPES = ("mine", "all")


_TIMES = frozenset({"since", "until"})


def _by_time(user: str, filters: frozenset[str], direction: str, beyond: str | None) -> str:
    """A user's newest jobs submitted in a time range, newest first, looked up by id.

    Their ids come from an index-only walk of ``ix_jobs_user_id_id``, which carries
    ``created_at``: the jobs outside the range are skipped in the index, not read from
    the table (a range of a month ago skips most of a user's jobs: 90,000 rows of the
    table took 0.2 to 0.4 s, their index entries take a few milliseconds).
    """
    conditions = [f"j.user_id BETWEEN {user} AND {user}"]
    conditions += [FILTERS[name] for name in sorted(filters & _TIMES)]
    if beyond is not None:
        conditions.append(f"j.id {beyond} :after_id")
    return f"""j.id = ANY(ARRAY(SELECT j.id FROM jobs j {_where(conditions)}
    ORDER BY j.user_id {direction}, j.id {direction} LIMIT :limit))"""


def _where(conditions: list[str]) -> str:
    return "WHERE " + "\n  AND ".join(conditions) if conditions else ""


def _branch(
    scope: str, reused: bool, filters: frozenset[str], sort: str, descending: bool, after: bool
) -> str:
    """One index-ordered branch: a page of one kind of job, ``reused`` marked."""
    key, kind = SORTS[sort]
    direction, beyond = ("DESC", "<") if descending else ("ASC", ">")
    # One user's own jobs are read from a per-user index, in the user's own order. Said
    # as a range, not ``=``: PostgreSQL drops a column equal to a constant from the order,
    # and would then rather walk everyone's jobs newest first and filter theirs (slow
    # when they are few, or old, or the filter rarely matches: reading a million rows).
    user = {"mine": ":user_id", "all": ":owner" if "owner" in filters else None}[scope]
    if reused:
        user = None
    conditions = [FILTERS[name] for name in sorted(filters - {"owner"})]
    if user is not None and sort == "id" and _TIMES & filters and filters <= _TIMES | {"owner"}:
        conditions, user = [_by_time(user, filters, direction, beyond if after else None)], None
        after = False
    if scope == "mine" and reused:
        conditions.insert(0, _REUSED)
    if user is not None:
        conditions.insert(0, f"j.user_id BETWEEN {user} AND {user}")
    if after and sort == "id":
        conditions.append(f"j.id {beyond} :after_id")
    elif after:
        conditions.append(f"({key}, j.id) {beyond} (CAST(:after_key AS {kind}), :after_id)")
    first = "" if user is None else f"j.user_id {direction}, "
    return f"""SELECT {JOB}, {key} AS sort_key, {str(reused).lower()} AS reused FROM jobs j
{_where(conditions)}
ORDER BY {first}{key} {direction}, j.id {direction} LIMIT :limit"""


@cache
def page(scope: str, filters: frozenset[str], sort: str, descending: bool, after: bool) -> str:
    """``:limit`` jobs in ``sort`` order after the cursor's ``(:after_key, :after_id)``.

    For ``mine``, the user's own and their reused jobs are each read in index order
    and merged: two short scans instead of one over an OR.
    """
    one = _branch(scope, False, filters, sort, descending, after)
    if scope != "mine":
        return one
    other = _branch(scope, True, filters, sort, descending, after)
    direction = "DESC" if descending else "ASC"
    return f"""SELECT * FROM (({one})
UNION ALL
({other})) AS j ORDER BY j.sort_key {direction}, j.job__id {direction} LIMIT :limit"""


@cache
def count(scope: str, filters: frozenset[str]) -> str:
    """How many jobs match, counted up to ``:cap`` (an exact count of a million is not
    a page's business)."""
    conditions = [FILTERS[name] for name in sorted(filters)]
    # In id order: else, the cap being low, PostgreSQL may read the table from its start
    # until enough match (fast while they are spread out, all of it when they are new).
    if scope != "mine":
        return f"""SELECT count(*) FROM (SELECT 1 FROM jobs j {_where(conditions)}
  ORDER BY j.id DESC LIMIT :cap) c"""
    own = _where(["j.user_id = :user_id", *conditions])
    reused = _where([_REUSED, *conditions])
    return f"""SELECT count(*) FROM (
  (SELECT 1 FROM jobs j {own} LIMIT :cap) UNION ALL (SELECT 1 FROM jobs j {reused} LIMIT :cap)
  LIMIT :cap) c"""
