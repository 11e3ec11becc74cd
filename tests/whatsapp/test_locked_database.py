"""A webhook that finds SQLite locked by another writer: stored as soon as the
lock is free, or refused with 503 (Meta retries) when it stays taken."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import text
from wa_helpers import rows, text_message

from lapor import db
from lapor.whatsapp import inbound


def _hold_write_lock(url: str, seconds: float, taken: threading.Event) -> None:
    conn = sqlite3.connect(url.removeprefix("sqlite:///"), timeout=10)
    try:
        conn.execute("BEGIN IMMEDIATE")
        taken.set()
        time.sleep(seconds)
        conn.rollback()
    finally:
        conn.close()


@contextmanager
def write_lock_held(url: str, seconds: float) -> Iterator[None]:
    """Another writer takes SQLite's write lock for ``seconds``; the block runs
    once it holds it, and the block's end waits until it let go."""
    assert _busy_timeout(url) == [db.BUSY_TIMEOUT_MS] * 3  # WAL set up first
    taken = threading.Event()
    holder = threading.Thread(
        target=_hold_write_lock, args=(url, seconds, taken), daemon=True
    )
    holder.start()
    assert taken.wait(15)
    try:
        yield
    finally:
        holder.join()


def _busy_timeout(url: str) -> list[int]:
    """busy_timeout of every connection the pool hands out, checked out at once."""
    engine = db.get_engine(url)
    conns = [engine.raw_connection() for _ in range(3)]
    try:
        return [c.cursor().execute("PRAGMA busy_timeout").fetchone()[0] for c in conns]
    finally:
        for conn in conns:
            conn.close()


@pytest.mark.asyncio
async def test_stored_once_the_lock_is_released(sqlite_url, channel):
    with write_lock_held(sqlite_url, 0.5):
        status = await channel.post(text_message("wamid.locked-1", body="jalan rusak"))
    assert status == 200
    await channel.idle()
    assert rows(sqlite_url, "SELECT wamid, state FROM wa_inbound") == [
        ("wamid.locked-1", "handled")
    ]
    assert [m.text for m in channel.received] == ["jalan rusak"]
    # The fail-fast setting never leaks to the pool's other users.
    assert _busy_timeout(sqlite_url) == [db.BUSY_TIMEOUT_MS] * 3


@pytest.mark.asyncio
async def test_a_lock_that_stays_taken_gets_503_and_nothing_half_stored(
    sqlite_url, channel, monkeypatch
):
    monkeypatch.setattr(inbound, "PERSIST_PATIENCE_SECONDS", 0.3)
    with write_lock_held(sqlite_url, 1.5):
        status = await channel.post(text_message("wamid.locked-2", body="lampu mati"))
        assert status == 503  # not stored, so not acknowledged: Meta sends it again
    assert rows(sqlite_url, "SELECT count(*) FROM wa_inbound") == [(0,)]
    assert _busy_timeout(sqlite_url) == [db.BUSY_TIMEOUT_MS] * 3
    # Meta's retry, once the lock is free, is stored and answered.
    assert await channel.post(text_message("wamid.locked-2", body="lampu mati")) == 200
    await channel.idle()
    assert [m.text for m in channel.received] == ["lampu mati"]


def test_other_sessions_still_wait_for_the_lock(sqlite_url):
    """session_scope keeps SQLite's own patience: a short lock is waited out."""
    with write_lock_held(sqlite_url, 0.3), db.session_scope(sqlite_url) as session:
        session.execute(
            text("UPDATE wa_inbound SET state = 'handled' WHERE wamid = 'x'")
        )
