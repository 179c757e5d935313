"""batches as first-class objects: a batch's name, and each request's place in its batch

Revision ID: 0014
Revises: 0013

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | Sequence[str] | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("job_batches", sa.Column("name", sa.String(length=200), nullable=True))
    op.add_column("job_requests", sa.Column("input_index", sa.Integer(), nullable=True))
    # A batch's requests were written in input order by one statement: their ids' order.
    op.execute(
        "UPDATE job_requests q SET input_index = n.input_index FROM ("
        " SELECT id, row_number() OVER (PARTITION BY batch_id ORDER BY id) AS input_index"
        " FROM job_requests WHERE batch_id IS NOT NULL) n WHERE q.id = n.id"
    )


def downgrade() -> None:
    op.drop_column("job_requests", "input_index")
    op.drop_column("job_batches", "name")
