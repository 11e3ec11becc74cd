"""Small helpers of the console: masking, time display, running coroutines."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Awaitable
from typing import Any, TypeVar

from lapor.models import as_utc

logger = logging.getLogger(__name__)

T = TypeVar("T")
WIB = dt.timezone(dt.timedelta(hours=7), "WIB")

REASON_LABELS = {
    "permintaan_warga": "Warga minta petugas",
    "darurat": "Darurat",
    "tidak_paham": "Bot tidak paham",
    "sengketa_status": "Keberatan atas status",
    "dipilih_operator": "Dipilih operator",
}
STATE_LABELS = {
    "bot": "Dilayani bot",
    "menunggu": "Menunggu petugas",
    "operator": "Dilayani petugas",
}
DELIVERY_LABELS = {
    "pending": "menunggu kirim",
    "sending": "mengirim",
    "sent": "terkirim",
    "delivered": "diterima",
    "read": "dibaca",
    "failed": "gagal",
}


def mask_phone(sender_id: str) -> str:
    """A number safe for lists and logs, e.g. ``0812****7890``."""
    if not sender_id:
        return "?"
    try:
        import lokal

        return lokal.partial_mask("PHONE", sender_id)
    except Exception:  # noqa: BLE001 - any failure: keep only the last digits
        return "****" + sender_id[-4:]


def national_number(sender_id: str) -> str:
    """The full number as an Indonesian reads it (``0812-3456-7890``)."""
    try:
        import lokal

        info = lokal.parse_phone(sender_id)
        if getattr(info, "valid", False) and info.national:
            return info.national
    except Exception:  # noqa: BLE001 - not a number lokal knows
        logger.debug("number not parsed")
    return "+" + sender_id if sender_id.isdigit() else sender_id


def wib(value: dt.datetime | None, with_date: bool = False) -> str:
    """``14:05`` (or ``04/12 14:05``) in Western Indonesian Time."""
    value = as_utc(value)
    if value is None:
        return "-"
    local = value.astimezone(WIB)
    return local.strftime("%d/%m %H:%M" if with_date else "%H:%M")


def duration(seconds: float | None) -> str:
    """``45 detik``, ``3 menit``, ``1 jam 5 menit``."""
    if seconds is None:
        return "-"
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds} detik"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} menit"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} jam {minutes} menit" if minutes else f"{hours} jam"


def run_async(coro: Awaitable[T]) -> T:
    """Run a coroutine of the WhatsApp sender from a sync request handler.

    Each call gets its own event loop; the Graph API client of that loop is
    closed afterwards.
    """
    from lapor.whatsapp.graph import close_client

    async def wrapper() -> Any:
        try:
            return await coro
        finally:
            await close_client()

    return asyncio.run(wrapper())
