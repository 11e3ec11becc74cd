"""The console's pages and actions with the fake Graph API: take, reply, notes,
filing on behalf, release, the queue JSON, masking and media."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy import select

from lapor import db, handoff
from lapor.console.models import ConversationEvent, InternalNote
from lapor.models import Complaint, Conversation, StatusChange, utcnow
from lapor.whatsapp.models import WaInbound, WaOutbound

CITIZEN = "6281234567890"


def _queue_citizen(
    sender: str = CITIZEN, urgent: bool = False, window: bool = True
) -> None:
    with db.session_scope() as s:
        handoff.request_handoff(
            s, sender, "darurat" if urgent else "permintaan_warga", urgent
        )
        if window:
            s.get(Conversation, sender).last_citizen_message_at = utcnow()
        s.add(
            WaInbound(
                wamid=f"wamid.{sender}.1",
                sender_id=sender,
                msg_type="text",
                text="mau bicara dengan petugas",
                payload={"type": "text"},
                received_at=utcnow(),
                state="handled",
            )
        )


def _post(client, url: str, **data):
    return client.post(url, data={**data, "csrf_token": client.csrf})


def test_queue_json_masks_numbers_and_orders_emergencies(app, budi):
    _queue_citizen("6281234560001")
    _queue_citizen("6281234560002", urgent=True)
    data = budi.get("/api/antrean").get_json()
    assert [e["number"] for e in data["waiting"]] == ["0812****0002", "0812****0001"]
    assert data["waiting"][0]["urgent"] is True
    assert data["waiting"][0]["reason"] == "Darurat"
    assert "6281234560001" not in str([e["number"] for e in data["waiting"]])
    assert data["mine"] == [] and data["others"] == []


def test_take_reply_note_release_with_fake_graph(app, budi, sari, fake_graph):
    _queue_citizen()
    taken = _post(budi, f"/percakapan/{CITIZEN}/ambil")
    assert taken.status_code == 302
    assert fake_graph.texts_to(CITIZEN)[0].startswith(
        "Halo, saya Budi Santoso dari Lapor Kand4"
    )

    # The other operator is told who holds it, and cannot reply.
    lost = sari.post(
        f"/percakapan/{CITIZEN}/ambil",
        headers={"X-CSRFToken": sari.csrf, "X-Requested-With": "fetch"},
    )
    assert lost.status_code == 409
    assert "sudah ditangani oleh petugas lain (budi)" in lost.get_json()["message"]
    assert (
        _post(sari, f"/percakapan/{CITIZEN}/balas", text="Saya bantu").status_code
        == 302
    )
    assert "Saya bantu" not in fake_graph.texts_to(CITIZEN)

    # Full number only for the holder.
    assert "0812-3456-7890" in budi.get(f"/percakapan/{CITIZEN}").get_data(as_text=True)
    page_sari = sari.get(f"/percakapan/{CITIZEN}").get_data(as_text=True)
    assert "0812-3456-7890" not in page_sari and "0812****7890" in page_sari

    queue = budi.get("/api/antrean").get_json()
    assert [e["number"] for e in queue["mine"]] == ["0812****7890"] and not queue[
        "waiting"
    ]
    assert [e["operator"] for e in sari.get("/api/antrean").get_json()["others"]] == [
        "budi"
    ]

    reply = _post(budi, f"/percakapan/{CITIZEN}/balas", text="Baik Bu, lampu di mana?")
    assert reply.status_code == 302
    assert fake_graph.texts_to(CITIZEN)[-1] == "Baik Bu, lampu di mana?"
    with db.session_scope() as s:
        authors = s.scalars(
            select(WaOutbound.author).where(WaOutbound.recipient_id == CITIZEN)
        ).all()
    assert authors == ["budi", "budi"]

    sent_before = len(fake_graph.messages)
    _post(budi, f"/percakapan/{CITIZEN}/catatan", text="Warga sudah lapor dua kali.")
    assert len(fake_graph.messages) == sent_before  # notes are never sent
    with db.session_scope() as s:
        assert s.scalars(select(InternalNote.text)).all() == [
            "Warga sudah lapor dua kali."
        ]

    page = budi.get(f"/percakapan/{CITIZEN}").get_data(as_text=True)
    assert "Warga sudah lapor dua kali." in page and "Baik Bu, lampu di mana?" in page
    assert "mau bicara dengan petugas" in page
    assert "Jendela 24 jam terbuka" in page

    released = _post(budi, f"/percakapan/{CITIZEN}/kembalikan", tell="1")
    assert released.status_code == 302
    assert fake_graph.texts_to(CITIZEN)[-1].startswith(
        "Terima kasih, percakapan dengan petugas telah selesai."
    )
    with db.session_scope() as s:
        assert handoff.state_of(s, CITIZEN) == "bot"
        actions = s.scalars(
            select(ConversationEvent.action).order_by(ConversationEvent.id)
        ).all()
    assert actions == ["ambil", "kembali"]


def test_reply_outside_the_window_uses_the_template(app, budi, fake_graph):
    _queue_citizen(window=False)
    with db.session_scope() as s:
        s.get(Conversation, CITIZEN).last_citizen_message_at = utcnow() - dt.timedelta(
            hours=30
        )
    _post(budi, f"/percakapan/{CITIZEN}/ambil")
    page = budi.get(f"/percakapan/{CITIZEN}").get_data(as_text=True)
    assert "Jendela 24 jam tertutup" in page
    _post(budi, f"/percakapan/{CITIZEN}/balas", text="Mohon maaf baru kami balas.")
    last = fake_graph.messages[-1]
    assert last["type"] == "template"
    params = last["template"]["components"][0]["parameters"]
    assert params[0]["text"] == "Mohon maaf baru kami balas."


def test_file_on_behalf(app, budi, fake_graph):
    _queue_citizen()
    _post(budi, f"/percakapan/{CITIZEN}/ambil")
    response = _post(
        budi,
        f"/percakapan/{CITIZEN}/laporan",
        kategori="pembangunan",
        kecamatan="35.13.14",
        desa="35.13.14.2016",
        detail="Lampu jalan di depan balai desa mati sejak seminggu.",
        nama="Siti Aminah",
    )
    assert response.status_code == 302
    with db.session_scope() as s:
        complaint = s.scalars(select(Complaint)).one()
        history = s.scalars(select(StatusChange)).all()
        assert (complaint.reporter_id, complaint.kategori) == (CITIZEN, "pembangunan")
        assert complaint.desa_code == "35.13.14.2016"
        assert complaint.reporter_name == "Siti Aminah"
        assert [h.actor for h in history] == ["budi"]
        ticket = complaint.ticket
    page = budi.get(f"/percakapan/{CITIZEN}").get_data(as_text=True)
    assert ticket in page
    # A desa outside the chosen kecamatan is refused.
    bad = _post(
        budi,
        f"/percakapan/{CITIZEN}/laporan",
        kategori="kesehatan",
        kecamatan="35.13.01",
        desa="35.13.14.2016",
        detail="Puskesmas tutup terus.",
    )
    assert bad.status_code == 302
    with db.session_scope() as s:
        assert s.scalar(select(sa.func.count()).select_from(Complaint)) == 1


def test_queue_poll_expires_idle_holds(app, budi, sari, fake_graph):
    _queue_citizen()
    _post(budi, f"/percakapan/{CITIZEN}/ambil")
    with db.session_scope() as s:
        s.execute(
            sa.update(WaOutbound).values(created_at=utcnow() - dt.timedelta(minutes=11))
        )
        s.execute(
            sa.update(Conversation).values(taken_at=utcnow() - dt.timedelta(minutes=11))
        )
    data = sari.get("/api/antrean").get_json()
    assert [e["number"] for e in data["waiting"]] == ["0812****7890"]
    with db.session_scope() as s:
        assert s.scalars(select(ConversationEvent.action)).all() == [
            "ambil",
            "habis_waktu",
        ]
    assert _post(sari, f"/percakapan/{CITIZEN}/ambil").status_code == 302
    with db.session_scope() as s:
        assert s.get(Conversation, CITIZEN).operator == "sari"


def test_media_needs_login_and_stays_in_media_dir(app, budi, tmp_path):
    media = tmp_path / "media" / "2026" / "12"
    media.mkdir(parents=True)
    photo = media / "a.png"
    photo.write_bytes(b"\x89PNG\r\n\x1a\nfake")
    outside = tmp_path / "secret.txt"
    outside.write_text("rahasia")
    with db.session_scope() as s:
        ok = WaInbound(
            wamid="wamid.p1",
            sender_id=CITIZEN,
            msg_type="image",
            payload={},
            received_at=utcnow(),
            state="silenced",
            media_path=str(photo),
        )
        bad = WaInbound(
            wamid="wamid.p2",
            sender_id=CITIZEN,
            msg_type="image",
            payload={},
            received_at=utcnow(),
            state="silenced",
            media_path=str(outside),
        )
        s.add_all([ok, bad])
        s.flush()
        ok_id, bad_id = ok.id, bad.id
    assert app.test_client().get(f"/media/{ok_id}").status_code == 302
    response = budi.get(f"/media/{ok_id}")
    assert response.status_code == 200 and response.data.startswith(b"\x89PNG")
    assert response.headers["Content-Type"] == "image/png"
    assert budi.get(f"/media/{bad_id}").status_code == 404


def test_transcript_shows_location_with_desa(app, budi):
    with db.session_scope() as s:
        s.add(
            WaInbound(
                wamid="wamid.loc",
                sender_id=CITIZEN,
                msg_type="location",
                payload={
                    "type": "location",
                    "location": {"latitude": -7.73, "longitude": 113.42},
                },
                received_at=utcnow(),
                state="handled",
            )
        )
    page = budi.get(f"/percakapan/{CITIZEN}").get_data(as_text=True)
    assert "-7.73000, 113.42000" in page
    assert "Desa Kalibuntu, Kecamatan Kraksaan" in page


def test_search_by_number_and_unknown(app, budi):
    _queue_citizen()
    found = budi.get("/cari?q=0812-3456-7890")
    assert found.status_code == 302 and found.headers["Location"].endswith(
        f"/percakapan/{CITIZEN}"
    )
    missing = budi.get("/cari?q=0899999")
    assert missing.headers["Location"].endswith("/antrean")
    assert budi.get("/percakapan/6289999999999").status_code == 404


def test_transcript_is_in_arrival_order(app, budi):
    """Meta's timestamps have whole seconds; the console orders by arrival."""
    now = utcnow()
    second = now.replace(microsecond=0)
    with db.session_scope() as s:
        s.add(
            WaOutbound(
                recipient_id=CITIZEN,
                author="budi",
                kind="text",
                text="BALASAN-PETUGAS",
                body={},
                status="sent",
                attempts=1,
                created_at=second + dt.timedelta(milliseconds=300),
            )
        )
        s.add(
            WaInbound(
                wamid="wamid.late",
                sender_id=CITIZEN,
                msg_type="text",
                text="PESAN-WARGA",
                payload={"type": "text"},
                sent_at=second,
                received_at=second + dt.timedelta(milliseconds=800),
                state="silenced",
            )
        )
    page = budi.get(f"/percakapan/{CITIZEN}").get_data(as_text=True)
    assert page.index("BALASAN-PETUGAS") < page.index("PESAN-WARGA")
