"""Tables of the operator console: users, internal notes, canned replies, events."""

from __future__ import annotations

from sqlalchemy import Boolean, Column, DateTime, Integer, String, Text

from lapor.models import Base, utcnow

ROLES = ("operator", "opd", "admin")
ROLE_LABELS = {"operator": "Operator", "opd": "Penghubung OPD", "admin": "Admin"}


class ConsoleUser(Base):
    """A person who logs in to the console."""

    __tablename__ = "console_users"

    id = Column(Integer, primary_key=True)
    username = Column(String(80), nullable=False, unique=True, index=True)
    full_name = Column(String(120), nullable=True)
    password_hash = Column(String(256), nullable=False)
    role = Column(String(12), nullable=False, default="operator")
    opd_code = Column(String(40), nullable=True)  # the unit of an OPD liaison
    active = Column(Boolean, nullable=False, default=True)
    created_at = Column(DateTime(timezone=True), nullable=False, default=utcnow)
    last_login_at = Column(DateTime(timezone=True), nullable=True)
    last_seen_at = Column(DateTime(timezone=True), nullable=True)


class InternalNote(Base):
    """A note on a conversation for operators only (never sent to the citizen)."""

    __tablename__ = "console_notes"

    id = Column(Integer, primary_key=True)
    sender_id = Column(String(64), nullable=False, index=True)
    author = Column(String(80), nullable=False)
    text = Column(Text, nullable=False)
    created_at = Column(DateTime(timezone=True), nullable=False, default=utcnow)


class CannedReply(Base):
    """A ready reply an operator can insert and edit before sending."""

    __tablename__ = "console_canned_replies"

    id = Column(Integer, primary_key=True)
    title = Column(String(80), nullable=False)
    text = Column(Text, nullable=False)
    active = Column(Boolean, nullable=False, default=True)
    created_at = Column(DateTime(timezone=True), nullable=False, default=utcnow)


class ConversationEvent(Base):
    """What happened to a conversation in the console (taken, released, expired...)."""

    __tablename__ = "console_events"

    id = Column(Integer, primary_key=True)
    sender_id = Column(String(64), nullable=False, index=True)
    action = Column(String(30), nullable=False)  # ambil|kembali|habis_waktu|laporan
    actor = Column(String(80), nullable=False)
    note = Column(Text, nullable=True)
    created_at = Column(DateTime(timezone=True), nullable=False, default=utcnow)
