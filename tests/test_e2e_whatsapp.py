"""One whole conversation over the WhatsApp webhook: the real Rasa and action
servers, the WhatsApp channel, a fake Graph API on 127.0.0.1 and a real
database. A photo, a location pin and buttons, to a filed complaint."""

from __future__ import annotations

import base64
import datetime as dt
import json
import time
import uuid

import pytest
import requests
from sqlalchemy import select

from lapor import db, services
from lapor.models import utcnow
from lapor.whatsapp.fake_graph import webhook_body
from lapor.whatsapp.inbound import Shard, sign
from lapor.whatsapp.models import WaInbound, WaOutbound
from tests.servers import running_bot, running_fake_graph, turn_worker_pids

APP_SECRET = "e2e-app-secret"
TOKEN = "e2e-access-token"
SUMBERANYAR = (-7.719864, 113.527411)  # the desa's centroid


@pytest.fixture(scope="module")
def graph(tmp_path_factory):
    with running_fake_graph(tmp_path_factory.mktemp("graph"), TOKEN) as base:
        yield base


def bot_env(workdir, graph: str) -> dict[str, str]:
    """A migrated SQLite database in ``workdir`` and the bot's settings."""
    url = f"sqlite:///{workdir / 'lapor.db'}"
    db.migrate(url)
    return {
        "DATABASE_URL": url,
        "RASA_TOKEN": "e2e-token",
        "WHATSAPP_API_URL": f"{graph}/v21.0",
        "WHATSAPP_ACCESS_TOKEN": TOKEN,
        "WHATSAPP_APP_SECRET": APP_SECRET,
        "WHATSAPP_VERIFY_TOKEN": "e2e-verify",
        "WHATSAPP_PHONE_NUMBER_ID": "100000000000001",
        "MEDIA_DIR": str(workdir / "media"),
    }


@pytest.fixture(scope="module")
def bot(tmp_path_factory, graph):
    workdir = tmp_path_factory.mktemp("e2e_wa")
    env = bot_env(workdir, graph)
    with running_bot(workdir, env) as servers:
        servers["db"] = env["DATABASE_URL"]
        yield servers


class Phone:
    """A citizen's WhatsApp, talking through signed webhooks."""

    def __init__(self, bot: dict, graph: str) -> None:
        self.bot, self.graph = bot, graph
        self.wa_id = "62857" + str(uuid.uuid4().int)[:8]
        self.seen = 0

    def _post(self, message: dict, secret: str = APP_SECRET) -> requests.Response:
        message = {
            "from": self.wa_id,
            "id": f"wamid.{uuid.uuid4().hex}",
            "timestamp": str(int(time.time())),
            **message,
        }
        body = json.dumps(webhook_body(self.wa_id, message)).encode()
        return requests.post(
            f"{self.bot['rasa']}/webhooks/whatsapp/webhook",
            data=body,
            timeout=10,
            headers={
                "Content-Type": "application/json",
                "X-Hub-Signature-256": sign(body, secret),
            },
        )

    def send(self, message: dict, replies: int = 1) -> list[dict]:
        answer = self._post(message)
        assert answer.status_code == 200, answer.text
        return self.wait(replies)

    def wait(self, replies: int, timeout: float = 30) -> list[dict]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            mine = [
                m
                for m in requests.get(f"{self.graph}/_fake/messages", timeout=5).json()
                if m.get("to") == self.wa_id
                and m.get("type") != "read"
                and m.get("status") != "read"
            ]
            if len(mine) >= self.seen + replies:
                new = mine[self.seen :]
                self.seen = len(mine)
                return new
            time.sleep(0.1)
        raise AssertionError(
            f"expected {replies} more replies, got {len(mine) - self.seen}"
        )


def body_text(message: dict) -> str:
    if message["type"] == "text":
        return message["text"]["body"]
    return message["interactive"]["body"]["text"]


def reply_buttons(message: dict) -> list[dict]:
    assert (
        message["type"] == "interactive" and message["interactive"]["type"] == "button"
    )
    return [b["reply"] for b in message["interactive"]["action"]["buttons"]]


def test_whole_conversation_with_photo_and_pin(bot, graph):
    phone = Phone(bot, graph)
    media_id = f"media-{uuid.uuid4().hex[:8]}"
    png = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"0" * 64).decode()
    requests.post(
        f"{graph}/_fake/media",
        json={"id": media_id, "mime_type": "image/png", "data_base64": png},
        timeout=5,
    )

    [reply] = phone.send(
        {"type": "image", "image": {"id": media_id, "mime_type": "image/png"}}
    )
    assert "Foto" in body_text(reply)

    [reply] = phone.send(
        {
            "type": "text",
            "text": {
                "body": "lampu jalan mati di depan masjid sdh seminggu, gelap banget rawan jambret"
            },
        }
    )
    assert "lokasi" in body_text(reply).lower()

    lat, lon = SUMBERANYAR
    [reply] = phone.send(
        {
            "type": "location",
            "location": {
                "latitude": lat,
                "longitude": lon,
                "name": "Masjid",
                "address": "Jl. Raya",
            },
        }
    )
    assert "atas nama" in body_text(reply)

    [reply] = phone.send({"type": "text", "text": {"body": "Rina"}})
    text = body_text(reply)
    assert "Desa Sumberanyar, Kecamatan Paiton" in text and "Pembangunan" in text
    buttons = reply_buttons(reply)
    assert [b["title"] for b in buttons] == ["Kirim", "Ubah", "Batal"]
    assert all(len(b["title"]) <= 20 and len(b["id"]) <= 256 for b in buttons)

    kirim = next(b for b in buttons if b["title"] == "Kirim")
    [reply] = phone.send(
        {
            "type": "interactive",
            "interactive": {"type": "button_reply", "button_reply": kirim},
        }
    )
    ticket = next(
        w for w in body_text(reply).replace("*", " ").split() if w.startswith("LK-")
    )

    with db.session_scope(bot["db"]) as s:
        complaint = services.find_by_ticket(s, ticket)
        assert complaint.kategori == "pembangunan"
        assert (complaint.kecamatan_code, complaint.desa_code) == (
            "35.13.12",
            "35.13.12.2018",
        )
        assert (round(complaint.lat, 4), round(complaint.lon, 4)) == (
            round(lat, 4),
            round(lon, 4),
        )
        assert complaint.channel == "whatsapp" and complaint.reporter_name == "Rina"
        assert complaint.reporter_phone == "+" + phone.wa_id
        assert [a.kind for a in complaint.attachments] == ["image"]
        assert complaint.attachments[0].source_id == media_id
        # Filed by the Kirim tap: the same message run again files nothing new.
        kirim_wamid = s.scalars(
            select(WaInbound.wamid).where(
                WaInbound.sender_id == phone.wa_id,
                WaInbound.msg_type == "interactive",
            )
        ).one()
        assert complaint.source_message_id == kirim_wamid


def test_forged_and_unsigned_webhooks_are_refused(bot, graph):
    phone = Phone(bot, graph)
    forged = phone._post(
        {"type": "text", "text": {"body": "halo"}}, secret="not-the-secret"
    )
    assert forged.status_code == 403
    body = b'{"object": "whatsapp_business_account", "entry": []}'
    unsigned = requests.post(
        f"{bot['rasa']}/webhooks/whatsapp/webhook", data=body, timeout=10
    )
    assert unsigned.status_code == 401
    time.sleep(1)
    assert [
        m
        for m in requests.get(f"{graph}/_fake/messages", timeout=5).json()
        if m.get("to") == phone.wa_id
    ] == []


def test_verification_handshake(bot):
    hook = f"{bot['rasa']}/webhooks/whatsapp/webhook"
    ok = requests.get(
        hook,
        params={
            "hub.mode": "subscribe",
            "hub.verify_token": "e2e-verify",
            "hub.challenge": "1158201444",
        },
        timeout=10,
    )
    assert ok.status_code == 200 and ok.text == "1158201444"
    bad = requests.get(
        hook,
        params={
            "hub.mode": "subscribe",
            "hub.verify_token": "nope",
            "hub.challenge": "1",
        },
        timeout=10,
    )
    assert bad.status_code == 403


def test_updates_reach_the_citizen_and_belum_reopens(bot, graph, monkeypatch):
    """Each workflow step is sent on WhatsApp; tapping "Belum" after selesai reopens."""
    import datetime as dt

    from lapor import notify, workflow

    for key, value in {
        "DATABASE_URL": bot["db"],
        "WHATSAPP_API_URL": f"{graph}/v21.0",
        "WHATSAPP_ACCESS_TOKEN": TOKEN,
        "WHATSAPP_PHONE_NUMBER_ID": "100000000000001",
    }.items():
        monkeypatch.setenv(key, value)
    phone = Phone(bot, graph)
    phone.send(
        {
            "type": "text",
            "text": {
                "body": "lampu penerangan jalan di ds sumberanyar kec paiton mati semua sejak 2 minggu"
            },
        }
    )
    phone.send({"type": "text", "text": {"body": "anonim"}})
    [summary] = phone.send({"type": "text", "text": {"body": "kirim"}})
    ticket = next(
        w for w in body_text(summary).replace("*", " ").split() if w.startswith("LK-")
    )

    operator = workflow.StaffActor("operator1", "operator")
    opd = workflow.StaffActor("dishub1", "opd", "DISHUB")
    steps = [
        lambda s, c: workflow.verify(s, c, operator),
        lambda s, c: workflow.dispose(s, c, operator, ["DISHUB"]),
        lambda s, c: workflow.follow_up(
            s, c, opd, "Lampu dijadwalkan diganti", dt.date(2027, 1, 8)
        ),
        lambda s, c: workflow.complete(s, c, opd, "Lampu sudah diganti 5 titik"),
    ]
    for step in steps:
        with db.session_scope(bot["db"]) as s:
            c = services.find_by_ticket(s, ticket)
            change = step(s, c)
        with db.session_scope(bot["db"]) as s:
            notify.notify_change(s, services.find_by_ticket(s, ticket), change)
    updates = phone.wait(len(steps))
    assert all(ticket in body_text(u) for u in updates)
    assert "Dinas Perhubungan" in body_text(updates[1])
    final = updates[-1]
    belum = next(b for b in reply_buttons(final) if b["title"] == "Belum")

    [reply] = phone.send(
        {
            "type": "interactive",
            "interactive": {"type": "button_reply", "button_reply": belum},
        }
    )
    assert "kami buka kembali" in body_text(reply)
    with db.session_scope(bot["db"]) as s:
        assert services.find_by_ticket(s, ticket).status == "ditindaklanjuti"


def _turns(bot: dict) -> str:
    return requests.get(f"{bot['rasa']}/webhooks/whatsapp/", timeout=5).json()["turns"]


def _states(bot: dict, phone: Phone) -> list[str]:
    """The wa_inbound states of a phone's messages once all are final (≤ 20 s)."""
    deadline = time.monotonic() + 20
    while True:
        with db.get_engine(bot["db"]).connect() as conn:
            states = conn.exec_driver_sql(
                "SELECT state FROM wa_inbound WHERE sender_id = ? ORDER BY id",
                (phone.wa_id,),
            ).all()
        # Marked handled once its replies are sent, a moment after they arrive.
        if all(s[0] == "handled" for s in states) or time.monotonic() > deadline:
            return [s[0] for s in states]
        time.sleep(0.1)


def _claimed_mid_turn(url: str, phone: Phone, pid: int) -> None:
    """A message the process ``pid`` had claimed and was working on."""
    import socket

    now = utcnow()
    with db.session_scope(url) as s:
        s.add(
            WaInbound(
                wamid=f"wamid.{uuid.uuid4().hex}",
                sender_id=phone.wa_id,
                msg_type="text",
                text="halo min",
                payload={
                    "from": phone.wa_id,
                    "type": "text",
                    "text": {"body": "halo min"},
                },
                received_at=now,
                state="processing",
                claimed_at=now,
                claimed_by=f"{socket.gethostname()}:{pid}:e2e00000",
            )
        )


def _phone_of(bot: dict, graph: str, worker: int, workers: int) -> Phone:
    """A new citizen whose messages go to turn worker number ``worker``."""
    while True:
        phone = Phone(bot, graph)
        if Shard.of(phone.wa_id, workers) == worker:
            return phone


def test_a_dead_turn_worker_is_replaced_and_its_messages_answered(bot, graph):
    """Kept last in this module: the first turn worker is killed mid-run.

    It leaves three things: a message that reaches the server while it does
    not run; a message it had claimed and was working on (its turn not saved);
    and a reply it had stored and not sent. The other worker's citizens are
    answered meanwhile.
    """
    import os
    import signal

    pids = turn_worker_pids(bot["rasa"])
    assert len(pids) == 2, "the default is two turn workers"
    worker = pids[0]
    mid_turn, unsent = _phone_of(bot, graph, 0, 2), _phone_of(bot, graph, 0, 2)
    _claimed_mid_turn(bot["db"], mid_turn, worker)
    now = utcnow()
    with db.session_scope(bot["db"]) as s:
        s.add(
            WaOutbound(
                recipient_id=unsent.wa_id,
                author="bot",
                kind="text",
                text="Balasan yang tertunda",
                body={
                    "recipient_type": "individual",
                    "to": unsent.wa_id,
                    "type": "text",
                    "text": {"body": "Balasan yang tertunda"},
                },
                status="pending",
                attempts=0,
                created_at=now,
                claimed_at=now - dt.timedelta(hours=1),
            )
        )
    os.kill(worker, signal.SIGKILL)
    phone, other = _phone_of(bot, graph, 0, 2), _phone_of(bot, graph, 1, 2)
    # Answered by the server while the worker does not run: stored, acknowledged.
    answer = phone._post({"type": "text", "text": {"body": "selamat pagi"}})
    assert answer.status_code == 200
    # The other worker's citizen is answered before a new worker is up (its
    # model takes about 20 s to load).
    [reply] = other.send({"type": "text", "text": {"body": "selamat pagi"}})
    assert "Lapor Kand4" in body_text(reply) or "laporan" in body_text(reply).lower()
    sent = requests.get(f"{graph}/_fake/messages", timeout=5).json()
    assert not [m for m in sent if m.get("to") == phone.wa_id]  # its worker's
    assert _turns(bot) == "starting"
    # A new worker loads the model and takes the message from the database.
    [reply] = phone.wait(1, timeout=120)
    assert "Lapor Kand4" in body_text(reply) or "laporan" in body_text(reply).lower()
    assert _turns(bot) == "ready"
    new_pids = turn_worker_pids(bot["rasa"])
    assert new_pids[0] != worker and new_pids[1] == pids[1]
    assert _states(bot, phone) == ["handled"]
    # The dead worker's claim is taken over at once, not after ten minutes.
    [reply] = mid_turn.wait(1, timeout=30)
    assert "Lapor Kand4" in body_text(reply) or "laporan" in body_text(reply).lower()
    assert _states(bot, mid_turn) == ["handled"]
    # Its unsent reply goes out once, by the new worker's first sweep.
    [resent] = unsent.wait(1, timeout=30)
    assert body_text(resent) == "Balasan yang tertunda"
    with db.session_scope(bot["db"]) as s:
        row = s.scalars(
            select(WaOutbound).where(WaOutbound.recipient_id == unsent.wa_id)
        ).one()
        assert (row.status, row.wamid) == ("sent", resent["_wamid"])


def test_inline_turns_run_in_the_servers_process(tmp_path, graph):
    """``WHATSAPP_TURNS=inline``: no worker; what a dead process left is taken
    up at start, and new messages are answered."""
    import subprocess

    env = {**bot_env(tmp_path, graph), "WHATSAPP_TURNS": "inline"}
    gone = subprocess.Popen(["true"])
    gone.wait()
    placeholder = {"rasa": "", "db": env["DATABASE_URL"]}
    left_behind = Phone(placeholder, graph)
    _claimed_mid_turn(env["DATABASE_URL"], left_behind, gone.pid)
    with running_bot(tmp_path, env) as servers:
        servers["db"] = env["DATABASE_URL"]
        left_behind.bot = servers
        assert _turns(servers) == "inline"
        [reply] = left_behind.wait(1, timeout=30)
        assert (
            "Lapor Kand4" in body_text(reply) or "laporan" in body_text(reply).lower()
        )
        phone = Phone(servers, graph)
        [reply] = phone.send(
            {
                "type": "text",
                "text": {"body": "jalan di ds sumberanyar kec paiton rusak parah"},
            }
        )
        assert "atas nama" in body_text(reply)
        assert _states(servers, left_behind) == ["handled"]
        assert _states(servers, phone) == ["handled"]
