"""job names and tags, and the indexes of the job lists (filters, sorts, reused jobs)

Revision ID: 0013
Revises: 0012

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0013"
down_revision: str | Sequence[str] | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The list's sort keys (webapi/store/sql/job_lists.py writes them the same way).
NAME_KEY = "COALESCE(name, ''::character varying)"
RUNTIME_KEY = "COALESCE(EXTRACT(epoch FROM finished_at - started_at), '-1'::integer::numeric)"
SORTED = {
    "status": "status",
    "type": "type",
    "name": NAME_KEY,
    "runtime": RUNTIME_KEY,
}


def upgrade() -> None:
    op.add_column("jobs", sa.Column("name", sa.String(length=200), nullable=True))
    op.add_column(
        "jobs",
        sa.Column(
            "tags",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
    )
    op.create_index(
        "ix_jobs_tags",
        "jobs",
        ["tags"],
        postgresql_using="gin",
        postgresql_ops={"tags": "jsonb_path_ops"},
    )
    op.create_index("ix_jobs_created_at", "jobs", ["created_at"])
    # One user's jobs in a time range, newest first: skipped in the index, not the table.
    op.drop_index("ix_jobs_user_id_id", table_name="jobs")
    op.create_index(
        "ix_jobs_user_id_id", "jobs", ["user_id", "id"], postgresql_include=["created_at"]
    )
    for key, expression in SORTED.items():
        op.create_index(f"ix_jobs_{key}_id", "jobs", [sa.text(expression), "id"])
        op.create_index(f"ix_jobs_user_{key}_id", "jobs", ["user_id", sa.text(expression), "id"])
    op.create_index(
        "ix_job_requests_reused",
        "job_requests",
        ["user_id", "job_id"],
        postgresql_where=sa.text("cache_hit"),
    )


def downgrade() -> None:
    op.drop_index("ix_job_requests_reused", table_name="job_requests")
    for key in reversed(SORTED):
        op.drop_index(f"ix_jobs_user_{key}_id", table_name="jobs")
        op.drop_index(f"ix_jobs_{key}_id", table_name="jobs")
    op.drop_index("ix_jobs_user_id_id", table_name="jobs")
    op.create_index("ix_jobs_user_id_id", "jobs", ["user_id", "id"])
    op.drop_index("ix_jobs_created_at", table_name="jobs")
    op.drop_index("ix_jobs_tags", table_name="jobs")
    op.drop_column("jobs", "tags")
    op.drop_column("jobs", "name")
