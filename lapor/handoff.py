"""Who holds a conversation: the bot, the operators' queue, or one operator.

The state lives in the database, so it survives restarts and holds across
several Rasa replicas. While a conversation is not with the bot, the channel
must not hand citizen messages to Rasa at all (see DESIGN.md §4).
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from lapor.models import Conversation, utcnow

logger = logging.getLogger(__name__)

# Rough expected wait per conversation ahead in the queue, for the citizen.
MINUTES_PER_WAITING = 5


@dataclass(frozen=True)
class QueueTicket:
    """A conversation's place in the operators' queue."""

    position: int
    expected_wait_minutes: int
    already_queued: bool


def get_or_create(session: Session, sender_id: str) -> Conversation:
    """The conversation row of ``sender_id`` (created with state ``bot``)."""
    conversation = session.get(Conversation, sender_id)
    if conversation is None:
        conversation = Conversation(sender_id=sender_id, state="bot", urgent=False)
        session.add(conversation)
        session.flush()
    return conversation


def state_of(session: Session, sender_id: str) -> str:
    """``bot``, ``menunggu`` or ``operator``."""
    conversation = session.get(Conversation, sender_id)
    return conversation.state if conversation else "bot"


def request_handoff(
    session: Session, sender_id: str, reason: str, urgent: bool = False
) -> QueueTicket:
    """Queue the conversation for an operator (idempotent; urgency only rises)."""
    conversation = get_or_create(session, sender_id)
    already = conversation.state != "bot"
    if not already:
        conversation.state = "menunggu"
        conversation.reason = reason
        conversation.queued_at = utcnow()
        conversation.operator = None
    conversation.urgent = bool(conversation.urgent or urgent)
    session.flush()
    position = queue_position(session, conversation)
    logger.info("handoff requested reason=%s urgent=%s", reason, conversation.urgent)
    return QueueTicket(
        position=position,
        expected_wait_minutes=max(position, 1) * MINUTES_PER_WAITING,
        already_queued=already,
    )


def queue_position(session: Session, conversation: Conversation) -> int:
    """1-based position among waiting conversations (urgent ones first)."""
    if conversation.state != "menunggu":
        return 0
    queued_at = conversation.queued_at or utcnow()
    ahead = select(func.count()).select_from(Conversation).where(
        Conversation.state == "menunggu",
        Conversation.sender_id != conversation.sender_id,
    )
    if conversation.urgent:
        ahead = ahead.where(
            Conversation.urgent.is_(True), Conversation.queued_at < queued_at
        )
    else:
        ahead = ahead.where(
            (Conversation.urgent.is_(True)) | (Conversation.queued_at < queued_at)
        )
    return int(session.scalar(ahead) or 0) + 1


def release(session: Session, sender_id: str) -> None:
    """Give the conversation back to the bot."""
    conversation = get_or_create(session, sender_id)
    conversation.state = "bot"
    conversation.operator = None
    conversation.urgent = False
    conversation.reason = None
    conversation.queued_at = None
    conversation.taken_at = None


def waiting_since(conversation: Conversation) -> dt.timedelta | None:
    """How long a queued conversation has waited."""
    if conversation.state != "menunggu" or conversation.queued_at is None:
        return None
    queued = conversation.queued_at
    if queued.tzinfo is None:
        queued = queued.replace(tzinfo=dt.timezone.utc)
    return utcnow() - queued
