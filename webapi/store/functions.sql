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
-- a job: inserts once per statement (a batch is one upsert per user), status changes
-- and deletes of live jobs per row.

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

-- A job moved between PENDING, IN_PROGRESS and the rest. A claim or assign (PENDING →
-- IN_PROGRESS) serves the user now: their waiting starts again. The row is missing
-- only if the job was not live before (a status set by hand): it is added then.
CREATE OR REPLACE FUNCTION job_loads_status_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE job_loads l SET
    pending = l.pending + (NEW.status = 'PENDING')::int - (OLD.status = 'PENDING')::int,
    running = l.running + (NEW.status = 'IN_PROGRESS')::int - (OLD.status = 'IN_PROGRESS')::int,
    waiting_since = CASE WHEN OLD.status = 'PENDING' AND NEW.status = 'IN_PROGRESS'
                         THEN now() ELSE l.waiting_since END
  WHERE l.type = NEW.type AND l.user_id = NEW.user_id;
  IF NOT FOUND AND NEW.status IN ('PENDING', 'IN_PROGRESS') THEN
    INSERT INTO job_loads AS l (type, user_id, pending, running, weight, max_running, waiting_since)
    SELECT n.type, n.user_id, count(*) FILTER (WHERE n.status = 'PENDING'),
           count(*) FILTER (WHERE n.status = 'IN_PROGRESS'), u.weight, u.max_running,
           min(n.created_at) FILTER (WHERE n.status = 'PENDING')
    FROM (SELECT NEW.*) n JOIN users u ON u.id = n.user_id
    WHERE n.status IN ('PENDING', 'IN_PROGRESS')
    GROUP BY n.type, n.user_id, u.weight, u.max_running
    ORDER BY n.type, n.user_id
    ON CONFLICT (type, user_id) DO UPDATE SET
      pending = l.pending + excluded.pending, running = l.running + excluded.running,
      waiting_since = CASE WHEN l.pending = 0 AND excluded.pending > 0
                           THEN greatest(l.waiting_since, excluded.waiting_since)
                           ELSE l.waiting_since END;
  END IF;
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

CREATE OR REPLACE TRIGGER jobs_count_status
AFTER UPDATE OF status ON jobs
FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status
                   AND (OLD.status IN ('PENDING', 'IN_PROGRESS')
                        OR NEW.status IN ('PENDING', 'IN_PROGRESS')))
EXECUTE FUNCTION job_loads_status_changed();

CREATE OR REPLACE TRIGGER jobs_count_deleted
AFTER DELETE ON jobs
FOR EACH ROW WHEN (OLD.status IN ('PENDING', 'IN_PROGRESS'))
EXECUTE FUNCTION job_loads_deleted();
