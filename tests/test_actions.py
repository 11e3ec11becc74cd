"""The custom actions, run as the action server runs them, on real databases."""

from __future__ import annotations

import asyncio
import datetime as dt
import re

import pytest
from rasa_sdk.events import ActiveLoop, FollowupAction, SlotSet

from actions.filing import ActionAjukanAduan, ActionBatal
from actions.handoff import ActionDarurat, ActionTidakPaham
from actions.intake import ActionAskKonfirmasi, ActionAskLokasi, ValidateAduanForm
from actions.status import ActionCekStatus
from lapor import handoff, services
from lapor.db import session_scope
from lapor.models import utcnow

SUMBERANYAR = "35.13.12.2018"
PAITON = "35.13.12"


def run(action, dispatcher, tracker, domain):
    return asyncio.run(action.run(dispatcher, tracker, domain))


def slots_of(events) -> dict:
    return {e["name"]: e["value"] for e in events if e.get("event") == "slot"}


def texts(dispatcher) -> list[str]:
    return [m.get("response") or m.get("text") for m in dispatcher.messages]


# --- the form ---------------------------------------------------------------


def test_one_shot_message_fills_everything_but_the_name(
    dispatcher, tracker_factory, domain
):
    tracker = tracker_factory(
        "jalan di ds sumberanyar kec paiton rusak parah, banyak lubang, sdh 3 bulan"
    )
    slots = slots_of(run(ValidateAduanForm(), dispatcher, tracker, domain))
    assert slots["kategori"] == "pembangunan"
    assert (slots["kecamatan"], slots["desa"]) == (PAITON, SUMBERANYAR)
    assert slots["lokasi"] == "Desa Sumberanyar, Kecamatan Paiton"
    assert "banyak lubang" in slots["detail"]
    assert slots["requested_slot"] == "nama"


def test_a_bare_request_fills_nothing(dispatcher, tracker_factory, domain):
    slots = slots_of(
        run(ValidateAduanForm(), dispatcher, tracker_factory("mau lapor min"), domain)
    )
    assert slots == {"requested_slot": "kategori"}


def test_interruptions_are_left_to_the_rules(dispatcher, tracker_factory, domain):
    tracker = tracker_factory(
        "gak jadi",
        intent="batal",
        slots={"requested_slot": "lokasi"},
        active_loop="aduan_form",
    )
    assert run(ValidateAduanForm(), dispatcher, tracker, domain) == []


def test_a_long_answer_is_not_an_interruption(dispatcher, tracker_factory, domain):
    text = (
        "tolong bantu pak jalan depan sd negeri 2 rusak berat sejak banjir bulan lalu"
    )
    tracker = tracker_factory(
        text,
        intent="bantuan",
        slots={"requested_slot": "detail", "kategori": "pembangunan"},
        active_loop="aduan_form",
    )
    slots = slots_of(run(ValidateAduanForm(), dispatcher, tracker, domain))
    assert slots["detail"] == text


def _in_form(tracker_factory, text, requested, intent="inform", **slots):
    return tracker_factory(
        text,
        intent=intent,
        slots={"requested_slot": requested, "kategori": "pembangunan", **slots},
        active_loop="aduan_form",
    )


def test_ambiguous_desa_is_asked_back_then_picked(dispatcher, tracker_factory, domain):
    form = ValidateAduanForm()
    slots = slots_of(
        run(form, dispatcher, _in_form(tracker_factory, "wonorejo", "lokasi"), domain)
    )
    assert slots["lokasi"] is None and slots["lokasi_status"] == "ambiguous"
    assert sorted(slots["lokasi_pilihan"]) == ["35.13.17.2013", "35.13.22.2004"]
    assert slots["requested_slot"] == "lokasi"

    ask = run(
        ActionAskLokasi(),
        dispatcher,
        _in_form(tracker_factory, "", "lokasi", **slots),
        domain,
    )
    assert ask == []
    buttons = dispatcher.messages[-1]["buttons"]
    assert [b["title"] for b in buttons] == ["Kec. Maron", "Kec. Wonomerto"]

    picked = _in_form(
        tracker_factory,
        "maron",
        "lokasi",
        **{k: v for k, v in slots.items() if k != "requested_slot"},
    )
    slots = slots_of(run(form, dispatcher, picked, domain))
    assert (slots["kecamatan"], slots["desa"]) == ("35.13.17", "35.13.17.2013")


def test_kota_probolinggo_is_recognised(dispatcher, tracker_factory, domain):
    slots = slots_of(
        run(
            ValidateAduanForm(),
            dispatcher,
            _in_form(tracker_factory, "kel jati mayangan", "lokasi"),
            domain,
        )
    )
    assert slots["lokasi"] is None and slots["lokasi_status"] == "kota"
    assert "Kota Probolinggo" in slots["lokasi_teks"]


def test_unknown_place_is_asked_again_with_a_hint(dispatcher, tracker_factory, domain):
    form_slots = slots_of(
        run(
            ValidateAduanForm(),
            dispatcher,
            _in_form(tracker_factory, "di rumah saya", "lokasi"),
            domain,
        )
    )
    assert form_slots["lokasi"] is None and form_slots["lokasi_status"] == "unknown"
    run(
        ActionAskLokasi(),
        dispatcher,
        _in_form(tracker_factory, "", "lokasi", **form_slots),
        domain,
    )
    assert dispatcher.messages[-1]["response"] == "utter_lokasi_tidak_dikenal"


@pytest.mark.parametrize(
    "known, expected",
    [
        ({"detail_draf": "mau lapor jalan rusak"}, "mau lapor jalan rusak\n{text}"),
        ({"detail": "Jalan berlubang besar"}, "Jalan berlubang besar\n{text}"),
        ({}, "{text}"),
    ],
)
def test_a_description_given_for_the_place_is_kept_as_detail(
    dispatcher, tracker_factory, domain, known, expected
):
    """Asked where, the citizen describes the problem (a photo's caption, say):
    it goes into the details, and the place is asked again, kindly."""
    text = "lampu jalan mati di depan masjid, gelap rawan jambret"
    form_slots = slots_of(
        run(
            ValidateAduanForm(),
            dispatcher,
            _in_form(tracker_factory, text, "lokasi", **known),
            domain,
        )
    )
    assert form_slots["detail"] == expected.format(text=text)
    assert form_slots["lokasi_status"] == "dicatat"
    assert form_slots["requested_slot"] == "lokasi"
    events = run(
        ActionAskLokasi(),
        dispatcher,
        _in_form(tracker_factory, "", "lokasi", **{**known, **form_slots}),
        domain,
    )
    assert dispatcher.messages[-1]["response"] == "utter_lokasi_setelah_keterangan"
    assert slots_of(events) == {"lokasi_status": None}


def test_kecamatan_alone_then_desa(dispatcher, tracker_factory, domain):
    form = ValidateAduanForm()
    slots = slots_of(
        run(
            form,
            dispatcher,
            _in_form(tracker_factory, "kec kraksaan", "lokasi"),
            domain,
        )
    )
    assert slots["kecamatan"] == "35.13.14" and slots["lokasi"] is None
    slots = slots_of(
        run(
            form,
            dispatcher,
            _in_form(tracker_factory, "patokan", "lokasi", kecamatan="35.13.14"),
            domain,
        )
    )
    assert slots["desa"] == "35.13.14.1017"
    assert slots["lokasi"] == "Kelurahan Patokan, Kecamatan Kraksaan"


def test_thin_detail_is_asked_once_more_then_accepted(
    dispatcher, tracker_factory, domain
):
    form = ValidateAduanForm()
    first = slots_of(
        run(form, dispatcher, _in_form(tracker_factory, "lampu mati", "detail"), domain)
    )
    assert first["detail"] is None and first["detail_draf"] == "lampu mati"
    second = slots_of(
        run(
            form,
            dispatcher,
            _in_form(tracker_factory, "di gang 3", "detail", detail_draf="lampu mati"),
            domain,
        )
    )
    assert second["detail"] == "lampu mati\ndi gang 3"


@pytest.mark.parametrize(
    "text, nama, anonim",
    [
        ("anonim", "Anonim", True),
        ("rahasiakan saja", "Anonim", True),
        ("nama saya siti aminah", "Siti Aminah", False),
    ],
)
def test_name_or_anonymous(dispatcher, tracker_factory, domain, text, nama, anonim):
    slots = slots_of(
        run(
            ValidateAduanForm(),
            dispatcher,
            _in_form(tracker_factory, text, "nama"),
            domain,
        )
    )
    assert (slots["nama"], slots.get("anonim")) == (nama, anonim)


def test_nik_is_never_taken_as_a_name(dispatcher, tracker_factory, domain):
    slots = slots_of(
        run(
            ValidateAduanForm(),
            dispatcher,
            _in_form(tracker_factory, "3513012345678901", "nama"),
            domain,
        )
    )
    assert slots["nama"] is None


FILLED = dict(
    kategori="pembangunan",
    kecamatan=PAITON,
    desa=SUMBERANYAR,
    lokasi="Desa Sumberanyar, Kecamatan Paiton",
    lokasi_status="ok",
    detail="Jalan rusak parah banyak lubang sejak 3 bulan",
    nama="Budi",
    anonim=False,
)


def test_ubah_changes_one_field_only(dispatcher, tracker_factory, domain):
    form = ValidateAduanForm()
    slots = slots_of(
        run(
            form,
            dispatcher,
            _in_form(tracker_factory, "ubah", "konfirmasi", **FILLED),
            domain,
        )
    )
    assert slots["ubah_menu"] is True and slots["requested_slot"] == "ubah_bagian"
    tracker = tracker_factory(
        '/pilih{"ubah_bagian":"lokasi"}',
        intent="pilih",
        entities=[{"entity": "ubah_bagian", "value": "lokasi"}],
        slots={"requested_slot": "ubah_bagian", "ubah_menu": True, **FILLED},
        active_loop="aduan_form",
    )
    slots = slots_of(run(form, dispatcher, tracker, domain))
    assert (
        slots["lokasi"] is None and slots["kecamatan"] is None and slots["desa"] is None
    )
    assert "kategori" not in slots and "detail" not in slots and "nama" not in slots
    assert slots["requested_slot"] == "lokasi"


def test_summary_has_kirim_ubah_batal(dispatcher, tracker_factory, domain):
    run(
        ActionAskKonfirmasi(),
        dispatcher,
        _in_form(tracker_factory, "", "konfirmasi", **FILLED),
        domain,
    )
    message = dispatcher.messages[-1]
    assert message["response"] == "utter_ringkasan"
    assert message["lokasi"] == "Desa Sumberanyar, Kecamatan Paiton"
    assert [b["title"] for b in message["buttons"]] == ["Kirim", "Ubah", "Batal"]
    assert message["buttons"][0]["payload"] == '/pilih{"konfirmasi":"kirim"}'


# --- filing, status, emergencies ---------------------------------------------


def _file_via_action(
    dispatcher, tracker_factory, domain, sender="6281234567890", **extra
):
    tracker = tracker_factory(
        '/pilih{"konfirmasi":"kirim"}',
        intent="pilih",
        slots={**FILLED, "konfirmasi": "kirim", **extra},
        sender_id=sender,
    )
    events = run(ActionAjukanAduan(), dispatcher, tracker, domain)
    return events, dispatcher.messages[-1]


def test_filing_action_stores_and_answers_with_the_ticket(
    db_url, dispatcher, tracker_factory, domain
):
    events, message = _file_via_action(dispatcher, tracker_factory, domain)
    assert message["response"] == "utter_aduan_terkirim"
    assert re.fullmatch(r"LK-[A-Z2-9]{6}", message["tiket"])
    assert (
        message["unit"] == "Dinas Pekerjaan Umum dan Penataan Ruang serta Camat Paiton"
    )
    assert events == [FollowupAction("action_session_start")]
    with session_scope(db_url) as s:
        stored = services.find_by_ticket(s, message["tiket"])
        assert (stored.kategori, stored.desa_code, stored.reporter_name) == (
            "pembangunan",
            SUMBERANYAR,
            "Budi",
        )
        assert stored.channel == "whatsapp"


def test_filing_action_run_again_for_the_same_message_files_once(
    db_url, dispatcher, tracker_factory, domain
):
    """The turn of a message taken over from a dead worker may run again."""
    tickets = []
    for _ in range(2):
        tracker = tracker_factory(
            '/pilih{"konfirmasi":"kirim"}',
            intent="pilih",
            slots={**FILLED, "konfirmasi": "kirim"},
            message_id="wamid.HBgLNjI4MTIzNDU2Nzg5MBUCABIYFDNBQ0",
        )
        run(ActionAjukanAduan(), dispatcher, tracker, domain)
        tickets.append(dispatcher.messages[-1]["tiket"])
    assert tickets[0] == tickets[1]
    with session_scope(db_url) as s:
        assert len(services.complaints_of(s, "6281234567890")) == 1


def test_filing_with_the_database_down_keeps_the_draft(
    dispatcher, tracker_factory, domain, monkeypatch
):
    monkeypatch.setenv("DATABASE_URL", "postgresql://nobody@127.0.0.1:1/none")
    events, message = _file_via_action(dispatcher, tracker_factory, domain)
    assert message["response"] == "utter_aduan_gagal"
    assert ActiveLoop("aduan_form") in events
    assert SlotSet("requested_slot", "konfirmasi") in events


def test_status_of_own_and_of_someone_elses_ticket(
    db_url, dispatcher, tracker_factory, domain
):
    _, filed = _file_via_action(dispatcher, tracker_factory, domain)
    ticket = filed["tiket"]
    spaced = ticket.replace("-", " ").lower()
    run(
        ActionCekStatus(),
        dispatcher,
        tracker_factory(f"cek status {spaced}", intent="cek_status"),
        domain,
    )
    own = dispatcher.messages[-1]
    assert own["response"] == "utter_status" and own["tiket"] == ticket
    assert own["status"].startswith("Baru")

    run(
        ActionCekStatus(),
        dispatcher,
        tracker_factory(
            f"cek status {ticket}", intent="cek_status", sender_id="628999000111"
        ),
        domain,
    )
    other = dispatcher.messages[-1]
    assert other["response"] == "utter_status"
    shown = " ".join(str(v) for v in other.values())
    assert "Budi" not in shown and "lubang" not in shown and "62812" not in shown


def test_unknown_ticket_and_own_list(db_url, dispatcher, tracker_factory, domain):
    run(
        ActionCekStatus(),
        dispatcher,
        tracker_factory("cek status LK-ZZZZZZ", intent="cek_status"),
        domain,
    )
    assert dispatcher.messages[-1]["response"] == "utter_status_tidak_ditemukan"
    run(
        ActionCekStatus(),
        dispatcher,
        tracker_factory("laporan saya", intent="cek_status"),
        domain,
    )
    assert dispatcher.messages[-1]["response"] == "utter_status_tanya_tiket"
    _, filed = _file_via_action(dispatcher, tracker_factory, domain)
    run(
        ActionCekStatus(),
        dispatcher,
        tracker_factory("laporan saya", intent="cek_status"),
        domain,
    )
    assert dispatcher.messages[-1]["response"] == "utter_status_daftar"
    assert filed["tiket"] in dispatcher.messages[-1]["daftar"]


def test_emergency_gives_112_and_queues_urgently(
    db_url, dispatcher, tracker_factory, domain
):
    tracker = tracker_factory(
        "ada kebakaran", intent="darurat", active_loop="aduan_form"
    )
    events = run(ActionDarurat(), dispatcher, tracker, domain)
    assert dispatcher.messages[0]["response"] == "utter_darurat"
    assert ActiveLoop(None) in events
    with session_scope(db_url) as s:
        conv = handoff.get_or_create(s, "6281234567890")
        assert (conv.state, conv.urgent, conv.reason) == ("menunggu", True, "darurat")


def test_second_misunderstanding_in_a_row_hands_over(
    db_url, dispatcher, tracker_factory, domain
):
    fallback = {"intent": {"name": "nlu_fallback", "confidence": 0.3}}
    first = tracker_factory("asdf", intent="nlu_fallback", confidence=0.3)
    run(ActionTidakPaham(), dispatcher, first, domain)
    assert dispatcher.messages[-1]["response"] == "utter_tidak_paham"
    second = tracker_factory(
        "qwer",
        intent="nlu_fallback",
        confidence=0.3,
        events=[{"event": "user", "text": "asdf", "parse_data": fallback}],
    )
    run(ActionTidakPaham(), dispatcher, second, domain)
    assert dispatcher.messages[-1]["response"] == "utter_antre_operator"
    with session_scope(db_url) as s:
        assert handoff.state_of(s, "6281234567890") == "menunggu"


def test_cancel_files_nothing_and_ends_the_session(dispatcher, tracker_factory, domain):
    events = run(
        ActionBatal(), dispatcher, tracker_factory("batal", intent="batal"), domain
    )
    assert dispatcher.messages[-1]["response"] == "utter_batal"
    assert (
        ActiveLoop(None) in events and FollowupAction("action_session_start") in events
    )


def test_disputing_a_status_queues_with_its_reason(
    db_url, dispatcher, tracker_factory, domain
):
    from actions.handoff import ActionMintaOperator

    before = [
        {
            "event": "user",
            "text": "cek status LK-ABCDEF",
            "parse_data": {"intent": {"name": "cek_status"}},
        },
        {"event": "action", "name": "action_cek_status"},
        {"event": "bot", "text": "Status laporan ..."},
        {"event": "action", "name": "action_listen"},
    ]
    tracker = tracker_factory("tidak sesuai", intent="tolak", events=before)
    run(ActionMintaOperator(), dispatcher, tracker, domain)
    assert dispatcher.messages[-1]["response"] == "utter_antre_operator"
    with session_scope(db_url) as s:
        assert handoff.get_or_create(s, "6281234567890").reason == "sengketa_status"


def _finished_complaint(db_url, dispatcher, tracker_factory, domain) -> str:
    """File through the action, then walk the complaint to selesai."""
    import datetime as dt

    from lapor import workflow

    _, filed = _file_via_action(dispatcher, tracker_factory, domain)
    operator = workflow.StaffActor("operator1", "operator")
    opd = workflow.StaffActor("pupr1", "opd", "PUPR")
    with session_scope(db_url) as s:
        c = services.find_by_ticket(s, filed["tiket"])
        workflow.verify(s, c, operator)
        workflow.dispose(s, c, operator, ["PUPR"])
        workflow.follow_up(s, c, opd, "Tim survei dijadwalkan", dt.date(2027, 1, 15))
        workflow.complete(s, c, opd, "Jalan sudah ditambal")
    return filed["tiket"]


def test_one_tap_confirmation_closes(db_url, dispatcher, tracker_factory, domain):
    from actions.status import ActionKonfirmasiSelesai

    ticket = _finished_complaint(db_url, dispatcher, tracker_factory, domain)
    tracker = tracker_factory(
        f'/konfirmasi_selesai{{"tiket":"{ticket}","jawab":"sudah"}}',
        intent="konfirmasi_selesai",
        entities=[
            {"entity": "tiket", "value": ticket},
            {"entity": "jawab", "value": "sudah"},
        ],
    )
    run(ActionKonfirmasiSelesai(), dispatcher, tracker, domain)
    assert dispatcher.messages[-1]["response"] == "utter_selesai_terima_kasih"
    with session_scope(db_url) as s:
        c = services.find_by_ticket(s, ticket)
        assert c.status == "selesai" and c.closed_at is not None


def test_a_typed_belum_reopens_and_others_cannot_answer(
    db_url, dispatcher, tracker_factory, domain
):
    from actions.status import ActionKonfirmasiSelesai

    ticket = _finished_complaint(db_url, dispatcher, tracker_factory, domain)
    stranger = tracker_factory("belum", intent="tolak", sender_id="628999000111")
    run(ActionKonfirmasiSelesai(), dispatcher, stranger, domain)
    assert dispatcher.messages[-1]["response"] == "utter_menu"
    run(
        ActionKonfirmasiSelesai(),
        dispatcher,
        tracker_factory("belum", intent="tolak"),
        domain,
    )
    assert dispatcher.messages[-1]["response"] == "utter_selesai_dibuka_lagi"
    assert dispatcher.messages[-1]["tiket"] == ticket
    with session_scope(db_url) as s:
        c = services.find_by_ticket(s, ticket)
        assert c.status == "ditindaklanjuti"
        assert [h.to_status for h in c.history][-2:] == ["selesai", "ditindaklanjuti"]


def test_first_reply_after_a_notice_lands_on_the_complaint(
    db_url, dispatcher, tracker_factory, domain
):
    from lapor import workflow
    from lapor.models import ComplaintMessage

    _, filed = _file_via_action(dispatcher, tracker_factory, domain)
    sender = "6281234567890"
    with session_scope(db_url) as s:
        assert (
            workflow.record_reply_to_notice(s, sender, "halo") is None
        )  # no notice yet
        c = services.find_by_ticket(s, filed["tiket"])
        s.add(
            ComplaintMessage(
                complaint_id=c.id,
                kind="pemberitahuan",
                author="sistem",
                author_role="sistem",
                text="Status: diverifikasi",
                delivery="sent",
            )
        )
    with session_scope(db_url) as s:
        late = utcnow() + workflow.REPLY_WINDOW + dt.timedelta(minutes=1)
        assert workflow.record_reply_to_notice(s, sender, "halo", now=late) is None
        landed = workflow.record_reply_to_notice(s, sender, "lubangnya makin besar pak")
        assert landed is not None and landed.ticket == filed["tiket"]
        assert workflow.record_reply_to_notice(s, sender, "oh ya satu lagi") is None
        assert workflow.record_reply_to_notice(s, "628111", "bukan pelapor") is None
    with session_scope(db_url) as s:
        replies = [
            m.text
            for m in s.query(ComplaintMessage).filter_by(kind="balasan_warga").all()
        ]
        assert replies == ["lubangnya makin besar pak"]


@pytest.mark.parametrize(
    "intent, response",
    [
        ("salam", "utter_salam"),
        ("terima_kasih", "utter_sama_sama"),
        ("di_luar_topik", "utter_di_luar_topik"),
        ("batal", "utter_tidak_ada_yang_dibatalkan"),
    ],
)
def test_short_answers_end_the_session(
    dispatcher, tracker_factory, domain, intent, response
):
    from actions.handoff import ActionJawabSingkat

    events = run(
        ActionJawabSingkat(), dispatcher, tracker_factory("x", intent=intent), domain
    )
    assert dispatcher.messages[-1]["response"] == response
    assert events == [FollowupAction("action_session_start")]


def test_menu_inside_the_intake_keeps_the_form(dispatcher, tracker_factory, domain):
    from actions.handoff import ActionMenu

    inside = tracker_factory("menu", intent="bantuan", active_loop="aduan_form")
    assert run(ActionMenu(), dispatcher, inside, domain) == []
    outside = tracker_factory("menu", intent="bantuan")
    assert run(ActionMenu(), dispatcher, outside, domain) == [
        FollowupAction("action_session_start")
    ]
