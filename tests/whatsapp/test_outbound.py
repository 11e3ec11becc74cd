"""Outbound: button mapping, 4096 split, retries and order, 24-hour window, statuses."""

from __future__ import annotations

import asyncio
import datetime as dt
import json

import pytest
from wa_helpers import fixture_json, rows, text_message, wrap

from lapor import db, handoff
from lapor.models import utcnow
from lapor.whatsapp import outbound
from lapor.whatsapp.outbound import plan_buttons, split_text

TO = "6281299990000"


def _buttons(n: int, long: bool = False) -> list[dict]:
    title = (
        "Pilihan yang judulnya cukup panjang sekali nomor {}" if long else "Pilihan {}"
    )
    return [
        {"title": title.format(i), "payload": "/pilih" + json.dumps({"nomor": i})}
        for i in range(1, n + 1)
    ]


def test_three_buttons_become_reply_buttons():
    buttons = [
        {"title": "Pemerintahan", "payload": '/inform{"kategori": "pemerintahan"}'},
        {"title": "Pembangunan dan infrastruktur desa", "payload": "/b"},
        {"title": "Kesehatan", "payload": "/c"},
    ]
    [item] = plan_buttons("Laporan Bapak/Ibu tentang apa?", buttons)
    shape = fixture_json("outgoing/send_interactive_buttons_3.json")["interactive"]
    interactive = item.body["interactive"]
    assert item.body["type"] == "interactive" and interactive["type"] == "button"
    assert set(interactive) <= set(shape) and interactive["body"]["text"].startswith(
        "Laporan"
    )
    replies = interactive["action"]["buttons"]
    assert [r["type"] for r in replies] == ["reply"] * 3
    assert [r["reply"]["id"] for r in replies] == [b["payload"] for b in buttons]
    titles = [r["reply"]["title"] for r in replies]
    assert all(len(t) <= 20 for t in titles)
    assert titles[1].endswith("…") and titles[1].startswith("Pembangunan")
    assert titles[0] == "Pemerintahan"


@pytest.mark.parametrize("n", [4, 7, 10])
def test_four_to_ten_buttons_become_a_list(n):
    buttons = _buttons(n, long=True)
    [item] = plan_buttons("Pilih kecamatan:", buttons)
    interactive = item.body["interactive"]
    assert interactive["type"] == "list"
    assert len(interactive["action"]["button"]) <= 20
    rows_ = [r for s in interactive["action"]["sections"] for r in s["rows"]]
    assert [r["id"] for r in rows_] == [b["payload"] for b in buttons]
    assert all(
        len(r["title"]) <= 24 and len(r.get("description", "")) <= 72 for r in rows_
    )
    # The rest of a long title goes to the description: no word is lost.
    first = rows_[0]
    assert (first["title"] + " " + first["description"]) == buttons[0]["title"]


def test_more_than_ten_buttons_become_numbered_text():
    buttons = _buttons(12)
    [item] = plan_buttons("Pilih salah satu:", buttons)
    assert item.body["type"] == "text"
    body = item.body["text"]["body"]
    for i, b in enumerate(buttons, start=1):
        assert f"{i}. {b['title']}" in body
    assert "angka" in body
    assert item.menu == [b["payload"] for b in buttons]


def test_long_payloads_fall_back_to_numbered_text():
    buttons = [
        {"title": "A", "payload": "/x" + "a" * 300},
        {"title": "B", "payload": "/y"},
    ]
    [item] = plan_buttons("Pilih", buttons)
    assert item.body["type"] == "text" and item.menu == [b["payload"] for b in buttons]


def test_long_body_goes_first_as_text():
    text = "kata " * 400  # 2000 characters
    items = plan_buttons(text, _buttons(2))
    assert [i.body["type"] for i in items] == ["text", "interactive"]
    assert items[0].body["text"]["body"] == text.strip()
    assert len(items[1].body["interactive"]["body"]["text"]) <= 1024


def test_split_text_on_paragraphs_and_words():
    paragraphs = [f"paragraf{i} " * 120 for i in range(8)]  # ~1200 chars each
    text = "\n\n".join(p.strip() for p in paragraphs)
    parts = split_text(text)
    assert len(parts) > 1 and all(len(p) <= 4096 for p in parts)
    assert all(not p.startswith("\n") and not p.endswith(" ") for p in parts)
    assert "\n\n".join(parts) == text  # cut exactly at blank lines
    words = " ".join(f"kata{i}" for i in range(2000))  # no newline at all
    parts = split_text(words)
    assert all(len(p) <= 4096 for p in parts)
    assert " ".join(parts).split() == words.split()  # no word cut in two
    blob = "x" * 9000
    assert [len(p) for p in split_text(blob)] == [4096, 4096, 808]
    assert split_text("pendek") == ["pendek"]


@pytest.mark.asyncio
async def test_numbered_reply_maps_back_to_the_payload(
    sqlite_url, channel_factory, fake_graph
):
    buttons = _buttons(12)

    async def bot(message):
        if message.text == "menu":
            await message.output_channel.send_response(
                message.sender_id, {"text": "Pilih layanan:", "buttons": buttons}
            )

    cs = await channel_factory(on_message=bot)
    assert await cs.post(text_message("wamid.n1", body="menu")) == 200
    await cs.idle()
    assert "12. Pilihan 12" in fake_graph.state.messages[-1]["text"]["body"]
    assert await cs.post(text_message("wamid.n2", body="2")) == 200
    await cs.idle()
    assert cs.received[-1].text == buttons[1]["payload"]
    # The menu is used up: a later "2" is just text.
    assert await cs.post(text_message("wamid.n3", body="2")) == 200
    await cs.idle()
    assert cs.received[-1].text == "2"


@pytest.mark.asyncio
async def test_one_utterance_is_one_whatsapp_message(sqlite_url, fake_graph):
    from channels.whatsapp import WhatsAppOutput

    text = "Terima kasih atas laporannya.\n\nNomor tiket: LK-ABC123"
    await WhatsAppOutput().send_response(TO, {"text": text})
    assert [m["text"]["body"] for m in fake_graph.state.messages] == [text]
    await WhatsAppOutput().send_response(
        TO, {"text": "Kirim?\n\nRingkasan...", "buttons": _buttons(3)}
    )
    last = fake_graph.state.messages[-1]
    assert last["type"] == "interactive"
    assert last["interactive"]["body"]["text"] == "Kirim?\n\nRingkasan..."
    [(n,)] = rows(sqlite_url, "SELECT count(*) FROM wa_outbound WHERE status='sent'")
    assert n == 2


@pytest.mark.asyncio
@pytest.mark.parametrize("status", [500, 429])
async def test_graph_failing_then_recovering(sqlite_url, fake_graph, status):
    fake_graph.state.fail.status, fake_graph.state.fail.times = status, 2
    texts = [f"pesan {i}" for i in range(6)]
    # Started together: each waits for the one before it (per-recipient order).
    results = await asyncio.gather(*(outbound.send_text(TO, t) for t in texts))
    assert all(r[0].status == "sent" for r in results)
    assert [m["text"]["body"] for m in fake_graph.state.messages] == texts
    failed = [a for a in fake_graph.state.attempts if a["status"] == status]
    assert len(failed) == 2
    stored = rows(
        sqlite_url, "SELECT text, status, attempts, wamid FROM wa_outbound ORDER BY id"
    )
    assert [s[0] for s in stored] == texts
    assert [s[1] for s in stored] == ["sent"] * 6
    assert stored[0][2] == 3 and all(s[2] == 1 for s in stored[1:])
    assert [s[3] for s in stored] == [m["_wamid"] for m in fake_graph.state.messages]


@pytest.mark.asyncio
async def test_slow_graph_times_out_and_is_retried(sqlite_url, fake_graph, monkeypatch):
    monkeypatch.setenv("WHATSAPP_HTTP_TIMEOUT", "0.3")
    fake_graph.state.fail.status, fake_graph.state.fail.times = 200, 1
    fake_graph.state.fail.delay = 0.6
    [result] = await outbound.send_text(TO, "lambat")
    assert result.status == "sent"
    # The slow attempt was also recorded by the server: Meta may duplicate a message
    # it accepted while we timed out (documented limit of the Cloud API).
    assert [m["text"]["body"] for m in fake_graph.state.messages][-1] == "lambat"
    assert rows(sqlite_url, "SELECT attempts FROM wa_outbound")[0][0] == 2


@pytest.mark.asyncio
async def test_permanent_failure_is_recorded_with_metas_code(sqlite_url, fake_graph):
    fake_graph.state.fail.status, fake_graph.state.fail.times = 400, 1
    fake_graph.state.fail.error_code = 131026
    [result] = await outbound.send_text(TO, "tidak terkirim")
    assert (result.status, result.error_code) == ("failed", 131026)
    assert len(fake_graph.state.attempts) == 1  # a 400 is not retried
    assert rows(sqlite_url, "SELECT status, error_code, text FROM wa_outbound") == [
        ("failed", 131026, "tidak terkirim")
    ]
    [after] = await outbound.send_text(TO, "berikutnya")
    assert after.status == "sent"


def _set_last_message(sender: str, when: dt.datetime) -> None:
    with db.session_scope() as session:
        handoff.get_or_create(session, sender).last_citizen_message_at = when


@pytest.mark.asyncio
async def test_update_after_24_hours_of_silence_uses_the_template(
    sqlite_url, channel_factory, fake_graph, monkeypatch
):
    monkeypatch.setenv("WHATSAPP_TEMPLATE_UPDATE", "lapor_update")
    cs = await channel_factory()
    sender = "6281299990001"
    _set_last_message(sender, utcnow() - dt.timedelta(hours=30))
    await outbound.send_update(sender, "Laporan LK-1 selesai.", ["LK-1", "Selesai"])
    sent = fake_graph.state.messages[-1]
    assert sent["type"] == "template"
    assert sent["template"]["name"] == "lapor_update"
    assert sent["template"]["language"] == {"code": "id"}
    params = sent["template"]["components"][0]["parameters"]
    assert [p["text"] for p in params] == ["LK-1", "Selesai"]
    # The citizen writes again: the window opens, free text goes through.
    now = int(utcnow().timestamp())
    assert (
        await cs.post(text_message("wamid.w1", sender=sender, body="ok", ts=now)) == 200
    )
    await cs.idle()
    await outbound.send_update(sender, "Laporan LK-1 ditindaklanjuti.", ["LK-1", "x"])
    sent = fake_graph.state.messages[-1]
    assert (
        sent["type"] == "text"
        and sent["text"]["body"] == "Laporan LK-1 ditindaklanjuti."
    )


@pytest.mark.asyncio
async def test_update_falls_back_to_the_template_on_131047(sqlite_url, fake_graph):
    sender = "6281299990002"
    _set_last_message(sender, utcnow() - dt.timedelta(hours=1))
    fake_graph.state.fail.status, fake_graph.state.fail.times = 400, 1
    fake_graph.state.fail.error_code = 131047
    results = await outbound.send_update(sender, "Status berubah.", ["LK-2", "Baru"])
    assert [r.status for r in results] == ["sent"]
    assert fake_graph.state.messages[-1]["type"] == "template"
    stored = rows(
        sqlite_url, "SELECT kind, status, error_code FROM wa_outbound ORDER BY id"
    )
    assert stored == [("text", "failed", 131047), ("template", "sent", None)]


@pytest.mark.asyncio
async def test_statuses_are_recorded_on_the_outbound_message(
    channel, fake_graph, sqlite_url
):
    [result] = await outbound.send_text(TO, "halo")

    def status(name, **extra):
        return {
            "id": result.wamid,
            "status": name,
            "timestamp": "1730231999",
            "recipient_id": TO,
            **extra,
        }

    await channel.post(wrap(statuses=[status("sent"), status("delivered")]))
    await channel.post(wrap(statuses=[status("read")]))
    await channel.post(wrap(statuses=[status("delivered")]))  # a Meta retry, late
    [(st, delivered, read)] = rows(
        sqlite_url, "SELECT status, delivered_at, read_at FROM wa_outbound"
    )
    assert st == "read" and delivered is not None and read is not None
    assert rows(sqlite_url, "SELECT count(*) FROM wa_status_events")[0][0] == 3

    [other] = await outbound.send_text(TO, "kedua")
    failed = fixture_json("statuses/status_failed_131047_reengagement.json")
    failed["entry"][0]["changes"][0]["value"]["statuses"][0]["id"] = other.wamid
    assert await channel.post(failed) == 200
    assert rows(
        sqlite_url,
        "SELECT status, error_code, error_title FROM wa_outbound WHERE wamid=:w",
        w=other.wamid,
    ) == [("failed", 131047, "Re-engagement message")]


@pytest.mark.parametrize(
    "raced", [[], ["delivered"], ["delivered", "read"], ["failed"]]
)
def test_a_sent_message_takes_the_statuses_that_came_before_metas_answer(db_url, raced):
    """Meta's status webhooks may arrive before the send's own answer is
    recorded; marking the message sent then applies them, in order."""
    to, wamid = "6281230000001", "wamid.raced.1"
    item = outbound.plan_text("halo")[0]
    outbound_id = outbound._now_in_db(outbound._store(to, item, "bot"))
    with db.session_scope() as session:
        for status in raced:
            extra = {"error_code": 131026} if status == "failed" else {}
            assert outbound.record_status(session, wamid, status, **extra)
    outbound._now_in_db(outbound._mark_sent(outbound_id, wamid, 2))
    [row] = rows(
        db_url,
        "SELECT status, wamid, attempts, sent_at, delivered_at, read_at, error_code "
        "FROM wa_outbound",
    )
    status, stored_wamid, attempts, sent_at, delivered_at, read_at, code = row
    assert (stored_wamid, attempts) == (wamid, 2) and sent_at is not None
    assert status == (raced[-1] if raced else "sent")
    assert (delivered_at is not None) == ("delivered" in raced)
    assert (read_at is not None) == ("read" in raced)
    assert code == (131026 if raced == ["failed"] else None)


@pytest.mark.asyncio
async def test_status_for_an_unknown_message_is_kept(channel, sqlite_url):
    assert await channel.post(fixture_json("statuses/status_delivered.json")) == 200
    assert rows(sqlite_url, "SELECT status, recipient_id FROM wa_status_events") == [
        ("delivered", "1111111111111")
    ]


@pytest.mark.asyncio
async def test_reply_order_for_many_citizens_under_failures(
    sqlite_url, channel_factory, fake_graph
):
    """Every reply delivered exactly once and in order per citizen, Graph failing."""

    async def echo(message):
        await message.output_channel.send_text_message(
            message.sender_id, f"re:{message.text}"
        )

    cs = await channel_factory(on_message=echo)
    fake_graph.state.fail.status, fake_graph.state.fail.times = 500, 3
    senders = [f"62812000001{i:02d}" for i in range(5)]
    posts = [
        cs.post(text_message(f"wamid.{s}.{k}", sender=s, body=str(k)))
        for k in range(4)
        for s in senders
    ]
    for post in posts:  # in arrival order
        assert await post == 200
    await cs.idle()
    for s in senders:
        got = [m["text"]["body"] for m in fake_graph.state.messages if m["to"] == s]
        assert got == [f"re:{k}" for k in range(4)]
    assert len(fake_graph.state.messages) == 20
