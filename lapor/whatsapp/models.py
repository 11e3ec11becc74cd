"""Tables of the WhatsApp channel: the transcript (inbound + outbound) and its state.

``wa_inbound`` and ``wa_outbound`` together are a conversation's transcript:
every citizen message (any type, with its stored media) and every message sent
to the citizen (bot, operator or system), in order, with delivery statuses.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Column,
    DateTime,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)

from lapor.models import Base, utcnow

# Processing states of an inbound message.
RECEIVED = "received"  # persisted by the webhook, not yet worked on
PROCESSING = "processing"  # claimed by a worker
HANDLED = "handled"  # handed to the bot (or answered by the channel)
SILENCED = "silenced"  # conversation held by an operator: stored only
IGNORED = "ignored"  # nothing to do (reaction, ...)
ERROR = "error"  # processing failed; see ``error``


class WaInbound(Base):
    """One message received from a citizen (unique by its WhatsApp message id)."""

    __tablename__ = "wa_inbound"

    id = Column(Integer, primary_key=True)
    wamid = Column(String(255), nullable=False, unique=True)
    sender_id = Column(String(64), nullable=False, index=True)
    msg_type = Column(String(30), nullable=False)
    text = Column(Text, nullable=True)  # text / caption / reply title, for the console
    payload = Column(JSON, nullable=False)  # the message object as Meta sent it
    sent_at = Column(DateTime(timezone=True), nullable=True)  # Meta's timestamp
    received_at = Column(DateTime(timezone=True), nullable=False, default=utcnow)
    state = Column(String(12), nullable=False, default=RECEIVED, index=True)
    claimed_at = Column(DateTime(timezone=True), nullable=True)
    # The process that claimed it ("host:pid:token", see inbound.worker_identity):
    # a claim of a process that has died is taken over at once.
    claimed_by = Column(String(120), nullable=True)
    handled_at = Column(DateTime(timezone=True), nullable=True)
    bot_text = Column(Text, nullable=True)  # what was handed to Rasa
    attachment_id = Column(ForeignKey("attachments.id"), nullable=True)
    media_path = Column(String(500), nullable=True)
    error = Column(Text, nullable=True)


class WaOutbound(Base):
    """One message sent (or to be sent) to a citizen; stored before sending."""

    __tablename__ = "wa_outbound"

    id = Column(Integer, primary_key=True)
    recipient_id = Column(String(64), nullable=False, index=True)
    author = Column(String(80), nullable=False, default="bot")
    kind = Column(String(20), nullable=False)  # text|interactive|template|image|...
    text = Column(Text, nullable=True)  # readable text, for the console
    body = Column(JSON, nullable=False)  # the Graph API request body
    status = Column(String(12), nullable=False, default="pending", index=True)
    wamid = Column(String(255), nullable=True, unique=True)
    attempts = Column(Integer, nullable=False, default=0)
    error_code = Column(Integer, nullable=True)
    error_title = Column(Text, nullable=True)
    created_at = Column(DateTime(timezone=True), nullable=False, default=utcnow)
    # When its sender took it (stored, or taken over by outbound.resend_abandoned):
    # a row still pending long after that was left by a process that died.
    claimed_at = Column(DateTime(timezone=True), nullable=True)
    sent_at = Column(DateTime(timezone=True), nullable=True)
    delivered_at = Column(DateTime(timezone=True), nullable=True)
    read_at = Column(DateTime(timezone=True), nullable=True)
    failed_at = Column(DateTime(timezone=True), nullable=True)


class WaStatusEvent(Base):
    """A status webhook (sent/delivered/read/failed), kept as received."""

    __tablename__ = "wa_status_events"
    __table_args__ = (UniqueConstraint("wamid", "status", name="uq_wa_status"),)

    id = Column(Integer, primary_key=True)
    wamid = Column(String(255), nullable=False, index=True)
    status = Column(String(20), nullable=False)
    recipient_id = Column(String(64), nullable=True)
    error_code = Column(Integer, nullable=True)
    error_title = Column(Text, nullable=True)
    occurred_at = Column(DateTime(timezone=True), nullable=True)
    received_at = Column(DateTime(timezone=True), nullable=False, default=utcnow)


class WaMenu(Base):
    """The last numbered menu sent to a citizen (more than 10 choices).

    A reply of just a number is translated into the matching payload.
    """

    __tablename__ = "wa_menus"

    sender_id = Column(String(64), primary_key=True)
    payloads = Column(JSON, nullable=False)  # list of payload strings, 1-based
    created_at = Column(DateTime(timezone=True), nullable=False, default=utcnow)
