"""run-time limit: a job's timeout_seconds and each assignment's deadline_at

Revision ID: 0003
Revises: 0002

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("jobs", sa.Column("timeout_seconds", sa.Integer(), nullable=True))
    op.add_column(
        "job_assignments", sa.Column("deadline_at", sa.DateTime(timezone=True), nullable=True)
    )


def downgrade() -> None:
    op.drop_column("job_assignments", "deadline_at")
    op.drop_column("jobs", "timeout_seconds")
