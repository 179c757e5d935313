"""Usage and cost: the reports read the hourly rollup ``usage_hours`` (kept by the
trigger ``usage_attempts_ended``); one job's, batch's or workflow's usage reads its
attempts, the running ones up to now. Cost is priced here, at read, from ``prices``
for the region named by the connection's ``shoal.price_region`` (the web API sets it
on every connection, see engine.make_engine): a price change restates past cost.
"""

from __future__ import annotations

# The region whose prices apply (us-east-1 when the connection names none).
REGION = "coalesce(nullif(current_setting('shoal.price_region', true), ''), 'us-east-1')"

# The price of a row ``alias`` with a capacity, vcpu_seconds and gb_seconds.
PRICE_JOIN = "LEFT JOIN prices p ON p.region = {region} AND p.capacity = {alias}.capacity"


def _cost(vcpu_seconds: str, gb_seconds: str) -> str:
    return f"coalesce(({vcpu_seconds}) * p.vcpu_hour / 3600 + ({gb_seconds}) * p.gb_hour / 3600, 0)"


# An attempt's run time so far: claim to end, or to now while it runs.
_RUN = "extract(epoch FROM coalesce(a.completed_at, now()) - a.created_at)"
_ATTEMPT_FIGURES = f"""
  count(*) AS attempts, coalesce(sum({_RUN}), 0) AS run_seconds,
  coalesce(sum({_RUN} * a.vcpu), 0) AS vcpu_seconds,
  coalesce(sum({_RUN} * a.memory_gb), 0) AS gb_seconds,
  coalesce(sum({_cost(f"{_RUN} * a.vcpu", f"{_RUN} * a.memory_gb")}), 0) AS cost"""
_ATTEMPT_PRICES = PRICE_JOIN.format(region=REGION, alias="a")

# Each attempt of one job, with what it used so far.
JOB_ATTEMPTS = f"""
SELECT a.id, r.run AS run_seconds, r.run * a.vcpu AS vcpu_seconds,
       r.run * a.memory_gb AS gb_seconds, {_cost("r.run * a.vcpu", "r.run * a.memory_gb")} AS cost
FROM job_assignments a CROSS JOIN LATERAL (SELECT {_RUN} AS run) r {_ATTEMPT_PRICES}
WHERE a.job_id = :job_id ORDER BY a.attempt
"""

# What a batch's jobs used so far: the jobs it created (a job the cache handed it is
# another submission's, and counted there), their ended attempts from the rollup
# (ix_usage_hours_batch_id) and their running ones from the jobs running now, so a
# batch of 10,000 jobs is never read job by job.
BATCH_USAGE = f"""
SELECT coalesce(sum(s.attempts), 0) AS attempts, coalesce(sum(s.run_seconds), 0) AS run_seconds,
       coalesce(sum(s.vcpu_seconds), 0) AS vcpu_seconds,
       coalesce(sum(s.gb_seconds), 0) AS gb_seconds,
       coalesce(sum({_cost("s.vcpu_seconds", "s.gb_seconds")}), 0) AS cost
FROM (
  SELECT u.capacity, u.attempts, u.run_seconds, u.vcpu_seconds, u.gb_seconds
  FROM usage_hours u WHERE u.batch_id = :batch_id
  UNION ALL
  SELECT a.capacity, 1, r.run, r.run * a.vcpu, r.run * a.memory_gb
  FROM jobs j JOIN job_assignments a ON a.job_id = j.id AND a.completed_at IS NULL
  JOIN job_requests q ON q.job_id = j.id AND NOT q.cache_hit AND q.batch_id = :batch_id
  CROSS JOIN LATERAL (SELECT {_RUN} AS run) r
  WHERE j.status = 'IN_PROGRESS'
) s {PRICE_JOIN.format(region=REGION, alias="s")}
"""

# What a workflow's jobs used so far.
WORKFLOW_USAGE = f"""
SELECT {_ATTEMPT_FIGURES}
FROM jobs j JOIN job_assignments a ON a.job_id = j.id {_ATTEMPT_PRICES}
WHERE j.workflow_id = :workflow_id
"""

_HOURLY_PRICES = PRICE_JOIN.format(region=REGION, alias="u")

# The report's keys, per ``by``: what a row of the rollup (alias ``u``, or ``m`` for
# usage_months) is grouped by, that group as text, and its label, looked up after
# grouping (one lookup per row of the answer).
_KEYS = {
    "user": (
        "{t}.user_id",
        "CAST(r.k AS text)",
        "coalesce(x.email, 'user ' || r.k)",
        "LEFT JOIN users x ON x.id = r.k",
    ),
    "type": ("{t}.type", "r.k", "r.k", ""),
    "batch": (
        "{t}.batch_id",
        "CAST(r.k AS text)",
        "CASE WHEN r.k = 0 THEN 'no batch' ELSE coalesce(x.name, 'batch ' || r.k) END",
        "LEFT JOIN job_batches x ON x.id = r.k",
    ),
    "day": (
        "date_trunc('day', {t}.hour, 'UTC')",
        "to_char(r.k AT TIME ZONE 'UTC', 'YYYY-MM-DD')",
        "to_char(r.k AT TIME ZONE 'UTC', 'YYYY-MM-DD')",
        "",
    ),
}
BY = tuple(_KEYS)
_SUMS = "{t}.attempts, {t}.run_seconds, {t}.vcpu_seconds, {t}.gb_seconds"


def _rows(by: str, whose: str) -> str:
    """The rollup's rows of the period, each counted once (``:since`` is an hour, the
    whole months inside the period ``:m_from`` to ``:m_to``; none: both ``:since``).

    By user, type or batch: the whole months from usage_months and their rows not yet
    folded, the rest of the period from usage_hours. By day: the folded days from
    usage_user_days and the rows not yet folded. Every branch reads by an index range.
    """
    key = _KEYS[by][0]
    hours = f"SELECT {key.format(t='u')} AS k, u.capacity, {_SUMS.format(t='u')} FROM usage_hours u"
    unfolded = f"{hours} WHERE {whose.format(t='u')}u.stripe >= 0"
    if by == "day":
        return f"""
  SELECT d.day, d.capacity, {_SUMS.format(t="d")} FROM usage_user_days d
  WHERE {whose.format(t="d")}d.day >= :since AND d.day < :until
  UNION ALL
  {unfolded} AND u.hour >= :since AND u.hour < :until"""
    return f"""
  SELECT {key.format(t="m")}, m.capacity, {_SUMS.format(t="m")} FROM usage_months m
  WHERE {whose.format(t="m")}m.month >= :m_from AND m.month < :m_to
  UNION ALL
  {unfolded} AND u.hour >= :m_from AND u.hour < :m_to
  UNION ALL
  {hours} WHERE {whose.format(t="u")}u.hour >= :since AND u.hour < :m_from
  UNION ALL
  {hours} WHERE {whose.format(t="u")}u.hour >= :m_to AND u.hour < :until"""


def report(by: str, *, one_user: bool) -> str:
    """The usage report grouped ``by`` (one of ``BY``), of everyone or of ``:user_id``:
    the period's rows summed per key and capacity, then priced once per capacity."""
    _, key, label, names = _KEYS[by]
    whose = "{t}.user_id = :user_id AND " if one_user else ""
    return f"""
WITH g AS (
  SELECT s.k, s.capacity, sum(s.attempts) AS attempts, sum(s.run_seconds) AS run_seconds,
         sum(s.vcpu_seconds) AS vcpu_seconds, sum(s.gb_seconds) AS gb_seconds
  FROM ({_rows(by, whose)}
  ) s (k, capacity, attempts, run_seconds, vcpu_seconds, gb_seconds)
  GROUP BY 1, 2
), r AS (
  SELECT g.k, sum(g.attempts) AS attempts, sum(g.run_seconds) AS run_seconds,
         sum(g.vcpu_seconds) AS vcpu_seconds, sum(g.gb_seconds) AS gb_seconds,
         sum({_cost("g.vcpu_seconds", "g.gb_seconds")}) AS cost
  FROM g {PRICE_JOIN.format(region=REGION, alias="g")}
  GROUP BY g.k
)
SELECT {key} AS key, {label} AS label, r.attempts, r.run_seconds, r.vcpu_seconds,
       r.gb_seconds, r.cost
FROM r {names}
ORDER BY {"key" if by == "day" else "r.cost DESC, key"}
"""


REPORTS = {(by, one_user): report(by, one_user=one_user) for by in BY for one_user in (True, False)}

# What a user's attempts used since ``:since``: those that ended (the rollup, from the
# hour ``:since`` falls in) and those still running (all of their run so far).
SPENT = f"""
SELECT coalesce(sum(s.cost), 0) AS cost, coalesce(sum(s.vcpu_seconds), 0) AS vcpu_seconds
FROM (
  SELECT {_cost("u.vcpu_seconds", "u.gb_seconds")} AS cost, u.vcpu_seconds
  FROM usage_hours u {_HOURLY_PRICES}
  WHERE u.user_id = :user_id
    AND u.hour >= date_trunc('hour', CAST(:since AS timestamptz), 'UTC')
  UNION ALL
  SELECT {_cost(f"{_RUN} * a.vcpu", f"{_RUN} * a.memory_gb")}, {_RUN} * a.vcpu
  FROM jobs j JOIN job_assignments a ON a.job_id = j.id AND a.completed_at IS NULL
  {_ATTEMPT_PRICES}
  WHERE j.status = 'IN_PROGRESS' AND j.user_id = :user_id
) s
"""

# The run time of a type's recent succeeded attempts: its latest 100 succeeded jobs
# (ix_jobs_succeeded_type_finished_at), each job's succeeded attempt.
RECENT_RUN_TIME = """
SELECT count(*) AS n,
       percentile_cont(0.5) WITHIN GROUP (
         ORDER BY extract(epoch FROM a.completed_at - a.created_at)) AS median
FROM (SELECT j.id FROM jobs j WHERE j.status = 'SUCCEEDED' AND j.type = :type
      ORDER BY j.finished_at DESC LIMIT :sample) r
JOIN job_assignments a ON a.job_id = r.id AND a.outcome = 'SUCCEEDED'
"""

# The prices in force: this connection's region's, per capacity.
PRICES = f"""
SELECT p.capacity, p.vcpu_hour, p.gb_hour, {REGION} AS region FROM prices p
WHERE p.region = {REGION}
"""

# Every region's prices (the operator's view).
ALL_PRICES = """
SELECT p.region, p.capacity, p.vcpu_hour, p.gb_hour, p.updated_at, p.updated_by
FROM prices p ORDER BY p.region, p.capacity
"""

# Past days folded: the trigger's rows of the hours before today become one row per
# day and key (stripe -1, at the day's start), and are added to usage_months and
# usage_user_days, all in one statement, so a report reads each once. The trigger
# writes only the current hour, so this never meets it; the sums stay exact.
_FOLD = """
INSERT INTO {table} AS u ({keys}, attempts, run_seconds, vcpu_seconds, gb_seconds)
SELECT {values}, sum(m.attempts), sum(m.run_seconds), sum(m.vcpu_seconds),
       sum(m.gb_seconds)
FROM moved m
GROUP BY {groups} ORDER BY {groups}
ON CONFLICT ({keys}) DO UPDATE SET
  attempts = u.attempts + excluded.attempts,
  run_seconds = u.run_seconds + excluded.run_seconds,
  vcpu_seconds = u.vcpu_seconds + excluded.vcpu_seconds,
  gb_seconds = u.gb_seconds + excluded.gb_seconds"""
_KEY = "user_id, type, batch_id, capacity"
_M_KEY = "m.user_id, m.type, m.batch_id, m.capacity"
COMPACT = f"""
WITH moved AS (
  DELETE FROM usage_hours u
  WHERE u.stripe >= 0 AND u.hour < date_trunc('day', now(), 'UTC')
  RETURNING u.*
), days AS ({
    _FOLD.format(
        table="usage_hours",
        keys=f"hour, {_KEY}, stripe",
        values=f"date_trunc('day', m.hour, 'UTC'), {_M_KEY}, -1",
        groups="1, 2, 3, 4, 5",
    )
}
), months AS ({
    _FOLD.format(
        table="usage_months",
        keys=f"month, {_KEY}",
        values=f"date_trunc('month', m.hour, 'UTC'), {_M_KEY}",
        groups="1, 2, 3, 4, 5",
    )
}
){
    _FOLD.format(
        table="usage_user_days",
        keys="day, user_id, capacity",
        values="date_trunc('day', m.hour, 'UTC'), m.user_id, m.capacity",
        groups="1, 2, 3",
    )
}
"""

# One region's capacity price, locked for its change (the audit names the old one).
PRICE_FOR_UPDATE = """
SELECT p.vcpu_hour, p.gb_hour FROM prices p
WHERE p.region = :region AND p.capacity = CAST(:capacity AS capacity) FOR UPDATE
"""

# An operator's price: a region's capacity, added or changed.
SET_PRICE = """
INSERT INTO prices AS p (region, capacity, vcpu_hour, gb_hour, updated_by)
VALUES (:region, CAST(:capacity AS capacity), :vcpu_hour, :gb_hour, :actor_id)
ON CONFLICT (region, capacity) DO UPDATE SET
  vcpu_hour = excluded.vcpu_hour, gb_hour = excluded.gb_hour,
  updated_at = now(), updated_by = excluded.updated_by
"""
