"""Helpers for the WhatsApp channel tests (imported by conftest and the tests)."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import sqlalchemy as sa

from lapor import db
from lapor.whatsapp.inbound import sign

REPO_ROOT = Path(__file__).resolve().parents[2]
FIXTURES = REPO_ROOT.parent / "shared" / "fixtures" / "whatsapp"
APP_SECRET = "test-app-secret"
VERIFY_TOKEN = "YOUR_WEBHOOK_VERIFY_TOKEN"
ACCESS_TOKEN = "test-access-token"
PG_ADMIN_URL = os.environ.get(
    "LAPOR_TEST_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/test"
)


def fixture_json(name: str) -> dict[str, Any]:
    """A fixture file, parsed."""
    return json.loads((FIXTURES / name).read_text())


def fixture_bytes(name: str) -> bytes:
    """A fixture file, raw."""
    return (FIXTURES / name).read_bytes()


def _pg_available() -> bool:
    try:
        engine = sa.create_engine(PG_ADMIN_URL, connect_args={"connect_timeout": 2})
        with engine.connect():
            pass
        engine.dispose()
        return True
    except Exception:  # noqa: BLE001
        return False


def _truncate_pg(url: str) -> None:
    engine = db.get_engine(url)
    with engine.begin() as conn:
        tables = [
            t
            for t in conn.execute(
                sa.text(
                    "SELECT tablename FROM pg_tables WHERE schemaname='public' "
                    "AND tablename <> 'alembic_version'"
                )
            ).scalars()
        ]
        conn.execute(sa.text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class ChannelServer:
    """The channel served by a real Sanic app; ``received`` is what Rasa got."""

    base_url: str
    channel: Any
    server: Any
    received: list = field(default_factory=list)
    secret: str = APP_SECRET
    http: aiohttp.ClientSession | None = None

    @property
    def webhook(self) -> str:
        return f"{self.base_url}/webhooks/whatsapp/webhook"

    async def post_raw(self, body: bytes, signature: str | None = "auto") -> int:
        headers = {"Content-Type": "application/json"}
        if signature == "auto":
            headers["X-Hub-Signature-256"] = sign(body, self.secret)
        elif signature is not None:
            headers["X-Hub-Signature-256"] = signature
        async with self.http.post(self.webhook, data=body, headers=headers) as resp:
            await resp.read()
            return resp.status

    async def post(self, payload: dict[str, Any]) -> int:
        return await self.post_raw(json.dumps(payload).encode())

    async def idle(self) -> None:
        await self.channel.processor.wait_idle(timeout=20)


async def start_channel(
    on_message: Callable | None = None, secret: str = APP_SECRET
) -> ChannelServer:
    """Start a Sanic app with ``WhatsAppInput.blueprint(on_new_message)``."""
    from sanic import Sanic

    from channels.whatsapp import WhatsAppInput

    os.environ["WHATSAPP_APP_SECRET"] = secret
    os.environ["WHATSAPP_VERIFY_TOKEN"] = VERIFY_TOKEN
    Sanic.test_mode = True
    received: list = []

    async def on_new_message(message) -> None:
        received.append(message)
        if on_message is not None:
            await on_message(message)

    channel = WhatsAppInput.from_credentials({})
    app = Sanic(f"wa_test_{uuid.uuid4().hex[:8]}")
    app.blueprint(channel.blueprint(on_new_message), url_prefix="/webhooks/whatsapp")
    port = free_port()
    server = await app.create_server(
        host="127.0.0.1", port=port, return_asyncio_server=True, access_log=False
    )
    await server.startup()
    await server.before_start()
    await server.after_start()
    cs = ChannelServer(f"http://127.0.0.1:{port}", channel, server, received, secret)
    cs.http = aiohttp.ClientSession()
    return cs


async def stop_channel(cs: ChannelServer) -> None:
    """Stop the app (drains its background work)."""
    await cs.http.close()
    await cs.server.before_stop()
    cs.server.close()
    await cs.server.wait_closed()
    await cs.server.after_stop()


def text_message(
    wamid: str, sender: str = "6281234567890", body: str = "halo", ts: int = 1730231903
) -> dict[str, Any]:
    """A webhook body with one text message."""
    return wrap(
        [
            {
                "from": sender,
                "id": wamid,
                "timestamp": str(ts),
                "type": "text",
                "text": {"body": body},
            }
        ]
    )


def image_message(
    wamid: str,
    sender: str = "6281234567890",
    media_id: str = "m-1",
    mime_type: str | None = None,
    ts: int = 1730231903,
) -> dict[str, Any]:
    """A webhook body with one photo (no caption), by its Graph media id."""
    image = {"id": media_id}
    if mime_type is not None:
        image["mime_type"] = mime_type
    return wrap(
        [
            {
                "from": sender,
                "id": wamid,
                "timestamp": str(ts),
                "type": "image",
                "image": image,
            }
        ]
    )


def wrap(messages: list[dict] | None = None, statuses: list[dict] | None = None):
    """A webhook body with these messages/statuses in one change."""
    value: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "metadata": {
            "display_phone_number": "15550000000",
            "phone_number_id": "1122334455667",
        },
    }
    if messages:
        value["messages"] = messages
    if statuses:
        value["statuses"] = statuses
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": "WABA", "changes": [{"value": value, "field": "messages"}]}],
    }


def rows(url: str, sql: str, **params) -> list:
    """Rows of a query on the test database."""
    with db.get_engine(url).connect() as conn:
        return list(conn.execute(sa.text(sql), params))


async def wait_for(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    """Poll until ``predicate()`` holds."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not predicate():
        if loop.time() > end:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)
