"""The ``jobs`` table, as SQLAlchemy Core sees it (the model is
:class:`federate.registry.sql.models.SqlJob`, beside the registry's other tables, so one
Alembic history covers the whole database)."""

from __future__ import annotations

from typing import cast

import sqlalchemy as sa

from federate.registry.sql.models import SqlJob

jobs = cast(sa.Table, SqlJob.__table__)
