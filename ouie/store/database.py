"""Opening the store: engine, connection tuning and schema upgrades with Alembic.

The Alembic scripts ship inside the package (`ouie/store/migrations`), so `ouie serve` can bring
any database to the current schema at start without an `alembic.ini` beside it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from ouie.core.config import ConfigError

SUPPORTED_DRIVERS = frozenset({"sqlite", "sqlite+pysqlite", "postgresql+psycopg"})
"""The URL schemes the store is built and tested for (its migrations, its types)."""
MIGRATIONS_DIR = Path(__file__).parent / "migrations"
DEFAULT_DATABASE_URL = "sqlite:///ouie.db"


def make_engine(url: str) -> Engine:
    """An engine for `url` (SQLite file or `postgresql+psycopg://`).

    SQLite gets WAL journaling, a 10 s busy timeout and foreign keys, so that the service's
    threads and a concurrent `ouie audit verify` can share the file. A URL that does not parse,
    or names another database or driver, is a `ConfigError` (which never shows the password).
    """
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigError(
            "database_url: not a database URL (use sqlite:///path.db or "
            "postgresql+psycopg://user@host/db)"
        ) from None
    if parsed.drivername not in SUPPORTED_DRIVERS:
        raise ConfigError(
            f"database_url: {parsed.drivername!r} is not supported "
            f"({parsed.render_as_string(hide_password=True)}); use sqlite:///path.db or "
            "postgresql+psycopg://user@host/db"
        )
    engine = create_engine(parsed, pool_pre_ping=True)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _tune_sqlite)
    return engine


def _tune_sqlite(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def upgrade_schema(engine: Engine, revision: str = "head") -> None:
    """Bring the database behind `engine` to `revision` with the packaged Alembic scripts."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def head_revision() -> str | None:
    """The newest revision of the packaged Alembic scripts (what `upgrade_schema` reaches)."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return ScriptDirectory.from_config(config).get_current_head()


def current_revision(engine: Engine) -> str | None:
    """The Alembic revision the database is at (None for an empty database)."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()
