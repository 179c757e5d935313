"""job logs: one row per batch of log lines an attempt's worker shipped

Revision ID: 0008
Revises: 0007

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _count(name: str) -> sa.Column[int]:
    return sa.Column(name, sa.BigInteger(), server_default=sa.text("0"), nullable=False)


def upgrade() -> None:
    op.create_table(
        "job_log_chunks",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("job_id", sa.BigInteger(), nullable=False),
        sa.Column("assignment_id", sa.BigInteger(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("first_seq", sa.BigInteger(), nullable=False),
        sa.Column("last_seq", sa.BigInteger(), nullable=False),
        sa.Column("line_count", sa.Integer(), nullable=False),
        sa.Column("bytes", sa.Integer(), nullable=False),
        sa.Column("lines", sa.Text(), nullable=False),
        _count("dropped_lines"),
        _count("dropped_bytes"),
        _count("trimmed_lines"),
        _count("trimmed_bytes"),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["assignment_id"],
            ["job_assignments.id"],
            name=op.f("fk_job_log_chunks_assignment_id_job_assignments"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["job_id"], ["jobs.id"], name=op.f("fk_job_log_chunks_job_id_jobs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_job_log_chunks")),
        sa.UniqueConstraint(
            "assignment_id", "first_seq", name=op.f("uq_job_log_chunks_assignment_id_first_seq")
        ),
    )
    op.create_index(
        "ix_job_log_chunks_job_id_attempt_first_seq",
        "job_log_chunks",
        ["job_id", "attempt", "first_seq"],
    )


def downgrade() -> None:
    op.drop_index("ix_job_log_chunks_job_id_attempt_first_seq", table_name="job_log_chunks")
    op.drop_table("job_log_chunks")
