"""The few calls the console makes to the Rasa server's HTTP API."""

from __future__ import annotations

import logging
import os
from urllib.parse import quote

import requests

logger = logging.getLogger(__name__)

TIMEOUT_SECONDS = 5


def rasa_url() -> str:
    """Base URL of the Rasa server (``RASA_URL``, default the local one)."""
    return os.environ.get("RASA_URL", "http://127.0.0.1:5005").rstrip("/")


def start_new_session(sender_id: str) -> bool:
    """Begin a fresh Rasa session for ``sender_id`` (after an operator released it).

    What the bot half-asked before the handoff is forgotten, so the citizen's
    next message starts cleanly, and the turn cost stays bounded (the tracker
    store loads only the latest session). Returns False when Rasa is not
    reachable; the handoff itself does not depend on it.
    """
    events = [
        {"event": "session_started"},
        {"event": "action", "name": "action_listen"},
    ]
    try:
        reply = requests.post(
            f"{rasa_url()}/conversations/{quote(sender_id, safe='')}/tracker/events",
            params={
                "token": os.environ.get("RASA_TOKEN", ""),
                "include_events": "NONE",
            },
            json=events,
            timeout=TIMEOUT_SECONDS,
        )
    except requests.RequestException as exc:
        logger.warning("could not start a new Rasa session: %s", type(exc).__name__)
        return False
    if reply.status_code != 200:
        logger.warning("Rasa refused the new session: HTTP %s", reply.status_code)
        return False
    return True
