"""lost workers: the LOST outcome, attempts not counted, and what the API knows of each worker

Revision ID: 0012
Revises: 0011

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | Sequence[str] | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OUTCOMES = ("SUCCEEDED", "FAILED", "EXPIRED", "CANCELLED", "RELEASED")


def upgrade() -> None:
    # Usable once this migration's transaction commits; nothing here writes it.
    op.execute("ALTER TYPE assignment_outcome ADD VALUE IF NOT EXISTS 'LOST'")
    op.add_column(
        "jobs",
        sa.Column("platform_losses", sa.Integer(), server_default=sa.text("0"), nullable=False),
    )
    op.add_column("job_assignments", sa.Column("lost_reason", sa.Text(), nullable=True))
    op.add_column(
        "job_assignments",
        sa.Column("counted", sa.Boolean(), server_default=sa.text("true"), nullable=False),
    )
    op.execute("UPDATE job_assignments SET counted = false WHERE outcome = 'RELEASED'")
    op.create_table(
        "workers",
        sa.Column("identity", sa.String(length=2048), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("contact_until", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lost_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lost_reason", sa.Text(), nullable=True),
        sa.Column("lost_to_platform", sa.Boolean(), nullable=True),
        sa.PrimaryKeyConstraint("identity", name=op.f("pk_workers")),
    )
    op.create_index(op.f("ix_workers_contact_until"), "workers", ["contact_until"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_workers_contact_until"), table_name="workers")
    op.drop_table("workers")
    op.drop_column("job_assignments", "counted")
    op.drop_column("job_assignments", "lost_reason")
    op.drop_column("jobs", "platform_losses")
    # LOST cannot be stored before this revision: such attempts become EXPIRED.
    op.execute("UPDATE job_assignments SET outcome = 'EXPIRED' WHERE outcome = 'LOST'")
    op.execute("ALTER TYPE assignment_outcome RENAME TO assignment_outcome_0012")
    values = ", ".join(f"'{v}'" for v in OUTCOMES)
    op.execute(f"CREATE TYPE assignment_outcome AS ENUM ({values})")
    op.execute(
        "ALTER TABLE job_assignments ALTER COLUMN outcome TYPE assignment_outcome "
        "USING outcome::text::assignment_outcome"
    )
    op.execute("DROP TYPE assignment_outcome_0012")
