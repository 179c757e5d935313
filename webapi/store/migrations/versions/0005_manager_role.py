"""the MANAGER role, and the credential that holds a lease

Revision ID: 0005
Revises: 0004

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("users", "api_keys", "pre_approved_users")
ROLES = "roles <@ ARRAY[{}]::varchar[]"
BEFORE = ROLES.format("'ADMIN','ANALYST','DEFAULT','WORKER'")
AFTER = ROLES.format("'ADMIN','ANALYST','DEFAULT','WORKER','MANAGER'")


def upgrade() -> None:
    for table in TABLES:
        op.drop_constraint(op.f(f"ck_{table}_roles_known"), table, type_="check")
        op.create_check_constraint(op.f(f"ck_{table}_roles_known"), table, AFTER)
    op.add_column("leases", sa.Column("credential", sa.String(length=64), nullable=True))


def downgrade() -> None:
    op.drop_column("leases", "credential")
    for table in TABLES:
        # MANAGER cannot be stored before this revision: the role goes from every list.
        op.execute(
            f"UPDATE {table} SET roles = array_remove(roles, 'MANAGER') "  # noqa: S608 - fixed names
            "WHERE 'MANAGER' = ANY(roles)"
        )
        op.drop_constraint(op.f(f"ck_{table}_roles_known"), table, type_="check")
        op.create_check_constraint(op.f(f"ck_{table}_roles_known"), table, BEFORE)
