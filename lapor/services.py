"""Complaint services: filing, lookup and status changes.

Callers pass a SQLAlchemy session (see :func:`lapor.db.session_scope`); these
functions never commit on their own except where a retry needs it.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from lapor import deadlines, tickets
from lapor.models import Attachment, Complaint, StatusChange, utcnow

logger = logging.getLogger(__name__)

KATEGORI = ("pemerintahan", "pembangunan", "kesehatan")
# Media sent this long before filing still belongs to the complaint being filed.
ATTACH_WINDOW = dt.timedelta(hours=2)
_TICKET_ATTEMPTS = 8


@dataclass
class NewComplaint:
    """What the intake collected."""

    kategori: str
    detail: str
    reporter_id: str
    channel: str
    kecamatan_code: str | None = None
    desa_code: str | None = None
    reporter_name: str | None = None
    reporter_phone: str | None = None
    anonymous: bool = False
    confidential: bool = False
    lat: float | None = None
    lon: float | None = None
    actor: str = "bot"
    # The message that confirmed it (a WhatsApp wamid, a Rasa message id): filing
    # again with the same id returns the complaint already filed.
    source_message_id: str | None = None


@dataclass(frozen=True)
class FiledComplaint:
    """What the citizen is told after filing."""

    ticket: str
    kategori: str
    opd_code: str
    opd_name: str
    camat_code: str | None
    camat_name: str | None
    verify_due: dt.date
    attachments: int


def normalise_phone(sender_id: str) -> str | None:
    """The E.164 form of an Indonesian number, or None when it is not one."""
    import lokal

    info = lokal.parse_phone(sender_id)
    return info.e164 if getattr(info, "valid", False) else None


def file_complaint(session: Session, new: NewComplaint) -> FiledComplaint:
    """Store a complaint with a fresh ticket, routed, with status ``baru``.

    The ticket is random; on the (rare) collision the insert is retried with
    another ticket inside a savepoint, so concurrent filings never share one.

    With ``new.source_message_id`` the filing is idempotent: a message worked on
    again (a turn re-run after its worker died before Rasa saved the
    conversation) gets the complaint it filed the first time.
    """
    from lapor import routing, wilayah

    if new.source_message_id:
        earlier = _filed_by(session, new.source_message_id)
        if earlier is not None:
            logger.info("filing repeated for %s; ticket kept", earlier.ticket)
            return earlier

    if new.kategori not in KATEGORI:
        raise ValueError(f"unknown kategori {new.kategori!r}")
    if not new.detail or not new.detail.strip():
        raise ValueError("a complaint needs details")
    if new.desa_code and not new.kecamatan_code:
        new.kecamatan_code = wilayah.place(new.desa_code).kecamatan_code

    route = routing.route(new.kategori, new.detail, new.kecamatan_code)
    now = utcnow()
    complaint = None
    for _ in range(_TICKET_ATTEMPTS):
        candidate = Complaint(
            ticket=tickets.new_ticket(),
            kategori=new.kategori,
            kecamatan_code=new.kecamatan_code,
            desa_code=new.desa_code,
            detail=new.detail.strip(),
            lat=new.lat,
            lon=new.lon,
            reporter_id=new.reporter_id,
            reporter_phone=new.reporter_phone or normalise_phone(new.reporter_id),
            reporter_name=None if new.anonymous else new.reporter_name,
            anonymous=new.anonymous,
            confidential=new.confidential,
            channel=new.channel,
            source_message_id=new.source_message_id,
            status="baru",
            opd_code=route.opd.code,
            camat_code=route.camat.code if route.camat else None,
            verify_due=deadlines.verify_due(now),
            created_at=now,
            updated_at=now,
        )
        try:
            with session.begin_nested():
                session.add(candidate)
                session.flush()
        except IntegrityError:
            if new.source_message_id:
                earlier = _filed_by(session, new.source_message_id)
                if earlier is not None:  # filed at the same moment elsewhere
                    return earlier
            logger.warning("ticket collision, drawing another ticket")
            continue
        complaint = candidate
        break
    if complaint is None:
        raise RuntimeError("could not draw a unique ticket")

    session.add(
        StatusChange(
            complaint_id=complaint.id,
            from_status=None,
            to_status="baru",
            actor=new.actor,
            note=f"Diajukan melalui {new.channel}",
            created_at=now,
        )
    )
    attached = attach_pending_media(session, complaint, now)
    logger.info(
        "filed %s kategori=%s opd=%s kecamatan=%s",
        complaint.ticket,
        complaint.kategori,
        complaint.opd_code,
        complaint.kecamatan_code,
    )
    return FiledComplaint(
        ticket=complaint.ticket,
        kategori=complaint.kategori,
        opd_code=route.opd.code,
        opd_name=route.opd.name,
        camat_code=route.camat.code if route.camat else None,
        camat_name=route.camat.name if route.camat else None,
        verify_due=complaint.verify_due,
        attachments=attached,
    )


def _filed_by(session: Session, source_message_id: str) -> FiledComplaint | None:
    """The complaint filed by that message, as the citizen is told of it."""
    from lapor import routing

    complaint = session.scalars(
        select(Complaint).where(Complaint.source_message_id == source_message_id)
    ).first()
    if complaint is None:
        return None
    return FiledComplaint(
        ticket=complaint.ticket,
        kategori=complaint.kategori,
        opd_code=complaint.opd_code or "",
        opd_name=routing.unit_name(complaint.opd_code) if complaint.opd_code else "",
        camat_code=complaint.camat_code,
        camat_name=(
            routing.unit_name(complaint.camat_code) if complaint.camat_code else None
        ),
        verify_due=complaint.verify_due,
        attachments=len(complaint.attachments),
    )


def attach_pending_media(
    session: Session, complaint: Complaint, now: dt.datetime | None = None
) -> int:
    """Attach the reporter's recent unattached media to ``complaint``."""
    now = now or utcnow()
    pending = session.scalars(
        select(Attachment).where(
            Attachment.sender_id == complaint.reporter_id,
            Attachment.complaint_id.is_(None),
            Attachment.created_at >= now - ATTACH_WINDOW,
        )
    ).all()
    for item in pending:
        item.complaint_id = complaint.id
    return len(pending)


def latest_complaint_of(
    session: Session, reporter_id: str, within: dt.timedelta
) -> Complaint | None:
    """The reporter's newest complaint filed within ``within``, if any."""
    return session.scalars(
        select(Complaint)
        .where(
            Complaint.reporter_id == reporter_id,
            Complaint.created_at >= utcnow() - within,
        )
        .order_by(Complaint.id.desc())
        .limit(1)
    ).first()


def find_by_ticket(session: Session, ticket: str) -> Complaint | None:
    """The complaint with this (normalised) ticket."""
    return session.scalars(select(Complaint).where(Complaint.ticket == ticket)).first()


def complaints_of(
    session: Session, reporter_id: str, limit: int = 5
) -> list[Complaint]:
    """The reporter's newest complaints, newest first."""
    return list(
        session.scalars(
            select(Complaint)
            .where(Complaint.reporter_id == reporter_id)
            .order_by(Complaint.id.desc())
            .limit(limit)
        )
    )


def change_status(
    session: Session, complaint: Complaint, to_status: str, actor: str, note: str | None
) -> StatusChange:
    """Record a status change (the workflow's role rules live with the console)."""
    change = StatusChange(
        complaint_id=complaint.id,
        from_status=complaint.status,
        to_status=to_status,
        actor=actor,
        note=note,
    )
    complaint.status = to_status
    session.add(change)
    return change
