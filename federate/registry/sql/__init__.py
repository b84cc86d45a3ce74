"""The embedded SQL registry (SQLite, PostgreSQL, MySQL/MariaDB) on SQLAlchemy 2 + Alembic."""
