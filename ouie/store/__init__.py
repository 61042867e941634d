"""Storage: SQLAlchemy models, the hash-chained audit trail, retention.

Start with `Store.open(url)` (`ouie.store.repository`); see docs/central.md.
"""
