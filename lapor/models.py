"""SQLAlchemy models of the complaint core.

Nothing is ever deleted: a complaint's life is its status history.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
)
from sqlalchemy.orm import declarative_base, relationship

Base = declarative_base()

STATUSES = (
    "baru",
    "diverifikasi",
    "didisposisikan",
    "ditindaklanjuti",
    "selesai",
    "ditolak",
)

STATUS_LABELS = {
    "baru": "Baru (menunggu verifikasi petugas)",
    "diverifikasi": "Diverifikasi petugas",
    "didisposisikan": "Diteruskan ke unit terkait",
    "ditindaklanjuti": "Sedang ditindaklanjuti",
    "selesai": "Selesai",
    "ditolak": "Ditolak",
}


def utcnow() -> dt.datetime:
    """Timezone-aware current UTC time."""
    return dt.datetime.now(dt.timezone.utc)


def as_utc(value: dt.datetime | None) -> dt.datetime | None:
    """A stored time as an aware UTC datetime (SQLite gives them back naive)."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=dt.timezone.utc)
    return value


class Complaint(Base):
    """A citizen's complaint (aduan), filed by the bot or an operator."""

    __tablename__ = "complaints"

    id = Column(Integer, primary_key=True)
    ticket = Column(String(9), nullable=False, unique=True, index=True)
    kategori = Column(String(20), nullable=False, index=True)
    kecamatan_code = Column(String(8), nullable=True, index=True)
    desa_code = Column(String(13), nullable=True)
    detail = Column(Text, nullable=False)
    lat = Column(Float, nullable=True)
    lon = Column(Float, nullable=True)

    reporter_id = Column(String(64), nullable=False, index=True)
    reporter_phone = Column(String(20), nullable=True)
    reporter_name = Column(String(80), nullable=True)
    anonymous = Column(Boolean, nullable=False, default=False)
    confidential = Column(Boolean, nullable=False, default=False)
    channel = Column(String(20), nullable=False)

    status = Column(String(20), nullable=False, default="baru", index=True)
    opd_code = Column(String(40), nullable=True, index=True)
    camat_code = Column(String(20), nullable=True, index=True)
    verify_due = Column(Date, nullable=False)
    # Workflow (lapor.workflow, migration 0004); all nullable.
    disposed_at = Column(DateTime(timezone=True), nullable=True)
    respond_due = Column(Date, nullable=True)
    responded_at = Column(DateTime(timezone=True), nullable=True)
    target_date = Column(Date, nullable=True)
    resolved_at = Column(DateTime(timezone=True), nullable=True)
    closed_at = Column(DateTime(timezone=True), nullable=True)
    merged_into_id = Column(ForeignKey("complaints.id"), nullable=True, index=True)
    # The citizen's message that confirmed the filing (migration 0005): the same
    # message worked on again after a crash finds this complaint, not a new one.
    source_message_id = Column(String(255), nullable=True, unique=True, index=True)

    created_at = Column(DateTime(timezone=True), nullable=False, default=utcnow)
    updated_at = Column(
        DateTime(timezone=True), nullable=False, default=utcnow, onupdate=utcnow
    )

    history = relationship(
        "StatusChange",
        back_populates="complaint",
        order_by="StatusChange.id",
        cascade="save-update, merge",
    )
    attachments = relationship(
        "Attachment", back_populates="complaint", order_by="Attachment.id"
    )


class StatusChange(Base):
    """One step of a complaint's life: who, when, from what to what, and why."""

    __tablename__ = "status_changes"

    id = Column(Integer, primary_key=True)
    complaint_id = Column(ForeignKey("complaints.id"), nullable=False, index=True)
    from_status = Column(String(20), nullable=True)
    to_status = Column(String(20), nullable=False)
    actor = Column(String(80), nullable=False)
    note = Column(Text, nullable=True)
    created_at = Column(DateTime(timezone=True), nullable=False, default=utcnow)

    complaint = relationship("Complaint", back_populates="history")


class Attachment(Base):
    """A photo, document, video or voice note sent by a citizen.

    It is stored when it arrives (``complaint_id`` empty) and attached to the
    complaint the citizen files around that time.
    """

    __tablename__ = "attachments"

    id = Column(Integer, primary_key=True)
    complaint_id = Column(ForeignKey("complaints.id"), nullable=True, index=True)
    sender_id = Column(String(64), nullable=False, index=True)
    kind = Column(String(20), nullable=False)  # image | document | video | audio
    mime_type = Column(String(100), nullable=True)
    path = Column(String(500), nullable=False)
    size = Column(Integer, nullable=True)
    caption = Column(Text, nullable=True)
    source_id = Column(String(200), nullable=True)  # e.g. the WhatsApp media id
    created_at = Column(DateTime(timezone=True), nullable=False, default=utcnow)

    complaint = relationship("Complaint", back_populates="attachments")


HANDOFF_STATES = ("bot", "menunggu", "operator")


class Conversation(Base):
    """Who holds a citizen's conversation: the bot, the queue or an operator."""

    __tablename__ = "conversations"

    sender_id = Column(String(64), primary_key=True)
    state = Column(String(12), nullable=False, default="bot", index=True)
    reason = Column(String(40), nullable=True)
    urgent = Column(Boolean, nullable=False, default=False)
    operator = Column(String(80), nullable=True)
    queued_at = Column(DateTime(timezone=True), nullable=True)
    taken_at = Column(DateTime(timezone=True), nullable=True)
    last_citizen_message_at = Column(DateTime(timezone=True), nullable=True)
    meta = Column(JSON, nullable=True)
    updated_at = Column(
        DateTime(timezone=True), nullable=False, default=utcnow, onupdate=utcnow
    )


MESSAGE_KINDS = (
    "tindak_lanjut",  # a unit's follow-up (with a target date)
    "hasil",  # the result note when marked selesai (optional photo)
    "balasan_warga",  # the citizen's free-text reply to an update
    "konfirmasi",  # the citizen's "sudah"/"belum" after selesai
    "catatan",  # an internal note (merge, disposition details)
    "pemberitahuan",  # a notification to the citizen (sent or not)
)


class ComplaintMessage(Base):
    """Something said about a complaint besides a status change.

    Follow-ups, the citizen's replies and confirmations, and the record of every
    notification sent (or not sent) to the citizen. Nothing is deleted.
    """

    __tablename__ = "complaint_messages"

    id = Column(Integer, primary_key=True)
    complaint_id = Column(ForeignKey("complaints.id"), nullable=False, index=True)
    kind = Column(String(20), nullable=False, index=True)
    author = Column(String(80), nullable=False)
    author_role = Column(String(12), nullable=False)  # warga|opd|operator|admin|sistem
    unit_code = Column(String(40), nullable=True)
    text = Column(Text, nullable=True)
    target_date = Column(Date, nullable=True)
    attachment_id = Column(ForeignKey("attachments.id"), nullable=True)
    status_change_id = Column(ForeignKey("status_changes.id"), nullable=True)
    delivery = Column(String(12), nullable=True)  # sent | failed | not_sent
    meta = Column(JSON, nullable=True)
    created_at = Column(DateTime(timezone=True), nullable=False, default=utcnow)
