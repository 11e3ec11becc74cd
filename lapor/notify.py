"""Tell the citizen of every step of their complaint, on WhatsApp.

For each status change and each follow-up, :func:`notify_change` sends a short
polite message through :func:`lapor.whatsapp.outbound.send_update`: free text
inside the 24-hour window, the approved template (params: ticket, status label,
short note) outside it. After selesai, inside the window, the message carries two
reply buttons ("Sudah beres" / "Belum") whose ids are
``/konfirmasi_selesai{"tiket": ..., "jawab": "sudah"|"belum"}``; outside the
window the template's note asks the citizen to reply "sudah" or "belum".

Only complaints filed on WhatsApp are notified; for others the notification is
recorded as ``not_sent``. Every notification is recorded as a
:class:`~lapor.models.ComplaintMessage` of kind ``pemberitahuan`` (with its
delivery and the ``wa_outbound`` ids). Anonymous complaints are notified too:
anonymity hides the reporter from the OPD, not from the service.

Call it after the workflow change is committed: the sender stores every outgoing
message in its own transaction, and SQLite allows one writer at a time. From
sync code (Flask) use :func:`notify_change`; from async code (Rasa actions)
``await`` :func:`notify_change_async`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from lapor import deadlines, workflow
from lapor.models import (
    STATUS_LABELS,
    Complaint,
    ComplaintMessage,
    StatusChange,
    utcnow,
)

logger = logging.getLogger(__name__)

CONFIRM_INTENT = "konfirmasi_selesai"
BUTTON_SUDAH = "Sudah beres"
BUTTON_BELUM = "Belum"
SHORT_NOTE_LIMIT = 200
AUTHOR = "system"


@dataclass(frozen=True)
class Notice:
    """One message to the citizen about their complaint."""

    to: str
    text: str
    template_params: tuple[str, str, str]
    buttons: list[dict[str, str]] = field(default_factory=list)


def confirm_payload(ticket: str, answer: str) -> str:
    """The button id (Rasa payload) of a "sudah"/"belum" answer."""
    return f"/{CONFIRM_INTENT}{json.dumps({'tiket': ticket, 'jawab': answer})}"


def confirm_buttons(ticket: str) -> list[dict[str, str]]:
    """The two reply buttons sent after selesai."""
    return [
        {"title": BUTTON_SUDAH, "payload": confirm_payload(ticket, "sudah")},
        {"title": BUTTON_BELUM, "payload": confirm_payload(ticket, "belum")},
    ]


def _short(text: str | None, limit: int = SHORT_NOTE_LIMIT) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _units(complaint: Complaint) -> str:
    names = workflow.unit_names(complaint)
    return workflow.join_units(names) if names else "unit terkait"


def _date(day) -> str:
    return deadlines.format_date(day) if day else ""


def build_notice(
    complaint: Complaint, change: StatusChange | ComplaintMessage
) -> Notice:
    """The message for a status change or a follow-up (no I/O besides routing names).

    Args:
        complaint: The complaint (with its current fields).
        change: A StatusChange, or a ComplaintMessage of kind ``tindak_lanjut``.
    """
    ticket = complaint.ticket
    units = _units(complaint)
    buttons: list[dict[str, str]] = []
    if isinstance(change, ComplaintMessage):
        status = "ditindaklanjuti"
        head = f"Kabar terbaru laporan {ticket} dari {units}:"
        text = f"{head}\n{_short(change.text, 600)}"
        if change.target_date:
            text += f"\nTarget selesai: {_date(change.target_date)}."
        note = f"Tindak lanjut: {_short(change.text, 120)}"
        if change.target_date:
            note += f" Target: {_date(change.target_date)}."
    else:
        status = change.to_status
        note_text = change.note
        if change.from_status == status == "selesai":  # closed by close_quiet
            text = (
                f"Laporan {ticket} kami tutup karena belum ada tanggapan dari "
                "Bapak/Ibu selama 10 hari kerja. Terima kasih atas laporannya."
            )
            note = "Laporan ditutup karena tidak ada tanggapan pelapor."
        elif status == "diverifikasi" and change.from_status == "baru":
            text = (
                f"Laporan {ticket} sudah kami periksa dan segera kami teruskan ke "
                "unit yang berwenang. Terima kasih atas kesabarannya."
            )
            note = "Laporan sudah diperiksa petugas."
        elif status == "diverifikasi":  # sent back by a unit
            text = (
                f"Laporan {ticket} sedang kami teruskan ulang ke unit yang tepat. "
                "Mohon kesabarannya, Bapak/Ibu."
            )
            note = "Laporan sedang diteruskan ulang ke unit yang tepat."
        elif status == "didisposisikan":
            due = _date(complaint.respond_due)
            text = f"Laporan {ticket} sudah diteruskan ke {units}."
            if due:
                text += f" Tanggapan pertama paling lambat {due}."
            if change.actor == workflow.CITIZEN:
                text = f"Laporan {ticket} kami buka kembali. " + text
            note = f"Diteruskan ke {units}." + (
                f" Tanggapan paling lambat {due}." if due else ""
            )
        elif status == "ditindaklanjuti":
            if change.actor == workflow.CITIZEN:
                text = (
                    f"Laporan {ticket} kami buka kembali dan kami sampaikan lagi "
                    f"ke {units} untuk ditindaklanjuti."
                )
                note = f"Dibuka kembali, diteruskan lagi ke {units}."
            else:
                text = f"Laporan {ticket} sedang ditindaklanjuti oleh {units}:\n"
                text += _short(note_text, 600)
                note = f"{units}: {_short(note_text, 120)}"
                if complaint.target_date:
                    text += f"\nTarget selesai: {_date(complaint.target_date)}."
                    note += f" Target: {_date(complaint.target_date)}."
        elif status == "selesai":
            text = (
                f"Laporan {ticket} sudah selesai ditangani oleh {units}.\n"
                f"Hasil: {_short(note_text, 600)}\n\n"
                "Apakah masalahnya sudah beres, Bapak/Ibu?"
            )
            note = (
                f"Hasil: {_short(note_text, 110)} Mohon balas SUDAH bila beres "
                "atau BELUM bila belum."
            )
            buttons = confirm_buttons(ticket)
        elif status == "ditolak" and complaint.merged_into_id is not None:
            text = (
                f"Laporan {ticket} kami gabungkan dengan laporan lain tentang masalah "
                f"yang sama ({_short(note_text).replace('digabung ke ', '')}), agar "
                "ditangani sekaligus. Terima kasih atas laporannya."
            )
            note = _short(note_text)
        elif status == "ditolak":
            text = (
                f"Mohon maaf, laporan {ticket} tidak dapat kami proses.\n"
                f"Alasan: {_short(note_text, 600)}"
            )
            note = f"Alasan: {_short(note_text, 150)}"
        else:  # pragma: no cover - every status is handled above
            text = f"Status laporan {ticket}: {STATUS_LABELS.get(status, status)}."
            note = ""
    label = STATUS_LABELS.get(status, status)
    return Notice(
        to=complaint.reporter_id,
        text=text,
        template_params=(ticket, label, _short(note) or label),
        buttons=buttons,
    )


async def _window_open(to: str) -> bool:
    from lapor import db
    from lapor.whatsapp import outbound

    def check() -> bool:
        with db.session_scope() as session:
            return outbound.window_open(session, to)

    return await asyncio.to_thread(check)


async def send_notice(notice: Notice) -> list[Any]:
    """Send a notice: text (or buttons) in the window, the template outside it."""
    from lapor.whatsapp import outbound

    if not notice.buttons:
        return await outbound.send_update(
            notice.to, notice.text, list(notice.template_params), author=AUTHOR
        )
    if await _window_open(notice.to):
        results = await outbound.send_buttons(
            notice.to, notice.text, notice.buttons, author=AUTHOR
        )
        if not any(r.error_code == outbound.REENGAGEMENT_ERROR for r in results):
            return results
    name, language = outbound.template_settings()
    return await outbound.send_template(
        notice.to, name, language, list(notice.template_params), author=AUTHOR
    )


def _record(
    session: Session,
    complaint: Complaint,
    change: StatusChange | ComplaintMessage,
    notice: Notice | None,
    delivery: str,
    meta: dict[str, Any],
) -> ComplaintMessage:
    row = ComplaintMessage(
        complaint_id=complaint.id,
        kind="pemberitahuan",
        author=AUTHOR,
        author_role=workflow.SYSTEM,
        text=notice.text if notice else None,
        status_change_id=change.id if isinstance(change, StatusChange) else None,
        delivery=delivery,
        meta=meta,
        created_at=utcnow(),
    )
    if isinstance(change, ComplaintMessage):
        row.meta = {**meta, "message_id": change.id}
    session.add(row)
    session.flush()
    return row


def _outcome(
    session: Session,
    complaint: Complaint,
    change: StatusChange | ComplaintMessage,
    notice: Notice,
    results: list[Any] | None,
    error: BaseException | None,
) -> ComplaintMessage:
    if error is not None:
        logger.error("notify %s failed: %s", complaint.ticket, type(error).__name__)
        meta: dict[str, Any] = {"error": type(error).__name__}
        return _record(session, complaint, change, notice, "failed", meta)
    results = results or []
    ok = bool(results) and all(r.status == "sent" for r in results)
    meta = {"outbound_ids": [r.outbound_id for r in results]}
    return _record(session, complaint, change, notice, "sent" if ok else "failed", meta)


def _not_sent(
    session: Session, complaint: Complaint, change: StatusChange | ComplaintMessage
) -> ComplaintMessage:
    meta = {"reason": f"channel {complaint.channel}"}
    return _record(session, complaint, change, None, "not_sent", meta)


async def notify_change_async(
    session: Session, complaint: Complaint, change: StatusChange | ComplaintMessage
) -> ComplaintMessage:
    """Notify the citizen of ``change`` and record it (see the module notes).

    Returns:
        The ``pemberitahuan`` record (``delivery``: sent, failed or not_sent).
    """
    if complaint.channel != "whatsapp":
        return _not_sent(session, complaint, change)
    notice = build_notice(complaint, change)
    try:
        results = await send_notice(notice)
    except Exception as exc:  # noqa: BLE001 - never lose the workflow change
        return _outcome(session, complaint, change, notice, None, exc)
    return _outcome(session, complaint, change, notice, results, None)


def _run(coro_factory):
    """Run a coroutine from sync code, also when this thread has a running loop."""
    from lapor.whatsapp.graph import close_client

    async def wrapped():
        try:
            return await coro_factory()
        finally:
            await close_client()

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(wrapped())
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = asyncio.run(wrapped())
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller
            box["error"] = exc

    thread = threading.Thread(target=target, name="lapor-notify")
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["value"]


def notify_change(
    session: Session, complaint: Complaint, change: StatusChange | ComplaintMessage
) -> ComplaintMessage:
    """Sync wrapper of :func:`notify_change_async` (Flask request handlers).

    Runs the async sender on a private event loop (in a helper thread when the
    calling thread already runs one). The record is added to ``session``; the
    sending itself uses separate transactions.
    """
    if complaint.channel != "whatsapp":
        return _not_sent(session, complaint, change)
    notice = build_notice(complaint, change)
    try:
        results = _run(lambda: send_notice(notice))
    except Exception as exc:  # noqa: BLE001 - never lose the workflow change
        return _outcome(session, complaint, change, notice, None, exc)
    return _outcome(session, complaint, change, notice, results, None)
