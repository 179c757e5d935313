"""webhooks: subscriptions, the events they are told of, the outbox and its attempts

Triggers on jobs write the events and deliveries in the transaction that ends a job
(and, at its commit, its batch's when it was the last), so no end is lost between the
state change and the send.

Revision ID: 0018
Revises: 0017

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0018"
down_revision: str | Sequence[str] | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JOB_ENDED = """
CREATE FUNCTION webhook_job_ended() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  WITH subscribers AS (
    SELECT w.id FROM webhooks w
    WHERE 'job.ended' = ANY (w.events)
      AND (NOT w.failures_only OR NEW.status <> 'SUCCEEDED')
      AND ((w.user_id = NEW.user_id AND w.job_id IS NULL AND w.batch_id IS NULL)
           OR w.job_id = NEW.id
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
CREATE FUNCTION webhook_batch_ended() RETURNS trigger LANGUAGE plpgsql AS $$
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
        AND (w.batch_id = b.id
             OR (w.user_id = b.user_id AND w.job_id IS NULL AND w.batch_id IS NULL)));
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
      AND (w.batch_id = b.id
           OR (w.user_id = b.user_id AND w.job_id IS NULL AND w.batch_id IS NULL))
    ORDER BY w.id;
  END LOOP;
  RETURN NULL;
END
$$
"""

JOB_TRIGGER = """
CREATE TRIGGER jobs_webhook_job_ended
AFTER UPDATE OF status ON jobs
FOR EACH ROW WHEN (NEW.status IN ('SUCCEEDED', 'FAILED', 'CANCELLED', 'TIMED_OUT')
                   AND OLD.status NOT IN ('SUCCEEDED', 'FAILED', 'CANCELLED', 'TIMED_OUT'))
EXECUTE FUNCTION webhook_job_ended()
"""

BATCH_TRIGGER = """
CREATE CONSTRAINT TRIGGER jobs_webhook_batch_ended
AFTER UPDATE OF status ON jobs DEFERRABLE INITIALLY DEFERRED
FOR EACH ROW WHEN (NEW.status IN ('SUCCEEDED', 'FAILED', 'CANCELLED', 'TIMED_OUT')
                   AND OLD.status NOT IN ('SUCCEEDED', 'FAILED', 'CANCELLED', 'TIMED_OUT'))
EXECUTE FUNCTION webhook_batch_ended()
"""


def _created_at() -> sa.Column[object]:
    return sa.Column(
        "created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
    )


def upgrade() -> None:
    op.create_table(
        "webhooks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("url", sa.String(length=2048), nullable=False),
        sa.Column("secret", sa.String(length=256), nullable=False),
        sa.Column("events", postgresql.ARRAY(sa.String(length=32)), nullable=False),
        sa.Column("failures_only", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("job_id", sa.BigInteger(), nullable=True),
        sa.Column("batch_id", sa.BigInteger(), nullable=True),
        sa.Column(
            "payload_format", sa.String(length=16), server_default=sa.text("'json'"), nullable=False
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        _created_at(),
        sa.CheckConstraint(
            "payload_format IN ('json', 'slack')", name=op.f("ck_webhooks_payload_format_known")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_webhooks_user_id_users"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["job_id"], ["jobs.id"], name=op.f("fk_webhooks_job_id_jobs"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["batch_id"],
            ["job_batches.id"],
            name=op.f("fk_webhooks_batch_id_job_batches"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhooks")),
    )
    op.create_index(op.f("ix_webhooks_user_id"), "webhooks", ["user_id"], unique=False)
    op.create_index(
        "ix_webhooks_job_id", "webhooks", ["job_id"], postgresql_where=sa.text("job_id IS NOT NULL")
    )
    op.create_index(
        "ix_webhooks_batch_id",
        "webhooks",
        ["batch_id"],
        postgresql_where=sa.text("batch_id IS NOT NULL"),
    )
    op.create_table(
        "webhook_events",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column(
            "uid", postgresql.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False
        ),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("subject_id", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("data", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        _created_at(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_events")),
    )
    op.create_index(
        "uq_webhook_events_kind_subject",
        "webhook_events",
        ["kind", "subject_id"],
        unique=True,
        postgresql_where=sa.text("kind <> 'job.ended'"),
    )
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("event_id", sa.BigInteger(), nullable=False),
        sa.Column("webhook_id", sa.Integer(), nullable=False),
        sa.Column("sequence_key", sa.String(length=64), nullable=False),
        sa.Column(
            "state", sa.String(length=16), server_default=sa.text("'PENDING'"), nullable=False
        ),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column(
            "next_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        _created_at(),
        sa.CheckConstraint(
            "state IN ('PENDING', 'DELIVERED', 'FAILED')",
            name=op.f("ck_webhook_deliveries_state_known"),
        ),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["webhook_events.id"],
            name=op.f("fk_webhook_deliveries_event_id_webhook_events"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["webhook_id"],
            ["webhooks.id"],
            name=op.f("fk_webhook_deliveries_webhook_id_webhooks"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_deliveries")),
    )
    op.create_index(
        op.f("ix_webhook_deliveries_event_id"), "webhook_deliveries", ["event_id"], unique=False
    )
    op.create_index(
        "ix_webhook_deliveries_due",
        "webhook_deliveries",
        ["next_at"],
        postgresql_where=sa.text("state = 'PENDING'"),
    )
    op.create_index(
        "ix_webhook_deliveries_sequence",
        "webhook_deliveries",
        ["webhook_id", "sequence_key", "id"],
        postgresql_where=sa.text("state = 'PENDING'"),
    )
    op.create_index(
        "ix_webhook_deliveries_webhook_id_id", "webhook_deliveries", ["webhook_id", "id"]
    )
    op.create_table(
        "webhook_attempts",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("delivery_id", sa.BigInteger(), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("response_excerpt", sa.Text(), nullable=True),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        _created_at(),
        sa.ForeignKeyConstraint(
            ["delivery_id"],
            ["webhook_deliveries.id"],
            name=op.f("fk_webhook_attempts_delivery_id_webhook_deliveries"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_attempts")),
    )
    op.create_index(
        op.f("ix_webhook_attempts_delivery_id"), "webhook_attempts", ["delivery_id"], unique=False
    )
    for statement in (JOB_ENDED, BATCH_ENDED, JOB_TRIGGER, BATCH_TRIGGER):
        op.execute(statement)


def downgrade() -> None:
    op.execute("DROP TRIGGER jobs_webhook_batch_ended ON jobs")
    op.execute("DROP TRIGGER jobs_webhook_job_ended ON jobs")
    op.execute("DROP FUNCTION webhook_batch_ended()")
    op.execute("DROP FUNCTION webhook_job_ended()")
    op.drop_table("webhook_attempts")
    op.drop_table("webhook_deliveries")
    op.drop_table("webhook_events")
    op.drop_table("webhooks")
