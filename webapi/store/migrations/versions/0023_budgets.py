"""budgets: a monthly limit per user (and a default), and each user's month

A budget caps what a user's submissions may commit in a calendar month (UTC): in money
and/or vCPU-hours. ``budget_months`` holds one row per user and month: submissions lock
it, so a user's submissions are checked one after the other, and it records when the
month's warning was sent.

Revision ID: 0023
Revises: 0022

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0023"
down_revision: str | Sequence[str] | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _created_at() -> sa.Column[object]:
    return sa.Column(
        "created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
    )


def upgrade() -> None:
    # Usable once this migration's transaction commits; nothing here writes them.
    for action in ("BUDGET_CHANGED", "BUDGET_CLEARED"):
        op.execute(f"ALTER TYPE audit_action ADD VALUE IF NOT EXISTS '{action}'")
    op.create_table(
        "budgets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("cost_limit", sa.Numeric(precision=14, scale=6), nullable=True),
        sa.Column("vcpu_hours_limit", sa.Numeric(precision=14, scale=6), nullable=True),
        sa.Column(
            "warn_at",
            sa.Numeric(precision=4, scale=3),
            server_default=sa.text("0.8"),
            nullable=False,
        ),
        sa.Column("updated_by", sa.Integer(), nullable=True),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        _created_at(),
        sa.CheckConstraint(
            "cost_limit >= 0 AND vcpu_hours_limit >= 0 AND warn_at > 0 AND warn_at <= 1"
            " AND (cost_limit IS NOT NULL OR vcpu_hours_limit IS NOT NULL)",
            name=op.f("ck_budgets_limits_valid"),
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_budgets_user_id_users"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["updated_by"],
            ["users.id"],
            name=op.f("fk_budgets_updated_by_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_budgets")),
    )
    # One budget per user and one default (user_id NULL, taken as 0): a submission finds
    # its own or the default in one index lookup.
    op.create_index("uq_budgets_user", "budgets", [sa.text("coalesce(user_id, 0)")], unique=True)
    op.create_table(
        "budget_months",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("warned_at", sa.DateTime(timezone=True), nullable=True),
        _created_at(),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_budget_months_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_budget_months")),
        sa.UniqueConstraint("user_id", "month", name=op.f("uq_budget_months_user_id_month")),
    )


def downgrade() -> None:
    op.drop_table("budget_months")
    op.drop_table("budgets")
    # audit_action keeps its values: PostgreSQL cannot drop an enum's value, and the
    # audit log may hold entries with them.
