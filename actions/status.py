"""Status checks: one ticket, or the sender's own complaints."""

from __future__ import annotations

import logging

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher

from actions.common import entity, in_thread, menu_buttons
from lapor import db, services, tickets
from lapor import kategori as kategori_core
from lapor.deadlines import format_date, local_date
from lapor.models import STATUS_LABELS

logger = logging.getLogger(__name__)

MAX_LISTED = 5


def _unit_names(complaint) -> str:
    """The OPD and camat a complaint is routed to, for display."""
    from lapor import workflow

    return workflow.join_units(workflow.unit_names(complaint)) or "-"


def _lookup(ticket: str | None, sender_id: str) -> dict:
    """Everything the reply needs, read in one short transaction."""
    with db.session_scope() as session:
        if ticket:
            complaint = services.find_by_ticket(session, ticket)
            if complaint is None:
                return {"found": False}
            own = complaint.reporter_id == sender_id
            if complaint.confidential and not own:
                return {"found": False}
            last = complaint.history[-1] if complaint.history else None
            note = ""
            if complaint.status == "baru":
                note = "Batas verifikasi: " + format_date(complaint.verify_due)
            elif own and last and last.note:
                note = "Catatan: " + last.note
            return {
                "found": True,
                "tiket": complaint.ticket,
                "status": STATUS_LABELS.get(complaint.status, complaint.status),
                "kategori_label": kategori_core.label(complaint.kategori),
                "unit": _unit_names(complaint),
                "tanggal": format_date(local_date(complaint.created_at)),
                "catatan": note,
            }
        own_list = services.complaints_of(session, sender_id, limit=MAX_LISTED)
        return {
            "list": [
                f"• *{c.ticket}* ({kategori_core.label(c.kategori)}, "
                f"{format_date(local_date(c.created_at))}): "
                f"{STATUS_LABELS.get(c.status, c.status)}"
                for c in own_list
            ]
        }


class ActionCekStatus(Action):
    """Answer "cek status LK-XXXXXX" or "laporan saya"."""

    def name(self) -> str:
        return "action_cek_status"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain
    ) -> list[EventType]:
        text = tracker.latest_message.get("text") or ""
        ticket = tickets.find_ticket(text) or tickets.find_ticket(
            entity(tracker, "tiket")
        )
        shaped_like_ticket = tickets.mentions_ticket(text)
        if shaped_like_ticket and ticket is None:
            dispatcher.utter_message(
                response="utter_status_tidak_ditemukan", tiket=text.strip()[:20]
            )
            return []
        result = await in_thread(_lookup, ticket, tracker.sender_id)
        if ticket and not result["found"]:
            dispatcher.utter_message(
                response="utter_status_tidak_ditemukan", tiket=ticket
            )
        elif ticket:
            result.pop("found")
            dispatcher.utter_message(response="utter_status", **result)
        elif result["list"]:
            dispatcher.utter_message(
                response="utter_status_daftar", daftar="\n".join(result["list"])
            )
        else:
            dispatcher.utter_message(response="utter_status_tanya_tiket")
        return []


def _confirm(ticket: str | None, sender_id: str, resolved: bool) -> str | None:
    """Record the answer; without a ticket, for the complaint awaiting one.

    Returns the ticket answered, or None when nothing awaits an answer.
    """
    from lapor import workflow

    with db.session_scope() as session:
        if ticket is None:
            waiting = workflow.awaiting_confirmation(session, sender_id)
            if waiting is None:
                return None
            ticket = waiting.ticket
        workflow.citizen_confirms(session, ticket, sender_id, resolved)
        return ticket


class ActionKonfirmasiSelesai(Action):
    """The citizen's answer to "is it resolved?" after selesai.

    From the buttons (``/konfirmasi_selesai{"tiket": ..., "jawab": ...}``) or, when
    the update went as a template without buttons, a plain "sudah" / "belum"
    (intents setuju / tolak). With nothing awaiting an answer, yes/no shows the menu.
    """

    def name(self) -> str:
        return "action_konfirmasi_selesai"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain
    ) -> list[EventType]:
        intent = (tracker.latest_message.get("intent") or {}).get("name")
        answer = entity(tracker, "jawab")
        ticket = tickets.find_ticket(entity(tracker, "tiket"))
        if intent != "konfirmasi_selesai":
            answer = "sudah" if intent == "setuju" else "belum"
        elif ticket is None or answer not in ("sudah", "belum"):
            dispatcher.utter_message(response="utter_selesai_tidak_berlaku")
            return []
        try:
            answered = await in_thread(
                _confirm, ticket, tracker.sender_id, answer == "sudah"
            )
        except Exception:  # not the reporter, not finished, or the database is down
            logger.exception("confirmation not recorded")
            dispatcher.utter_message(response="utter_selesai_tidak_berlaku")
            return []
        if answered is None:
            dispatcher.utter_message(response="utter_menu", buttons=menu_buttons())
            return []
        dispatcher.utter_message(
            response="utter_selesai_terima_kasih"
            if answer == "sudah"
            else "utter_selesai_dibuka_lagi",
            tiket=answered,
        )
        return []
