"""A small WhatsApp Cloud API (Graph API) client: send, mark as read, media.

Settings come from the environment at call time (so tests and the sandbox can
point ``WHATSAPP_API_URL`` at the fake server). Transient failures (429, 5xx,
timeouts, network errors) are retried with exponential backoff by tenacity;
anything else raises :class:`GraphError` carrying Meta's error code.

Note: a retried send after a timeout or a 5xx may, in rare cases, duplicate a
message Meta had in fact accepted; the Cloud API offers no idempotency key.
"""

from __future__ import annotations

import asyncio
import logging
import os
import weakref
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from tenacity import (
    AsyncRetrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential_jitter,
)

logger = logging.getLogger(__name__)

DEFAULT_API_URL = "https://graph.facebook.com/v21.0"
# Meta's media size limits (DESIGN.md §8), by message type.
MEDIA_LIMITS = {
    "image": 5 * 1024 * 1024,
    "audio": 16 * 1024 * 1024,
    "video": 16 * 1024 * 1024,
    "sticker": 500 * 1024,
    "document": 100 * 1024 * 1024,
}


@dataclass(frozen=True)
class GraphSettings:
    """Connection settings of the Graph API client."""

    api_url: str = DEFAULT_API_URL
    access_token: str = ""
    phone_number_id: str = ""
    timeout: float = 10.0
    attempts: int = 5
    backoff_initial: float = 0.5
    backoff_max: float = 8.0

    @classmethod
    def from_env(cls) -> GraphSettings:
        """Read ``WHATSAPP_*`` variables (``WHATSAPP_RETRY_*`` tune the backoff)."""
        env = os.environ
        return cls(
            api_url=env.get("WHATSAPP_API_URL", DEFAULT_API_URL).rstrip("/"),
            access_token=env.get("WHATSAPP_ACCESS_TOKEN", ""),
            phone_number_id=env.get("WHATSAPP_PHONE_NUMBER_ID", ""),
            timeout=float(env.get("WHATSAPP_HTTP_TIMEOUT", "10")),
            attempts=int(env.get("WHATSAPP_RETRY_ATTEMPTS", "5")),
            backoff_initial=float(env.get("WHATSAPP_RETRY_INITIAL", "0.5")),
            backoff_max=float(env.get("WHATSAPP_RETRY_MAX", "8")),
        )


class GraphError(Exception):
    """A Graph API error (permanent unless ``retryable``)."""

    def __init__(
        self,
        status: int,
        code: int | None = None,
        title: str | None = None,
        retryable: bool = False,
    ) -> None:
        super().__init__(f"Graph API error status={status} code={code}: {title}")
        self.status = status
        self.code = code
        self.title = title
        self.retryable = retryable


def _is_transient(exc: BaseException) -> bool:
    if isinstance(exc, GraphError):
        return exc.retryable
    return isinstance(exc, (asyncio.TimeoutError, aiohttp.ClientConnectionError)) or (
        isinstance(exc, aiohttp.ClientPayloadError)
    )


async def _error_from(resp: aiohttp.ClientResponse) -> GraphError:
    code = title = None
    try:
        data = await resp.json(content_type=None)
        err = data.get("error") or {}
        code = err.get("code")
        title = err.get("error_user_title") or err.get("title") or err.get("message")
    except Exception:  # noqa: BLE001 - body is not JSON: keep the status only
        logger.debug("Graph API error body is not JSON (HTTP %s)", resp.status)
    retryable = resp.status == 429 or resp.status >= 500
    # Meta's throughput / rate-limit codes come back with 400 sometimes.
    if code in (4, 80007, 130429, 131048, 131056, 133016) or code == 2:
        retryable = True
    return GraphError(resp.status, code, title, retryable=retryable)


@dataclass
class GraphClient:
    """Async Graph API client bound to one event loop (one aiohttp session)."""

    settings: GraphSettings = field(default_factory=GraphSettings.from_env)
    _session: aiohttp.ClientSession | None = None

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.settings.access_token}"}

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.settings.timeout)
            )
        return self._session

    async def close(self) -> None:
        """Close the HTTP session."""
        if self._session is not None and not self._session.closed:
            await self._session.close()

    def _retrying(self) -> AsyncRetrying:
        return AsyncRetrying(
            retry=retry_if_exception(_is_transient),
            stop=stop_after_attempt(max(1, self.settings.attempts)),
            wait=wait_exponential_jitter(
                multiplier=self.settings.backoff_initial,
                max=self.settings.backoff_max,
                jitter=self.settings.backoff_initial,
            ),
            reraise=True,
        )

    async def _post_messages_once(self, body: dict[str, Any]) -> dict[str, Any]:
        url = f"{self.settings.api_url}/{self.settings.phone_number_id}/messages"
        async with self._http().post(url, json=body, headers=self._headers()) as resp:
            if resp.status >= 300:
                raise await _error_from(resp)
            return await resp.json(content_type=None)

    async def send(
        self, body: dict[str, Any], attempts_counter: list[int] | None = None
    ) -> dict[str, Any]:
        """POST a message body to ``/<phone_number_id>/messages`` with retries.

        Args:
            body: the Cloud API message body (``messaging_product`` is added).
            attempts_counter: optional one-item list incremented per attempt.

        Returns:
            Meta's JSON answer (``messages[0].id`` is the new wamid).

        Raises:
            GraphError: a permanent error, or the last transient one.
            asyncio.TimeoutError, aiohttp.ClientError: network errors after retries.
        """
        body = {"messaging_product": "whatsapp", **body}
        async for attempt in self._retrying():
            with attempt:
                if attempts_counter is not None:
                    attempts_counter[0] += 1
                return await self._post_messages_once(body)
        raise AssertionError("unreachable")  # pragma: no cover

    async def mark_as_read(self, wamid: str) -> bool:
        """Mark a received message as read (blue ticks); False on failure."""
        try:
            await self.send({"status": "read", "message_id": wamid})
            return True
        except Exception as exc:  # noqa: BLE001 - read receipts are best effort
            logger.warning("mark-as-read failed: %s", exc)
            return False

    async def download_media(
        self, media_id: str, max_bytes: int | None = None
    ) -> tuple[bytes, str | None]:
        """Fetch a media object: ``GET /<media_id>`` for its URL, then the bytes.

        Args:
            media_id: the id from the webhook message.
            max_bytes: refuse anything larger.

        Returns:
            The content and its MIME type.
        """
        url_info: dict[str, Any] = {}
        async for attempt in self._retrying():
            with attempt:
                async with self._http().get(
                    f"{self.settings.api_url}/{media_id}", headers=self._headers()
                ) as resp:
                    if resp.status >= 300:
                        raise await _error_from(resp)
                    url_info = await resp.json(content_type=None)
        media_url = url_info.get("url")
        if not media_url:
            raise GraphError(200, None, "media url missing")
        declared = url_info.get("file_size")
        if max_bytes and isinstance(declared, int) and declared > max_bytes:
            raise GraphError(413, None, f"media too large ({declared} bytes)")
        async for attempt in self._retrying():
            with attempt:
                async with self._http().get(media_url, headers=self._headers()) as resp:
                    if resp.status >= 300:
                        raise await _error_from(resp)
                    chunks = []
                    total = 0
                    async for chunk in resp.content.iter_chunked(65536):
                        total += len(chunk)
                        if max_bytes and total > max_bytes:
                            raise GraphError(413, None, "media too large")
                        chunks.append(chunk)
                    mime = url_info.get("mime_type") or resp.content_type
                    return b"".join(chunks), mime
        raise AssertionError("unreachable")  # pragma: no cover


_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, GraphClient] = (
    weakref.WeakKeyDictionary()
)


def get_client() -> GraphClient:
    """The client of the running event loop (settings re-read when they change)."""
    loop = asyncio.get_running_loop()
    settings = GraphSettings.from_env()
    client = _clients.get(loop)
    if client is None or client.settings != settings:
        if client is not None:
            loop.create_task(client.close())
        client = GraphClient(settings)
        _clients[loop] = client
    return client


async def close_client() -> None:
    """Close the running loop's client (on server stop / test teardown)."""
    loop = asyncio.get_running_loop()
    client = _clients.pop(loop, None)
    if client is not None:
        await client.close()
