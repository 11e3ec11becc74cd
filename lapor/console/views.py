"""Queue, conversation, replies, notes, filing on behalf, media and the OPD page."""

from __future__ import annotations

import functools
import hashlib
import logging
import mimetypes
import threading
import time
from pathlib import Path
from typing import Any

from flask import (
    Blueprint,
    Flask,
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from flask_login import current_user, login_required
from sqlalchemy import select
from sqlalchemy.orm import Session

from lapor import db, handoff, rasa_api, services
from lapor.console.auth import roles_required
from lapor.console.models import CannedReply, ConversationEvent, InternalNote
from lapor.console.util import (
    DELIVERY_LABELS,
    REASON_LABELS,
    STATE_LABELS,
    duration,
    mask_phone,
    national_number,
    run_async,
    wib,
)
from lapor.models import Complaint, Conversation, as_utc, utcnow

logger = logging.getLogger(__name__)

bp = Blueprint("views", __name__)

TRANSCRIPT_LIMIT = 500
TAKE_GREETING = (
    "Halo, saya {name} dari Lapor Kand4. Percakapan ini sekarang dilayani oleh "
    "petugas. Silakan sampaikan keperluan Bapak/Ibu, kami siap membantu."
)
RELEASE_MESSAGE = (
    "Terima kasih, percakapan dengan petugas telah selesai. Asisten otomatis "
    "Lapor Kand4 siap membantu kembali."
)
OPERATOR_ROLES = ("operator", "admin")
KATEGORI_CHOICES = (
    ("pemerintahan", "Pemerintahan"),
    ("pembangunan", "Pembangunan"),
    ("kesehatan", "Kesehatan"),
)


# ----------------------------------------------------------------------- helpers


def _wants_json() -> bool:
    return request.headers.get("X-Requested-With") == "fetch"


def _event(
    session: Session, sender_id: str, action: str, actor: str, note: str | None = None
):
    session.add(
        ConversationEvent(
            sender_id=sender_id,
            action=action,
            actor=actor,
            note=note,
            created_at=utcnow(),
        )
    )


def expire_idle_now(app: Flask) -> list[str]:
    """Run :func:`handoff.expire_idle` and record who went back to the queue."""
    minutes = app.config["IDLE_MINUTES"]
    with db.session_scope() as s:
        holders = {
            c.sender_id: c.operator
            for c in s.scalars(
                select(Conversation).where(Conversation.state == "operator")
            )
        }
        expired = handoff.expire_idle(s, minutes)
        for sender_id in expired:
            _event(
                s,
                sender_id,
                "habis_waktu",
                "sistem",
                f"Tidak ada balasan dari {holders.get(sender_id) or 'petugas'} selama "
                f"{minutes:g} menit: kembali ke antrean.",
            )
    return expired


_expire_lock = threading.Lock()


def _expire_on_poll() -> None:
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    every = app.config["EXPIRE_ON_POLL_SECONDS"]
    with _expire_lock:
        last = app.extensions.get("lapor_expired_at", 0.0)
        if time.monotonic() - last < every:
            return
        app.extensions["lapor_expired_at"] = time.monotonic()
    try:
        expire_idle_now(app)
    except Exception:
        logger.exception("expire_idle failed")


def _last_texts(session: Session, sender_ids: list[str]) -> dict[str, str]:
    from lapor.whatsapp.models import WaInbound

    if not sender_ids:
        return {}
    out: dict[str, str] = {}
    rows = session.execute(
        select(WaInbound.sender_id, WaInbound.msg_type, WaInbound.text)
        .where(WaInbound.sender_id.in_(sender_ids))
        .order_by(WaInbound.id.desc())
        .limit(20 * len(sender_ids))
    )
    for sender_id, msg_type, text in rows:
        if sender_id in out:
            continue
        label = text or _TYPE_LABELS.get(msg_type, msg_type)
        out[sender_id] = (label[:90] + "…") if len(label) > 90 else label
    return out


_TYPE_LABELS = {
    "image": "[foto]",
    "audio": "[pesan suara]",
    "video": "[video]",
    "document": "[dokumen]",
    "location": "[lokasi]",
    "sticker": "[stiker]",
}


def _entry_json(
    entry: handoff.QueueEntry, last_texts: dict[str, str]
) -> dict[str, Any]:
    held_seconds = None
    if entry.taken_at is not None:
        held_seconds = int((utcnow() - entry.taken_at).total_seconds())
    return {
        "key": entry.sender_id,
        "url": url_for("views.conversation", sender_id=entry.sender_id),
        "take_url": url_for("views.take", sender_id=entry.sender_id),
        "number": mask_phone(entry.sender_id),
        "reason": REASON_LABELS.get(entry.reason or "", entry.reason or "-"),
        "urgent": entry.urgent,
        "operator": entry.operator,
        "waiting_seconds": entry.waiting_seconds,
        "waiting": duration(entry.waiting_seconds),
        "queued_at": wib(entry.queued_at),
        "held": duration(held_seconds),
        "last_text": last_texts.get(entry.sender_id, ""),
    }


@functools.lru_cache(maxsize=2048)
def _place_of_point(lat: float, lon: float) -> str | None:
    from lapor import wilayah

    try:
        match = wilayah.locate_point(lat, lon)
    except Exception:  # noqa: BLE001
        return None
    if match.status == "ok" and match.desa is not None:
        return wilayah.display_name(match.desa.code)
    if match.status == "kota":
        return f"{match.kota_name or 'Kota Probolinggo'} (Kota Probolinggo)"
    if match.status == "outside":
        return "Di luar Kabupaten Probolinggo"
    return None


def _conversation_or_404(session: Session, sender_id: str) -> Conversation:
    from lapor.whatsapp.models import WaInbound

    conversation = session.get(Conversation, sender_id)
    if conversation is not None:
        return conversation
    known = session.scalar(
        select(WaInbound.id).where(WaInbound.sender_id == sender_id).limit(1)
    ) or session.scalar(
        select(Complaint.id).where(Complaint.reporter_id == sender_id).limit(1)
    )
    if not known:
        abort(404)
    return handoff.get_or_create(session, sender_id)


def transcript(session: Session, sender_id: str) -> list[dict[str, Any]]:
    """Citizen, bot and operator messages, notes and handoff events, in order."""
    from lapor.models import Attachment
    from lapor.whatsapp.models import WaInbound, WaOutbound

    items: list[dict[str, Any]] = []
    inbound = session.scalars(
        select(WaInbound)
        .where(WaInbound.sender_id == sender_id)
        .order_by(WaInbound.id.desc())
        .limit(TRANSCRIPT_LIMIT)
    ).all()
    attachment_ids = [r.attachment_id for r in inbound if r.attachment_id]
    mimes = {}
    if attachment_ids:
        mimes = dict(
            session.execute(
                select(Attachment.id, Attachment.mime_type).where(
                    Attachment.id.in_(attachment_ids)
                )
            ).all()
        )
    for row in inbound:
        payload = row.payload or {}
        content = payload.get(row.msg_type) if isinstance(payload, dict) else None
        content = content if isinstance(content, dict) else {}
        item: dict[str, Any] = {
            "side": "in",
            "id": f"in{row.id}",
            "at": as_utc(row.sent_at) or as_utc(row.received_at),
            # Meta's timestamp has whole seconds only: order by our clock.
            "sort": as_utc(row.received_at) or as_utc(row.sent_at),
            "type": row.msg_type,
            "text": row.text,
            "silenced": row.state == "silenced",
        }
        if row.media_path:
            item["media_url"] = url_for("views.media", inbound_id=row.id)
            item["mime"] = (
                mimes.get(row.attachment_id) or content.get("mime_type") or ""
            )
        elif row.msg_type in ("image", "audio", "video", "document"):
            item["media_missing"] = True
        if row.msg_type == "location":
            try:
                lat, lon = float(content["latitude"]), float(content["longitude"])
                item["lat"], item["lon"] = lat, lon
                item["place"] = _place_of_point(round(lat, 5), round(lon, 5))
                item["text"] = (
                    " — ".join(
                        p for p in (content.get("name"), content.get("address")) if p
                    )
                    or None
                )
            except (KeyError, TypeError, ValueError):
                pass
        if row.msg_type == "interactive":
            item["text"] = row.text or row.bot_text
            item["choice"] = True
        items.append(item)

    outbound = session.scalars(
        select(WaOutbound)
        .where(WaOutbound.recipient_id == sender_id)
        .order_by(WaOutbound.id.desc())
        .limit(TRANSCRIPT_LIMIT)
    ).all()
    for row in outbound:
        items.append(
            {
                "side": "out",
                "id": f"out{row.id}",
                "at": as_utc(row.created_at),
                "type": row.kind,
                "author": row.author,
                "by_bot": row.author == "bot",
                "by_system": row.author == "system",
                "text": row.text,
                "status": row.status,
                "status_label": DELIVERY_LABELS.get(row.status, row.status),
                "error": row.error_title if row.status == "failed" else None,
                "template": row.kind == "template",
            }
        )
    for note in session.scalars(
        select(InternalNote).where(InternalNote.sender_id == sender_id)
    ):
        items.append(
            {
                "side": "note",
                "id": f"note{note.id}",
                "at": as_utc(note.created_at),
                "author": note.author,
                "text": note.text,
            }
        )
    for event in session.scalars(
        select(ConversationEvent).where(ConversationEvent.sender_id == sender_id)
    ):
        items.append(
            {
                "side": "event",
                "id": f"ev{event.id}",
                "at": as_utc(event.created_at),
                "action": event.action,
                "author": event.actor,
                "text": event.note,
            }
        )
    order = {"in": 0, "out": 1, "event": 2, "note": 3}
    items.sort(
        key=lambda i: (i.get("sort") or i["at"] or utcnow(), order[i["side"]], i["id"])
    )
    return items


def _version(items: list[dict[str, Any]], conversation: Conversation) -> str:
    parts = [f"{i['id']}:{i.get('status', '')}" for i in items]
    parts.append(f"{conversation.state}:{conversation.operator}")
    return hashlib.sha1("|".join(parts).encode()).hexdigest()[:16]


def _window(session: Session, sender_id: str) -> dict[str, Any]:
    from lapor.whatsapp import outbound

    conversation = session.get(Conversation, sender_id)
    last = as_utc(conversation.last_citizen_message_at) if conversation else None
    is_open = outbound.window_open(session, sender_id)
    closes = last + outbound.WINDOW - outbound.WINDOW_MARGIN if last else None
    name, _lang = outbound.template_settings()
    return {"open": is_open, "closes": wib(closes, with_date=True), "template": name}


def _send(sender_id: str, text: str, author: str) -> tuple[bool, str]:
    """Send ``text`` as free text inside the window, the template outside it."""
    from lapor.whatsapp import outbound

    with db.session_scope() as s:
        is_open = outbound.window_open(s, sender_id)
    try:
        if is_open:
            results = run_async(outbound.send_text(sender_id, text, author=author))
            how = "teks biasa"
        else:
            results = run_async(
                outbound.send_update(
                    sender_id, text, [outbound.shorten(text, 1000)], author=author
                )
            )
            how = "templat"
    except Exception:
        logger.exception("sending to %s failed", mask_phone(sender_id))
        return False, "Pesan gagal dikirim (gangguan koneksi ke WhatsApp)."
    if results and all(r.status == "sent" for r in results):
        return True, how
    return False, "Pesan gagal dikirim oleh WhatsApp. Lihat status di percakapan."


def _done(message: str, category: str, target: str, status: int = 200) -> Any:
    if _wants_json():
        return jsonify(ok=category == "ok", message=message, url=target), status
    flash(message, category)
    return redirect(target)


# ------------------------------------------------------------------------ pages


@bp.route("/")
@login_required
def home() -> Any:
    """Operators land on the queue, OPD liaisons on their unit's complaints."""
    if current_user.role == "opd":
        return redirect(url_for("complaints.index"))
    return redirect(url_for("views.queue"))


@bp.route("/antrean")
@roles_required(*OPERATOR_ROLES)
def queue() -> Any:
    """The live queue (filled by ``queue.js`` from :func:`queue_json`)."""
    return render_template(
        "queue.html", idle_minutes=current_app.config["IDLE_MINUTES"]
    )


@bp.route("/api/antrean")
@roles_required(*OPERATOR_ROLES)
def queue_json() -> Any:
    """Waiting conversations (emergencies first), mine and others' held ones."""
    _expire_on_poll()
    with db.session_scope() as s:
        waiting = handoff.waiting(s)
        held = handoff.held(s)
        texts = _last_texts(s, [e.sender_id for e in waiting + held])
        mine = [e for e in held if e.operator == current_user.username]
        others = [e for e in held if e.operator != current_user.username]
        return jsonify(
            waiting=[_entry_json(e, texts) for e in waiting],
            mine=[_entry_json(e, texts) for e in mine],
            others=[_entry_json(e, texts) for e in others],
            now=wib(utcnow()),
        )


@bp.route("/cari")
@roles_required(*OPERATOR_ROLES)
def search() -> Any:
    """Open a conversation by WhatsApp number or ticket, whatever its state."""
    from lapor.whatsapp.models import WaInbound

    query = (request.args.get("q") or "").strip()
    target = None
    with db.session_scope() as s:
        if query:
            complaint = services.find_by_ticket(s, query.upper())
            if complaint is not None:
                target = complaint.reporter_id
            else:
                digits = "".join(ch for ch in query if ch.isdigit())
                candidates = {digits}
                if digits.startswith("0"):
                    candidates.add("62" + digits[1:])
                if digits.startswith("8"):
                    candidates.add("62" + digits)
                for candidate in candidates - {""}:
                    found = (
                        s.get(Conversation, candidate)
                        or s.scalar(
                            select(WaInbound.sender_id)
                            .where(WaInbound.sender_id == candidate)
                            .limit(1)
                        )
                        or s.scalar(
                            select(Complaint.reporter_id)
                            .where(Complaint.reporter_id == candidate)
                            .limit(1)
                        )
                    )
                    if found is not None:
                        target = candidate
                        break
    if target is None:
        flash("Nomor atau tiket tidak ditemukan.", "error")
        return redirect(url_for("views.queue"))
    return redirect(url_for("views.conversation", sender_id=target))


@bp.route("/percakapan/<sender_id>")
@roles_required(*OPERATOR_ROLES)
def conversation(sender_id: str) -> Any:
    """One conversation: transcript, actions, filing form."""
    from lapor import wilayah

    with db.session_scope() as s:
        conv = _conversation_or_404(s, sender_id)
        items = transcript(s, sender_id)
        mine = conv.state == "operator" and conv.operator == current_user.username
        canned = s.scalars(
            select(CannedReply)
            .where(CannedReply.active.is_(True))
            .order_by(CannedReply.id)
        ).all()
        complaints = s.scalars(
            select(Complaint)
            .where(Complaint.reporter_id == sender_id)
            .order_by(Complaint.id.desc())
            .limit(10)
        ).all()
        context = {
            "sender_id": sender_id,
            "conv": {
                "state": conv.state,
                "state_label": STATE_LABELS.get(conv.state, conv.state),
                "operator": conv.operator,
                "urgent": conv.urgent,
                "reason": REASON_LABELS.get(conv.reason or "", conv.reason),
                "waiting": duration(handoff.waiting_since(conv).total_seconds())
                if handoff.waiting_since(conv)
                else None,
            },
            "mine": mine,
            "number": national_number(sender_id) if mine else mask_phone(sender_id),
            "items": items,
            "version": _version(items, conv),
            "window": _window(s, sender_id),
            "canned": [{"title": c.title, "text": c.text} for c in canned],
            "complaints": [
                {
                    "ticket": c.ticket,
                    "kategori": c.kategori,
                    "status": c.status,
                    "created": wib(c.created_at, with_date=True),
                }
                for c in complaints
            ],
            "kecamatan": wilayah.all_kecamatan(),
            "kategori_choices": KATEGORI_CHOICES,
            "idle_minutes": current_app.config["IDLE_MINUTES"],
            "is_admin": current_user.role == "admin",
        }
    return render_template("conversation.html", **context)


@bp.route("/api/percakapan/<sender_id>")
@roles_required(*OPERATOR_ROLES)
def conversation_json(sender_id: str) -> Any:
    """The transcript (rendered) and state, for the page's polling."""
    with db.session_scope() as s:
        conv = _conversation_or_404(s, sender_id)
        items = transcript(s, sender_id)
        html = render_template("_transcript.html", items=items)
        return jsonify(
            state=conv.state,
            operator=conv.operator,
            version=_version(items, conv),
            html=html,
        )


@bp.route("/percakapan/<sender_id>/ambil", methods=["POST"])
@roles_required(*OPERATOR_ROLES)
def take(sender_id: str) -> Any:
    """Ambil alih: hold the conversation (one operator only) and greet the citizen."""
    me = current_user.username
    target = url_for("views.conversation", sender_id=sender_id)
    with db.session_scope() as s:
        _conversation_or_404(s, sender_id)
    with db.session_scope() as s:
        was_mine = handoff.state_of(s, sender_id) == "operator" and (
            s.get(Conversation, sender_id).operator == me
        )
        won = handoff.take(s, sender_id, me)
        holder = s.get(Conversation, sender_id).operator
        if won and not was_mine:
            _event(
                s,
                sender_id,
                "ambil",
                me,
                f"Diambil alih oleh {current_user.display_name}.",
            )
    if not won:
        return _done(
            f"Percakapan ini sudah ditangani oleh petugas lain ({holder}).",
            "error",
            target,
            409,
        )
    if was_mine:
        return _done("Percakapan ini sudah Anda tangani.", "ok", target)
    sent, how = _send(
        sender_id, TAKE_GREETING.format(name=current_user.display_name), me
    )
    message = "Percakapan Anda ambil alih. Bot tidak akan menjawab warga ini."
    if not sent:
        message += " Namun salam pembuka gagal terkirim: " + how
    return _done(message, "ok" if sent else "error", target)


@bp.route("/percakapan/<sender_id>/balas", methods=["POST"])
@roles_required(*OPERATOR_ROLES)
def reply(sender_id: str) -> Any:
    """Kirim balasan: only the operator holding the conversation may reply."""
    me = current_user.username
    target = url_for("views.conversation", sender_id=sender_id)
    text = (request.form.get("text") or "").strip()
    if not text:
        return _done("Balasan masih kosong.", "error", target, 400)
    if len(text) > 4000:
        return _done(
            "Balasan terlalu panjang (maksimal 4000 karakter).", "error", target, 400
        )
    with db.session_scope() as s:
        conv = s.get(Conversation, sender_id)
        if conv is None or conv.state != "operator" or conv.operator != me:
            return _done(
                "Ambil alih percakapan ini terlebih dahulu sebelum membalas.",
                "error",
                target,
                409,
            )
    sent, how = _send(sender_id, text, me)
    if sent:
        return _done(f"Balasan terkirim sebagai {how}.", "ok", target)
    return _done(how, "error", target, 502)


@bp.route("/percakapan/<sender_id>/catatan", methods=["POST"])
@roles_required(*OPERATOR_ROLES)
def note(sender_id: str) -> Any:
    """Catatan internal: visible to operators only, never sent."""
    target = url_for("views.conversation", sender_id=sender_id)
    text = (request.form.get("text") or "").strip()
    if not text:
        return _done("Catatan masih kosong.", "error", target, 400)
    with db.session_scope() as s:
        _conversation_or_404(s, sender_id)
        s.add(
            InternalNote(
                sender_id=sender_id,
                author=current_user.username,
                text=text[:4000],
                created_at=utcnow(),
            )
        )
    return _done("Catatan internal disimpan (tidak dikirim ke warga).", "ok", target)


@bp.route("/percakapan/<sender_id>/kembalikan", methods=["POST"])
@roles_required(*OPERATOR_ROLES)
def release(sender_id: str) -> Any:
    """Kembalikan ke bot: the holder (or an admin) releases; the citizen is told."""
    me = current_user.username
    target = url_for("views.conversation", sender_id=sender_id)
    with db.session_scope() as s:
        conv = _conversation_or_404(s, sender_id)
        state, holder = conv.state, conv.operator
        if state == "bot":
            return _done("Percakapan ini sudah dilayani bot.", "ok", target)
        if state == "operator" and holder != me and current_user.role != "admin":
            return _done(
                f"Hanya petugas yang menangani ({holder}) atau admin yang dapat "
                "mengembalikan percakapan ini ke bot.",
                "error",
                target,
                403,
            )
        if state == "operator":
            released = handoff.release(s, sender_id, operator=holder)
        else:  # waiting: hold it first, so nobody taking it now is overridden
            released = handoff.take(s, sender_id, me) and handoff.release(
                s, sender_id, operator=me
            )
        if released:
            _event(s, sender_id, "kembali", me, "Dikembalikan ke bot.")
    if not released:
        return _done(
            "Status percakapan berubah. Muat ulang halaman.", "error", target, 409
        )
    rasa_api.start_new_session(sender_id)
    tell = state == "operator" or request.form.get("tell") == "1"
    message = "Percakapan dikembalikan ke bot."
    if tell:
        sent, how = _send(sender_id, RELEASE_MESSAGE, me)
        if sent:
            message += " Warga sudah diberi tahu."
        else:
            message += " Pemberitahuan ke warga gagal: " + how
    return _done(message, "ok", url_for("views.queue"))


@bp.route("/percakapan/<sender_id>/laporan", methods=["POST"])
@roles_required(*OPERATOR_ROLES)
def file_on_behalf(sender_id: str) -> Any:
    """Buat laporan atas nama warga."""
    from lapor import wilayah

    me = current_user.username
    target = url_for("views.conversation", sender_id=sender_id)
    form = request.form
    kategori = form.get("kategori", "")
    kecamatan_code = form.get("kecamatan") or None
    desa_code = form.get("desa") or None
    detail = (form.get("detail") or "").strip()
    anonymous = form.get("anonim") == "1"
    name = (form.get("nama") or "").strip() or None
    if kategori not in dict(KATEGORI_CHOICES):
        return _done("Pilih kategori laporan.", "error", target, 400)
    if len(detail) < 10:
        return _done(
            "Tuliskan detail laporan (minimal 10 karakter).", "error", target, 400
        )
    try:
        if kecamatan_code:
            kecamatan_code = wilayah.place(kecamatan_code).code
        if desa_code:
            desa = wilayah.place(desa_code)
            if kecamatan_code and desa.kecamatan_code != kecamatan_code:
                return _done(
                    "Desa tidak berada di kecamatan itu.", "error", target, 400
                )
            desa_code = desa.code
    except KeyError:
        return _done("Kecamatan atau desa tidak dikenal.", "error", target, 400)
    with db.session_scope() as s:
        _conversation_or_404(s, sender_id)
        filed = services.file_complaint(
            s,
            services.NewComplaint(
                kategori=kategori,
                detail=detail,
                reporter_id=sender_id,
                channel="whatsapp",
                kecamatan_code=kecamatan_code,
                desa_code=desa_code,
                reporter_name=None if anonymous else name,
                anonymous=anonymous,
                confidential=form.get("rahasia") == "1",
                actor=me,
            ),
        )
        _event(
            s,
            sender_id,
            "laporan",
            me,
            f"Laporan {filed.ticket} dibuat atas nama warga.",
        )
    unit = filed.opd_name + (f" dan {filed.camat_name}" if filed.camat_name else "")
    return _done(
        f"Laporan tercatat dengan nomor tiket {filed.ticket}, diteruskan ke {unit}.",
        "ok",
        target,
    )


@bp.route("/media/<int:inbound_id>")
@roles_required(*OPERATOR_ROLES)
def media(inbound_id: int) -> Any:
    """A citizen's photo, voice note, video or document (logged-in operators only)."""
    from lapor.models import Attachment
    from lapor.whatsapp.inbound import media_dir
    from lapor.whatsapp.models import WaInbound

    with db.session_scope() as s:
        row = s.get(WaInbound, inbound_id)
        if row is None or not row.media_path:
            abort(404)
        mime = None
        if row.attachment_id:
            attachment = s.get(Attachment, row.attachment_id)
            mime = attachment.mime_type if attachment else None
        path = Path(row.media_path).resolve()
    root = media_dir().resolve()
    if root not in path.parents or not path.is_file():
        abort(404)
    mime = mime or mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    mime = mime.split(";")[0].strip()
    response = send_file(path, mimetype=mime, max_age=0, conditional=True)
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@bp.route("/api/desa/<kecamatan_code>")
@roles_required(*OPERATOR_ROLES)
def desa_json(kecamatan_code: str) -> Any:
    """The desa of a kecamatan, for the filing form."""
    from lapor import wilayah

    try:
        places = wilayah.desa_in(kecamatan_code)
    except KeyError:
        abort(404)
    return jsonify(
        [{"code": p.code, "name": f"{p.kind.capitalize()} {p.name}"} for p in places]
    )


@bp.route("/opd")
@roles_required("opd", "admin")
def opd() -> Any:
    """The old OPD page: a unit's complaints live at /aduan (workflow.can_view)."""
    return redirect(url_for("complaints.index"))


def init_app(app: Flask) -> None:
    """Register the views and the error pages."""
    app.register_blueprint(bp)

    @app.errorhandler(403)
    def _forbidden(_exc: Any) -> Any:
        if request.path.startswith(("/api/", "/open311/")):
            return jsonify(error="Akses ditolak."), 403
        return (
            render_template(
                "error.html",
                title="Akses ditolak",
                message="Peran Anda tidak memiliki akses ke halaman ini.",
            ),
            403,
        )

    @app.errorhandler(404)
    def _not_found(_exc: Any) -> Any:
        if request.path.startswith(("/api/", "/open311/")):
            return jsonify(error="Tidak ditemukan."), 404
        return render_template(
            "error.html",
            title="Tidak ditemukan",
            message="Halaman atau percakapan tidak ditemukan.",
        ), 404

    app.jinja_env.globals.update(wib=wib, mask_phone=mask_phone)
