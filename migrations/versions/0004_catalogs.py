"""catalogs and schemas: the first two levels of Unity Catalog names (federate serve)

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def _key(length: int) -> sa.types.TypeEngine:
    # byte-wise comparison on MySQL/MariaDB, whose default collation ignores case
    binary = mysql.VARCHAR(length, charset="utf8mb4", collation="utf8mb4_bin")
    return sa.String(length).with_variant(binary, "mysql").with_variant(binary, "mariadb")


def upgrade() -> None:
    op.create_table(
        "uc_catalogs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", _key(256), nullable=False),
        sa.Column("uuid", sa.String(36), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("creation_time", sa.BigInteger(), nullable=False),
        sa.Column("last_updated_time", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_uc_catalogs")),
        sa.UniqueConstraint("name", name=op.f("uq_uc_catalogs_name")),
    )
    op.create_table(
        "uc_schemas",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("catalog_id", sa.Integer(), nullable=False),
        sa.Column("name", _key(256), nullable=False),
        sa.Column("uuid", sa.String(36), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("creation_time", sa.BigInteger(), nullable=False),
        sa.Column("last_updated_time", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["catalog_id"],
            ["uc_catalogs.id"],
            name=op.f("fk_uc_schemas_catalog_id"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_uc_schemas")),
        sa.UniqueConstraint("catalog_id", "name", name=op.f("uq_uc_schemas_catalog_id_name")),
    )


def downgrade() -> None:
    op.drop_table("uc_schemas")
    op.drop_table("uc_catalogs")
