"""Fixtures for the WhatsApp channel tests: a real database, the fake Graph API
server, and the channel's blueprint served by a real Sanic app on a free port."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
import pytest_asyncio
import sqlalchemy as sa
from wa_helpers import (
    ACCESS_TOKEN,
    APP_SECRET,
    PG_ADMIN_URL,
    VERIFY_TOKEN,
    ChannelServer,
    _pg_available,
    _truncate_pg,
    start_channel,
    stop_channel,
)

from lapor import db
from lapor.whatsapp.fake_graph import FakeGraphServer


@pytest.fixture(scope="session")
def pg_url():
    """A fresh PostgreSQL database for this run (dropped after), or skip."""
    if not _pg_available():
        pytest.skip("PostgreSQL at 127.0.0.1:5432 is not reachable")
    name = f"lk_wa_test_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    db.migrate(url)
    yield url
    db.get_engine(url).dispose()
    with admin.connect() as conn:
        conn.execute(
            sa.text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = :n AND pid <> pg_backend_pid()"
            ),
            {"n": name},
        )
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
    admin.dispose()


@pytest.fixture
def sqlite_url(tmp_path, monkeypatch) -> str:
    """A migrated SQLite database file, set as ``DATABASE_URL``."""
    url = f"sqlite:///{tmp_path / 'lapor.db'}"
    db.migrate(url)
    monkeypatch.setenv("DATABASE_URL", url)
    return url


@pytest.fixture(params=["sqlite", "postgresql"])
def any_db_url(request, tmp_path, monkeypatch) -> str:
    """The test runs on SQLite and on PostgreSQL (when reachable)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'lapor.db'}"
        db.migrate(url)
    else:
        url = request.getfixturevalue("pg_url")
        _truncate_pg(url)
    monkeypatch.setenv("DATABASE_URL", url)
    return url


@pytest.fixture
def media_dir(tmp_path, monkeypatch) -> Path:
    """``MEDIA_DIR`` in the test's temporary folder."""
    path = tmp_path / "media"
    monkeypatch.setenv("MEDIA_DIR", str(path))
    return path


@pytest_asyncio.fixture
async def fake_graph(monkeypatch):
    """The fake Graph API on a free port; the channel's env points at it."""
    server = await FakeGraphServer(token=ACCESS_TOKEN).start()
    monkeypatch.setenv("WHATSAPP_API_URL", server.api_url)
    monkeypatch.setenv("WHATSAPP_ACCESS_TOKEN", ACCESS_TOKEN)
    monkeypatch.setenv("WHATSAPP_PHONE_NUMBER_ID", "1122334455667")
    monkeypatch.setenv("WHATSAPP_RETRY_INITIAL", "0.01")
    monkeypatch.setenv("WHATSAPP_RETRY_MAX", "0.05")
    monkeypatch.setenv("WHATSAPP_HTTP_TIMEOUT", "5")
    yield server
    from lapor.whatsapp.graph import close_client

    await close_client()
    await server.stop()


@pytest_asyncio.fixture
async def channel_factory(monkeypatch, fake_graph, media_dir):
    """Start channel servers (stopped at teardown)."""
    monkeypatch.setenv("WHATSAPP_APP_SECRET", APP_SECRET)
    monkeypatch.setenv("WHATSAPP_VERIFY_TOKEN", VERIFY_TOKEN)
    started: list[ChannelServer] = []

    async def factory(on_message: Callable | None = None, secret: str = APP_SECRET):
        cs = await start_channel(on_message, secret)
        started.append(cs)
        return cs

    yield factory
    for cs in started:
        if not cs.http.closed:
            await stop_channel(cs)


@pytest_asyncio.fixture
async def channel(sqlite_url, channel_factory):
    """One channel server on SQLite whose bot records and says nothing."""
    return await channel_factory()
