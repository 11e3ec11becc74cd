"""In a real browser (Debian's chromium via Playwright), against the real bot.

A citizen (signed webhooks) asks for a person; the operator logs in, sees the
conversation appear in the queue without reloading, takes over, replies (the
fake Graph API receives it) while the citizen writes twice more and the bot
stays silent, then releases; the citizen writes again and the bot answers.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
import uuid
from pathlib import Path

import pytest
import requests
from console_helpers import PASSWORD
from sqlalchemy import select

from lapor import db
from lapor.models import Conversation
from lapor.whatsapp.fake_graph import webhook_body
from lapor.whatsapp.inbound import sign
from lapor.whatsapp.models import WaInbound, WaOutbound

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
MODEL = ROOT / "models" / "lapor.tar.gz"
SCREENSHOTS = ROOT / "var" / "screenshots"
APP_SECRET = "browser-test-secret"
CITIZEN = "6281355550123"

pytestmark = [
    pytest.mark.skipif(
        not Path(CHROMIUM).exists() and shutil.which("chromium") is None,
        reason="Debian's chromium is not installed (apt-get install -y chromium)",
    ),
    pytest.mark.skipif(not MODEL.exists(), reason="no trained model: run `make model`"),
]


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _citizen_says(rasa: str, text: str) -> None:
    message = {
        "from": CITIZEN,
        "id": f"wamid.BR{uuid.uuid4().hex.upper()}",
        "timestamp": str(int(time.time())),
        "type": "text",
        "text": {"body": text},
    }
    body = webhook_body(CITIZEN, message)
    raw = json.dumps(body).encode()
    response = requests.post(
        f"{rasa}/webhooks/whatsapp/webhook",
        data=raw,
        timeout=10,
        headers={
            "Content-Type": "application/json",
            "X-Hub-Signature-256": sign(raw, APP_SECRET),
        },
    )
    assert response.status_code == 200, response.text


def _wait(predicate, timeout: float, what: str):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for: {what}")


def _bot_rows(url: str, after_id: int = 0) -> list[tuple[int, str]]:
    with db.session_scope(url) as s:
        return list(
            s.execute(
                select(WaOutbound.id, WaOutbound.text)
                .where(
                    WaOutbound.recipient_id == CITIZEN,
                    WaOutbound.author == "bot",
                    WaOutbound.id > after_id,
                )
                .order_by(WaOutbound.id)
            ).all()
        )


def _inbound_states(url: str) -> list[tuple[str, str]]:
    with db.session_scope(url) as s:
        return list(
            s.execute(
                select(WaInbound.text, WaInbound.state)
                .where(WaInbound.sender_id == CITIZEN)
                .order_by(WaInbound.id)
            ).all()
        )


def _state(url: str) -> str | None:
    with db.session_scope(url) as s:
        c = s.get(Conversation, CITIZEN)
        return c.state if c else None


@pytest.fixture
def stack(tmp_path, monkeypatch, fake_graph):
    """Real bot + console (waitress, in a thread) on one SQLite database."""
    from waitress.server import create_server

    from lapor.console import create_app
    from lapor.console.auth import create_user
    from tests.servers import running_bot

    url = f"sqlite:///{tmp_path / 'lapor.db'}"
    db.migrate(url)
    env = {
        "DATABASE_URL": url,
        "WHATSAPP_API_URL": fake_graph.server.api_url,
        "WHATSAPP_ACCESS_TOKEN": os.environ["WHATSAPP_ACCESS_TOKEN"],
        "WHATSAPP_PHONE_NUMBER_ID": "1122334455667",
        "WHATSAPP_APP_SECRET": APP_SECRET,
        "WHATSAPP_VERIFY_TOKEN": "verify",
        "MEDIA_DIR": str(tmp_path / "media"),
        "RASA_TOKEN": "browser-test-token",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    create_user("budi", PASSWORD, role="operator", full_name="Budi Santoso")
    app = create_app({"SECRET_KEY": "browser-test"})
    port = _free_port()
    server = create_server(app, host="127.0.0.1", port=port, threads=6)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    workdir = tmp_path / "bot"
    workdir.mkdir()
    with running_bot(workdir, env) as bot:
        monkeypatch.setenv("RASA_URL", bot["rasa"])
        yield {
            "url": url,
            "console": f"http://127.0.0.1:{port}",
            "rasa": bot["rasa"],
            "graph": fake_graph,
        }
    server.close()


def test_operator_takes_over_replies_and_releases_in_a_browser(stack):
    from playwright.sync_api import expect, sync_playwright

    url, console, rasa, graph = (
        stack["url"],
        stack["console"],
        stack["rasa"],
        stack["graph"],
    )
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox", "--disable-background-networking", "--disable-gpu"],
        )
        page = browser.new_page(viewport={"width": 1280, "height": 860})
        page.set_default_timeout(30_000)

        page.goto(f"{console}/masuk")
        page.fill("input[name=username]", "budi")
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        expect(page).to_have_url(f"{console}/antrean")
        expect(page.locator("#waiting li.empty")).to_be_visible()

        # The citizen asks for a person; the queue shows it without a reload.
        _citizen_says(rasa, "mau bicara dengan petugas")
        _wait(lambda: _state(url) == "menunggu", 60, "the bot queues the conversation")
        queued_notice = _wait(lambda: _bot_rows(url), 30, "the bot tells the citizen")
        item = page.locator("#waiting li.qitem")
        expect(item).to_have_count(1, timeout=15_000)
        expect(item).to_contain_text("0813****0123")
        expect(item).not_to_contain_text(CITIZEN)
        page.screenshot(path=str(SCREENSHOTS / "antrean.png"), full_page=True)

        # Take over: the citizen is greeted by the operator.
        item.locator("button.take").click()
        expect(page).to_have_url(f"{console}/percakapan/{CITIZEN}")
        expect(page.locator("#state-label")).to_have_text("Dilayani petugas")
        _wait(
            lambda: any(
                t.startswith("Halo, saya Budi Santoso") for t in graph.texts_to(CITIZEN)
            ),
            15,
            "the greeting reaches the fake Graph API",
        )
        last_bot_id = max(i for i, _ in _bot_rows(url))

        # Reply through the page; the fake Graph API receives it.
        page.fill("#reply-text", "Baik Bapak/Ibu, ada yang bisa saya bantu?")
        page.click("#btn-reply")
        expect(page.locator(".flash-ok")).to_contain_text("Balasan terkirim")
        assert (
            graph.texts_to(CITIZEN)[-1] == "Baik Bapak/Ibu, ada yang bisa saya bantu?"
        )

        # The citizen writes twice more: the console shows it, the bot is silent.
        _citizen_says(rasa, "lampu jalan di depan rumah saya mati")
        _citizen_says(rasa, "halo")
        transcript = page.locator("#transcript")
        expect(transcript).to_contain_text(
            "lampu jalan di depan rumah saya mati", timeout=15_000
        )
        expect(transcript.locator(".msg-in", has_text="halo")).to_have_count(
            1, timeout=15_000
        )
        time.sleep(4)  # time for a bot that wrongly answered to have done so
        assert _bot_rows(url, last_bot_id) == []
        states = _inbound_states(url)
        assert states[-2:] == [
            ("lampu jalan di depan rumah saya mati", "silenced"),
            ("halo", "silenced"),
        ]
        page.screenshot(path=str(SCREENSHOTS / "percakapan.png"), full_page=True)

        # Release: the citizen is told, the conversation is the bot's again.
        page.once("dialog", lambda dialog: dialog.accept())
        page.click("#btn-release")
        expect(page).to_have_url(f"{console}/antrean")
        expect(page.locator(".flash-ok")).to_contain_text("dikembalikan ke bot")
        assert graph.texts_to(CITIZEN)[-1].startswith(
            "Terima kasih, percakapan dengan petugas"
        )
        assert _state(url) == "bot"
        assert _bot_rows(url, last_bot_id) == []
        # The citizen writes again and the bot answers again.
        _citizen_says(rasa, "halo")
        answered = _wait(
            lambda: _bot_rows(url, last_bot_id), 30, "the bot answers after release"
        )
        assert answered and queued_notice
        assert _inbound_states(url)[-1] == ("halo", "handled")

        # The simulated phone: the same number, through the console's sandbox.
        page.goto(f"{console}/simulasi")
        page.fill("#sim-number", CITIZEN)
        page.dispatch_event("#sim-number", "change")
        chat = page.locator("#chat")
        expect(chat).to_contain_text("Baik Bapak/Ibu, ada yang bisa saya bantu?")
        bubbles_before = chat.locator(".bubble").count()
        page.fill("#sim-message", "menu")
        page.click("#sim-text button[type=submit]")
        expect(chat.locator(".bubble.mine", has_text="menu")).to_have_count(1)
        # The bot's answer arrives (through the fake Graph API) in the phone.
        expect(chat.locator(".bubble")).not_to_have_count(bubbles_before + 1)
        choice = chat.locator(".bubble .choices button").last
        expect(choice).to_be_visible(timeout=30_000)
        label = choice.inner_text().split(" — ")[0]
        bot_before = len(_bot_rows(url))
        choice.click()
        _wait(
            lambda: any(s == "handled" and t == label for t, s in _inbound_states(url)),
            30,
            "the tapped choice reaches the bot as an interactive reply",
        )
        _wait(lambda: len(_bot_rows(url)) > bot_before, 30, "the bot answers the tap")
        page.click("summary")
        page.fill("#sim-lat", "-7.73")
        page.fill("#sim-lon", "113.42")
        page.click("#sim-location button[type=submit]")
        expect(chat.locator(".bubble.mine", has_text="-7.73, 113.42")).to_have_count(1)
        page.screenshot(path=str(SCREENSHOTS / "simulasi.png"), full_page=True)
        browser.close()
