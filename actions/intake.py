"""The intake form: understanding answers, asking the next question."""

from __future__ import annotations

import logging
from typing import Any

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.common import (
    ALWAYS_INTERRUPTS,
    INTERRUPT_CONFIDENCE,
    SHORT_INTERRUPTS,
    SHORT_MESSAGE_WORDS,
    asked_again,
    button,
    entity,
    in_thread,
    latest_intent,
)
from lapor import intake, wilayah
from lapor import kategori as kategori_core
from lapor.tickets import mentions_ticket

logger = logging.getLogger(__name__)

FORM = "aduan_form"
KOTA = "kota"  # the Kota Probolinggo option among ambiguous places
BASE_SLOTS = ["kategori", "lokasi", "detail", "nama"]
SUMMARY_DETAIL_CHARS = 400
# Slots cleared when the citizen changes one part of the summary.
RESET_ON_CHANGE = {
    "kategori": ("kategori",),
    "lokasi": (
        "lokasi",
        "kecamatan",
        "desa",
        "lat",
        "lon",
        "lokasi_status",
        "lokasi_pilihan",
        "lokasi_teks",
    ),
    "detail": ("detail", "detail_draf"),
    "nama": ("nama", "anonim"),
}


def is_interruption(tracker: Tracker) -> bool:
    """Whether the latest message leaves the form's question for a rule to answer."""
    intent, confidence = latest_intent(tracker)
    text = tracker.latest_message.get("text") or ""
    if intent in ALWAYS_INTERRUPTS:
        return True
    if intent == "darurat":
        return confidence >= INTERRUPT_CONFIDENCE
    if intent in SHORT_INTERRUPTS and confidence >= INTERRUPT_CONFIDENCE:
        if intent == "cek_status" and mentions_ticket(text):
            return True
        return len(intake.words(text)) <= SHORT_MESSAGE_WORDS
    return False


class ValidateAduanForm(FormValidationAction):
    """Reads each answer of the intake and decides what to ask next.

    Every turn: a location pin sets the place whatever was asked; on activation
    the first message is read whole (one-shot filing); otherwise the answer
    goes to the requested slot. A message that is an interruption returns no
    event, so the form is rejected and the rules answer it.
    """

    def name(self) -> str:
        return "validate_aduan_form"

    async def required_slots(
        self,
        domain_slots: list[str],
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
    ) -> list[str]:
        slots = list(BASE_SLOTS)
        if tracker.get_slot("ubah_menu"):
            slots.append("ubah_bagian")
        slots.append("konfirmasi")
        return slots

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        if is_interruption(tracker):
            return []
        requested = tracker.get_slot("requested_slot")
        updates: dict[str, Any] = {}
        intent, _ = latest_intent(tracker)
        text = (tracker.latest_message.get("text") or "").strip()

        if intent == "kirim_lokasi":
            updates.update(self._from_pin(tracker))
        elif requested is None:
            updates.update(await self._one_shot(text, tracker))
        elif requested == "kategori":
            updates.update(self._kategori(text, tracker))
        elif requested == "lokasi":
            updates.update(await self._lokasi(text, tracker))
        elif requested == "detail":
            updates.update(self._detail(text, tracker))
        elif requested == "nama":
            updates.update(self._nama(text, tracker))
        elif requested == "konfirmasi":
            updates.update(self._konfirmasi(text, tracker))
        elif requested == "ubah_bagian":
            updates.update(self._ubah_bagian(text, tracker))

        for key, value in updates.items():
            tracker.slots[key] = value
        required = await self.required_slots([], dispatcher, tracker, domain)
        next_slot = next((s for s in required if tracker.get_slot(s) is None), None)
        return [SlotSet(k, v) for k, v in updates.items()] + [
            SlotSet("requested_slot", next_slot)
        ]

    # --- one slot each ------------------------------------------------------

    async def _one_shot(self, text: str, tracker: Tracker) -> dict[str, Any]:
        """Fill whatever the first message already says."""
        updates: dict[str, Any] = {}
        chosen = entity(tracker, "kategori")
        guess = kategori_core.infer_kategori(text)
        if chosen in kategori_core.KATEGORI:
            updates["kategori"] = chosen
        elif guess.kategori:
            updates["kategori"] = guess.kategori
        match = await in_thread(wilayah.resolve, text)
        if match.status in ("ok", "kecamatan_only", "ambiguous", "kota"):
            updates.update(self._apply_location(match, text))
        if text and not text.startswith("/"):
            if not intake.is_thin(text):
                updates["detail"] = text
            elif guess.kategori or match.status == "ok":
                updates["detail_draf"] = text
        return updates

    def _kategori(self, text: str, tracker: Tracker) -> dict[str, Any]:
        chosen = entity(tracker, "kategori") or intake.parse_choice("kategori", text)
        if chosen not in kategori_core.KATEGORI:
            chosen = kategori_core.infer_kategori(text).kategori
        return {"kategori": chosen}

    async def _lokasi(self, text: str, tracker: Tracker) -> dict[str, Any]:
        picked = entity(tracker, "desa")
        if picked == KOTA:
            return {
                "lokasi": None,
                "lokasi_status": "kota",
                "lokasi_teks": tracker.get_slot("lokasi_teks") or "Kota Probolinggo",
                "lokasi_pilihan": None,
            }
        if picked:
            try:
                place = wilayah.place(picked)
            except KeyError:
                place = None
            if place is not None:
                return self._set_place(place.kecamatan_code, place.code)
        kecamatan = tracker.get_slot("kecamatan")
        if kecamatan and intake.words(text) in (
            ["tidak", "tahu"],
            ["gak", "tahu"],
            ["tidak", "tau"],
            ["gak", "tau"],
            ["ga", "tau"],
            ["nggak", "tahu"],
        ):
            return self._set_place(kecamatan, None)
        choices = [c for c in tracker.get_slot("lokasi_pilihan") or [] if c != KOTA]
        if choices:
            choice = self._pick_candidate(text, choices)
            if choice:
                return self._set_place(wilayah.place(choice).kecamatan_code, choice)
        match = await in_thread(wilayah.resolve, text, kecamatan)
        if match.status == "unknown" and not intake.is_thin(text):
            # Asked where, the citizen described the problem instead (a photo's
            # caption, say): it goes into the details, and the place is asked again.
            return {**self._more_detail(text, tracker), "lokasi_status": "dicatat"}
        return self._apply_location(match, text)

    def _more_detail(self, text: str, tracker: Tracker) -> dict[str, Any]:
        """``text`` added to the details given so far (or to their draft)."""
        known = tracker.get_slot("detail")
        if known:
            return {"detail": f"{known}\n{text}"}
        return self._detail(text, tracker)

    @staticmethod
    def _pick_candidate(text: str, choices: list[str]) -> str | None:
        """Which of the ambiguous candidates a typed answer names."""
        tokens = intake.words(text)
        if len(tokens) == 1 and tokens[0].isdigit():
            index = int(tokens[0]) - 1
            return choices[index] if 0 <= index < len(choices) else None
        for code in choices:
            kec = wilayah.place(code).kecamatan_name.lower()
            if kec in " ".join(tokens) or kec.replace(" ", "") in "".join(tokens):
                return code
        return None

    def _apply_location(self, match: Any, text: str) -> dict[str, Any]:
        status = match.status
        if status == "ok":
            return self._set_place(match.desa.kecamatan_code, match.desa.code)
        if status == "kecamatan_only":
            return {
                "kecamatan": match.kecamatan.code,
                "desa": None,
                "lokasi": None,
                "lokasi_status": "kecamatan_only",
                "lokasi_pilihan": None,
            }
        if status == "ambiguous":
            choices = [p.code for p in match.candidates]
            if match.kota_name:
                choices.append(KOTA)
            return {
                "lokasi": None,
                "lokasi_status": "ambiguous",
                "lokasi_pilihan": choices,
                "lokasi_teks": match.kota_name,
            }
        return {
            "lokasi": None,
            "lokasi_status": status,
            "lokasi_teks": (match.kota_name if status == "kota" else text)[:80],
            "lokasi_pilihan": None,
        }

    @staticmethod
    def _set_place(kecamatan_code: str, desa_code: str | None) -> dict[str, Any]:
        return {
            "kecamatan": kecamatan_code,
            "desa": desa_code,
            "lokasi": wilayah.display_name(desa_code or kecamatan_code),
            "lokasi_status": "ok",
            "lokasi_pilihan": None,
            "lokasi_teks": None,
        }

    def _from_pin(self, tracker: Tracker) -> dict[str, Any]:
        lat, lon = entity(tracker, "lat"), entity(tracker, "lon")
        try:
            lat, lon = float(lat), float(lon)
        except (TypeError, ValueError):
            return {"lokasi": None, "lokasi_status": "unavailable"}
        match = wilayah.locate_point(lat, lon)
        if match.status == "ok":
            return {
                **self._set_place(match.desa.kecamatan_code, match.desa.code),
                "lat": lat,
                "lon": lon,
            }
        return self._apply_location(match, "titik lokasi")

    def _detail(self, text: str, tracker: Tracker) -> dict[str, Any]:
        draft = tracker.get_slot("detail_draf")
        combined = f"{draft}\n{text}" if draft else text
        if not combined.strip():
            return {"detail": None}
        if draft or not intake.is_thin(combined):
            return {"detail": combined, "detail_draf": None}
        return {"detail": None, "detail_draf": combined}

    def _nama(self, text: str, tracker: Tracker) -> dict[str, Any]:
        chosen = entity(tracker, "nama")
        if chosen == "anonim" or intake.is_anonymous(text):
            return {"nama": "Anonim", "anonim": True}
        name = intake.parse_name(text)
        return {"nama": name, "anonim": False if name else None}

    def _konfirmasi(self, text: str, tracker: Tracker) -> dict[str, Any]:
        intent, _ = latest_intent(tracker)
        choice = entity(tracker, "konfirmasi") or intake.parse_choice(
            "konfirmasi", text
        )
        if choice is None and intent == "setuju":
            choice = "kirim"
        if choice is None and intent == "tolak":
            choice = "ubah"
        if choice == "ubah":
            return {"konfirmasi": None, "ubah_menu": True, "ubah_bagian": None}
        return {"konfirmasi": "kirim" if choice == "kirim" else None}

    def _ubah_bagian(self, text: str, tracker: Tracker) -> dict[str, Any]:
        part = entity(tracker, "ubah_bagian") or intake.parse_choice(
            "ubah_bagian", text
        )
        if part not in RESET_ON_CHANGE:
            return {"ubah_bagian": None}
        updates: dict[str, Any] = {slot: None for slot in RESET_ON_CHANGE[part]}
        updates.update({"ubah_menu": False, "ubah_bagian": None, "konfirmasi": None})
        return updates


class ActionAskKategori(Action):
    """Ask the category with three reply buttons."""

    def name(self) -> str:
        return "action_ask_kategori"

    async def run(self, dispatcher, tracker, domain) -> list[EventType]:
        asked_before = asked_again(tracker, "kategori")
        dispatcher.utter_message(
            response="utter_ask_kategori_ulang"
            if asked_before
            else "utter_ask_kategori",
            buttons=[
                button(kategori_core.label(k), "pilih", kategori=k)
                for k in kategori_core.KATEGORI
            ],
        )
        return []


class ActionAskLokasi(Action):
    """Ask the place, in the words that fit what is already known."""

    def name(self) -> str:
        return "action_ask_lokasi"

    async def run(self, dispatcher, tracker, domain) -> list[EventType]:
        status = tracker.get_slot("lokasi_status")
        events: list[EventType] = []
        if status == "ambiguous" and tracker.get_slot("lokasi_pilihan"):
            codes = tracker.get_slot("lokasi_pilihan")
            places = [wilayah.place(code) for code in codes if code != KOTA]
            same_name = len({p.name for p in places}) == 1
            buttons = [
                button(
                    f"Kec. {p.kecamatan_name}" if same_name else p.name,
                    "pilih",
                    desa=p.code,
                )
                for p in places
            ]
            if KOTA in codes:
                buttons.append(button("Kota Probolinggo", "pilih", desa=KOTA))
            dispatcher.utter_message(
                response="utter_ask_lokasi_pilih",
                desa_nama=places[0].name if same_name else "itu",
                buttons=buttons,
            )
            return events
        if status == "kecamatan_only" and tracker.get_slot("kecamatan"):
            dispatcher.utter_message(
                response="utter_ask_lokasi_desa",
                kecamatan_nama=wilayah.place(tracker.get_slot("kecamatan")).name,
            )
            return events
        responses = {
            "dicatat": "utter_lokasi_setelah_keterangan",
            "kota": "utter_lokasi_kota",
            "unknown": "utter_lokasi_tidak_dikenal",
            "outside": "utter_lokasi_luar",
            "unavailable": "utter_lokasi_peta_tidak_tersedia",
        }
        dispatcher.utter_message(
            response=responses.get(status, "utter_ask_lokasi"),
            tempat=tracker.get_slot("lokasi_teks") or "Tempat itu",
            teks=tracker.get_slot("lokasi_teks") or "",
        )
        if status in responses:
            events.append(SlotSet("lokasi_status", None))
        return events


class ActionAskDetail(Action):
    """Ask what happened, where exactly and since when (again if too thin)."""

    def name(self) -> str:
        return "action_ask_detail"

    async def run(self, dispatcher, tracker, domain) -> list[EventType]:
        more = bool(tracker.get_slot("detail_draf"))
        dispatcher.utter_message(
            response="utter_ask_detail_lagi" if more else "utter_ask_detail"
        )
        return []


class ActionAskNama(Action):
    """Ask the reporter's name, offering to stay anonymous."""

    def name(self) -> str:
        return "action_ask_nama"

    async def run(self, dispatcher, tracker, domain) -> list[EventType]:
        asked_before = asked_again(tracker, "nama")
        dispatcher.utter_message(
            response="utter_ask_nama_ulang" if asked_before else "utter_ask_nama",
            buttons=[button("Anonim", "pilih", nama="anonim")],
        )
        return []


def summary_values(tracker: Tracker) -> dict[str, str]:
    """The fields of the confirmation summary, ready to show."""
    detail = tracker.get_slot("detail") or ""
    if len(detail) > SUMMARY_DETAIL_CHARS:
        detail = detail[:SUMMARY_DETAIL_CHARS].rstrip() + "…"
    anonymous = bool(tracker.get_slot("anonim"))
    return {
        "kategori_label": kategori_core.label(tracker.get_slot("kategori") or ""),
        "lokasi": tracker.get_slot("lokasi") or "-",
        "detail": detail,
        "pelapor": "Anonim (nama tidak ditampilkan)"
        if anonymous
        else (tracker.get_slot("nama") or "-"),
    }


class ActionAskKonfirmasi(Action):
    """Show the summary with Kirim / Ubah / Batal."""

    def name(self) -> str:
        return "action_ask_konfirmasi"

    async def run(self, dispatcher, tracker, domain) -> list[EventType]:
        dispatcher.utter_message(
            response="utter_ringkasan",
            buttons=[
                button("Kirim", "pilih", konfirmasi="kirim"),
                button("Ubah", "pilih", konfirmasi="ubah"),
                button("Batal", "batal"),
            ],
            **summary_values(tracker),
        )
        return []


class ActionAskUbahBagian(Action):
    """Ask which one part of the report to change."""

    def name(self) -> str:
        return "action_ask_ubah_bagian"

    async def run(self, dispatcher, tracker, domain) -> list[EventType]:
        dispatcher.utter_message(
            response="utter_ask_ubah_bagian",
            buttons=[
                button("Kategori", "pilih", ubah_bagian="kategori"),
                button("Lokasi", "pilih", ubah_bagian="lokasi"),
                button("Keterangan", "pilih", ubah_bagian="detail"),
                button("Nama pelapor", "pilih", ubah_bagian="nama"),
            ],
        )
        return []
