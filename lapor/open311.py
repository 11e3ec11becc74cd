"""Open311 GeoReport v2 for Lapor Kand4, as a Flask blueprint.

Endpoints (under ``/open311/v2``; JSON only, any other format is a 404)::

    GET  /services.json                the three categories
    GET  /requests.json                filters: service_request_id (comma list),
                                       service_code, start_date, end_date,
                                       status=open|closed; default the last 90
                                       days, at most 1000 requests
    GET  /requests/<ticket>.json       one request
    POST /requests.json                file a complaint (api_key required)

Privacy (DESIGN.md §5-§6: personal data never leaves through this API):

- confidential complaints are never listed and answer 404 by id;
- no reporter field is ever output (id, phone, name, channel);
- the description of an anonymous complaint is not published at all (free text
  can name the reporter in ways no masking catches); other descriptions are
  masked: phone numbers, NIK, e-mails and names found by ``lokal.mask_pii``
  (placeholder mode: ``[PHONE_1]``, ``[NAME_1]``...), the reporter's own name and
  phone wherever they appear, and any remaining run of 8+ digits;
- status notes are only the public ones (a follow-up, a result, a rejection
  reason), masked the same way; internal notes and citizen replies never;
- a pin is rounded to 3 decimals (about 100 m); without a pin, the desa (or
  kecamatan) centroid from the region data is given;
- media_url is never set (photos may show people).

Keys for POST come from the environment: ``OPEN311_API_KEYS`` (comma-separated).
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import hashlib
import hmac
import logging
import os
import re
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, jsonify, request
from sqlalchemy import select
from sqlalchemy.orm import Session

from lapor import config, db, deadlines, workflow
from lapor.models import Complaint, ComplaintMessage, StatusChange, as_utc

logger = logging.getLogger(__name__)

open311 = Blueprint("open311", __name__, url_prefix="/open311/v2")

MAX_REQUESTS = 1000
DEFAULT_DAYS = 90
CHANNEL = "open311"
PIN_DECIMALS = 3
PUBLIC_NOTE_STATUSES = ("ditindaklanjuti", "selesai", "ditolak")
PUBLIC_MESSAGE_KINDS = ("tindak_lanjut", "hasil")

SERVICES = {
    "pemerintahan": {
        "description": (
            "Layanan pemerintahan: administrasi kependudukan (KTP, KK, akta), "
            "pelayanan kantor desa dan kecamatan, pendidikan, perizinan."
        ),
        "keywords": "ktp,kk,akta,kependudukan,desa,kecamatan,sekolah,izin",
        "group": "Pemerintahan",
    },
    "pembangunan": {
        "description": (
            "Infrastruktur dan lingkungan: jalan, jembatan, lampu jalan, saluran "
            "air, irigasi, sampah, air bersih."
        ),
        "keywords": "jalan,jembatan,lampu jalan,drainase,irigasi,sampah,air bersih",
        "group": "Pembangunan",
    },
    "kesehatan": {
        "description": (
            "Layanan kesehatan: puskesmas, rumah sakit, BPJS, posyandu, "
            "sanitasi dan penyakit menular."
        ),
        "keywords": "puskesmas,rumah sakit,bpjs,posyandu,jamban,demam berdarah",
        "group": "Kesehatan",
    },
}
_DIGIT_RUN = re.compile(r"(?:\+?\d[\s.\-]?){8,}")
_WORD = re.compile(r"[A-Za-zÀ-ɏ']{3,}")


class ApiError(Exception):
    """An error answered as GeoReport's ``[{"code": ..., "description": ...}]``."""

    def __init__(self, code: int, description: str) -> None:
        super().__init__(description)
        self.code = code
        self.description = description


@open311.errorhandler(ApiError)
def _api_error(exc: ApiError) -> tuple[Response, int]:
    return jsonify([{"code": exc.code, "description": exc.description}]), exc.code


def _json_only(fmt: str) -> None:
    if fmt != "json":
        raise ApiError(404, f"Format '{fmt}' tidak didukung; gunakan .json")


def _session():
    from flask import current_app

    return db.session_scope(current_app.config.get("LAPOR_DATABASE_URL"))


# ------------------------------------------------------------------------ privacy


def mask_text(text: str | None, complaint: Complaint | None = None) -> str:
    """Mask personal data in free text (see the module notes)."""
    import lokal

    if not text:
        return ""
    masked = lokal.mask_pii(text, mode="placeholder").text
    if complaint is not None:
        for word in _WORD.findall(complaint.reporter_name or ""):
            masked = re.sub(
                rf"(?<!\w){re.escape(word)}(?!\w)", "[NAMA]", masked, flags=re.I
            )
        for raw in (complaint.reporter_phone, complaint.reporter_id):
            digits = re.sub(r"\D", "", raw or "")
            if len(digits) >= 8:
                masked = masked.replace(digits, "[PHONE]")
                if digits.startswith("62"):
                    masked = masked.replace("0" + digits[2:], "[PHONE]")
    return _DIGIT_RUN.sub("[ANGKA] ", masked).strip()


def public_description(complaint: Complaint) -> str:
    """The description as published: withheld when anonymous, masked otherwise."""
    if complaint.anonymous:
        return "Uraian laporan anonim tidak dipublikasikan."
    return mask_text(complaint.detail, complaint)


# ------------------------------------------------------------------------ fields


def _iso(value: dt.datetime | None) -> str | None:
    if value is None:
        return None
    return as_utc(value).astimezone(deadlines.WIB).isoformat(timespec="seconds")


def _end_of_day(day: dt.date | None) -> str | None:
    if day is None:
        return None
    return dt.datetime.combine(day, dt.time(23, 59, 59), deadlines.WIB).isoformat()


@functools.cache
def _centroids(folder: Path) -> dict[str, tuple[float, float]]:
    out: dict[str, tuple[float, float]] = {}
    for name in ("kecamatan.csv", "desa.csv"):
        path = folder / name
        if not path.is_file():
            continue
        with path.open(encoding="utf-8", newline="") as handle:
            for row in csv.DictReader(handle):
                try:
                    out[row["code"]] = (float(row["lat"]), float(row["lon"]))
                except (KeyError, ValueError):
                    continue
    return out


def _position(complaint: Complaint) -> tuple[float | None, float | None]:
    if complaint.lat is not None and complaint.lon is not None:
        return round(complaint.lat, PIN_DECIMALS), round(complaint.lon, PIN_DECIMALS)
    folder = config.wilayah_dir()
    if folder is None:
        return None, None
    table = _centroids(folder)
    for code in (complaint.desa_code, complaint.kecamatan_code):
        if code and code in table:
            return table[code]
    return None, None


def _address(complaint: Complaint) -> str | None:
    from lapor import wilayah

    code = complaint.desa_code or complaint.kecamatan_code
    if not code:
        return None
    try:
        return f"{wilayah.display_name(code)}, Kabupaten Probolinggo"
    except KeyError:
        return None


def _service_name(kategori: str) -> str:
    from lapor import kategori as kategori_module

    return kategori_module.label(kategori)


def _status_notes(session: Session, complaint: Complaint) -> str | None:
    change = session.scalars(
        select(StatusChange)
        .where(
            StatusChange.complaint_id == complaint.id,
            StatusChange.to_status.in_(PUBLIC_NOTE_STATUSES),
        )
        .order_by(StatusChange.id.desc())
        .limit(1)
    ).first()
    message = session.scalars(
        select(ComplaintMessage)
        .where(
            ComplaintMessage.complaint_id == complaint.id,
            ComplaintMessage.kind.in_(PUBLIC_MESSAGE_KINDS),
        )
        .order_by(ComplaintMessage.id.desc())
        .limit(1)
    ).first()
    note = None
    if change is not None and change.actor not in (workflow.CITIZEN,):
        note = change.note
    if message is not None and (
        change is None or message.created_at > change.created_at
    ):
        note = message.text
    if complaint.status not in PUBLIC_NOTE_STATUSES:
        note = None  # e.g. reopened or sent back: no public note applies
    if note:
        return mask_text(note, complaint)
    if complaint.status == "didisposisikan":
        return "Laporan diteruskan ke " + workflow.join_units(
            workflow.unit_names(complaint)
        )
    return None


def _service_notice(complaint: Complaint) -> str:
    if complaint.status in ("baru", "diverifikasi"):
        return "Laporan diverifikasi dan diteruskan paling lambat 3 hari kerja."
    if complaint.status == "didisposisikan":
        return "Unit terkait menanggapi paling lambat 5 hari kerja setelah diteruskan."
    if complaint.status == "ditindaklanjuti":
        return "Sedang ditindaklanjuti sesuai tanggal target unit."
    return ""


def serialize(session: Session, complaint: Complaint) -> dict[str, Any]:
    """One GeoReport v2 service request, without any personal data."""
    lat, lon = _position(complaint)
    deadline = workflow.current_deadline(complaint)
    return {
        "service_request_id": complaint.ticket,
        "status": "closed" if complaint.status in workflow.CLOSED_STATUSES else "open",
        "status_notes": _status_notes(session, complaint),
        "service_name": _service_name(complaint.kategori),
        "service_code": complaint.kategori,
        "description": public_description(complaint),
        "agency_responsible": ", ".join(workflow.unit_names(complaint)) or None,
        "service_notice": _service_notice(complaint),
        "requested_datetime": _iso(complaint.created_at),
        "updated_datetime": _iso(complaint.updated_at),
        "expected_datetime": _end_of_day(deadline[1]) if deadline else None,
        "address": _address(complaint),
        "address_id": None,
        "zipcode": None,
        "lat": lat,
        "long": lon,
        "media_url": None,
    }


# --------------------------------------------------------------------- endpoints


@open311.get("/services.<fmt>")
def services(fmt: str):
    """GET services: the three categories."""
    _json_only(fmt)
    return jsonify(
        [
            {
                "service_code": code,
                "service_name": _service_name(code),
                "description": info["description"],
                "metadata": False,
                "type": "realtime",
                "keywords": info["keywords"],
                "group": info["group"],
            }
            for code, info in SERVICES.items()
        ]
    )


def _parse_datetime(name: str) -> dt.datetime | None:
    raw = (request.args.get(name) or "").strip()
    if not raw:
        return None
    try:
        value = dt.datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise ApiError(400, f"{name} harus berformat W3C/ISO 8601") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=deadlines.WIB)
    # Stored times are UTC (SQLite keeps them without an offset).
    return value.astimezone(dt.timezone.utc)


def _public(query):
    return query.where(Complaint.confidential.is_(False))


@open311.get("/requests.<fmt>")
def list_requests(fmt: str):
    """GET requests with the GeoReport v2 filters."""
    _json_only(fmt)
    ids = [
        t.strip().upper()
        for t in (request.args.get("service_request_id") or "").split(",")
        if t.strip()
    ]
    query = _public(select(Complaint))
    if ids:  # the spec: other parameters are ignored
        query = query.where(Complaint.ticket.in_(ids[:MAX_REQUESTS]))
    else:
        code = (request.args.get("service_code") or "").strip()
        if code:
            if code not in SERVICES:
                raise ApiError(400, f"service_code '{code}' tidak dikenal")
            query = query.where(Complaint.kategori == code)
        start = _parse_datetime("start_date")
        end = _parse_datetime("end_date")
        if start is None:
            start = (end or dt.datetime.now(dt.timezone.utc)) - dt.timedelta(
                days=DEFAULT_DAYS
            )
        query = query.where(Complaint.created_at >= start)
        if end is not None:
            query = query.where(Complaint.created_at <= end)
        status = (request.args.get("status") or "").strip().lower()
        if status:
            wanted = {s.strip() for s in status.split(",")}
            if not wanted <= {"open", "closed"}:
                raise ApiError(400, "status harus 'open' atau 'closed'")
            if wanted == {"open"}:
                query = query.where(Complaint.status.in_(workflow.OPEN_STATUSES))
            elif wanted == {"closed"}:
                query = query.where(Complaint.status.in_(workflow.CLOSED_STATUSES))
    query = query.order_by(Complaint.created_at.desc()).limit(MAX_REQUESTS)
    with _session() as session:
        rows = session.scalars(query).all()
        return jsonify([serialize(session, c) for c in rows])


@open311.get("/requests/<ticket>.<fmt>")
def get_request(ticket: str, fmt: str):
    """GET one request by ticket (confidential ones do not exist here)."""
    _json_only(fmt)
    with _session() as session:
        complaint = session.scalars(
            _public(select(Complaint)).where(Complaint.ticket == ticket.strip().upper())
        ).first()
        if complaint is None:
            raise ApiError(404, f"Laporan {ticket} tidak ditemukan")
        return jsonify([serialize(session, complaint)])


def api_keys() -> list[str]:
    """The accepted API keys (``OPEN311_API_KEYS``, comma-separated)."""
    raw = os.environ.get("OPEN311_API_KEYS", "")
    return [k.strip() for k in raw.split(",") if k.strip()]


def _check_key(key: str) -> str:
    """A short, non-secret label of a valid key (for ``reporter_id``)."""
    if not key:
        raise ApiError(400, "api_key wajib diisi")
    valid = any(hmac.compare_digest(key.encode(), k.encode()) for k in api_keys())
    if not valid:
        raise ApiError(403, "api_key tidak valid")
    return hashlib.sha256(key.encode()).hexdigest()[:12]


def _float(name: str) -> float | None:
    raw = (request.form.get(name) or "").strip()
    if not raw:
        return None
    try:
        return float(raw)
    except ValueError:
        raise ApiError(400, f"{name} harus berupa angka") from None


def _locate() -> tuple[str | None, str | None, float | None, float | None]:
    """(kecamatan code, desa code, lat, lon) from lat/long or address_string."""
    from lapor import wilayah

    lat, lon = _float("lat"), _float("long")
    address = (request.form.get("address_string") or "").strip()
    if (lat is None) != (lon is None):
        raise ApiError(400, "lat dan long harus diisi berdua")
    if lat is not None:
        found = wilayah.locate_point(lat, lon)
        if found.status == "ok" and found.desa is not None:
            return found.desa.kecamatan_code, found.desa.code, lat, lon
        if found.status != "unavailable" or not address:
            raise ApiError(400, "Lokasi berada di luar Kabupaten Probolinggo")
    if not address:
        raise ApiError(400, "lat/long atau address_string wajib diisi")
    found = wilayah.resolve(address)
    if found.status == "ok" and found.desa is not None:
        return found.desa.kecamatan_code, found.desa.code, None, None
    if found.kecamatan is not None and found.status in (
        "ok",
        "kecamatan_only",
        "ambiguous",
    ):
        return found.kecamatan.code, None, None, None
    if found.status == "kota":
        raise ApiError(
            400, "Lokasi berada di Kota Probolinggo; silakan lapor ke Pemkot"
        )
    raise ApiError(400, "Lokasi tidak dikenali di Kabupaten Probolinggo")


@open311.post("/requests.<fmt>")
def create_request(fmt: str):
    """POST a service request (form-encoded, GeoReport v2)."""
    from lapor.services import NewComplaint, file_complaint

    _json_only(fmt)
    form = request.form
    key_label = _check_key((form.get("api_key") or "").strip())
    code = (form.get("service_code") or "").strip()
    if not code:
        raise ApiError(400, "service_code wajib diisi")
    if code not in SERVICES:
        raise ApiError(404, f"service_code '{code}' tidak dikenal")
    description = (form.get("description") or "").strip()
    if not description:
        raise ApiError(400, "description wajib diisi")
    kecamatan, desa, lat, lon = _locate()
    name = " ".join(
        p
        for p in ((form.get("first_name") or "").strip(), form.get("last_name"))
        if p and p.strip()
    )
    phone = (form.get("phone") or "").strip() or None
    with _session() as session:
        filed = file_complaint(
            session,
            NewComplaint(
                kategori=code,
                detail=description[:4000],
                reporter_id=f"open311:{key_label}",
                channel=CHANNEL,
                kecamatan_code=kecamatan,
                desa_code=desa,
                reporter_name=name[:80] or None,
                reporter_phone=phone[:20] if phone else None,
                lat=lat,
                lon=lon,
                actor=f"open311:{key_label}",
            ),
        )
    logger.info("open311 request filed: %s", filed.ticket)
    notice = (
        "Terima kasih. Laporan diverifikasi dan diteruskan paling lambat "
        f"{deadlines.format_date(filed.verify_due)}."
    )
    return jsonify(
        [
            {
                "service_request_id": filed.ticket,
                "service_notice": notice,
                "account_id": None,
            }
        ]
    )
