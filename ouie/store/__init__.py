"""Storage: SQLAlchemy models, the hash-chained audit trail, retention."""
