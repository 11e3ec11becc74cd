"""Filing the complaint, and cancelling the intake."""

from __future__ import annotations

import logging

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActiveLoop, EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.common import END_SESSION, channel_of, in_thread
from lapor import db, services, workflow
from lapor.deadlines import format_date

logger = logging.getLogger(__name__)


def _file(new: services.NewComplaint) -> services.FiledComplaint:
    with db.session_scope() as session:
        return services.file_complaint(session, new)


class ActionAjukanAduan(Action):
    """Store the confirmed complaint and tell the citizen its ticket."""

    def name(self) -> str:
        return "action_ajukan_aduan"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain
    ) -> list[EventType]:
        if tracker.get_slot("konfirmasi") != "kirim":
            return []
        anonymous = bool(tracker.get_slot("anonim"))
        new = services.NewComplaint(
            kategori=tracker.get_slot("kategori"),
            detail=tracker.get_slot("detail") or "",
            reporter_id=tracker.sender_id,
            channel=channel_of(tracker),
            kecamatan_code=tracker.get_slot("kecamatan"),
            desa_code=tracker.get_slot("desa"),
            reporter_name=None if anonymous else tracker.get_slot("nama"),
            anonymous=anonymous,
            lat=tracker.get_slot("lat"),
            lon=tracker.get_slot("lon"),
            source_message_id=(tracker.latest_message or {}).get("message_id"),
        )
        try:
            filed = await in_thread(_file, new)
        except Exception:  # the database is down: keep the draft, let them retry
            logger.exception("filing failed; the draft stays in the conversation")
            dispatcher.utter_message(response="utter_aduan_gagal")
            return [
                SlotSet("konfirmasi", None),
                ActiveLoop("aduan_form"),
                SlotSet("requested_slot", "konfirmasi"),
            ]
        units = workflow.join_units(
            [n for n in (filed.opd_name, filed.camat_name) if n]
        )
        name = None if anonymous else tracker.get_slot("nama")
        dispatcher.utter_message(
            response="utter_aduan_terkirim",
            sapaan=f"Bapak/Ibu {name}" if name else "Bapak/Ibu",
            tiket=filed.ticket,
            unit=units,
            batas=format_date(filed.verify_due),
        )
        # The session ends here; "laporan saya" finds the ticket in the database.
        return [END_SESSION]


class ActionBatal(Action):
    """Cancel the intake: nothing is filed, the slots are forgotten."""

    def name(self) -> str:
        return "action_batal"

    async def run(self, dispatcher, tracker, domain) -> list[EventType]:
        dispatcher.utter_message(response="utter_batal")
        return [ActiveLoop(None), SlotSet("requested_slot", None), END_SESSION]
