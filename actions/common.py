"""Helpers shared by the actions: buttons, database calls off the event loop."""

from __future__ import annotations

import asyncio
import functools
import json
import logging
from collections.abc import Callable
from typing import Any, TypeVar

from rasa_sdk import Tracker
from rasa_sdk.events import FollowupAction

logger = logging.getLogger(__name__)

T = TypeVar("T")

# Ending the session where a conversation naturally ends keeps each turn cheap:
# the tracker store loads only the latest session (see CONVENTIONS.md).
END_SESSION = FollowupAction("action_session_start")

# User messages that interrupt the intake instead of answering its question.
ALWAYS_INTERRUPTS = {"kirim_media"}
SHORT_INTERRUPTS = {"batal", "bantuan", "minta_operator", "cek_status"}
SHORT_MESSAGE_WORDS = 6
INTERRUPT_CONFIDENCE = 0.6


def button(title: str, intent: str, **entities: Any) -> dict[str, str]:
    """A Rasa button whose payload is ``/intent{json}`` (built with json.dumps)."""
    payload = f"/{intent}"
    if entities:
        payload += json.dumps(entities, ensure_ascii=False, separators=(",", ":"))
    return {"title": title, "payload": payload}


def menu_buttons() -> list[dict[str, str]]:
    """The three services offered from the menu."""
    return [
        button("Lapor", "lapor"),
        button("Cek status", "cek_status"),
        button("Hubungi petugas", "minta_operator"),
    ]


async def in_thread(func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run blocking work (the database) without blocking the action server's loop."""
    return await asyncio.to_thread(functools.partial(func, *args, **kwargs))


def latest_intent(tracker: Tracker) -> tuple[str | None, float]:
    """Name and confidence of the latest user message's intent."""
    intent = tracker.latest_message.get("intent") or {}
    return intent.get("name"), float(intent.get("confidence") or 0.0)


def entity(tracker: Tracker, name: str) -> Any:
    """The latest message's value of entity ``name`` (None when absent)."""
    return next(tracker.get_latest_entity_values(name), None)


def channel_of(tracker: Tracker) -> str:
    """The input channel of the conversation (``rest``, ``whatsapp``...)."""
    return tracker.get_latest_input_channel() or "rest"


def asked_again(tracker: Tracker, slot: str) -> bool:
    """True when the citizen's latest message answered a question about ``slot``.

    The form is about to ask ``slot`` again, so the question should say why.
    """
    seen_user = False
    for event in reversed(tracker.events):
        if event.get("event") == "user":
            seen_user = True
        elif (
            seen_user
            and event.get("event") == "slot"
            and (event.get("name") == "requested_slot")
        ):
            return event.get("value") == slot
    return False
