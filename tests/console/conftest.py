"""Fixtures for the console tests: the app on a real database, users, a fake
Graph API served from a background thread, logged-in test clients."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import pytest
from console_helpers import ACCESS_TOKEN, PASSWORD, logged_in

from lapor.whatsapp.fake_graph import FakeGraphServer


class ThreadedFakeGraph:
    """The fake Graph API running in its own event loop thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.server = FakeGraphServer(token=ACCESS_TOKEN)
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def start(self) -> ThreadedFakeGraph:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self.server.start(), self.loop).result(10)
        return self

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.server.stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)

    @property
    def messages(self) -> list[dict]:
        return list(self.server.state.messages)

    def texts_to(self, number: str) -> list[str]:
        out = []
        for m in self.messages:
            if m.get("to") != number:
                continue
            if m["type"] == "text":
                out.append(m["text"]["body"])
            elif m["type"] == "template":
                out.append("[template]")
        return out


@pytest.fixture
def fake_graph(monkeypatch) -> Iterator[ThreadedFakeGraph]:
    fake = ThreadedFakeGraph().start()
    monkeypatch.setenv("WHATSAPP_API_URL", fake.server.api_url)
    monkeypatch.setenv("WHATSAPP_ACCESS_TOKEN", ACCESS_TOKEN)
    monkeypatch.setenv("WHATSAPP_PHONE_NUMBER_ID", "1122334455667")
    monkeypatch.setenv("WHATSAPP_RETRY_INITIAL", "0.01")
    monkeypatch.setenv("WHATSAPP_RETRY_MAX", "0.05")
    yield fake
    fake.stop()


@pytest.fixture
def app(db_url, tmp_path, monkeypatch):
    """The console (CSRF on) on the test database, with four users."""
    from lapor.console import create_app
    from lapor.console.auth import create_user

    monkeypatch.setenv("MEDIA_DIR", str(tmp_path / "media"))
    app = create_app({"SECRET_KEY": "test-secret", "EXPIRE_ON_POLL_SECONDS": 0.0})
    create_user("budi", PASSWORD, role="operator", full_name="Budi Santoso")
    create_user("sari", PASSWORD, role="operator", full_name="Sari Wulandari")
    create_user("dinkes", PASSWORD, role="opd", opd_code="DINKES")
    create_user("admin", PASSWORD, role="admin")
    return app


@pytest.fixture
def budi(app):
    return logged_in(app, "budi")


@pytest.fixture
def sari(app):
    return logged_in(app, "sari")
