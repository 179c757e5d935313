"""webhooks of workflows: jobs know their workflow, a ``workflow.ended`` event, and
subscriptions limited to one workflow; webhook events by age, for their retention

``jobs.workflow_id`` is set by Workflows.create on every job of its steps; a deferred
trigger writes the workflow's end (with its status) in the transaction that ends its last
live job, as ``batch.ended`` is written. The job and batch triggers also serve a
subscription's ``workflow_id``.

Revision ID: 0019
Revises: 0018

"""

import importlib.util
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | Sequence[str] | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

IN_WORKFLOW = "CAST(NULLIF(current_setting('shoal.workflow_id', true), '') AS bigint)"

# As webapi/store/functions.sql has them at this revision.
JOB_ENDED = """
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
$$
"""

BATCH_ENDED = """
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
$$
"""

WORKFLOW_ENDED = """
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
$$
"""

WORKFLOW_TRIGGER = """
CREATE CONSTRAINT TRIGGER jobs_webhook_workflow_ended
AFTER UPDATE OF status ON jobs DEFERRABLE INITIALLY DEFERRED
FOR EACH ROW WHEN (NEW.workflow_id IS NOT NULL
                   AND NEW.status IN ('SUCCEEDED', 'FAILED', 'CANCELLED', 'TIMED_OUT')
                   AND OLD.status NOT IN ('SUCCEEDED', 'FAILED', 'CANCELLED', 'TIMED_OUT'))
EXECUTE FUNCTION webhook_workflow_ended()
"""


def _previous() -> ModuleType:
    """Revision 0018, whose job and batch triggers a downgrade puts back."""
    path = Path(__file__).with_name("0018_webhooks.py")
    spec = importlib.util.spec_from_file_location("shoal_migration_0018", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def upgrade() -> None:
    # Filled in by the insert itself inside Workflows.create (which sets shoal.workflow_id
    # for its transaction): tagging a 10,000-input sweep afterwards doubled its creation.
    op.add_column(
        "jobs",
        sa.Column(
            "workflow_id", sa.BigInteger(), server_default=sa.text(IN_WORKFLOW), nullable=True
        ),
    )
    op.create_foreign_key(
        op.f("fk_jobs_workflow_id_workflows"),
        "jobs",
        "workflows",
        ["workflow_id"],
        ["id"],
        ondelete="SET NULL",
    )
    # The workflow's live jobs, found without reading its ended ones.
    op.create_index(
        "ix_jobs_workflow_id_status",
        "jobs",
        ["workflow_id", "status"],
        postgresql_where=sa.text("workflow_id IS NOT NULL"),
    )
    op.add_column("webhooks", sa.Column("workflow_id", sa.BigInteger(), nullable=True))
    op.create_foreign_key(
        op.f("fk_webhooks_workflow_id_workflows"),
        "webhooks",
        "workflows",
        ["workflow_id"],
        ["id"],
        ondelete="CASCADE",
    )
    op.create_index(
        "ix_webhooks_workflow_id",
        "webhooks",
        ["workflow_id"],
        postgresql_where=sa.text("workflow_id IS NOT NULL"),
    )
    # Retention (the hourly housekeeping) takes the oldest events first.
    op.create_index("ix_webhook_events_created_at", "webhook_events", ["created_at"])
    for statement in (JOB_ENDED, BATCH_ENDED, WORKFLOW_ENDED, WORKFLOW_TRIGGER):
        op.execute(statement)


def downgrade() -> None:
    op.execute("DROP TRIGGER jobs_webhook_workflow_ended ON jobs")
    op.execute("DROP FUNCTION webhook_workflow_ended()")
    previous = _previous()
    for statement in (previous.JOB_ENDED, previous.BATCH_ENDED):
        op.execute(statement.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1))
    op.drop_index("ix_webhook_events_created_at", table_name="webhook_events")
    op.drop_index("ix_webhooks_workflow_id", table_name="webhooks")
    op.drop_constraint(op.f("fk_webhooks_workflow_id_workflows"), "webhooks", type_="foreignkey")
    op.drop_column("webhooks", "workflow_id")
    op.drop_index("ix_jobs_workflow_id_status", table_name="jobs")
    op.drop_constraint(op.f("fk_jobs_workflow_id_workflows"), "jobs", type_="foreignkey")
    op.drop_column("jobs", "workflow_id")
