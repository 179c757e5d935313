"""The fleet page's last hour, minute by minute: pending, running and finished jobs per
type from the jobs' own timestamps, and the fleet's size as the manager reported it.

A job is pending from ``created_at`` until it starts (or ends unstarted), running from
``started_at`` until ``finished_at``; a job retried after its lease expired counts as
running from its first start. Each minute's pending and running are the highest the
counts reached in it (at its start, or after any event in it), so a sweep pending for
seconds still shows; finished is how many ended in it.
"""

from __future__ import annotations

# Only jobs live now or finished inside the window can have been alive in it: three
# index scans (the two partial indexes of live jobs, ix_jobs_finished_at), never the
# whole table. Events before the window only set the counts it starts from (summed,
# not sorted); the ones inside are few and sorted per type for the running levels.
ACTIVITY = """
WITH bounds AS (
  SELECT date_trunc('minute', now()) - make_interval(mins => :minutes - 1) AS since,
         date_trunc('minute', now()) AS last
),
alive AS (
  SELECT type, created_at, started_at, finished_at FROM jobs WHERE status = 'PENDING'
  UNION ALL
  SELECT type, created_at, started_at, finished_at FROM jobs WHERE status = 'IN_PROGRESS'
  UNION ALL
  SELECT type, created_at, started_at, finished_at FROM jobs
  WHERE finished_at >= (SELECT since FROM bounds)
),
events AS (
  SELECT type, created_at AS at, 1 AS pending, 0 AS running, 0 AS finished FROM alive
  UNION ALL
  SELECT type, started_at, -1, 1, 0 FROM alive WHERE started_at IS NOT NULL
  UNION ALL
  SELECT type, finished_at,
         CASE WHEN started_at IS NULL THEN -1 ELSE 0 END,
         CASE WHEN started_at IS NULL THEN 0 ELSE -1 END, 1
  FROM alive WHERE finished_at IS NOT NULL
),
before AS (
  SELECT type, sum(pending) AS pending, sum(running) AS running
  FROM events, bounds WHERE at < since GROUP BY type
),
levels AS (
  SELECT e.type, date_trunc('minute', e.at) AS minute, e.pending AS d_pending,
         e.running AS d_running, e.finished,
         coalesce(b.pending, 0) + sum(e.pending) OVER w AS pending_level,
         coalesce(b.running, 0) + sum(e.running) OVER w AS running_level
  FROM events e CROSS JOIN bounds LEFT JOIN before b USING (type)
  WHERE e.at >= bounds.since
  WINDOW w AS (PARTITION BY e.type ORDER BY e.at)
),
per_minute AS (
  SELECT type, minute, sum(d_pending) AS d_pending, sum(d_running) AS d_running,
         sum(finished) AS finished, max(pending_level) AS pending_peak,
         max(running_level) AS running_peak
  FROM levels GROUP BY type, minute
),
types AS (SELECT type FROM before UNION SELECT type FROM per_minute),
grid AS (
  SELECT t.type, m.minute
  FROM types t CROSS JOIN bounds
  CROSS JOIN generate_series(bounds.since, bounds.last, interval '1 minute') AS m(minute)
),
carried AS (
  SELECT g.type, g.minute, p.finished, p.pending_peak, p.running_peak,
         coalesce(b.pending, 0) + coalesce(sum(p.d_pending) OVER before_it, 0) AS pending_at,
         coalesce(b.running, 0) + coalesce(sum(p.d_running) OVER before_it, 0) AS running_at
  FROM grid g
  LEFT JOIN per_minute p USING (type, minute)
  LEFT JOIN before b USING (type)
  WINDOW before_it AS (PARTITION BY g.type ORDER BY g.minute
                       ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
)
SELECT minute, type,
       greatest(pending_at, coalesce(pending_peak, 0)) AS pending,
       greatest(running_at, coalesce(running_peak, 0)) AS running,
       coalesce(finished, 0) AS finished
FROM carried
ORDER BY type, minute
"""

# The window's minutes, oldest first; ACTIVITY answers one row per type and minute.
MINUTES = """
SELECT generate_series(date_trunc('minute', now()) - make_interval(mins => :minutes - 1),
                       date_trunc('minute', now()), interval '1 minute')
"""

# The fleet's size each minute of the window: the most workers a report gave in it.
FLEET_SIZES = """
SELECT minute, workers FROM fleet_minutes
WHERE minute >= date_trunc('minute', now()) - make_interval(mins => :minutes - 1)
ORDER BY minute
"""

# One fleet report: its minute keeps the most workers reported in it. Rows older than
# a day go at the same time (by the primary key, so usually nothing is read).
RECORD_FLEET_SIZE = """
WITH forgotten AS (
  DELETE FROM fleet_minutes WHERE minute < now() - interval '1 day'
)
INSERT INTO fleet_minutes AS f (minute, workers)
VALUES (date_trunc('minute', now()), :workers)
ON CONFLICT (minute) DO UPDATE SET workers = greatest(f.workers, EXCLUDED.workers)
"""
