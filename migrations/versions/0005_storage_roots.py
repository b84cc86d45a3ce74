"""storage roots of catalogs and schemas: where federate serve places the versions of the
models under them (the registry's artifact root when neither has one)

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for table in ("uc_catalogs", "uc_schemas"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("storage_root", sa.Text(), nullable=True))


def downgrade() -> None:
    for table in ("uc_schemas", "uc_catalogs"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("storage_root")
