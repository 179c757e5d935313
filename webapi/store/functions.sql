-- The database's own code: every function and the trigger that runs it, as they are now.
--
-- Migrations are frozen history: a migration that changes one of these copies the new
-- definition from here. tests/webapi/store/test_migrations.py builds a database from
-- the models and this file and compares each function and trigger with the migrated
-- one (pg_get_functiondef, pg_get_triggerdef), so the two never drift apart.


-- Result files outlive nothing: deleting a job assignment (a user deleted, a job pruned,
-- any cascade) queues its storage URI in the deleting transaction, for the web API's
-- storage clean-up (migration 0004). An assignment deleted before it completed may
-- still be uploading: it is queued a second time, a minute after its lease would end.
CREATE OR REPLACE FUNCTION queue_storage_deletion() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO storage_deletions (storage_uri) VALUES (OLD.storage_uri);
  IF OLD.completed_at IS NULL THEN
    INSERT INTO storage_deletions (storage_uri, not_before)
    VALUES (OLD.storage_uri, greatest(now(), OLD.expires_at) + interval '1 minute');
  END IF;
  RETURN NULL;
END
$$;

CREATE OR REPLACE TRIGGER job_assignments_queue_storage_deletion
AFTER DELETE ON job_assignments
FOR EACH ROW EXECUTE FUNCTION queue_storage_deletion();


-- job_loads counts PENDING and running jobs per job type and user, with the user's
-- weight and max running: the fair-share claim picks the least loaded user from it
-- (migration 0007). These keep it exactly in step with jobs whatever statement changes
-- a job: inserts and status changes once per statement (a batch is one upsert per
-- user; status changes at the end of this file), deletes of live jobs per row.

-- New jobs, a statement's worth at once. A user whose pending count was 0 starts
-- waiting now (their first pending job's creation), unless they waited since later.
CREATE OR REPLACE FUNCTION job_loads_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO job_loads AS l (type, user_id, pending, running, weight, max_running, waiting_since)
  SELECT n.type, n.user_id, count(*) FILTER (WHERE n.status = 'PENDING'),
         count(*) FILTER (WHERE n.status = 'IN_PROGRESS'), u.weight, u.max_running,
         min(n.created_at) FILTER (WHERE n.status = 'PENDING')
  FROM new_jobs n JOIN users u ON u.id = n.user_id
  WHERE n.status IN ('PENDING', 'IN_PROGRESS')
  GROUP BY n.type, n.user_id, u.weight, u.max_running
  ORDER BY n.type, n.user_id
  ON CONFLICT (type, user_id) DO UPDATE SET
    pending = l.pending + excluded.pending, running = l.running + excluded.running,
    waiting_since = CASE WHEN l.pending = 0 AND excluded.pending > 0
                         THEN greatest(l.waiting_since, excluded.waiting_since)
                         ELSE l.waiting_since END;
  RETURN NULL;
END
$$;

-- A live job deleted (its user's account deleted): it counts no more.
CREATE OR REPLACE FUNCTION job_loads_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE job_loads l SET
    pending = l.pending - (OLD.status = 'PENDING')::int,
    running = l.running - (OLD.status = 'IN_PROGRESS')::int
  WHERE l.type = OLD.type AND l.user_id = OLD.user_id;
  RETURN NULL;
END
$$;

CREATE OR REPLACE TRIGGER jobs_count_inserted
AFTER INSERT ON jobs REFERENCING NEW TABLE AS new_jobs
FOR EACH STATEMENT EXECUTE FUNCTION job_loads_inserted();

CREATE OR REPLACE TRIGGER jobs_count_deleted
AFTER DELETE ON jobs
FOR EACH ROW WHEN (OLD.status IN ('PENDING', 'IN_PROGRESS'))
EXECUTE FUNCTION job_loads_deleted();


-- Workflows: jobs that wait for other jobs (migration 0017).

-- Settles the WAITING jobs among ``dependents``, all in one statement: each whose every
-- dependency is met becomes PENDING; each with a dependency that can never be met ends
-- CANCELLED, its error naming that parent; the rest stay WAITING. They are locked first,
-- in a statement of their own, so the judgement (a later snapshot) sees every parent
-- that ended before the lock was granted: two parents of one job ending at once are
-- judged one after the other, never each blind to the other. A job parent's status is
-- read from it, a batch parent's counts from job_batches (kept by job_ended). Released
-- jobs wake the claimers (one notification per type, on fragments.CHANNEL); a settled
-- job is notified to its followers like any status change, a cancel always. The
-- released jobs are counted in job_loads here, per type and user at once.
CREATE OR REPLACE FUNCTION settle_waiting(dependents bigint[]) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
  settled integer;
BEGIN
  PERFORM 1 FROM jobs WHERE id = ANY(dependents) AND status = 'WAITING' ORDER BY id FOR UPDATE;
  WITH edge AS (
    SELECT e.id, e.job_id, e.condition, p.status AS parent_status,
           CASE WHEN e.parent_job_id IS NOT NULL THEN 'job ' || e.parent_job_id
                ELSE 'batch ' || e.parent_batch_id END AS parent,
           coalesce(b.size, 1) AS total,
           coalesce(b.ended_jobs,
                    (p.status IN ('SUCCEEDED', 'FAILED', 'CANCELLED', 'TIMED_OUT'))::int) AS ended,
           coalesce(b.succeeded_jobs, (p.status = 'SUCCEEDED')::int) AS ok
    FROM job_dependencies e
    LEFT JOIN jobs p ON p.id = e.parent_job_id
    LEFT JOIN job_batches b ON b.id = e.parent_batch_id
    WHERE e.job_id = ANY(dependents)
  ), verdict AS (
    SELECT e.id, e.job_id,
           CASE e.condition WHEN 'afterok' THEN e.ok = e.total
                            WHEN 'afterany' THEN e.ended = e.total
                            ELSE e.ended = e.total AND e.ok < e.total END AS met,
           CASE WHEN e.condition = 'afterok' AND e.ended > e.ok
                THEN 'dependency ' || e.parent
                     || coalesce(' ended ' || e.parent_status, ': ' || (e.ended - e.ok)
                                 || ' of its ' || e.total || ' jobs did not succeed')
                     || ' (afterok)'
                WHEN e.condition = 'afternotok' AND e.ok = e.total
                THEN 'dependency ' || e.parent
                     || coalesce(' ended ' || e.parent_status,
                                 ': all ' || e.total || ' of its jobs succeeded')
                     || ' (afternotok)'
           END AS dead
    FROM edge e
  ), judged AS (
    SELECT v.job_id, bool_and(v.met) AS met,
           (array_agg(v.dead ORDER BY v.id) FILTER (WHERE v.dead IS NOT NULL))[1] AS reason
    FROM verdict v GROUP BY v.job_id
  ), s AS (
    UPDATE jobs d SET
        status = CASE WHEN j.reason IS NULL THEN 'PENDING' ELSE 'CANCELLED' END::job_status,
        error_message = j.reason,
        finished_at = CASE WHEN j.reason IS NOT NULL THEN now() END,
        updated_at = now()
    FROM judged j
    WHERE d.id = j.job_id AND d.status = 'WAITING' AND (j.met OR j.reason IS NOT NULL)
    RETURNING d.id, d.type, d.user_id, d.status, d.watched, d.progress, d.progress_message
  ), counted AS (
    INSERT INTO job_loads AS l (type, user_id, pending, running, weight, max_running,
        waiting_since)
    SELECT s.type, s.user_id, count(*), 0, u.weight, u.max_running, now()
    FROM s JOIN users u ON u.id = s.user_id
    WHERE s.status = 'PENDING'
    GROUP BY s.type, s.user_id, u.weight, u.max_running
    ORDER BY s.type, s.user_id
    ON CONFLICT (type, user_id) DO UPDATE SET
      pending = l.pending + excluded.pending,
      waiting_since = CASE WHEN l.pending = 0 THEN greatest(l.waiting_since, now())
                           ELSE l.waiting_since END
  ), followed AS (
    SELECT pg_notify('shoal_job_events', json_build_object('event', 'status', 'job_id', s.id,
        'type', s.type, 'status', s.status, 'progress', s.progress,
        'message', s.progress_message)::text) AS sent
    FROM s WHERE s.watched OR s.status = 'CANCELLED'
  ), woken AS (
    SELECT pg_notify('shoal_job_events', json_build_object('event', 'status', 'type', s.type,
        'status', 'PENDING', 'count', count(*))::text) AS sent
    FROM s WHERE s.status = 'PENDING' GROUP BY s.type
  )
  -- The notifying CTEs run only if read: read them.
  SELECT (SELECT count(*) FROM s) INTO settled
  FROM (SELECT count(*) FROM followed) f, (SELECT count(*) FROM woken) w;
  RETURN settled;
END
$$;

-- The one place where a job ends (its status becomes terminal, whatever statement did
-- it), and where a batch ends (its last job ends): it counts the job in each batch of
-- it that something depends on, then settles the jobs waiting on it, and on each such
-- batch whose judgement may have changed (it ended, or its first job did not succeed).
-- Most jobs have no dependents: they leave before the judging statement, which costs
-- the hot path (a result) a third of its throughput when run for nothing.
CREATE OR REPLACE FUNCTION job_ended() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  batches bigint[];
BEGIN
  WITH counted AS (
    UPDATE job_batches b SET ended_jobs = b.ended_jobs + q.n,
        succeeded_jobs = b.succeeded_jobs + CASE WHEN NEW.status = 'SUCCEEDED' THEN q.n ELSE 0 END
    FROM (SELECT r.batch_id, count(*) AS n FROM job_requests r
          WHERE r.job_id = NEW.id AND r.batch_id IS NOT NULL GROUP BY r.batch_id) q
    WHERE b.id = q.batch_id AND b.ended_jobs IS NOT NULL
    RETURNING b.id, b.size, b.ended_jobs, b.succeeded_jobs, q.n
  )
  SELECT array_agg(c.id) INTO batches FROM counted c
  WHERE c.ended_jobs = c.size OR c.ended_jobs - c.succeeded_jobs = c.n;
  IF batches IS NULL AND NOT EXISTS (
      SELECT 1 FROM job_dependencies e WHERE e.parent_job_id = NEW.id) THEN
    RETURN NULL;
  END IF;
  PERFORM settle_waiting(ARRAY(
    SELECT e.job_id FROM job_dependencies e WHERE e.parent_job_id = NEW.id
    UNION
    SELECT e.job_id FROM job_dependencies e WHERE e.parent_batch_id = ANY(batches)));
  RETURN NULL;
END
$$;

CREATE OR REPLACE TRIGGER jobs_ended
AFTER UPDATE OF status ON jobs
FOR EACH ROW WHEN (NEW.status IN ('SUCCEEDED', 'FAILED', 'CANCELLED', 'TIMED_OUT')
                   AND OLD.status NOT IN ('SUCCEEDED', 'FAILED', 'CANCELLED', 'TIMED_OUT'))
EXECUTE FUNCTION job_ended();


-- webhooks (migration 0018): a job that ends, and a batch whose last job ends, write the
-- outbox rows of every matching subscription in the ending transaction, whatever
-- statement ended it (complete, fail, cancel, timeout, lease expiry, a lost worker, a
-- batch's cancel): nothing is lost if a process dies before the sender posts them.
-- An event is written only when a subscription matches.
CREATE OR REPLACE FUNCTION webhook_job_ended() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  WITH subscribers AS (
    SELECT w.id FROM webhooks w
    WHERE 'job.ended' = ANY (w.events)
      AND (NOT w.failures_only OR NEW.status <> 'SUCCEEDED')
      AND ((w.user_id = NEW.user_id AND w.job_id IS NULL AND w.batch_id IS NULL
            AND w.workflow_id IS NULL)
           OR w.job_id = NEW.id OR w.workflow_id = NEW.workflow_id
           OR w.batch_id IN (SELECT q.batch_id FROM job_requests q WHERE q.job_id = NEW.id))
  ), event AS (
    INSERT INTO webhook_events (kind, subject_id, status, data)
    SELECT 'job.ended', NEW.id, NEW.status::text, jsonb_build_object('job', jsonb_build_object(
      'id', NEW.id, 'type', NEW.type, 'status', NEW.status, 'userId', NEW.user_id,
      'attempts', NEW.attempts, 'errorMessage', NEW.error_message,
      'createdAt', NEW.created_at, 'finishedAt', coalesce(NEW.finished_at, now())))
    WHERE EXISTS (SELECT 1 FROM subscribers)
    RETURNING id
  )
  INSERT INTO webhook_deliveries (event_id, webhook_id, sequence_key)
  SELECT event.id, s.id, 'job:' || NEW.id FROM event, subscribers s ORDER BY s.id;
  RETURN NULL;
END
$$;

-- A batch ends when its last job does. Run at commit (a deferred constraint trigger), so
-- the batch's end follows every job end of the transaction (a batch cancel ends all its
-- jobs in one statement). A batch ends once: the first of its jobs' triggers to find
-- none live writes it, the others find it written and skip the scan.
CREATE OR REPLACE FUNCTION webhook_batch_ended() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  b record;
  counts jsonb;
  outcome text;
BEGIN
  FOR b IN
    SELECT DISTINCT jb.id, jb.user_id, jb.type, jb.size FROM job_requests q
    JOIN job_batches jb ON jb.id = q.batch_id WHERE q.job_id = NEW.id
  LOOP
    CONTINUE WHEN NOT EXISTS (
      SELECT 1 FROM webhooks w WHERE 'batch.ended' = ANY (w.events)
        AND (w.batch_id = b.id OR w.workflow_id = NEW.workflow_id
             OR (w.user_id = b.user_id AND w.job_id IS NULL AND w.batch_id IS NULL
                 AND w.workflow_id IS NULL)));
    -- Two of its jobs ending at once: the second to take this lock sees the first's end
    -- (a new snapshot per statement), so exactly one of them finds none left.
    PERFORM 1 FROM job_batches WHERE id = b.id FOR NO KEY UPDATE;
    CONTINUE WHEN EXISTS (
      SELECT 1 FROM webhook_events e WHERE e.kind = 'batch.ended' AND e.subject_id = b.id);
    CONTINUE WHEN EXISTS (
      SELECT 1 FROM job_requests q JOIN jobs j ON j.id = q.job_id
      WHERE q.batch_id = b.id
        AND j.status NOT IN ('SUCCEEDED', 'FAILED', 'CANCELLED', 'TIMED_OUT'));
    SELECT jsonb_object_agg(c.status, c.n) INTO counts FROM (
      SELECT j.status, count(*) AS n FROM job_requests q JOIN jobs j ON j.id = q.job_id
      WHERE q.batch_id = b.id GROUP BY j.status) c;
    -- All succeeded; else FAILED if any failed or timed out; else CANCELLED.
    outcome := CASE
      WHEN counts ?| ARRAY['FAILED', 'TIMED_OUT'] THEN 'FAILED'
      WHEN counts ? 'CANCELLED' THEN 'CANCELLED'
      ELSE 'SUCCEEDED' END;
    WITH event AS (
      INSERT INTO webhook_events (kind, subject_id, status, data)
      VALUES ('batch.ended', b.id, outcome, jsonb_build_object('batch', jsonb_build_object(
        'id', b.id, 'type', b.type, 'status', outcome, 'userId', b.user_id, 'size', b.size,
        'counts', counts, 'finishedAt', now())))
      RETURNING id
    )
    INSERT INTO webhook_deliveries (event_id, webhook_id, sequence_key)
    SELECT event.id, w.id, 'batch:' || b.id FROM event, webhooks w
    WHERE 'batch.ended' = ANY (w.events)
      AND (NOT w.failures_only OR outcome <> 'SUCCEEDED')
      AND (w.batch_id = b.id OR w.workflow_id = NEW.workflow_id
           OR (w.user_id = b.user_id AND w.job_id IS NULL AND w.batch_id IS NULL
               AND w.workflow_id IS NULL))
    ORDER BY w.id;
  END LOOP;
  RETURN NULL;
END
$$;

CREATE OR REPLACE TRIGGER jobs_webhook_job_ended
AFTER UPDATE OF status ON jobs
FOR EACH ROW WHEN (NEW.status IN ('SUCCEEDED', 'FAILED', 'CANCELLED', 'TIMED_OUT')
                   AND OLD.status NOT IN ('SUCCEEDED', 'FAILED', 'CANCELLED', 'TIMED_OUT'))
EXECUTE FUNCTION webhook_job_ended();

CREATE CONSTRAINT TRIGGER jobs_webhook_batch_ended
AFTER UPDATE OF status ON jobs DEFERRABLE INITIALLY DEFERRED
FOR EACH ROW WHEN (NEW.status IN ('SUCCEEDED', 'FAILED', 'CANCELLED', 'TIMED_OUT')
                   AND OLD.status NOT IN ('SUCCEEDED', 'FAILED', 'CANCELLED', 'TIMED_OUT'))
EXECUTE FUNCTION webhook_batch_ended();


-- webhooks, workflows (migration 0019): a workflow ends when the last live job of its
-- steps does (jobs.workflow_id, set by Workflows.create, finds it). At commit, like a
-- batch's end, and once: the first trigger to find none live under the workflow's lock
-- writes it. Its status is the workflows code's (webapi/store/workflows.py ``summary``
-- over its steps): SUCCEEDED if every job did, FAILED if any failed or timed out, else
-- CANCELLED; read over the steps' jobs and batches, as a workflow's page reads them.
CREATE OR REPLACE FUNCTION webhook_workflow_ended() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  f record;
  counts jsonb;
  outcome text;
BEGIN
  SELECT wf.id, wf.user_id, wf.name, wf.steps INTO f FROM workflows wf
  WHERE wf.id = NEW.workflow_id;
  IF NOT FOUND OR NOT EXISTS (
      SELECT 1 FROM webhooks w WHERE 'workflow.ended' = ANY (w.events)
        AND (w.workflow_id = f.id
             OR (w.user_id = f.user_id AND w.job_id IS NULL AND w.batch_id IS NULL
                 AND w.workflow_id IS NULL))) THEN
    RETURN NULL;
  END IF;
  PERFORM 1 FROM workflows WHERE id = f.id FOR NO KEY UPDATE;
  IF EXISTS (SELECT 1 FROM webhook_events e
             WHERE e.kind = 'workflow.ended' AND e.subject_id = f.id)
     OR EXISTS (SELECT 1 FROM jobs j WHERE j.workflow_id = f.id
                AND j.status IN ('WAITING', 'PENDING', 'IN_PROGRESS')) THEN
    RETURN NULL;
  END IF;
  WITH member AS (
    SELECT CAST(s.step ->> 'job_id' AS bigint) AS job_id
    FROM jsonb_array_elements(f.steps) AS s(step) WHERE s.step ? 'job_id'
    UNION ALL
    SELECT q.job_id FROM jsonb_array_elements(f.steps) AS s(step)
    JOIN job_requests q ON q.batch_id = CAST(s.step ->> 'batch_id' AS bigint)
    WHERE s.step ? 'batch_id'
  )
  SELECT jsonb_object_agg(c.status, c.n) INTO counts FROM (
    SELECT j.status, count(*) AS n FROM member m JOIN jobs j ON j.id = m.job_id
    GROUP BY j.status) c;
  IF counts ?| ARRAY['WAITING', 'PENDING', 'IN_PROGRESS'] THEN
    RETURN NULL;  -- a job its sweep reused from elsewhere is still live
  END IF;
  outcome := CASE
    WHEN counts ?| ARRAY['FAILED', 'TIMED_OUT'] THEN 'FAILED'
    WHEN counts ? 'CANCELLED' THEN 'CANCELLED'
    ELSE 'SUCCEEDED' END;
  WITH event AS (
    INSERT INTO webhook_events (kind, subject_id, status, data)
    VALUES ('workflow.ended', f.id, outcome, jsonb_build_object('workflow', jsonb_build_object(
      'id', f.id, 'name', f.name, 'status', outcome, 'userId', f.user_id,
      'counts', coalesce(counts, '{}'), 'finishedAt', now())))
    RETURNING id
  )
  INSERT INTO webhook_deliveries (event_id, webhook_id, sequence_key)
  SELECT event.id, w.id, 'workflow:' || f.id FROM event, webhooks w
  WHERE 'workflow.ended' = ANY (w.events)
    AND (NOT w.failures_only OR outcome <> 'SUCCEEDED')
    AND (w.workflow_id = f.id
         OR (w.user_id = f.user_id AND w.job_id IS NULL AND w.batch_id IS NULL
             AND w.workflow_id IS NULL))
  ORDER BY w.id;
  RETURN NULL;
END
$$;

CREATE CONSTRAINT TRIGGER jobs_webhook_workflow_ended
AFTER UPDATE OF status ON jobs DEFERRABLE INITIALLY DEFERRED
FOR EACH ROW WHEN (NEW.workflow_id IS NOT NULL
                   AND NEW.status IN ('SUCCEEDED', 'FAILED', 'CANCELLED', 'TIMED_OUT')
                   AND OLD.status NOT IN ('SUCCEEDED', 'FAILED', 'CANCELLED', 'TIMED_OUT'))
EXECUTE FUNCTION webhook_workflow_ended();



-- Ending many jobs at once (migration 0020): a statement's status changes are counted in
-- job_loads at once, one update per type and user, instead of once per job: in one
-- transaction, each update of one counter row walks every version of it the transaction
-- wrote before, so 10,000 row-by-row updates (a batch's cancel) took 25 s.

-- Jobs moved between PENDING, IN_PROGRESS and the rest, a statement's worth (this replaces
-- the row trigger jobs_count_status). A claim or assign (PENDING → IN_PROGRESS) serves the
-- user now: their waiting starts again. A row is missing only if none of the jobs was live
-- before (a status set by hand): it is added then. A WAITING job released is counted by
-- settle_waiting instead, a whole release in one upsert (migration 0017). Transition tables
-- cannot go with a column list, so this runs after every update of jobs; one that changes
-- no status finds nothing to count.
CREATE OR REPLACE FUNCTION job_loads_status_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  -- Each job's old and new status paired by grouping, not by a join: the plan is kept
  -- from the first call, and one made for a one-job update joined 10,000 old rows with
  -- 10,000 new ones by a nested loop (14 s).
  WITH side AS (
    SELECT o.id, o.type, o.user_id, o.status AS old, NULL AS new, NULL AS created_at
    FROM old_jobs o
    UNION ALL
    SELECT n.id, n.type, n.user_id, NULL, n.status, n.created_at FROM new_jobs n
  ), job AS (
    SELECT s.type, s.user_id, max(s.old) AS old, max(s.new) AS new,
           max(s.created_at) AS created_at
    FROM side s GROUP BY s.id, s.type, s.user_id
    HAVING count(s.old) > 0 AND count(s.new) > 0  -- in both tables, as a join would pair
  ), moved AS (
    SELECT j.type, j.user_id,
           sum((j.new = 'PENDING')::int - (j.old = 'PENDING')::int) AS pending,
           sum((j.new = 'IN_PROGRESS')::int - (j.old = 'IN_PROGRESS')::int) AS running,
           bool_or(j.old = 'PENDING' AND j.new = 'IN_PROGRESS') AS served,
           count(*) FILTER (WHERE j.new = 'PENDING') AS now_pending,
           count(*) FILTER (WHERE j.new = 'IN_PROGRESS') AS now_running,
           min(j.created_at) FILTER (WHERE j.new = 'PENDING') AS pending_since
    FROM job j
    WHERE j.old IS DISTINCT FROM j.new
      AND (j.old IN ('PENDING', 'IN_PROGRESS') OR j.new IN ('PENDING', 'IN_PROGRESS'))
      AND CAST(j.old AS text) <> 'WAITING'
    GROUP BY j.type, j.user_id
  ), counted AS (
    UPDATE job_loads l SET
      pending = l.pending + m.pending,
      running = l.running + m.running,
      waiting_since = CASE WHEN m.served THEN now() ELSE l.waiting_since END
    FROM moved m
    WHERE l.type = m.type AND l.user_id = m.user_id
    RETURNING l.type, l.user_id
  )
  INSERT INTO job_loads AS l (type, user_id, pending, running, weight, max_running, waiting_since)
  SELECT m.type, m.user_id, m.now_pending, m.now_running, u.weight, u.max_running,
         m.pending_since
  FROM moved m JOIN users u ON u.id = m.user_id
  WHERE m.now_pending + m.now_running > 0
    AND NOT EXISTS (SELECT 1 FROM counted c WHERE c.type = m.type AND c.user_id = m.user_id)
  ORDER BY m.type, m.user_id
  ON CONFLICT (type, user_id) DO UPDATE SET
    pending = l.pending + excluded.pending, running = l.running + excluded.running,
    waiting_since = CASE WHEN l.pending = 0 AND excluded.pending > 0
                         THEN greatest(l.waiting_since, excluded.waiting_since)
                         ELSE l.waiting_since END;
  RETURN NULL;
END
$$;

CREATE OR REPLACE TRIGGER jobs_count_status_changes
AFTER UPDATE ON jobs REFERENCING OLD TABLE AS old_jobs NEW TABLE AS new_jobs
FOR EACH STATEMENT EXECUTE FUNCTION job_loads_status_changed();


-- Usage (migration 0022): the attempts a statement ends (completed_at set where it was
-- NULL, whatever the outcome) added to usage_hours in that statement's transaction, per
-- hour of their end, user, type, creating batch (0: none) and capacity. Old and new rows
-- are paired by grouping, as in job_loads_status_changed; the stripe is the connection's,
-- so concurrent transactions add to different rows and never wait on each other. An
-- update that ends nothing (a heartbeat) finds nothing to add.
CREATE OR REPLACE FUNCTION usage_attempts_ended() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  WITH side AS (
    SELECT o.id, NULL::bigint AS job_id, NULL::timestamptz AS started,
           NULL::timestamptz AS ended, NULL::numeric AS vcpu, NULL::numeric AS memory_gb,
           NULL::text AS capacity
    FROM old_assignments o WHERE o.completed_at IS NULL
    UNION ALL
    SELECT n.id, n.job_id, n.created_at, n.completed_at, n.vcpu, n.memory_gb, n.capacity::text
    FROM new_assignments n WHERE n.completed_at IS NOT NULL
  ), ended AS (
    SELECT s.id, max(s.job_id) AS job_id, max(s.started) AS started, max(s.ended) AS ended,
           max(s.vcpu) AS vcpu, max(s.memory_gb) AS memory_gb, max(s.capacity) AS capacity
    FROM side s GROUP BY s.id
    HAVING count(*) = 2  -- open before the statement, ended by it
  ), rolled AS (
    SELECT date_trunc('hour', e.ended, 'UTC') AS hour, j.user_id, j.type,
           coalesce((SELECT q.batch_id FROM job_requests q
                     WHERE q.job_id = j.id AND NOT q.cache_hit AND q.batch_id IS NOT NULL
                     ORDER BY q.id LIMIT 1), 0) AS batch_id,
           CAST(e.capacity AS capacity) AS capacity, count(*) AS attempts,
           sum(r.run) AS run_seconds, sum(r.run * e.vcpu) AS vcpu_seconds,
           sum(r.run * e.memory_gb) AS gb_seconds
    FROM ended e JOIN jobs j ON j.id = e.job_id
    CROSS JOIN LATERAL (SELECT extract(epoch FROM e.ended - e.started) AS run) r
    GROUP BY 1, 2, 3, 4, 5
  )
  INSERT INTO usage_hours AS u (hour, user_id, type, batch_id, capacity, stripe, attempts,
                                run_seconds, vcpu_seconds, gb_seconds)
  SELECT r.hour, r.user_id, r.type, r.batch_id, r.capacity, mod(pg_backend_pid(), 8), r.attempts,
         r.run_seconds, r.vcpu_seconds, r.gb_seconds
  FROM rolled r
  ORDER BY r.hour, r.user_id, r.type, r.batch_id, r.capacity
  ON CONFLICT (hour, user_id, type, batch_id, capacity, stripe) DO UPDATE SET
    attempts = u.attempts + excluded.attempts,
    run_seconds = u.run_seconds + excluded.run_seconds,
    vcpu_seconds = u.vcpu_seconds + excluded.vcpu_seconds,
    gb_seconds = u.gb_seconds + excluded.gb_seconds;
  RETURN NULL;
END
$$;

CREATE OR REPLACE TRIGGER job_assignments_usage
AFTER UPDATE ON job_assignments
REFERENCING OLD TABLE AS old_assignments NEW TABLE AS new_assignments
FOR EACH STATEMENT EXECUTE FUNCTION usage_attempts_ended();
