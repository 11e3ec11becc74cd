"""End to end over HTTP: the real Rasa server, the real action server, a real
database. Conversations in informal Indonesian, checked in what the citizen
reads and in what was stored."""

from __future__ import annotations

import re
import uuid

import pytest
import requests

from lapor import db, handoff, services
from tests.servers import running_bot

TICKET = re.compile(r"LK-[A-Z2-9]{6}")


@pytest.fixture(scope="module")
def bot(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("e2e")
    url = f"sqlite:///{workdir / 'lapor.db'}"
    db.migrate(url)
    with running_bot(
        workdir, {"DATABASE_URL": url, "RASA_TOKEN": "e2e-token"}
    ) as servers:
        servers["db"] = url
        yield servers


class Citizen:
    """One citizen chatting over the REST channel."""

    def __init__(self, bot: dict, sender: str | None = None) -> None:
        self.bot = bot
        self.sender = sender or "62812" + uuid.uuid4().hex[:8]
        self.last: list[dict] = []

    def say(self, text: str) -> str:
        reply = requests.post(
            f"{self.bot['rasa']}/webhooks/rest/webhook",
            json={"sender": self.sender, "message": text},
            timeout=60,
        )
        reply.raise_for_status()
        self.last = reply.json()
        return "\n".join(m.get("text", "") for m in self.last)

    def buttons(self) -> list[dict]:
        return [b for m in self.last for b in m.get("buttons", [])]

    def press(self, title: str) -> str:
        payload = next(b["payload"] for b in self.buttons() if b["title"] == title)
        return self.say(payload)


def stored(bot, ticket):
    with db.session_scope(bot["db"]) as s:
        c = services.find_by_ticket(s, ticket)
        return (
            None
            if c is None
            else {
                "kategori": c.kategori,
                "kecamatan": c.kecamatan_code,
                "desa": c.desa_code,
                "name": c.reporter_name,
                "anonymous": c.anonymous,
                "status": c.status,
                "opd": c.opd_code,
                "camat": c.camat_code,
                "detail": c.detail,
                "channel": c.channel,
                "history": [(h.to_status, h.actor) for h in c.history],
            }
        )


def test_one_shot_filing_then_status(bot):
    warga = Citizen(bot)
    reply = warga.say(
        "jalan di ds sumberanyar kec paiton rusak parah, banyak lubang, sdh 3 bulan"
    )
    assert "atas nama siapa" in reply
    reply = warga.say("Budi Santoso")
    assert "Desa Sumberanyar, Kecamatan Paiton" in reply and "Pembangunan" in reply
    assert [b["title"] for b in warga.buttons()] == ["Kirim", "Ubah", "Batal"]
    reply = warga.press("Kirim")
    ticket = TICKET.search(reply).group(0)
    assert "Dinas Pekerjaan Umum" in reply and "Camat Paiton" in reply
    row = stored(bot, ticket)
    assert row["kategori"] == "pembangunan"
    assert (row["kecamatan"], row["desa"]) == ("35.13.12", "35.13.12.2018")
    assert row["name"] == "Budi Santoso" and row["status"] == "baru"
    assert row["channel"] == "rest" and row["history"] == [("baru", "bot")]

    reply = warga.say(f"cek status {ticket.lower().replace('-', ' ')}")
    assert ticket in reply and "Baru" in reply

    stranger = Citizen(bot)
    reply = stranger.say(f"cek status {ticket}")
    assert ticket in reply and "Budi" not in reply and "lubang" not in reply
    assert "tidak kami temukan" in stranger.say("cek status LK-ZZZZZZ")


def test_step_by_step_with_typos_ambiguity_kota_and_ubah(bot):
    warga = Citizen(bot)
    warga.say("halo min")
    reply = warga.say("mau lapor")
    assert "kategori" in reply.lower()
    assert [b["title"] for b in warga.buttons()] == [
        "Pemerintahan",
        "Pembangunan",
        "Kesehatan",
    ]
    reply = warga.press("Kesehatan")
    assert "lokasi" in reply.lower()
    reply = warga.say("kel jati mayangan")
    assert "Kota" in reply and "Kabupaten Probolinggo" in reply
    reply = warga.say("wonorejo")
    assert "Yang mana" in reply
    assert [b["title"] for b in warga.buttons()] == ["Kec. Maron", "Kec. Wonomerto"]
    reply = warga.press("Kec. Maron")
    assert "ceritakan" in reply.lower()
    reply = warga.say("bidan desa jarang ada")
    assert "sejak kapan" in reply
    reply = warga.say(
        "polindes tutup terus sejak dua minggu, ibu hamil tidak bisa periksa"
    )
    assert "atas nama" in reply
    reply = warga.press("Anonim")
    assert "Anonim" in reply and "Desa Wonorejo, Kecamatan Maron" in reply
    reply = warga.press("Ubah")
    assert [b["title"] for b in warga.buttons()] == [
        "Kategori",
        "Lokasi",
        "Keterangan",
        "Nama pelapor",
    ]
    reply = warga.press("Lokasi")
    assert "lokasi" in reply.lower()
    reply = warga.say("ds klenang kidul kec banyu anyar")
    # Only the location changed: straight back to the summary.
    assert "Desa Klenangkidul, Kecamatan Banyuanyar" in reply and "Anonim" in reply
    reply = warga.press("Kirim")
    ticket = TICKET.search(reply).group(0)
    row = stored(bot, ticket)
    assert (
        row["kategori"] == "kesehatan"
        and row["anonymous"] is True
        and row["name"] is None
    )
    assert row["desa"].startswith("35.13.06.") and row["opd"] == "DINKES"
    assert "ibu hamil" in row["detail"] and "bidan desa" in row["detail"]


def test_cancel_midway_files_nothing(bot):
    warga = Citizen(bot)
    warga.say("mau lapor lampu jalan mati")
    reply = warga.say("batal")
    assert "dibatalkan" in reply
    with db.session_scope(bot["db"]) as s:
        assert services.complaints_of(s, warga.sender) == []
    assert "tidak ada laporan" in warga.say("batal").lower()


def test_emergency_gets_112_and_is_flagged(bot):
    warga = Citizen(bot)
    reply = warga.say(
        "tolong ada kebakaran rumah di desa pesisir sekarang apinya besar"
    )
    assert "112" in reply
    with db.session_scope(bot["db"]) as s:
        conv = handoff.get_or_create(s, warga.sender)
        assert conv.state == "menunggu" and conv.urgent is True


def test_two_misunderstandings_hand_over(bot):
    warga = Citizen(bot)
    first = warga.say("zxqw vbnm")
    assert "belum memahami" in first
    second = warga.say("plmk qazw")
    assert "petugas" in second
    with db.session_scope(bot["db"]) as s:
        assert handoff.state_of(s, warga.sender) == "menunggu"


def test_out_of_scope(bot):
    reply = Citizen(bot).say("siapa juara liga inggris tahun ini")
    assert "hanya melayani" in reply


def test_http_api_needs_the_token(bot):
    assert requests.get(f"{bot['rasa']}/status", timeout=10).status_code == 401
    ok = requests.get(
        f"{bot['rasa']}/status", params={"token": "e2e-token"}, timeout=10
    )
    assert ok.status_code == 200 and ok.json()["model_file"].endswith("lapor.tar.gz")


def test_a_released_conversation_starts_a_fresh_session(bot, monkeypatch):
    from lapor import rasa_api

    warga = Citizen(bot)
    assert "kategori" in warga.say("mau lapor").lower()
    monkeypatch.setenv("RASA_URL", bot["rasa"])
    monkeypatch.setenv("RASA_TOKEN", "wrong-token")
    assert rasa_api.start_new_session(warga.sender) is False
    monkeypatch.setenv("RASA_TOKEN", "e2e-token")
    assert rasa_api.start_new_session(warga.sender) is True
    tracker = requests.get(
        f"{bot['rasa']}/conversations/{warga.sender}/tracker",
        params={"token": "e2e-token"},
        timeout=10,
    ).json()
    assert tracker["active_loop"] == {} and tracker["slots"]["requested_slot"] is None
    # The half-finished intake is gone: a greeting is answered as a greeting.
    assert "Selamat datang" in warga.say("halo")
