"""job types as data: registered types, their revisions, and the revision of each job

Revision ID: 0011
Revises: 0010

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ACTIONS = ("JOB_TYPE_CREATED", "JOB_TYPE_CHANGED", "JOB_TYPE_RETIRED")


def _now(name: str) -> sa.Column[object]:
    return sa.Column(
        name, sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
    )


def upgrade() -> None:
    for action in ACTIONS:
        op.execute(f"ALTER TYPE audit_action ADD VALUE IF NOT EXISTS '{action}'")
    op.create_table(
        "job_types",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True),
        _now("created_at"),
        _now("updated_at"),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_job_types")),
    )
    op.create_table(
        "job_type_revisions",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("definition", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        _now("created_at"),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["users.id"],
            name=op.f("fk_job_type_revisions_created_by_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["name"],
            ["job_types.name"],
            name=op.f("fk_job_type_revisions_name_job_types"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("name", "revision", name=op.f("pk_job_type_revisions")),
    )
    op.add_column("jobs", sa.Column("type_revision", sa.Integer(), nullable=True))
    op.create_foreign_key(
        op.f("fk_jobs_type_job_type_revisions"),
        "jobs",
        "job_type_revisions",
        ["type", "type_revision"],
        ["name", "revision"],
    )


def downgrade() -> None:
    op.drop_constraint(op.f("fk_jobs_type_job_type_revisions"), "jobs", type_="foreignkey")
    op.drop_column("jobs", "type_revision")
    op.drop_table("job_type_revisions")
    op.drop_table("job_types")
    # audit_action keeps its values: PostgreSQL cannot drop an enum's value, and the
    # audit log may hold entries with them.
