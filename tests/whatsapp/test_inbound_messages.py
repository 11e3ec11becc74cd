"""Every message type from the real fixtures, batches, handoff silence, media."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from wa_helpers import fixture_json, image_message, rows, text_message, wrap

from lapor import db, handoff
from lapor.models import Complaint, utcnow
from lapor.whatsapp.fake_graph import tiny_png
from lapor.whatsapp.inbound import FRIENDLY_UNSUPPORTED


async def _post_and_wait(cs, payload) -> None:
    assert await cs.post(payload) == 200
    await cs.idle()


def _sent_texts(fake_graph) -> list[str]:
    return [m["text"]["body"] for m in fake_graph.state.messages if m["type"] == "text"]


@pytest.mark.asyncio
async def test_text_fixture(channel, fake_graph, sqlite_url):
    await _post_and_wait(channel, fixture_json("incoming/text.json"))
    [msg] = channel.received
    assert (msg.sender_id, msg.text) == ("1111111111111", "hi everyone!")
    wamid = msg.message_id
    assert fake_graph.state.reads == [
        {"messaging_product": "whatsapp", "status": "read", "message_id": wamid}
    ]
    [(state, text, bot_text)] = rows(
        sqlite_url, "SELECT state, text, bot_text FROM wa_inbound"
    )
    assert (state, text, bot_text) == ("handled", "hi everyone!", "hi everyone!")
    [(last,)] = rows(
        sqlite_url,
        "SELECT last_citizen_message_at FROM conversations WHERE sender_id='1111111111111'",
    )
    assert last is not None


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "name",
    ["incoming/interactive_button_reply.json", "incoming/interactive_list_reply.json"],
)
async def test_interactive_replies_use_the_id(channel, name):
    await _post_and_wait(channel, fixture_json(name))
    assert [m.text for m in channel.received] == ["callback_data"]


@pytest.mark.asyncio
async def test_template_quick_reply_button_uses_the_payload(channel):
    payload = '/konfirmasi{"konfirmasi": "kirim"}'
    message = {
        "from": "6281200000001",
        "id": "wamid.tpl",
        "timestamp": "1730231903",
        "type": "button",
        "button": {"text": "Kirim", "payload": payload},
    }
    await _post_and_wait(channel, wrap([message]))
    assert [m.text for m in channel.received] == [payload]


@pytest.mark.asyncio
async def test_location_pin(channel):
    fixture = fixture_json("incoming/location_pin_with_name_address_url.json")
    await _post_and_wait(channel, fixture)
    [msg] = channel.received
    assert msg.text.startswith("/kirim_lokasi{")
    entities = json.loads(msg.text[len("/kirim_lokasi") :])
    assert entities == {"lat": 37.4611978, "lon": -122.2164385}
    assert msg.metadata["location"] == {
        "name": "Facebook HQ",
        "address": "1 Hacker Way, Menlo Park, CA 94025",
    }


@pytest.mark.asyncio
async def test_image_with_caption_is_downloaded_stored_and_captioned(
    channel, fake_graph, media_dir, sqlite_url
):
    await _post_and_wait(channel, fixture_json("incoming/image_with_caption.json"))
    assert [m.text for m in channel.received] == ["CAPTION_TEXT"]
    assert fake_graph.state.media_downloads == ["IMAGE_ID"]
    [(kind, mime, path, size, caption, source, complaint)] = rows(
        sqlite_url,
        "SELECT kind, mime_type, path, size, caption, source_id, complaint_id "
        "FROM attachments",
    )
    assert (kind, mime, caption, source, complaint) == (
        "image",
        "image/jpeg",
        "CAPTION_TEXT",
        "IMAGE_ID",
        None,
    )
    stored = Path(path)
    assert stored.is_relative_to(media_dir) and stored.read_bytes() == tiny_png()
    assert size == len(tiny_png()) and stored.suffix == ".jpg"
    [(media_path,)] = rows(sqlite_url, "SELECT media_path FROM wa_inbound")
    assert media_path == path
    assert channel.received[0].metadata["media"]["kind"] == "image"


@pytest.mark.asyncio
async def test_image_without_caption_and_registered_media(
    channel, fake_graph, sqlite_url
):
    data = b"\xff\xd8\xff\xe0fake-jpeg-bytes"
    fake_graph.state.media["m-42"] = (data, "image/jpeg")
    body = image_message("wamid.img2", "6281200000002", "m-42", "image/jpeg")
    await _post_and_wait(channel, body)
    assert [m.text for m in channel.received] == ['/kirim_media{"media": "image"}']
    [(path,)] = rows(sqlite_url, "SELECT path FROM attachments")
    assert Path(path).read_bytes() == data


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "kind,mime", [("document", "application/pdf"), ("video", "video/mp4")]
)
async def test_document_and_video(channel, fake_graph, sqlite_url, kind, mime):
    fake_graph.state.media["doc-1"] = (b"%PDF-1.4 test", mime)
    message = {
        "from": "6281200000003",
        "id": f"wamid.{kind}",
        "timestamp": "1730231903",
        "type": kind,
        kind: {"id": "doc-1", "mime_type": mime},
    }
    await _post_and_wait(channel, wrap([message]))
    assert [m.text for m in channel.received] == [f'/kirim_media{{"media": "{kind}"}}']
    assert rows(sqlite_url, "SELECT kind FROM attachments")[0][0] == kind


@pytest.mark.asyncio
async def test_voice_note(channel, fake_graph, sqlite_url):
    fake_graph.state.media["827776106019109"] = (
        b"OggS-voice",
        "audio/ogg; codecs=opus",
    )
    await _post_and_wait(channel, fixture_json("incoming/audio_voice_note.json"))
    assert [m.text for m in channel.received] == ['/kirim_media{"media": "audio"}']
    [(kind, path, mime)] = rows(
        sqlite_url, "SELECT kind, path, mime_type FROM attachments"
    )
    assert kind == "audio" and mime.startswith("audio/ogg") and path.endswith(".ogg")
    assert Path(path).read_bytes() == b"OggS-voice"


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "message",
    [
        {"type": "sticker", "sticker": {"id": "s1", "mime_type": "image/webp"}},
        {"type": "contacts", "contacts": [{"name": {"formatted_name": "X"}}]},
        {"type": "unsupported", "errors": [{"code": 131051}]},
        {"type": "hologram", "hologram": {}},
        {"type": "interactive", "interactive": {"type": "nfm_reply", "nfm_reply": {}}},
    ],
)
async def test_unreadable_types_get_a_friendly_text(
    channel, fake_graph, sqlite_url, message
):
    payload = wrap(
        [
            {
                "from": "6281200000004",
                "id": "wamid.odd",
                "timestamp": "1730231903",
                **message,
            }
        ]
    )
    await _post_and_wait(channel, payload)
    assert channel.received == []
    assert _sent_texts(fake_graph) == [FRIENDLY_UNSUPPORTED]
    assert fake_graph.state.messages[0]["to"] == "6281200000004"
    assert rows(sqlite_url, "SELECT state FROM wa_inbound")[0][0] == "handled"


@pytest.mark.asyncio
async def test_reaction_gets_nothing(channel, fake_graph, sqlite_url):
    message = {
        "from": "6281200000005",
        "id": "wamid.react",
        "timestamp": "1730231903",
        "type": "reaction",
        "reaction": {"message_id": "wamid.x", "emoji": "👍"},
    }
    await _post_and_wait(channel, wrap([message]))
    assert channel.received == [] and fake_graph.state.messages == []
    assert rows(sqlite_url, "SELECT state, text FROM wa_inbound")[0] == (
        "ignored",
        "👍",
    )


@pytest.mark.asyncio
async def test_batched_entries_and_changes(channel, fake_graph, sqlite_url):
    a = text_message("wamid.b1", sender="6281200000011", body="satu")
    b = text_message("wamid.b2", sender="6281200000012", body="dua")
    c = text_message("wamid.b3", sender="6281200000011", body="tiga")
    status = fixture_json("statuses/status_delivered.json")["entry"][0]["changes"][0]
    payload = {
        "object": "whatsapp_business_account",
        "entry": [
            {"id": "1", "changes": [a["entry"][0]["changes"][0], status]},
            {
                "id": "2",
                "changes": [b["entry"][0]["changes"][0], c["entry"][0]["changes"][0]],
            },
        ],
    }
    await _post_and_wait(channel, payload)
    got = sorted((m.sender_id, m.text) for m in channel.received)
    assert got == [
        ("6281200000011", "satu"),
        ("6281200000011", "tiga"),
        ("6281200000012", "dua"),
    ]
    per_sender = [m.text for m in channel.received if m.sender_id == "6281200000011"]
    assert per_sender == ["satu", "tiga"]
    assert rows(sqlite_url, "SELECT status FROM wa_status_events") == [("delivered",)]


@pytest.mark.asyncio
async def test_order_per_citizen_with_a_slow_bot(sqlite_url, channel_factory):
    import asyncio

    async def slow(message):
        await asyncio.sleep(0.05 if message.text == "1" else 0)

    cs = await channel_factory(on_message=slow)
    for i in range(1, 6):
        assert await cs.post(text_message(f"wamid.o{i}", body=str(i))) == 200
    await cs.idle()
    assert [m.text for m in cs.received] == ["1", "2", "3", "4", "5"]


@pytest.mark.asyncio
async def test_handoff_keeps_the_bot_silent(channel, fake_graph, sqlite_url):
    sender = "6281200000020"
    with db.session_scope() as session:
        handoff.request_handoff(session, sender, reason="minta_petugas")
    await _post_and_wait(channel, text_message("wamid.h1", sender=sender, body="halo?"))
    fake_graph.state.media["h-img"] = (b"img", "image/jpeg")
    await _post_and_wait(
        channel,
        wrap(
            [
                {
                    "from": sender,
                    "id": "wamid.h2",
                    "timestamp": "1730231903",
                    "type": "sticker",
                    "sticker": {"id": "x"},
                }
            ]
        ),
    )
    await _post_and_wait(channel, image_message("wamid.h3", sender, "h-img"))
    assert channel.received == []
    assert fake_graph.state.messages == [] and fake_graph.state.reads == []
    states = rows(
        sqlite_url,
        "SELECT wamid, state, media_path IS NOT NULL FROM wa_inbound ORDER BY id",
    )
    assert states == [
        ("wamid.h1", "silenced", 0),
        ("wamid.h2", "silenced", 0),
        ("wamid.h3", "silenced", 1),
    ]
    with db.session_scope() as session:
        handoff.release(session, sender)
    await _post_and_wait(channel, text_message("wamid.h4", sender=sender, body="lagi"))
    assert [m.text for m in channel.received] == ["lagi"]


def _file_complaint(sender: str, created_at: dt.datetime) -> int:
    with db.session_scope() as session:
        complaint = Complaint(
            ticket="LK-TEST01",
            kategori="pembangunan",
            detail="jalan rusak",
            reporter_id=sender,
            anonymous=False,
            confidential=False,
            channel="whatsapp",
            status="baru",
            verify_due=dt.date.today(),
            created_at=created_at,
            updated_at=created_at,
        )
        session.add(complaint)
        session.flush()
        return complaint.id


@pytest.mark.asyncio
async def test_photo_right_after_filing_lands_on_the_complaint(channel, sqlite_url):
    sender = "6281200000030"
    complaint_id = _file_complaint(sender, utcnow() - dt.timedelta(minutes=2))
    await _post_and_wait(channel, image_message("wamid.p1", sender, "p1", "image/png"))
    assert rows(sqlite_url, "SELECT complaint_id FROM attachments") == [(complaint_id,)]
    assert channel.received[0].metadata["media"]["attached_to_filed"] is True
    # The citizen starts writing a new report: the next photo waits for it.
    await _post_and_wait(
        channel, text_message("wamid.p2", sender=sender, body="lapor lagi")
    )
    await _post_and_wait(channel, image_message("wamid.p3", sender, "p3", "image/png"))
    assert rows(sqlite_url, "SELECT complaint_id FROM attachments ORDER BY id") == [
        (complaint_id,),
        (None,),
    ]


@pytest.mark.asyncio
async def test_photo_long_after_filing_stays_pending(channel, sqlite_url):
    sender = "6281200000031"
    _file_complaint(sender, utcnow() - dt.timedelta(hours=3))
    await _post_and_wait(channel, image_message("wamid.p4", sender, "p4", "image/png"))
    assert rows(sqlite_url, "SELECT complaint_id FROM attachments") == [(None,)]


@pytest.mark.asyncio
async def test_media_download_failure_is_told_and_not_a_crash(
    channel, fake_graph, sqlite_url
):
    fake_graph.state.missing_media.add("p5")  # the media id yields a 404
    await _post_and_wait(
        channel, image_message("wamid.p5", "6281200000032", "p5", "image/png")
    )
    assert channel.received == []
    assert rows(sqlite_url, "SELECT count(*) FROM attachments")[0][0] == 0
    texts = _sent_texts(fake_graph)
    assert len(texts) == 1 and "gagal" in texts[0]
