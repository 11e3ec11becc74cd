"""Rasa channel for the WhatsApp Cloud API (thin: the work is in ``lapor.whatsapp``).

Registered in ``credentials.yml`` as ``channels.whatsapp.WhatsAppInput:`` (no
keys needed); Rasa serves it at ``/webhooks/whatsapp/webhook``. Settings come
from the environment (env wins over yml keys for secrets): ``WHATSAPP_VERIFY_TOKEN``,
``WHATSAPP_APP_SECRET``, ``WHATSAPP_ACCESS_TOKEN``, ``WHATSAPP_PHONE_NUMBER_ID``,
``WHATSAPP_API_URL``, ``MEDIA_DIR``, ``WHATSAPP_TEMPLATE_UPDATE``,
``WHATSAPP_TEMPLATE_LANGUAGE``.

Blank lines: Rasa's default ``OutputChannel.send_response`` hands the text to
``send_text_message`` whole, and channels such as Slack's split it on blank
lines. Here **one bot utterance is one WhatsApp message**: blank lines are kept
inside it (WhatsApp shows them as paragraphs), and its buttons are attached to
it as an interactive message. Only text over 4096 characters is split (on
paragraph, then line, then word boundaries). Each WhatsApp message is a
separate, ordered and billed notification on the citizen's phone, so a bot that
wants two bubbles writes two utterances.

Where the work happens: the Rasa server's process checks, stores and answers
each webhook; the bot's turns run in worker processes beside it
(``lapor.whatsapp.turns``, each citizen always in the same one), so a webhook
is never answered late because other citizens' turns hold the server.
``WHATSAPP_TURNS=inline`` keeps them in the server's own event loop instead.

Ordering: one citizen's messages are handled one at a time (a queue per
sender); across several Rasa replicas, Rasa's ``RedisLockStore`` serialises a
conversation's turns, and the database's unique key on the WhatsApp message id
makes sure each message is handled once.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import gc
import hmac
import logging
import os
import sys
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Optional

from rasa.core.channels.channel import InputChannel, OutputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from lapor.whatsapp import outbound
from lapor.whatsapp.graph import close_client
from lapor.whatsapp.inbound import BotMessage, WebhookProcessor
from lapor.whatsapp.turns import TurnWorkers, endpoints_path, worker_count

logger = logging.getLogger(__name__)

CHANNEL_NAME = "whatsapp"


class WhatsAppOutput(OutputChannel):
    """Sends the bot's responses through the Cloud API (stored, retried, ordered)."""

    @classmethod
    def name(cls) -> str:
        return CHANNEL_NAME

    async def send_response(self, recipient_id: str, message: dict[str, Any]) -> None:
        """One utterance → one WhatsApp message (buttons attached), then extras."""
        text = message.get("text") or ""
        buttons = message.get("buttons") or message.get("quick_replies")
        if buttons:
            await self.send_text_with_buttons(recipient_id, text, buttons)
        elif text:
            await self.send_text_message(recipient_id, text)
        if message.get("custom"):
            await self.send_custom_json(recipient_id, message["custom"])
        if message.get("image"):
            await self.send_image_url(recipient_id, message["image"])
        if message.get("attachment"):
            await self.send_attachment(recipient_id, message["attachment"])
        if message.get("elements"):
            await self.send_elements(recipient_id, message["elements"])

    async def send_text_message(
        self, recipient_id: str, text: str, **kwargs: Any
    ) -> None:
        await outbound.send_text(recipient_id, text, author="bot")

    async def send_text_with_buttons(
        self,
        recipient_id: str,
        text: str,
        buttons: list[dict[str, Any]],
        **kwargs: Any,
    ) -> None:
        await outbound.send_buttons(recipient_id, text, buttons, author="bot")

    async def send_quick_replies(
        self,
        recipient_id: str,
        text: str,
        quick_replies: list[dict[str, Any]],
        **kwargs: Any,
    ) -> None:
        await outbound.send_buttons(recipient_id, text, quick_replies, author="bot")

    async def send_image_url(
        self, recipient_id: str, image: str, **kwargs: Any
    ) -> None:
        await outbound.send_image(recipient_id, image, author="bot")

    async def send_attachment(  # type: ignore[override]
        self, recipient_id: str, attachment: Any, **kwargs: Any
    ) -> None:
        if isinstance(attachment, dict):
            url = attachment.get("url") or attachment.get("link")
            if url:
                await outbound.send_document(
                    recipient_id, url, attachment.get("filename"), author="bot"
                )
                return
        await outbound.send_text(recipient_id, str(attachment), author="bot")

    async def send_elements(
        self, recipient_id: str, elements: Iterable[dict[str, Any]], **kwargs: Any
    ) -> None:
        for element in elements:
            text = "\n".join(
                p for p in (element.get("title"), element.get("subtitle")) if p
            )
            await outbound.send_buttons(
                recipient_id, text, element.get("buttons") or [], author="bot"
            )

    async def send_custom_json(
        self, recipient_id: str, json_message: dict[str, Any], **kwargs: Any
    ) -> None:
        """A ``custom`` response: a Cloud API body (``{"type": ..., ...}``),
        optionally under a ``whatsapp`` key; anything else is logged and dropped."""
        body = json_message.get("whatsapp", json_message)
        if isinstance(body, dict) and isinstance(body.get("type"), str):
            await outbound.send_body(recipient_id, body, author="bot")
        else:
            logger.warning("custom response without a WhatsApp body ignored")


class WhatsAppInput(InputChannel):
    """WhatsApp Cloud API webhook (GET verification, signed POSTs)."""

    @classmethod
    def name(cls) -> str:
        return CHANNEL_NAME

    @classmethod
    def from_credentials(cls, credentials: Optional[dict[str, Any]]) -> WhatsAppInput:
        credentials = credentials or {}
        return cls(
            verify_token=credentials.get("verify_token"),
            app_secret=credentials.get("app_secret"),
        )

    def __init__(
        self, verify_token: Optional[str] = None, app_secret: Optional[str] = None
    ) -> None:
        self.verify_token = (
            os.environ.get("WHATSAPP_VERIFY_TOKEN") or verify_token or ""
        )
        self.app_secret = os.environ.get("WHATSAPP_APP_SECRET") or app_secret or ""
        self.processor: Optional[WebhookProcessor] = None
        if not self.app_secret:
            logger.error(
                "WHATSAPP_APP_SECRET is not set: every webhook POST is refused"
            )

    def get_output_channel(self) -> OutputChannel:
        return WhatsAppOutput()

    def blueprint(
        self, on_new_message: Callable[[UserMessage], Awaitable[Any]]
    ) -> Blueprint:
        state: dict[str, Any] = {}

        async def to_bot(message: BotMessage) -> None:
            agent = state.get("agent")
            if agent is not None and await turn_saved(agent.tracker_store, message):
                return
            await on_new_message(user_message(message))

        processor = WebhookProcessor(to_bot, app_secret=self.app_secret)
        self.processor = processor
        bp = Blueprint("whatsapp_webhook", __name__)

        @bp.listener("after_server_start")
        async def start(app: Any, _loop: Any) -> None:
            state["agent"] = getattr(app.ctx, "agent", None)
            workers = _turn_workers(app)
            if workers is not None:
                workers.start()
                processor.turns = workers
                state["workers"] = workers
                state["watch"] = asyncio.ensure_future(workers.supervise())
            else:
                # Messages stored by a process that stopped before working on them,
                # then, now and then, whatever is left behind later.
                processor._spawn(processor.recover(older_than=_RECOVER_AFTER))
                state["sweep"] = asyncio.ensure_future(processor.sweep_forever())
            if state["agent"] is not None:
                # The model is loaded by now: move its objects out of the garbage
                # collector's full passes, which stop the server (webhook answers
                # included) for about 0.2 s each with this model, 4 ms once frozen.
                gc.collect()
                gc.freeze()

        @bp.listener("before_server_stop")
        async def drain(_app: Any, _loop: Any) -> None:
            workers = state.get("workers")
            if "sweep" in state:
                state["sweep"].cancel()
            if workers is not None:
                state["watch"].cancel()
                await asyncio.to_thread(workers.stop)
            else:
                try:
                    await processor.wait_idle(timeout=10)
                except asyncio.TimeoutError:
                    logger.warning(
                        "stopping with messages in progress (recovered later)"
                    )
            await close_client()

        @bp.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            workers = state.get("workers")
            if workers is None:
                return response.json({"status": "ok", "turns": "inline"})
            return response.json(
                {
                    "status": "ok",
                    "turns": "ready" if workers.is_ready() else "starting",
                    "turn_workers": workers.pids,
                }
            )

        @bp.route("/webhook", methods=["GET"])
        async def verify(request: Request) -> HTTPResponse:
            mode = request.args.get("hub.mode")
            token = request.args.get("hub.verify_token") or ""
            challenge = request.args.get("hub.challenge") or ""
            if (
                mode == "subscribe"
                and self.verify_token
                and hmac.compare_digest(token.encode(), self.verify_token.encode())
            ):
                return response.text(challenge)
            return response.text("forbidden", status=403)

        @bp.route("/webhook", methods=["POST"])
        async def webhook(request: Request) -> HTTPResponse:
            try:
                status = await processor.handle_post(
                    request.body, request.headers.get("X-Hub-Signature-256")
                )
            except Exception:  # noqa: BLE001 - never a 500 for what Meta sent
                logger.exception("webhook handling failed")
                status = 200
            return response.text(_STATUS_TEXT.get(status, ""), status=status)

        return bp


def user_message(message: BotMessage) -> UserMessage:
    """The Rasa message for a citizen's WhatsApp message (replies go back on WhatsApp)."""
    return UserMessage(
        message.text,
        WhatsAppOutput(),
        message.sender_id,
        input_channel=CHANNEL_NAME,
        message_id=message.wamid,
        metadata=message.metadata or None,
    )


async def turn_saved(tracker_store: Any, message: BotMessage) -> bool:
    """Whether the conversation already holds the turn of a taken-over message.

    Rasa saves a conversation once a turn is over, so a message whose worker
    died after that was answered already: running it again would repeat the
    replies (and the actions). A message whose worker died earlier is run, and
    a message nobody had claimed before (not ``resumed``) is not looked up.
    """
    from rasa.shared.core.events import UserUttered

    if not message.resumed:
        return False
    tracker = await tracker_store.retrieve_full_tracker(message.sender_id)
    saved = tracker is not None and any(
        isinstance(event, UserUttered) and event.message_id == message.wamid
        for event in tracker.events
    )
    if saved:
        logger.info(
            "message %s was answered before its worker died", message.wamid[-12:]
        )
    return saved


def _turn_workers(app: Any) -> Optional[TurnWorkers]:
    """Turn workers for this Rasa server (``WHATSAPP_TURN_WORKERS`` of them),
    unless turns run inline.

    ``WHATSAPP_TURNS=inline`` keeps the turns in the server's own event loop
    (one process, less memory, slower webhook answers under load); so does a
    server without a loaded model (then there is nothing a worker could load).
    """
    if os.environ.get("WHATSAPP_TURNS", "worker").strip().lower() == "inline":
        return None
    agent = getattr(app.ctx, "agent", None)
    processor = getattr(agent, "processor", None)
    model_path = getattr(processor, "model_path", None)
    if not model_path:
        return None
    return TurnWorkers(str(model_path), endpoints_path(sys.argv[1:]), worker_count())


_RECOVER_AFTER = dt.timedelta(seconds=30)
_STATUS_TEXT = {
    200: "ok",
    400: "invalid json",
    401: "missing signature",
    403: "forbidden",
    503: "retry later",
}
