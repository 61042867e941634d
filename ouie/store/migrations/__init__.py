"""Alembic migrations of the ouie store (run by `ouie.store.database.upgrade_schema`)."""
