"""Database access: one engine per URL, short transactions, Alembic migrations."""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import QueuePool

from lapor import config

logger = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
# How long a SQLite write waits for another writer's lock before it fails.
BUSY_TIMEOUT_MS = 30_000


@functools.cache
def get_engine(url: str | None = None) -> Engine:
    """Return the (cached) engine for ``url``, or for ``DATABASE_URL``."""
    url = url or config.database_url()
    if url.startswith("sqlite"):
        # SQLAlchemy 1.4 gives file SQLite a NullPool: a new connection (and its
        # PRAGMAs) for every session. Keep a few open instead.
        engine = create_engine(
            url,
            future=True,
            connect_args={
                "timeout": BUSY_TIMEOUT_MS / 1000,
                "check_same_thread": False,
            },
            poolclass=QueuePool,
            pool_size=5,
            max_overflow=10,
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record) -> None:  # pragma: no cover
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            # In WAL mode NORMAL syncs at checkpoints, not at every commit: a crash
            # of the process loses nothing; a power cut may lose the last commits
            # but never corrupts the file. Production runs on PostgreSQL.
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            cursor.close()

    else:
        engine = create_engine(url, future=True, pool_pre_ping=True)
    return engine


@functools.cache
def _session_factory(url: str) -> sessionmaker:
    return sessionmaker(bind=get_engine(url), future=True, expire_on_commit=False)


@contextmanager
def session_scope(url: str | None = None) -> Iterator[Session]:
    """A session whose transaction commits on success and rolls back on error."""
    session: Session = _session_factory(url or config.database_url())()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


@contextmanager
def session_no_wait(url: str | None = None) -> Iterator[Session]:
    """Like :func:`session_scope`, but on SQLite a write that finds the database
    locked fails at once (``sqlite3.OperationalError: database is locked``)
    instead of sleeping in SQLite's busy handler, whose waits grow 1, 2, 5,
    10 ms... The caller retries at its own pace (see ``is_locked``).
    PostgreSQL has row locks and no such handler: it runs as usual."""
    with session_scope(url) as session:
        if session.get_bind().dialect.name != "sqlite":
            yield session
            return
        raw = session.connection().connection  # the sqlite3 connection
        _pragma(raw, "busy_timeout=0")
        try:
            yield session
            session.flush()
        finally:
            # Before the connection goes back to the pool, failed or not.
            _pragma(raw, f"busy_timeout={BUSY_TIMEOUT_MS}")


def _pragma(dbapi_connection, setting: str) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA {setting}")
    finally:
        cursor.close()


def is_locked(exc: BaseException) -> bool:
    """True for SQLite's "database is locked" (another writer holds the lock)."""
    return isinstance(exc, OperationalError) and "database is locked" in str(exc)


def alembic_config(url: str | None = None):
    """The Alembic configuration for this package's migrations."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url or config.database_url())
    return cfg


def migrate(url: str | None = None) -> None:
    """Bring the database schema to the newest revision (idempotent)."""
    from alembic import command

    command.upgrade(alembic_config(url), "head")


def main(argv: list[str] | None = None) -> None:
    """``python -m lapor.db upgrade``: migrate the configured database."""
    import sys

    args = sys.argv[1:] if argv is None else argv
    if args != ["upgrade"]:
        raise SystemExit("usage: python -m lapor.db upgrade")
    logging.basicConfig(level=logging.INFO)
    migrate()


if __name__ == "__main__":
    main()
