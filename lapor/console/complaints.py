"""Complaints in the console: list, detail, workflow actions, CSV export.

Operators and admins see every complaint and verify, forward (disposisi),
reject, merge and close them; an OPD or camat liaison sees only what was
forwarded to their unit (:func:`lapor.workflow.can_view`) and writes the
follow-up, closes it or sends it back. Every action runs the workflow step in
one transaction, commits, and then tells the citizen
(:func:`lapor.notify.notify_change`); the page says how the citizen was told.
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import io
import logging
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from flask import (
    Blueprint,
    Flask,
    Response,
    abort,
    flash,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from flask_login import current_user
from sqlalchemy import false, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql import Select

from lapor import db, deadlines, notify, routing, services, workflow
from lapor.console.auth import roles_required
from lapor.console.util import DELIVERY_LABELS, national_number, wib
from lapor.models import (
    STATUS_LABELS,
    STATUSES,
    Attachment,
    Complaint,
    ComplaintMessage,
    StatusChange,
    as_utc,
)

logger = logging.getLogger(__name__)

bp = Blueprint("complaints", __name__)

OPERATOR_ROLES = ("operator", "admin")
ALL_ROLES = ("operator", "opd", "admin")
PAGE_SIZE = 100
KATEGORI_LABELS = {
    "pemerintahan": "Pemerintahan",
    "pembangunan": "Pembangunan",
    "kesehatan": "Kesehatan",
}
STATUS_SHORT = {
    "baru": "Baru",
    "diverifikasi": "Diverifikasi",
    "didisposisikan": "Didisposisikan",
    "ditindaklanjuti": "Ditindaklanjuti",
    "selesai": "Selesai",
    "ditolak": "Ditolak",
}
# Quick target dates of a follow-up: form value -> (label, target_in kwargs).
QUICK_TARGETS: dict[str, tuple[str, dict[str, int]]] = {
    "7hk": ("7 hari kerja", {"working_days": 7}),
    "1th": ("1 tahun", {"years": 1}),
    "3th": ("3 tahun", {"years": 3}),
}
PHOTO_TYPES = {
    "image/jpeg": ".jpg",
    "image/png": ".png",
    "image/webp": ".webp",
}
PHOTO_MAGIC = {
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/webp": (b"RIFF",),
}
MESSAGE_LABELS = {
    "tindak_lanjut": "Tindak lanjut",
    "hasil": "Hasil penyelesaian",
    "balasan_warga": "Balasan warga",
    "konfirmasi": "Konfirmasi warga",
    "catatan": "Catatan",
    "pemberitahuan": "Pemberitahuan ke warga",
}
NOTIFY_KIND_LABELS = {
    "text": "teks biasa",
    "template": "templat",
    "interactive": "pesan bertombol",
}


# ----------------------------------------------------------------------- filters


@dataclass
class Filters:
    """The list's filters (query string), shared by the list, CSV and dashboard."""

    status: str = ""
    kategori: str = ""
    kecamatan: str = ""
    unit: str = ""
    terlambat: bool = False
    q: str = ""

    @classmethod
    def from_args(cls, args: Any) -> Filters:
        """Read the filters from ``request.args`` (unknown values are ignored)."""
        status = args.get("status", "")
        kategori = args.get("kategori", "")
        return cls(
            status=status if status in STATUSES else "",
            kategori=kategori if kategori in KATEGORI_LABELS else "",
            kecamatan=(args.get("kecamatan") or "").strip()[:8],
            unit=(args.get("unit") or "").strip().upper()[:40],
            terlambat=args.get("terlambat") in ("1", "on", "ya"),
            q=" ".join((args.get("q") or "").split())[:100],
        )

    def as_args(self) -> dict[str, str]:
        """The non-empty filters as query arguments (for links)."""
        out = {k: v for k, v in asdict(self).items() if v and k != "terlambat"}
        if self.terlambat:
            out["terlambat"] = "1"
        return out


def today() -> dt.date:
    """Today's date in Probolinggo (WIB)."""
    return deadlines.local_date()


def scoped(user: Any) -> Select:
    """``select(Complaint)`` limited to what ``user`` may see."""
    stmt = select(Complaint)
    if user.role in OPERATOR_ROLES:
        return stmt
    code = (user.opd_code or "").strip().upper()
    if user.role != "opd" or not code:
        return stmt.where(false())
    column = (
        Complaint.camat_code
        if code.startswith(routing.CAMAT_PREFIX)
        else Complaint.opd_code
    )
    return stmt.where(column == code, Complaint.status.in_(workflow.UNIT_STATUSES))


def apply_filters(stmt: Select, filters: Filters) -> Select:
    """Add the SQL part of ``filters`` (all but "terlambat") to ``stmt``."""
    if filters.status:
        stmt = stmt.where(Complaint.status == filters.status)
    if filters.kategori:
        stmt = stmt.where(Complaint.kategori == filters.kategori)
    if filters.kecamatan:
        stmt = stmt.where(Complaint.kecamatan_code == filters.kecamatan)
    if filters.unit:
        stmt = stmt.where(
            or_(
                Complaint.opd_code == filters.unit, Complaint.camat_code == filters.unit
            )
        )
    if filters.q:
        needle = filters.q.replace("\\", "").replace("%", "").replace("_", " ")
        stmt = stmt.where(
            or_(
                Complaint.ticket == filters.q.upper(),
                Complaint.detail.ilike(f"%{needle}%"),
            )
        )
    return stmt


@functools.lru_cache(maxsize=1024)
def place_name(code: str | None) -> str:
    """A kecamatan or desa name ("Paiton", "Desa Sumberanyar"), or "-"."""
    from lapor import wilayah

    if not code:
        return "-"
    try:
        p = wilayah.place(code)
    except Exception:  # noqa: BLE001 - an unknown code is shown as it is
        return code
    return p.name if p.kind == "kecamatan" else f"{p.kind.capitalize()} {p.name}"


def unit_name(code: str) -> str:
    """A unit's display name, or the code when it is unknown."""
    try:
        return routing.unit(code).name
    except Exception:  # noqa: BLE001 - an old code no longer in the table
        return code


def deadline_info(complaint: Complaint, day: dt.date) -> dict[str, Any]:
    """Which deadline applies, its date, and how many working days late."""
    current = workflow.current_deadline(complaint)
    if current is None or current[1] is None:
        return {"deadline": None, "due": None, "late": 0, "label": None}
    kind, due = current
    late = workflow.working_days_late(due, day)
    return {
        "deadline": kind,
        "due": due,
        "late": late,
        "label": workflow.DEADLINE_LABELS[kind],
    }


def row_of(complaint: Complaint, user: Any, day: dt.date) -> dict[str, Any]:
    """One complaint as the list and the CSV show it to ``user``."""
    reporter = workflow.reporter_view(user, complaint)
    return {
        "ticket": complaint.ticket,
        "kategori": complaint.kategori,
        "kategori_label": KATEGORI_LABELS.get(complaint.kategori, complaint.kategori),
        "kecamatan": place_name(complaint.kecamatan_code),
        "desa": place_name(complaint.desa_code) if complaint.desa_code else "",
        "status": complaint.status,
        "status_label": STATUS_SHORT.get(complaint.status, complaint.status),
        "units": workflow.unit_names(complaint)
        if complaint.status in workflow.UNIT_STATUSES
        else [],
        "created_at": as_utc(complaint.created_at),
        "created": wib(complaint.created_at, with_date=True),
        "detail": complaint.detail,
        "confidential": complaint.confidential,
        "anonymous": complaint.anonymous,
        "reporter": "" if complaint.anonymous else (reporter["name"] or ""),
        "merged": complaint.merged_into_id is not None,
        **deadline_info(complaint, day),
    }


def list_rows(
    session: Session, user: Any, filters: Filters, day: dt.date
) -> list[dict[str, Any]]:
    """The complaints ``user`` may see that match ``filters``, newest first."""
    stmt = apply_filters(scoped(user), filters).order_by(Complaint.id.desc())
    rows = [row_of(c, user, day) for c in session.scalars(stmt)]
    if filters.terlambat:
        rows = [r for r in rows if r["late"] > 0]
    return rows


def _unit_choices() -> list[tuple[str, str]]:
    from lapor import wilayah

    units = [(u.code, u.name) for u in routing.units()]
    units += [
        (f"{routing.CAMAT_PREFIX}{k.code}", f"Camat {k.name}")
        for k in wilayah.all_kecamatan()
    ]
    return units


# ------------------------------------------------------------------------ pages


@bp.route("/aduan")
@roles_required(*ALL_ROLES)
def index() -> Any:
    """The complaint list with filters; overdue rows stand out."""
    from lapor import wilayah

    filters = Filters.from_args(request.args)
    try:
        page = max(1, int(request.args.get("hal", "1")))
    except ValueError:
        page = 1
    day = today()
    with db.session_scope() as s:
        rows = list_rows(s, current_user, filters, day)
    total = len(rows)
    overdue_count = sum(1 for r in rows if r["late"] > 0)
    shown = rows[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
    return render_template(
        "complaints.html",
        rows=shown,
        total=total,
        overdue_count=overdue_count,
        page=page,
        pages=max(1, (total + PAGE_SIZE - 1) // PAGE_SIZE),
        filters=filters,
        args=filters.as_args(),
        statuses=[(s, STATUS_SHORT[s]) for s in STATUSES],
        kategori=list(KATEGORI_LABELS.items()),
        kecamatan=wilayah.all_kecamatan(),
        units=_unit_choices() if current_user.role != "opd" else [],
        unit_label=unit_name(current_user.opd_code or "")
        if current_user.role == "opd"
        else None,
        today=day,
    )


def _csv_safe(value: Any) -> str:
    text = "" if value is None else str(value)
    if text[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + text  # no formulas when the file is opened in a spreadsheet
    return text


CSV_HEADER = [
    "tiket",
    "masuk",
    "kategori",
    "kecamatan",
    "desa",
    "status",
    "unit",
    "tenggat",
    "batas_tanggal",
    "terlambat_hari_kerja",
    "rahasia",
    "anonim",
    "nama_pelapor",
    "detail",
]


@bp.route("/aduan.csv")
@roles_required(*ALL_ROLES)
def export_csv() -> Any:
    """The filtered list as CSV: no phone numbers; anonymous reporters blank."""
    filters = Filters.from_args(request.args)
    day = today()
    with db.session_scope() as s:
        rows = list_rows(s, current_user, filters, day)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_HEADER)
    for r in rows:
        created = r["created_at"]
        writer.writerow(
            [
                _csv_safe(v)
                for v in (
                    r["ticket"],
                    created.astimezone(deadlines.WIB).strftime("%Y-%m-%d %H:%M")
                    if created
                    else "",
                    r["kategori"],
                    r["kecamatan"] if r["kecamatan"] != "-" else "",
                    r["desa"],
                    r["status"],
                    "; ".join(r["units"]),
                    r["label"] or "",
                    r["due"].isoformat() if r["due"] else "",
                    r["late"],
                    "ya" if r["confidential"] else "tidak",
                    "ya" if r["anonymous"] else "tidak",
                    r["reporter"],
                    r["detail"],
                )
            ]
        )
    name = f"aduan-{day.isoformat()}.csv"
    return Response(
        "\ufeff" + buffer.getvalue(),  # BOM: spreadsheets read it as UTF-8
        mimetype="text/csv",
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": "private, no-store",
        },
    )


def _visible(session: Session, ticket: str) -> Complaint:
    """The complaint if the current user may see it, else 404."""
    complaint = services.find_by_ticket(session, (ticket or "").strip().upper())
    if complaint is None or not workflow.can_view(current_user, complaint):
        abort(404)
    return complaint


def _outbound_info(session: Session, ids: list[int]) -> dict[int, tuple[str, str]]:
    from lapor.whatsapp.models import WaOutbound

    if not ids:
        return {}
    return {
        i: (kind, status)
        for i, kind, status in session.execute(
            select(WaOutbound.id, WaOutbound.kind, WaOutbound.status).where(
                WaOutbound.id.in_(ids)
            )
        )
    }


def _messages(session: Session, complaint: Complaint) -> list[dict[str, Any]]:
    rows = session.scalars(
        select(ComplaintMessage)
        .where(ComplaintMessage.complaint_id == complaint.id)
        .order_by(ComplaintMessage.id)
    ).all()
    ids = [
        int(i)
        for r in rows
        if r.kind == "pemberitahuan"
        for i in (r.meta or {}).get("outbound_ids") or []
    ]
    outbound = _outbound_info(session, ids)
    out = []
    for r in rows:
        item = {
            "kind": r.kind,
            "label": MESSAGE_LABELS.get(r.kind, r.kind),
            "author": r.author,
            "role": r.author_role,
            "at": wib(r.created_at, with_date=True),
            "text": r.text,
            "target": deadlines.format_date(r.target_date) if r.target_date else None,
            "unit": unit_name(r.unit_code) if r.unit_code else None,
            "attachment_id": r.attachment_id,
        }
        if r.kind == "pemberitahuan":
            sent = [
                outbound[int(i)]
                for i in (r.meta or {}).get("outbound_ids") or []
                if int(i) in outbound
            ]
            item["delivery"] = r.delivery
            item["via"] = ", ".join(
                dict.fromkeys(NOTIFY_KIND_LABELS.get(k, k) for k, _ in sent)
            )
            item["states"] = ", ".join(
                dict.fromkeys(DELIVERY_LABELS.get(st, st) for _, st in sent)
            )
            if r.delivery == "not_sent":
                item["states"] = "tidak dikirim (bukan laporan WhatsApp)"
            elif r.delivery == "failed" and not item["states"]:
                item["states"] = "gagal"
        out.append(item)
    return out


def _actions(complaint: Complaint) -> dict[str, bool]:
    role = current_user.role
    status = complaint.status
    staff = role in OPERATOR_ROLES
    liaison = role == "opd" and workflow.is_disposed_to(
        complaint, current_user.opd_code
    )
    merged = complaint.merged_into_id is not None
    return {
        "verify": staff and status == "baru",
        "dispose": staff and status in ("diverifikasi", "didisposisikan"),
        "reject": staff and status in workflow.REJECTABLE and not merged,
        "merge": staff and status in workflow.REJECTABLE and not merged,
        "complete": (staff or liaison)
        and status in ("didisposisikan", "ditindaklanjuti"),
        "follow_up": liaison and status in ("didisposisikan", "ditindaklanjuti"),
        "send_back": liaison and status in ("didisposisikan", "ditindaklanjuti"),
    }


def _disposition_choices(complaint: Complaint) -> dict[str, Any]:
    try:
        suggested = workflow.suggested_units(complaint)
    except Exception:  # noqa: BLE001 - an unroutable complaint: no suggestion
        logger.exception("no routing suggestion for %s", complaint.ticket)
        suggested = []
    opd = next(
        (u for u in suggested if not u.code.startswith(routing.CAMAT_PREFIX)), None
    )
    camat = None
    if complaint.kecamatan_code:
        try:
            camat = routing.camat_unit(complaint.kecamatan_code)
        except ValueError:
            camat = None
    current = set(workflow.unit_codes(complaint))
    disposed = complaint.status == "didisposisikan"
    return {
        "opd": opd,
        "opd_checked": opd is not None and (not disposed or opd.code in current),
        "camat": camat,
        "camat_checked": camat is not None
        and (camat.code in current if disposed else True),
        "current_other": next(
            (
                c
                for c in current
                if disposed
                and not c.startswith(routing.CAMAT_PREFIX)
                and (opd is None or c != opd.code)
            ),
            "",
        ),
        "others": [u for u in routing.units() if opd is None or u.code != opd.code],
    }


@bp.route("/aduan/<ticket>")
@roles_required(*ALL_ROLES)
def detail(ticket: str) -> Any:
    """One complaint: details, deadlines, history, messages, photos, actions."""
    from lapor import wilayah

    day = today()
    with db.session_scope() as s:
        c = _visible(s, ticket)
        reporter = workflow.reporter_view(current_user, c)
        history = [
            {
                "from": STATUS_SHORT.get(h.from_status or "", h.from_status),
                "to": STATUS_SHORT.get(h.to_status, h.to_status),
                "to_status": h.to_status,
                "actor": h.actor,
                "at": wib(h.created_at, with_date=True),
                "note": h.note,
            }
            for h in s.scalars(
                select(StatusChange)
                .where(StatusChange.complaint_id == c.id)
                .order_by(StatusChange.id)
            )
        ]
        attachments = [
            {
                "id": a.id,
                "kind": a.kind,
                "mime": a.mime_type or "",
                "caption": a.caption,
                "at": wib(a.created_at, with_date=True),
                "by_staff": (a.sender_id or "").startswith("petugas:"),
            }
            for a in s.scalars(
                select(Attachment)
                .where(Attachment.complaint_id == c.id)
                .order_by(Attachment.id)
            )
        ]
        merged_into = s.get(Complaint, c.merged_into_id) if c.merged_into_id else None
        duplicates = s.scalars(
            select(Complaint.ticket).where(Complaint.merged_into_id == c.id)
        ).all()
        place = "-"
        if c.desa_code or c.kecamatan_code:
            try:
                place = wilayah.display_name(c.desa_code or c.kecamatan_code)
            except KeyError:
                place = c.desa_code or c.kecamatan_code
        phone = reporter.get("phone")
        context = {
            "c": c,
            "status_label": STATUS_LABELS.get(c.status, c.status),
            "kategori_label": KATEGORI_LABELS.get(c.kategori, c.kategori),
            "reporter_name": reporter.get("name") or ("Anonim" if c.anonymous else "-"),
            "reporter_phone": national_number(phone.lstrip("+")) if phone else None,
            "place": place,
            "units": workflow.unit_names(c)
            if c.status in workflow.UNIT_STATUSES
            else [],
            "deadline": deadline_info(c, day),
            "verify_due": c.verify_due,
            "history": history,
            "messages": _messages(s, c),
            "attachments": attachments,
            "merged_into": merged_into.ticket if merged_into else None,
            "duplicates": duplicates,
            "actions": _actions(c),
            "disposition": _disposition_choices(c)
            if c.status in ("diverifikasi", "didisposisikan")
            and current_user.role in OPERATOR_ROLES
            else None,
            "quick_targets": [(k, v[0]) for k, v in QUICK_TARGETS.items()],
            "today": day,
            "max_target": day.replace(year=day.year + workflow.MAX_TARGET_YEARS)
            if not (day.month == 2 and day.day == 29)
            else day.replace(year=day.year + workflow.MAX_TARGET_YEARS, day=28),
            "format_date": deadlines.format_date,
            "created": wib(c.created_at, with_date=True),
        }
        from lapor.console import dashboard

        context["map_svg"] = (
            dashboard.location_svg(c.kecamatan_code, c.lat, c.lon)
            if c.kecamatan_code or c.lat is not None
            else None
        )
    return render_template("complaint.html", **context)


@bp.route("/aduan/<ticket>/lampiran/<int:attachment_id>")
@roles_required(*ALL_ROLES)
def attachment(ticket: str, attachment_id: int) -> Any:
    """A photo or file of a complaint (only for those who may see the complaint)."""
    from lapor.whatsapp.inbound import media_dir

    with db.session_scope() as s:
        c = _visible(s, ticket)
        row = s.get(Attachment, attachment_id)
        if row is None or row.complaint_id != c.id:
            abort(404)
        path = Path(row.path).resolve()
        mime = (row.mime_type or "application/octet-stream").split(";")[0].strip()
    root = media_dir().resolve()
    if root not in path.parents or not path.is_file():
        abort(404)
    response = send_file(path, mimetype=mime, max_age=0, conditional=True)
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


# ---------------------------------------------------------------------- actions


def notify_citizen(kind: type, change_id: int) -> tuple[str, str]:
    """Tell the citizen of a committed change; returns (flash category, message)."""
    from lapor.whatsapp.models import WaOutbound

    try:
        with db.session_scope() as s:
            change = s.get(kind, change_id)
            complaint = s.get(Complaint, change.complaint_id)
            record = notify.notify_change(s, complaint, change)
            delivery = record.delivery
            ids = [int(i) for i in (record.meta or {}).get("outbound_ids") or []]
            kinds = (
                s.scalars(select(WaOutbound.kind).where(WaOutbound.id.in_(ids))).all()
                if ids
                else []
            )
    except Exception:  # noqa: BLE001 - the change itself is already saved
        logger.exception("notifying the citizen failed")
        return "error", "Pemberitahuan ke warga gagal dicatat atau dikirim."
    if delivery == "sent":
        via = " dan ".join(dict.fromkeys(NOTIFY_KIND_LABELS.get(k, k) for k in kinds))
        return "ok", f"Warga sudah diberi tahu lewat WhatsApp ({via or 'terkirim'})."
    if delivery == "not_sent":
        return (
            "info",
            "Laporan ini tidak masuk lewat WhatsApp, jadi warga tidak diberi tahu "
            "lewat WhatsApp.",
        )
    return (
        "error",
        "Pemberitahuan WhatsApp ke warga gagal terkirim. Lihat riwayat pesan laporan.",
    )


def _run_step(
    ticket: str,
    step: Callable[[Session, Complaint], StatusChange | ComplaintMessage],
    done: str,
    *,
    cleanup: Callable[[], None] | None = None,
) -> Any:
    """Run a workflow step, commit, notify the citizen, flash, redirect."""
    target = url_for("complaints.detail", ticket=ticket.upper())
    error = None
    change_ref: tuple[type, int] | None = None
    with db.session_scope() as s:
        complaint = _visible(s, ticket)
        try:
            change = step(s, complaint)
            change_ref = (type(change), change.id)
        except workflow.WorkflowError as exc:
            s.rollback()
            error = str(exc)
    if error is not None:
        if cleanup:
            cleanup()
        flash(error, "error")
        return redirect(target)
    flash(done, "ok")
    category, message = notify_citizen(*change_ref)
    flash(message, category)
    return redirect(target)


def _form(name: str) -> str:
    return (request.form.get(name) or "").strip()


@bp.route("/aduan/<ticket>/verifikasi", methods=["POST"])
@roles_required(*OPERATOR_ROLES)
def verify(ticket: str) -> Any:
    """Verifikasi (operator/admin)."""
    return _run_step(
        ticket,
        lambda s, c: workflow.verify(s, c, current_user, _form("catatan") or None),
        "Laporan telah diverifikasi.",
    )


@bp.route("/aduan/<ticket>/disposisi", methods=["POST"])
@roles_required(*OPERATOR_ROLES)
def dispose(ticket: str) -> Any:
    """Disposisi to an OPD and/or the camat (operator/admin)."""
    units = [u for u in request.form.getlist("unit") if u]
    other = _form("unit_lain")
    if other:
        units.append(other)
    return _run_step(
        ticket,
        lambda s, c: workflow.dispose(
            s, c, current_user, units, _form("catatan") or None
        ),
        "Laporan telah diteruskan ke unit tujuan.",
    )


@bp.route("/aduan/<ticket>/tolak", methods=["POST"])
@roles_required(*OPERATOR_ROLES)
def reject(ticket: str) -> Any:
    """Tolak with a required reason (operator/admin)."""
    return _run_step(
        ticket,
        lambda s, c: workflow.reject(s, c, current_user, _form("alasan")),
        "Laporan ditolak.",
    )


@bp.route("/aduan/<ticket>/gabung", methods=["POST"])
@roles_required(*OPERATOR_ROLES)
def merge(ticket: str) -> Any:
    """Gabungkan: merge this (duplicate) complaint into another (operator/admin)."""
    main_ticket = _form("tiket_utama").upper()

    def step(s: Session, c: Complaint) -> StatusChange:
        main = services.find_by_ticket(s, main_ticket) if main_ticket else None
        if main is None:
            raise workflow.WorkflowError(
                f"Laporan utama {main_ticket or '(kosong)'} tidak ditemukan."
            )
        return workflow.merge(s, c, main, current_user)

    return _run_step(ticket, step, f"Laporan digabungkan ke {main_ticket}.")


def _target_date(day: dt.date) -> dt.date | None:
    choice = _form("target")
    if choice in QUICK_TARGETS:
        return workflow.target_in(day, **QUICK_TARGETS[choice][1])
    raw = _form("target_tanggal")
    if not raw:
        return None
    try:
        return dt.date.fromisoformat(raw)
    except ValueError:
        raise workflow.WorkflowError(
            "Tanggal target tidak valid; gunakan pemilih tanggal."
        ) from None


@bp.route("/aduan/<ticket>/tindak-lanjut", methods=["POST"])
@roles_required("opd")
def follow_up(ticket: str) -> Any:
    """Tindak lanjut with a target date (the unit's liaison only)."""

    def step(s: Session, c: Complaint) -> StatusChange | ComplaintMessage:
        target = _target_date(today())
        return workflow.follow_up(s, c, current_user, _form("uraian"), target)

    return _run_step(ticket, step, "Tindak lanjut tersimpan.")


@bp.route("/aduan/<ticket>/kembalikan", methods=["POST"])
@roles_required("opd")
def send_back(ticket: str) -> Any:
    """Kembalikan: not our unit's matter (reason required)."""
    return _run_step(
        ticket,
        lambda s, c: workflow.send_back(s, c, current_user, _form("alasan")),
        "Laporan dikembalikan ke operator untuk diteruskan ulang.",
    )


def _save_photo(ticket: str) -> tuple[str | None, str | None]:
    """Store the uploaded result photo under MEDIA_DIR; (path, mime) or (None, None).

    Raises:
        WorkflowError: not a JPEG/PNG/WebP image.
    """
    from lapor.whatsapp.inbound import media_dir

    upload = request.files.get("foto")
    if upload is None or not upload.filename:
        return None, None
    mime = (upload.mimetype or "").lower()
    data = upload.read()
    if mime not in PHOTO_TYPES or not data.startswith(PHOTO_MAGIC[mime]):
        raise workflow.WorkflowError("Foto harus berupa gambar JPEG, PNG atau WebP.")
    folder = media_dir() / "hasil"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{ticket.upper()}-{uuid.uuid4().hex[:12]}{PHOTO_TYPES[mime]}"
    path.write_bytes(data)
    return str(path), mime


@bp.route("/aduan/<ticket>/selesai", methods=["POST"])
@roles_required(*ALL_ROLES)
def complete(ticket: str) -> Any:
    """Selesai with a result note and an optional photo (liaison or operator)."""
    target = url_for("complaints.detail", ticket=ticket.upper())
    with db.session_scope() as s:
        _visible(s, ticket)
    try:
        photo_path, photo_mime = _save_photo(ticket)
    except workflow.WorkflowError as exc:
        flash(str(exc), "error")
        return redirect(target)

    def cleanup() -> None:
        if photo_path:
            Path(photo_path).unlink(missing_ok=True)

    return _run_step(
        ticket,
        lambda s, c: workflow.complete(
            s,
            c,
            current_user,
            _form("hasil"),
            photo_path=photo_path,
            photo_mime=photo_mime,
        ),
        "Laporan ditandai selesai.",
        cleanup=cleanup,
    )


# ------------------------------------------------------------------ background


def close_quiet_now(day: dt.date | None = None) -> list[str]:
    """Close selesai complaints left unanswered for 10 working days; tell each citizen.

    Returns:
        The tickets closed.
    """
    with db.session_scope() as s:
        changes = workflow.close_quiet(s, day or today())
        closed = [(c.id, c.complaint.ticket) for c in changes]
    for change_id, ticket in closed:
        category, _message = notify_citizen(StatusChange, change_id)
        if category == "error":
            logger.warning("closing notice for %s not delivered", ticket)
    if closed:
        logger.info("closed %d quiet complaint(s)", len(closed))
    return [t for _, t in closed]


def init_app(app: Flask) -> None:
    """Register the complaint pages."""
    app.register_blueprint(bp)
    app.jinja_env.globals.update(
        kategori_labels=KATEGORI_LABELS, status_short=STATUS_SHORT
    )
