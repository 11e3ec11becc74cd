"""Who holds a conversation: the bot, the operators' queue, or one operator.

The state lives in the database, so it survives restarts and holds across
several Rasa replicas. While a conversation is not with the bot, the channel
must not hand citizen messages to Rasa at all (see DESIGN.md §4).
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from lapor.models import Conversation, as_utc, utcnow

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
    ahead = (
        select(func.count())
        .select_from(Conversation)
        .where(
            Conversation.state == "menunggu",
            Conversation.sender_id != conversation.sender_id,
        )
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


def release(session: Session, sender_id: str, operator: str | None = None) -> bool:
    """Give the conversation back to the bot.

    Args:
        session: an open session.
        sender_id: the citizen's id.
        operator: when given, release only if this operator holds the
            conversation (conditional UPDATE); ``None`` releases whatever the state.

    Returns:
        True when the conversation is now with the bot because of this call
        (or already was, when ``operator`` is None).
    """
    table = Conversation.__table__
    if operator is None:
        get_or_create(session, sender_id)
        condition = table.c.sender_id == sender_id
    else:
        condition = (
            (table.c.sender_id == sender_id)
            & (table.c.state == "operator")
            & (table.c.operator == operator)
        )
    result = session.execute(
        update(table)
        .where(condition)
        .values(
            state="bot",
            operator=None,
            urgent=False,
            reason=None,
            queued_at=None,
            taken_at=None,
            updated_at=utcnow(),
        )
        .execution_options(synchronize_session=False)
    )
    session.expire_all()
    released = result.rowcount == 1
    if released:
        logger.info("conversation released to the bot")
    return released


def _ensure_row(session: Session, sender_id: str) -> None:
    """Insert the conversation row (state ``bot``) unless it exists; race-safe."""
    if session.get(Conversation, sender_id) is not None:
        return
    values = {
        "sender_id": sender_id,
        "state": "bot",
        "urgent": False,
        "updated_at": utcnow(),
    }
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        stmt = pg_insert(Conversation.__table__).values(**values)
    elif dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        stmt = sqlite_insert(Conversation.__table__).values(**values)
    else:  # pragma: no cover - only SQLite and PostgreSQL are supported
        get_or_create(session, sender_id)
        return
    session.execute(stmt.on_conflict_do_nothing(index_elements=["sender_id"]))


def take(session: Session, sender_id: str, operator: str) -> bool:
    """Let ``operator`` hold the conversation, unless another operator holds it.

    Works from any state (an operator may pick a conversation still with the
    bot). The check and the change are one conditional UPDATE, judged by its
    row count, so two operators taking at once cannot both win (on SQLite the
    write lock serialises them; on PostgreSQL the second UPDATE waits for the
    first and re-checks its condition on the committed row).

    Returns:
        True when ``operator`` now holds it (also when they already did).
    """
    _ensure_row(session, sender_id)
    table = Conversation.__table__
    now = utcnow()
    free_or_mine = (table.c.state != "operator") | (table.c.operator == operator)
    result = session.execute(
        update(table)
        .where((table.c.sender_id == sender_id) & free_or_mine)
        .values(
            state="operator",
            operator=operator,
            taken_at=now,
            queued_at=func.coalesce(table.c.queued_at, now),
            reason=func.coalesce(table.c.reason, "dipilih_operator"),
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    session.expire_all()
    won = result.rowcount == 1
    logger.info("take by operator: %s", "won" if won else "already held")
    return won


@dataclass(frozen=True)
class QueueEntry:
    """A conversation as the console's queue shows it."""

    sender_id: str
    state: str
    reason: str | None
    urgent: bool
    operator: str | None
    queued_at: dt.datetime | None
    taken_at: dt.datetime | None
    last_citizen_message_at: dt.datetime | None
    waiting_seconds: int | None


def _entry(conversation: Conversation, now: dt.datetime) -> QueueEntry:
    queued = as_utc(conversation.queued_at)
    waiting = None
    if conversation.state == "menunggu" and queued is not None:
        waiting = max(0, int((now - queued).total_seconds()))
    return QueueEntry(
        sender_id=conversation.sender_id,
        state=conversation.state,
        reason=conversation.reason,
        urgent=bool(conversation.urgent),
        operator=conversation.operator,
        queued_at=queued,
        taken_at=as_utc(conversation.taken_at),
        last_citizen_message_at=as_utc(conversation.last_citizen_message_at),
        waiting_seconds=waiting,
    )


def waiting(session: Session, now: dt.datetime | None = None) -> list[QueueEntry]:
    """Conversations waiting for an operator: emergencies first, then oldest first."""
    now = now or utcnow()
    rows = session.scalars(
        select(Conversation)
        .where(Conversation.state == "menunggu")
        .order_by(
            Conversation.urgent.desc(),
            Conversation.queued_at.asc(),
            Conversation.sender_id,
        )
    ).all()
    return [_entry(c, now) for c in rows]


def held(
    session: Session, operator: str | None = None, now: dt.datetime | None = None
) -> list[QueueEntry]:
    """Conversations held by operators (by ``operator`` only, when given)."""
    now = now or utcnow()
    query = select(Conversation).where(Conversation.state == "operator")
    if operator is not None:
        query = query.where(Conversation.operator == operator)
    rows = session.scalars(
        query.order_by(Conversation.urgent.desc(), Conversation.taken_at.asc())
    ).all()
    return [_entry(c, now) for c in rows]


def last_operator_reply(
    session: Session, conversation: Conversation
) -> dt.datetime | None:
    """When the holding operator last sent the citizen something (this hold)."""
    from lapor.whatsapp.models import WaOutbound

    if conversation.operator is None:
        return None
    latest = session.scalar(
        select(func.max(WaOutbound.created_at)).where(
            WaOutbound.recipient_id == conversation.sender_id,
            WaOutbound.author == conversation.operator,
        )
    )
    return as_utc(latest)


def expire_idle(
    session: Session, idle_minutes: float, now: dt.datetime | None = None
) -> list[str]:
    """Return to the queue every held conversation idle for ``idle_minutes``.

    Idle means: no message from the holding operator to the citizen since
    ``max(taken_at, last operator reply)``. Each return is a conditional
    UPDATE on the same hold (state, operator and taken_at unchanged), so an
    operator replying or releasing at that moment is never overridden.

    Returns:
        The sender ids put back in the queue (the caller may tell operators).
    """
    now = now or utcnow()
    limit = dt.timedelta(minutes=idle_minutes)
    table = Conversation.__table__
    expired: list[str] = []
    for conversation in session.scalars(
        select(Conversation).where(Conversation.state == "operator")
    ).all():
        taken = as_utc(conversation.taken_at)
        reply = last_operator_reply(session, conversation)
        last_activity = (
            max(t for t in (taken, reply) if t is not None)
            if (taken or reply)
            else None
        )
        if last_activity is not None and now - last_activity < limit:
            continue
        condition = (
            (table.c.sender_id == conversation.sender_id)
            & (table.c.state == "operator")
            & (table.c.operator == conversation.operator)
        )
        if conversation.taken_at is None:
            condition = condition & table.c.taken_at.is_(None)
        else:
            condition = condition & (table.c.taken_at == conversation.taken_at)
        result = session.execute(
            update(table)
            .where(condition)
            .values(
                state="menunggu",
                operator=None,
                taken_at=None,
                queued_at=func.coalesce(table.c.queued_at, now),
                updated_at=now,
            )
            .execution_options(synchronize_session=False)
        )
        if result.rowcount == 1:
            expired.append(conversation.sender_id)
    if expired:
        session.expire_all()
        logger.info("%d idle held conversation(s) returned to the queue", len(expired))
    return expired


def waiting_since(conversation: Conversation) -> dt.timedelta | None:
    """How long a queued conversation has waited."""
    if conversation.state != "menunggu" or conversation.queued_at is None:
        return None
    return utcnow() - as_utc(conversation.queued_at)
