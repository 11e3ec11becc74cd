"""A fake WhatsApp Cloud API (Graph API) server for tests and the sandbox.

Real HTTP on 127.0.0.1, realistic answers (the shapes of Meta's responses):

- ``POST /{version}/{phone_number_id}/messages`` — records the body, answers
  ``{"messaging_product", "contacts", "messages": [{"id": "wamid.…"}]}``
  (a read receipt gets ``{"success": true}``);
- ``GET /{version}/{media_id}`` — the media URL JSON, pointing back here;
- ``GET /media/{media_id}`` — the bytes (registered ones, else a small PNG);
- control: ``GET /_fake/messages`` (accepted messages; ``?since=N`` skips the
  first N), ``GET /_fake/reads``,
  ``GET /_fake/attempts`` (every POST, failed ones too), ``POST /_fake/reset``,
  ``POST /_fake/media`` (``{"id", "mime_type", "data_base64"}``),
  ``POST /_fake/fail`` (``{"status": 500|429|400, "times": n, "delay": s,
  "error_code": 131047}``; ``status`` 200 with ``delay`` only slows down).

When a token is configured, requests without ``Authorization: Bearer <token>``
get Meta's error 190. Run it: ``python -m lapor.whatsapp.fake_graph --port 8090``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import itertools
import logging
import os
import struct
import time
import uuid
import zlib
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

logger = logging.getLogger(__name__)

_ERROR_TITLES = {
    429: (130429, "Rate limit hit"),
    500: (1, "An unknown error occurred"),
    503: (2, "Service temporarily unavailable"),
    400: (100, "Invalid parameter"),
}


def tiny_png(width: int = 2, height: int = 2, rgb: tuple = (200, 30, 30)) -> bytes:
    """A valid PNG image, generated (no file needed)."""

    def chunk(tag: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(tag + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", crc)

    raw = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


@dataclass
class FailPlan:
    """How the next requests to the messages endpoint misbehave."""

    status: int = 500
    times: int = 0
    delay: float = 0.0
    error_code: int | None = None


@dataclass
class FakeGraphState:
    """What the fake server recorded."""

    token: str | None = None
    messages: list[dict[str, Any]] = field(default_factory=list)
    reads: list[dict[str, Any]] = field(default_factory=list)
    attempts: list[dict[str, Any]] = field(default_factory=list)
    media: dict[str, tuple[bytes, str]] = field(default_factory=dict)
    media_downloads: list[str] = field(default_factory=list)
    missing_media: set[str] = field(default_factory=set)  # ids answered with 404
    fail: FailPlan = field(default_factory=FailPlan)
    counter: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def reset(self) -> None:
        """Forget everything but the token."""
        self.messages.clear()
        self.reads.clear()
        self.attempts.clear()
        self.media.clear()
        self.media_downloads.clear()
        self.missing_media.clear()
        self.fail = FailPlan()


def _graph_error(status: int, code: int | None = None, title: str | None = None):
    default_code, default_title = _ERROR_TITLES.get(status, (1, "Error"))
    return web.json_response(
        {
            "error": {
                "message": title or default_title,
                "type": "OAuthException",
                "code": code or default_code,
                "error_data": {"details": title or default_title},
                "fbtrace_id": uuid.uuid4().hex[:20],
            }
        },
        status=status,
    )


def _authorised(request: web.Request, state: FakeGraphState) -> bool:
    if not state.token:
        return True
    return request.headers.get("Authorization") == f"Bearer {state.token}"


def _unauthorised() -> web.Response:
    return web.json_response(
        {
            "error": {
                "message": "Invalid OAuth access token - Cannot parse access token",
                "type": "OAuthException",
                "code": 190,
                "fbtrace_id": uuid.uuid4().hex[:20],
            }
        },
        status=401,
    )


STATE = web.AppKey("state", FakeGraphState)


def make_app(token: str | None = None) -> web.Application:
    """The aiohttp application; its state is ``app[STATE]``."""
    state = FakeGraphState(token=token)
    app = web.Application(client_max_size=128 * 1024 * 1024)
    app[STATE] = state
    routes = web.RouteTableDef()

    @routes.get("/_fake/messages")
    async def list_messages(request: web.Request) -> web.Response:
        # ?since=N: only the messages after the first N (for pollers).
        try:
            since = max(0, int(request.query.get("since", "0")))
        except ValueError:
            return web.json_response({"error": "since must be a number"}, status=400)
        return web.json_response(state.messages[since:])

    @routes.get("/_fake/reads")
    async def list_reads(_: web.Request) -> web.Response:
        return web.json_response(state.reads)

    @routes.get("/_fake/attempts")
    async def list_attempts(_: web.Request) -> web.Response:
        return web.json_response(state.attempts)

    @routes.post("/_fake/reset")
    async def reset(_: web.Request) -> web.Response:
        state.reset()
        return web.json_response({"ok": True})

    @routes.post("/_fake/fail")
    async def fail(request: web.Request) -> web.Response:
        data = await request.json()
        state.fail = FailPlan(
            status=int(data.get("status", 500)),
            times=int(data.get("times", 1)),
            delay=float(data.get("delay", 0)),
            error_code=data.get("error_code"),
        )
        return web.json_response({"ok": True})

    @routes.post("/_fake/media")
    async def add_media(request: web.Request) -> web.Response:
        data = await request.json()
        media_id = str(data.get("id") or uuid.uuid4().hex)
        content = base64.b64decode(data.get("data_base64", "")) or tiny_png()
        state.media[media_id] = (content, data.get("mime_type") or "image/png")
        return web.json_response({"id": media_id})

    @routes.get("/media/{media_id}")
    async def media_bytes(request: web.Request) -> web.Response:
        if not _authorised(request, state):
            return _unauthorised()
        media_id = request.match_info["media_id"]
        state.media_downloads.append(media_id)
        content, mime = state.media.get(media_id, (tiny_png(), "image/png"))
        return web.Response(body=content, content_type=mime.split(";")[0])

    @routes.post("/{version}/{phone_number_id}/messages")
    async def send(request: web.Request) -> web.Response:
        if not _authorised(request, state):
            return _unauthorised()
        try:
            body = await request.json()
        except ValueError:
            return _graph_error(400, 100, "Invalid JSON")
        plan = state.fail
        record = {
            "body": body,
            "phone_number_id": request.match_info["phone_number_id"],
        }
        delay, fail_status = 0.0, None
        if plan.times > 0:  # this request is one of the misbehaving ones
            plan.times -= 1
            delay = plan.delay
            fail_status = plan.status if plan.status >= 300 else None
        if delay:
            await asyncio.sleep(delay)
        if fail_status:
            state.attempts.append({**record, "status": fail_status})
            return _graph_error(fail_status, plan.error_code)
        state.attempts.append({**record, "status": 200})
        if body.get("status") == "read":
            state.reads.append(body)
            return web.json_response({"success": True})
        if body.get("messaging_product") != "whatsapp" or not body.get("to"):
            return _graph_error(400, 100, "Invalid parameter")
        wamid = f"wamid.FAKE{next(state.counter):06d}{uuid.uuid4().hex[:12].upper()}"
        state.messages.append({**body, "_wamid": wamid, "_received_at": time.time()})
        return web.json_response(
            {
                "messaging_product": "whatsapp",
                "contacts": [{"input": body["to"], "wa_id": body["to"]}],
                "messages": [{"id": wamid}],
            }
        )

    @routes.get("/{version}/{media_id}")
    async def media_url(request: web.Request) -> web.Response:
        if not _authorised(request, state):
            return _unauthorised()
        media_id = request.match_info["media_id"]
        if media_id in state.missing_media:
            return _graph_error(404, 100, "Unsupported get request")
        content, mime = state.media.get(media_id, (tiny_png(), "image/png"))
        base = f"{request.scheme}://{request.host}"
        return web.json_response(
            {
                "url": f"{base}/media/{media_id}",
                "mime_type": mime,
                "sha256": hashlib.sha256(content).hexdigest(),
                "file_size": len(content),
                "id": media_id,
                "messaging_product": "whatsapp",
            }
        )

    app.add_routes(routes)
    return app


class FakeGraphServer:
    """The fake server running inside the current event loop (for tests)."""

    def __init__(self, token: str | None = None, version: str = "v21.0") -> None:
        self.app = make_app(token)
        self.version = version
        self.runner: web.AppRunner | None = None
        self.port = 0

    @property
    def state(self) -> FakeGraphState:
        """The recorded state."""
        return self.app[STATE]

    @property
    def api_url(self) -> str:
        """Value for ``WHATSAPP_API_URL``."""
        return f"http://127.0.0.1:{self.port}/{self.version}"

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> FakeGraphServer:
        """Listen (``port=0``: a free port)."""
        self.runner = web.AppRunner(self.app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, host, port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def stop(self) -> None:
        """Stop listening."""
        if self.runner is not None:
            await self.runner.cleanup()


def webhook_body(
    wa_id: str, message: dict[str, Any], *, name: str = "Warga"
) -> dict[str, Any]:
    """A Cloud API webhook body carrying one message from ``wa_id``, as Meta sends it.

    For the sandbox's simulated phone, the tests and the benchmarks. The phone
    number id is ``WHATSAPP_PHONE_NUMBER_ID`` (the number the bot answers from).
    """
    return {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "SANDBOX",
                "changes": [
                    {
                        "field": "messages",
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {
                                "display_phone_number": "15550000000",
                                "phone_number_id": os.environ.get(
                                    "WHATSAPP_PHONE_NUMBER_ID", "100000000000001"
                                ),
                            },
                            "contacts": [{"profile": {"name": name}, "wa_id": wa_id}],
                            "messages": [message],
                        },
                    }
                ],
            }
        ],
    }


def main(argv: list[str] | None = None) -> None:
    """Run the fake server standalone."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8090)
    parser.add_argument(
        "--token",
        default=os.environ.get("FAKE_GRAPH_TOKEN"),
        help="require this bearer token (default: FAKE_GRAPH_TOKEN, else none)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    print(f"fake Graph API on http://{args.host}:{args.port}/v21.0", flush=True)
    web.run_app(make_app(args.token), host=args.host, port=args.port, print=None)


if __name__ == "__main__":
    main()
