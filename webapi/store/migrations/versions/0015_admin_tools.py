"""admin tools: system accounts, which the API refuses to delete; pre-approvals audited;
the fleet's size per minute

Revision ID: 0015
Revises: 0014

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | Sequence[str] | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Usable once this migration's transaction commits; nothing here writes them.
    for action in ("PRE_APPROVED", "PRE_APPROVAL_WITHDRAWN"):
        op.execute(f"ALTER TYPE audit_action ADD VALUE IF NOT EXISTS '{action}'")
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
    op.create_table(
        "fleet_minutes",
        sa.Column("minute", sa.DateTime(timezone=True), nullable=False),
        sa.Column("workers", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("minute", name=op.f("pk_fleet_minutes")),
    )


def downgrade() -> None:
    op.drop_table("fleet_minutes")
    op.drop_column("users", "system")
    # audit_action keeps its values: PostgreSQL cannot drop an enum's value, and the
    # audit log may hold entries with them.
