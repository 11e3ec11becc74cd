"""The simulated phone (sandbox mode only): be a citizen on the real webhook path.

Messages typed here are posted as signed WhatsApp Cloud API webhooks to the
Rasa server's ``/webhooks/whatsapp/webhook`` (``RASA_URL``); photos are first
registered as media on the fake Graph API. Replies to the chosen number are
read back from the fake Graph API's ``/_fake/messages``.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import logging
import os
import time
import uuid
from typing import Any
from urllib.parse import urlsplit

import requests
from flask import Blueprint, Flask, abort, jsonify, render_template, request
from sqlalchemy import select

from lapor import db
from lapor.console.auth import roles_required
from lapor.console.util import wib
from lapor.models import as_utc, utcnow

logger = logging.getLogger(__name__)

bp = Blueprint("sandbox", __name__)

DEFAULT_NUMBER = "6281200000001"
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")
MAX_PHOTO_BYTES = 5 * 1024 * 1024


def graph_url() -> str:
    """``WHATSAPP_API_URL`` (with the Graph API version)."""
    return os.environ.get(
        "WHATSAPP_API_URL", "https://graph.facebook.com/v21.0"
    ).rstrip("/")


def sandbox_enabled() -> bool:
    """True when the Graph API is a local fake server (never with Meta's)."""
    return urlsplit(graph_url()).hostname in LOCAL_HOSTS


def fake_base() -> str:
    """The fake server's root (its control endpoints live under ``/_fake``)."""
    parts = urlsplit(graph_url())
    return f"{parts.scheme}://{parts.netloc}"


def rasa_webhook() -> str:
    """The WhatsApp webhook of the Rasa server."""
    base = os.environ.get("RASA_URL", "http://127.0.0.1:5005").rstrip("/")
    return f"{base}/webhooks/whatsapp/webhook"


def webhook_body(number: str, message: dict[str, Any]) -> dict[str, Any]:
    """A Cloud API webhook body carrying one message from ``number``."""
    from lapor.whatsapp.fake_graph import webhook_body as body

    return body(number, message, name="Warga Simulasi")


def post_webhook(number: str, message: dict[str, Any]) -> int:
    """Sign and POST a webhook to Rasa; returns the HTTP status."""
    from lapor.whatsapp.inbound import sign

    secret = os.environ.get("WHATSAPP_APP_SECRET", "")
    if not secret:
        raise RuntimeError("WHATSAPP_APP_SECRET is not set")
    raw = json.dumps(webhook_body(number, message)).encode()
    response = requests.post(
        rasa_webhook(),
        data=raw,
        headers={
            "Content-Type": "application/json",
            "X-Hub-Signature-256": sign(raw, secret),
        },
        timeout=10,
    )
    return response.status_code


def _base_message(number: str, kind: str) -> dict[str, Any]:
    return {
        "from": number,
        "id": f"wamid.SIM{uuid.uuid4().hex.upper()}",
        "timestamp": str(int(time.time())),
        "type": kind,
    }


def _valid_number(number: str) -> bool:
    return number.isdigit() and 8 <= len(number) <= 15


def _guard() -> None:
    if not sandbox_enabled():
        abort(404)


@bp.route("/simulasi")
@roles_required("operator", "admin")
def phone() -> Any:
    """The simulated phone page."""
    _guard()
    return render_template("sandbox.html", default_number=DEFAULT_NUMBER)


@bp.route("/api/simulasi/kirim", methods=["POST"])
@roles_required("operator", "admin")
def send() -> Any:
    """Send a citizen message: text, photo, location or a tapped button."""
    _guard()
    data = (
        request.form
        if request.files or request.form
        else (request.get_json(silent=True) or {})
    )
    number = "".join(ch for ch in str(data.get("number", "")) if ch.isdigit())
    if not _valid_number(number):
        return jsonify(
            ok=False, error="Nomor tidak valid (gunakan format 628...)."
        ), 400
    kind = data.get("type", "text")
    if kind == "text":
        text = str(data.get("text", "")).strip()
        if not text:
            return jsonify(ok=False, error="Pesan kosong."), 400
        message = _base_message(number, "text")
        message["text"] = {"body": text}
    elif kind == "location":
        try:
            lat, lon = float(data.get("lat")), float(data.get("lon"))
        except (TypeError, ValueError):
            return jsonify(ok=False, error="Koordinat tidak valid."), 400
        if not (-90 <= lat <= 90 and -180 <= lon <= 180):
            return jsonify(ok=False, error="Koordinat tidak valid."), 400
        message = _base_message(number, "location")
        message["location"] = {"latitude": lat, "longitude": lon}
        if data.get("name"):
            message["location"]["name"] = str(data["name"])[:100]
    elif kind == "image":
        upload = request.files.get("photo")
        if upload is None:
            return jsonify(ok=False, error="Pilih foto terlebih dahulu."), 400
        content = upload.read(MAX_PHOTO_BYTES + 1)
        if not content or len(content) > MAX_PHOTO_BYTES:
            return jsonify(ok=False, error="Foto kosong atau lebih dari 5 MB."), 400
        mime = (upload.mimetype or "image/jpeg").split(";")[0]
        if not mime.startswith("image/"):
            return jsonify(ok=False, error="Berkas bukan gambar."), 400
        media_id = f"sim{uuid.uuid4().hex[:16]}"
        registered = requests.post(
            f"{fake_base()}/_fake/media",
            json={
                "id": media_id,
                "mime_type": mime,
                "data_base64": base64.b64encode(content).decode(),
            },
            timeout=10,
        )
        if registered.status_code != 200:
            return jsonify(ok=False, error="Fake Graph API menolak foto."), 502
        message = _base_message(number, "image")
        message["image"] = {"id": media_id, "mime_type": mime}
        caption = str(data.get("caption", "")).strip()
        if caption:
            message["image"]["caption"] = caption
    elif kind in ("button_reply", "list_reply"):
        reply_id, title = str(data.get("id", "")), str(data.get("title", ""))
        if not reply_id:
            return jsonify(ok=False, error="Pilihan tanpa id."), 400
        message = _base_message(number, "interactive")
        reply: dict[str, Any] = {"id": reply_id, "title": title[:24]}
        message["interactive"] = {"type": kind, kind: reply}
    else:
        return jsonify(ok=False, error="Jenis pesan tidak dikenal."), 400
    try:
        status = post_webhook(number, message)
    except (requests.RequestException, RuntimeError) as exc:
        logger.warning("sandbox webhook failed: %s", type(exc).__name__)
        return jsonify(ok=False, error="Server bot (Rasa) tidak dapat dihubungi."), 502
    if status != 200:
        return jsonify(ok=False, error=f"Webhook ditolak (HTTP {status})."), 502
    return jsonify(ok=True, id=message["id"])


def _render_outgoing(body: dict[str, Any]) -> dict[str, Any]:
    kind = body.get("type")
    out: dict[str, Any] = {"type": kind, "text": "", "buttons": []}
    if kind == "text":
        out["text"] = (body.get("text") or {}).get("body", "")
    elif kind == "interactive":
        inter = body.get("interactive") or {}
        out["text"] = (inter.get("body") or {}).get("text", "")
        action = inter.get("action") or {}
        if inter.get("type") == "button":
            out["buttons"] = [
                {
                    "kind": "button_reply",
                    "id": b["reply"]["id"],
                    "title": b["reply"]["title"],
                }
                for b in action.get("buttons", [])
                if isinstance(b, dict) and "reply" in b
            ]
        elif inter.get("type") == "list":
            out["list_label"] = action.get("button", "Pilih")
            out["buttons"] = [
                {
                    "kind": "list_reply",
                    "id": row["id"],
                    "title": row.get("title", ""),
                    "description": row.get("description", ""),
                }
                for section in action.get("sections", [])
                for row in section.get("rows", [])
            ]
    elif kind == "template":
        template = body.get("template") or {}
        params = [
            p.get("text", "")
            for c in template.get("components", [])
            for p in c.get("parameters", [])
        ]
        out["text"] = f"[Templat {template.get('name', '')}] " + " | ".join(params)
    elif kind in ("image", "document", "video", "audio"):
        media = body.get(kind) or {}
        out["text"] = media.get("caption") or media.get("link") or f"[{kind}]"
    else:
        out["text"] = f"[{kind}]"
    return out


@bp.route("/api/simulasi/pesan")
@roles_required("operator", "admin")
def messages() -> Any:
    """The chat of ``number``: what it sent (stored) and what it received (fake API)."""
    from lapor.whatsapp.models import WaInbound, WaOutbound

    _guard()
    number = "".join(ch for ch in request.args.get("number", "") if ch.isdigit())
    if not _valid_number(number):
        return jsonify(messages=[])
    try:
        fake = requests.get(f"{fake_base()}/_fake/messages", timeout=5).json()
    except (requests.RequestException, ValueError):
        return jsonify(messages=[], error="Fake Graph API tidak dapat dihubungi.")
    received = [m for m in fake if m.get("to") == number]
    far_past = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
    chat: list[dict[str, Any]] = []
    with db.session_scope() as s:
        wamids = [m.get("_wamid") for m in received if m.get("_wamid")]
        sent_at = {}
        authors = {}
        if wamids:
            for wamid, created, author in s.execute(
                select(
                    WaOutbound.wamid, WaOutbound.created_at, WaOutbound.author
                ).where(WaOutbound.wamid.in_(wamids))
            ):
                sent_at[wamid] = as_utc(created)
                authors[wamid] = author
        for index, body in enumerate(received):
            item = _render_outgoing(body)
            wamid = body.get("_wamid")
            at = sent_at.get(wamid) or utcnow()
            author = authors.get(wamid, "bot")
            item.update(
                side="in",
                author="Bot"
                if author == "bot"
                else ("Sistem" if author == "system" else "Petugas"),
                at=at,
                order=(at, 1, index),
            )
            chat.append(item)
        for row in s.scalars(
            select(WaInbound)
            .where(WaInbound.sender_id == number)
            .order_by(WaInbound.id)
        ):
            at = as_utc(row.sent_at) or as_utc(row.received_at) or far_past
            label = row.text or {
                "image": "[foto]",
                "location": "[lokasi]",
                "audio": "[pesan suara]",
            }.get(row.msg_type, f"[{row.msg_type}]")
            if row.msg_type == "location" and isinstance(row.payload, dict):
                loc = row.payload.get("location") or {}
                label = f"Lokasi: {loc.get('latitude')}, {loc.get('longitude')}"
            chat.append(
                {
                    "side": "out",
                    "type": row.msg_type,
                    "text": label,
                    "buttons": [],
                    "at": at,
                    "order": (as_utc(row.received_at) or at, 0, row.id),
                }
            )
    chat.sort(key=lambda m: m["order"])
    for item in chat:
        item["time"] = wib(item.pop("at"))
        item.pop("order")
    return jsonify(messages=chat)


def init_app(app: Flask) -> None:
    """Register the sandbox views (they answer 404 outside sandbox mode)."""
    app.register_blueprint(bp)

    @app.context_processor
    def _sandbox() -> dict[str, Any]:
        return {"sandbox_enabled": sandbox_enabled()}
