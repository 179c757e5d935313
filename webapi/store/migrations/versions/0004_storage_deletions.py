"""storage deletions: an outbox of result files whose job assignment was deleted

A row-level trigger on job_assignments queues the assignment's storage URI in the
deleting transaction, so deleting a user, pruning and any cascade leave no files
behind; the web API deletes them in the background. An assignment deleted before it
completed may still be uploading: it is queued a second time, a minute after its
lease would have ended.

Revision ID: 0004
Revises: 0003

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

QUEUE_FUNCTION = """
CREATE FUNCTION queue_storage_deletion() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO storage_deletions (storage_uri) VALUES (OLD.storage_uri);
  IF OLD.completed_at IS NULL THEN
    INSERT INTO storage_deletions (storage_uri, not_before)
    VALUES (OLD.storage_uri, greatest(now(), OLD.expires_at) + interval '1 minute');
  END IF;
  RETURN NULL;
END
$$
"""

TRIGGER = """
CREATE TRIGGER job_assignments_queue_storage_deletion
AFTER DELETE ON job_assignments
FOR EACH ROW EXECUTE FUNCTION queue_storage_deletion()
"""


def upgrade() -> None:
    op.create_table(
        "storage_deletions",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("storage_uri", sa.String(length=2048), nullable=False),
        sa.Column(
            "not_before",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_storage_deletions")),
    )
    op.create_index(
        op.f("ix_storage_deletions_not_before"), "storage_deletions", ["not_before"], unique=False
    )
    op.execute(QUEUE_FUNCTION)
    op.execute(TRIGGER)


def downgrade() -> None:
    op.execute("DROP TRIGGER job_assignments_queue_storage_deletion ON job_assignments")
    op.execute("DROP FUNCTION queue_storage_deletion()")
    op.drop_index(op.f("ix_storage_deletions_not_before"), table_name="storage_deletions")
    op.drop_table("storage_deletions")
