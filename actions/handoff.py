"""Emergencies, asking for a person, misunderstandings, media and the menu."""

from __future__ import annotations

import logging

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActiveLoop, EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.common import END_SESSION, entity, in_thread, menu_buttons
from lapor import db, handoff
from lapor.models import Attachment

logger = logging.getLogger(__name__)

# The bot failed to understand this many times in a row: a person takes over.
MISUNDERSTANDINGS_BEFORE_HANDOFF = 2


def _queue(sender_id: str, reason: str, urgent: bool) -> handoff.QueueTicket:
    with db.session_scope() as session:
        return handoff.request_handoff(session, sender_id, reason, urgent=urgent)


def _leave_form(tracker: Tracker) -> list[EventType]:
    """Deactivate the intake (its answers stay visible to the operator)."""
    if tracker.active_loop_name:
        return [ActiveLoop(None), SlotSet("requested_slot", None)]
    return []


async def _hand_over(
    dispatcher: CollectingDispatcher, tracker: Tracker, reason: str, urgent: bool
) -> bool:
    """Queue the conversation and tell the citizen; False if the queue is down."""
    try:
        ticket = await in_thread(_queue, tracker.sender_id, reason, urgent)
    except Exception:
        logger.exception("could not queue the conversation for an operator")
        return False
    if ticket.already_queued:
        dispatcher.utter_message(response="utter_sudah_antre")
    else:
        dispatcher.utter_message(
            response="utter_antre_operator", menit=ticket.expected_wait_minutes
        )
    return True


class ActionDarurat(Action):
    """Give the emergency number at once, then flag the conversation as urgent."""

    def name(self) -> str:
        return "action_darurat"

    async def run(self, dispatcher, tracker, domain) -> list[EventType]:
        # 112 first: it must reach the citizen even if the database is down.
        dispatcher.utter_message(response="utter_darurat")
        try:
            await in_thread(_queue, tracker.sender_id, "darurat", True)
        except Exception:
            logger.exception("could not flag an emergency for an operator")
        return _leave_form(tracker)


def _previous_action(tracker: Tracker) -> str | None:
    """The last bot action before the latest user message."""
    seen_user = False
    for event in reversed(tracker.events):
        if event.get("event") == "user":
            seen_user = True
        elif seen_user and event.get("event") == "action":
            name = event.get("name")
            if name != "action_listen":
                return name
    return None


class ActionMintaOperator(Action):
    """Queue the conversation for a person."""

    def name(self) -> str:
        return "action_minta_operator"

    async def run(self, dispatcher, tracker, domain) -> list[EventType]:
        disputed = _previous_action(tracker) == "action_cek_status"
        reason = "sengketa_status" if disputed else "permintaan_warga"
        if not await _hand_over(dispatcher, tracker, reason, urgent=False):
            dispatcher.utter_message(response="utter_gangguan")
        return _leave_form(tracker)


def consecutive_misunderstandings(tracker: Tracker) -> int:
    """How many of the latest user messages in a row NLU could not understand."""
    count = 0
    for event in reversed(tracker.events):
        if event.get("event") != "user":
            continue
        intent = (event.get("parse_data") or {}).get("intent") or {}
        if intent.get("name") != "nlu_fallback":
            break
        count += 1
    return count


class ActionTidakPaham(Action):
    """Ask to rephrase; on the second misunderstanding in a row, hand over."""

    def name(self) -> str:
        return "action_tidak_paham"

    async def run(self, dispatcher, tracker, domain) -> list[EventType]:
        if consecutive_misunderstandings(tracker) >= MISUNDERSTANDINGS_BEFORE_HANDOFF:
            if await _hand_over(dispatcher, tracker, "tidak_paham", urgent=False):
                return _leave_form(tracker)
        dispatcher.utter_message(response="utter_tidak_paham", buttons=menu_buttons())
        return []


class ActionMenu(Action):
    """What the service offers, as buttons."""

    def name(self) -> str:
        return "action_menu"

    async def run(self, dispatcher, tracker, domain) -> list[EventType]:
        dispatcher.utter_message(response="utter_menu", buttons=menu_buttons())
        # In the middle of the intake the form goes on; otherwise nothing is pending.
        return [] if tracker.active_loop_name else [END_SESSION]


def _latest_attachment_ticket(sender_id: str) -> str | None:
    from sqlalchemy import select

    with db.session_scope() as session:
        item = session.scalars(
            select(Attachment)
            .where(Attachment.sender_id == sender_id)
            .order_by(Attachment.id.desc())
            .limit(1)
        ).first()
        if item is not None and item.complaint is not None:
            return item.complaint.ticket
    return None


class ActionTerimaMedia(Action):
    """Acknowledge a photo, document or voice note the channel stored."""

    def name(self) -> str:
        return "action_terima_media"

    async def run(self, dispatcher, tracker, domain) -> list[EventType]:
        if entity(tracker, "media") == "audio":
            dispatcher.utter_message(response="utter_suara_diterima")
            return []
        if tracker.active_loop_name:
            dispatcher.utter_message(response="utter_media_diterima")
            return []
        try:
            ticket = await in_thread(_latest_attachment_ticket, tracker.sender_id)
        except Exception:
            logger.exception("could not look up the attachment")
            ticket = None
        if ticket:
            dispatcher.utter_message(response="utter_media_dilampirkan", tiket=ticket)
        else:
            dispatcher.utter_message(response="utter_media_tanpa_laporan")
        return []


# Single-turn answers: nothing is pending after them, so the session ends there
# and the next message starts a fresh, cheap session (see CONVENTIONS.md).
SHORT_ANSWERS = {
    "salam": "utter_salam",
    "terima_kasih": "utter_sama_sama",
    "di_luar_topik": "utter_di_luar_topik",
    "batal": "utter_tidak_ada_yang_dibatalkan",
    "pilih": "utter_pilihan_tidak_berlaku",
}


class ActionJawabSingkat(Action):
    """Answer a greeting, thanks, an out-of-scope question... then end the session."""

    def name(self) -> str:
        return "action_jawab_singkat"

    async def run(self, dispatcher, tracker, domain) -> list[EventType]:
        intent = (tracker.latest_message.get("intent") or {}).get("name")
        dispatcher.utter_message(response=SHORT_ANSWERS.get(intent, "utter_menu"))
        return [END_SESSION]
