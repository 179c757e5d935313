"""admin tools: system accounts, which the API refuses to delete

Revision ID: 0015
Revises: 0012

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | Sequence[str] | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "users",
        sa.Column("system", sa.Boolean(), server_default=sa.text("false"), nullable=False),
    )
    # The accounts the platform runs as: shoal dev's manager, and machine-only accounts
    # (a ReefGuide worker's login). Deleting one would stop the fleet.
    op.execute(
        "UPDATE users SET system = true WHERE lower(email) = 'manager@shoal.local' "
        "OR roles <@ ARRAY['WORKER', 'MANAGER']::varchar[]"
    )


def downgrade() -> None:
    op.drop_column("users", "system")
