"""Shared fixtures: real databases (SQLite and PostgreSQL), trackers, dispatcher."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
PG_ADMIN_URL = os.environ.get(
    "TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)


def _sqlite_url(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("db") / "lapor.db"
    return f"sqlite:///{path}"


def _postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database, dropped afterwards."""
    from sqlalchemy import create_engine, text

    name = f"lapor_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT", future=True)
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # pragma: no cover - depends on the machine
        if os.environ.get("LAPOR_SKIP_PG") == "1":
            pytest.skip(f"PostgreSQL not reachable: {exc}")
        raise
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        from lapor.db import get_engine

        get_engine(f"{base}/{name}").dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path_factory, monkeypatch) -> Iterator[str]:
    """A migrated, empty complaint database; DATABASE_URL points at it."""
    from lapor import db

    if request.param == "sqlite":
        gen: Iterator[str] = iter([_sqlite_url(tmp_path_factory)])
    else:
        gen = _postgres_url()
    url = next(gen)
    db.migrate(url)
    monkeypatch.setenv("DATABASE_URL", url)
    yield url
    for _ in gen:  # run the generator's cleanup
        pass


@pytest.fixture
def sqlite_url(tmp_path_factory, monkeypatch) -> str:
    """A migrated SQLite database only (for tests that need one engine)."""
    from lapor import db

    url = _sqlite_url(tmp_path_factory)
    db.migrate(url)
    monkeypatch.setenv("DATABASE_URL", url)
    return url


@pytest.fixture
def session(db_url):
    """A session on the test database, committed on success."""
    from lapor.db import session_scope

    with session_scope(db_url) as s:
        yield s


# --- Rasa action fixtures ---------------------------------------------------


@pytest.fixture
def dispatcher():
    from rasa_sdk.executor import CollectingDispatcher

    return CollectingDispatcher()


@pytest.fixture(scope="session")
def domain() -> dict[str, Any]:
    from rasa.shared.core.domain import Domain

    return Domain.load(str(ROOT / "domain.yml")).as_dict()


@pytest.fixture
def tracker_factory() -> Callable[..., Any]:
    """Build a rasa_sdk Tracker from slots, the latest message and past events."""
    from rasa_sdk import Tracker

    def make(
        text: str = "",
        intent: str = "lapor",
        confidence: float = 0.95,
        slots: dict[str, Any] | None = None,
        entities: list[dict[str, Any]] | None = None,
        events: list[dict[str, Any]] | None = None,
        sender_id: str = "6281234567890",
        active_loop: str | None = None,
        channel: str = "whatsapp",
        message_id: str | None = None,
    ) -> Tracker:
        latest = {
            "text": text,
            "intent": {"name": intent, "confidence": confidence},
            "entities": entities or [],
        }
        if message_id is not None:
            latest["message_id"] = message_id
        all_events = list(events or [])
        all_events.append(
            {
                "event": "user",
                "text": text,
                "parse_data": latest,
                "input_channel": channel,
            }
        )
        return Tracker(
            sender_id=sender_id,
            slots=dict(slots or {}),
            latest_message=latest,
            events=all_events,
            paused=False,
            followup_action=None,
            active_loop={"name": active_loop} if active_loop else {},
            latest_action_name="action_listen",
        )

    return make
