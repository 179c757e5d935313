"""job batches: many jobs submitted in one request, grouped by their requests

Revision ID: 0009
Revises: 0008

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "job_batches",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("type", sa.String(length=64), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_job_batches_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_job_batches")),
    )
    op.create_index(op.f("ix_job_batches_user_id"), "job_batches", ["user_id"], unique=False)
    op.add_column("job_requests", sa.Column("batch_id", sa.BigInteger(), nullable=True))
    op.create_foreign_key(
        op.f("fk_job_requests_batch_id_job_batches"),
        "job_requests",
        "job_batches",
        ["batch_id"],
        ["id"],
        ondelete="CASCADE",
    )
    op.create_index(
        "ix_job_requests_batch_id",
        "job_requests",
        ["batch_id"],
        unique=False,
        postgresql_where=sa.text("batch_id IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_job_requests_batch_id", table_name="job_requests")
    op.drop_constraint(
        op.f("fk_job_requests_batch_id_job_batches"), "job_requests", type_="foreignkey"
    )
    op.drop_column("job_requests", "batch_id")
    op.drop_index(op.f("ix_job_batches_user_id"), table_name="job_batches")
    op.drop_table("job_batches")
