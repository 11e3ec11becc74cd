"""The simulated phone: signed webhooks to Rasa, photos on the fake Graph API,
replies read back (buttons tappable)."""

from __future__ import annotations

import io
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from lapor.console.util import run_async
from lapor.whatsapp import outbound
from lapor.whatsapp.inbound import verify_signature

SECRET = "sandbox-test-secret"
NUMBER = "6281200000777"


class _Receiver(BaseHTTPRequestHandler):
    received: list = []

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        raw = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append(
            (self.path, raw, self.headers.get("X-Hub-Signature-256"))
        )
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def rasa_stub(monkeypatch):
    """Stands in for the Rasa server: records the webhooks it gets."""
    _Receiver.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("RASA_URL", f"http://127.0.0.1:{server.server_port}")
    monkeypatch.setenv("WHATSAPP_APP_SECRET", SECRET)
    yield _Receiver.received
    server.shutdown()


def _message(received) -> dict:
    path, raw, signature = received[-1]
    assert path == "/webhooks/whatsapp/webhook"
    assert verify_signature(raw, signature, SECRET)
    assert not verify_signature(raw, signature, "another-secret")
    [message] = json.loads(raw)["entry"][0]["changes"][0]["value"]["messages"]
    assert message["from"] == NUMBER
    return message


def _send_json(client, payload):
    return client.post(
        "/api/simulasi/kirim",
        json={"number": NUMBER, **payload},
        headers={"X-CSRFToken": client.csrf, "X-Requested-With": "fetch"},
    )


def test_sandbox_only_with_a_local_graph_api(app, budi, monkeypatch):
    monkeypatch.setenv("WHATSAPP_API_URL", "https://graph.facebook.com/v21.0")
    assert budi.get("/simulasi").status_code == 404
    assert _send_json(budi, {"type": "text", "text": "halo"}).status_code == 404
    monkeypatch.setenv("WHATSAPP_API_URL", "http://127.0.0.1:8090/v21.0")
    assert budi.get("/simulasi").status_code == 200


def test_text_location_and_tap_are_signed_webhooks(app, budi, fake_graph, rasa_stub):
    assert _send_json(budi, {"type": "text", "text": "jalan rusak"}).status_code == 200
    assert _message(rasa_stub)["text"] == {"body": "jalan rusak"}
    assert (
        _send_json(
            budi, {"type": "location", "lat": "-7.73", "lon": "113.42"}
        ).status_code
        == 200
    )
    assert _message(rasa_stub)["location"] == {"latitude": -7.73, "longitude": 113.42}
    tap = {
        "type": "button_reply",
        "id": '/pilih_kategori{"kategori": "kesehatan"}',
        "title": "Kesehatan",
    }
    assert _send_json(budi, tap).status_code == 200
    interactive = _message(rasa_stub)["interactive"]
    assert interactive == {
        "type": "button_reply",
        "button_reply": {
            "id": '/pilih_kategori{"kategori": "kesehatan"}',
            "title": "Kesehatan",
        },
    }
    bad = _send_json(budi, {"type": "location", "lat": "abc", "lon": "1"})
    assert bad.status_code == 400 and len(rasa_stub) == 3
    # Without the CSRF header nothing is sent.
    refused = budi.post(
        "/api/simulasi/kirim", json={"number": NUMBER, "type": "text", "text": "x"}
    )
    assert refused.status_code == 400 and len(rasa_stub) == 3


def test_photo_is_registered_on_the_fake_graph_api(app, budi, fake_graph, rasa_stub):
    png = b"\x89PNG\r\n\x1a\n" + b"0" * 64
    response = budi.post(
        "/api/simulasi/kirim",
        data={
            "number": NUMBER,
            "type": "image",
            "caption": "lubang",
            "photo": (io.BytesIO(png), "foto.png", "image/png"),
        },
        headers={"X-CSRFToken": budi.csrf, "X-Requested-With": "fetch"},
        content_type="multipart/form-data",
    )
    assert response.status_code == 200, response.get_json()
    image = _message(rasa_stub)["image"]
    assert image["caption"] == "lubang" and image["mime_type"] == "image/png"
    assert fake_graph.server.state.media[image["id"]] == (png, "image/png")


def test_replies_are_read_back_with_tappable_buttons(app, budi, fake_graph):
    buttons = [
        {"title": "Pemerintahan", "payload": "/a"},
        {"title": "Kesehatan", "payload": "/b"},
    ]
    run_async(outbound.send_buttons(NUMBER, "Pilih kategori:", buttons))
    run_async(outbound.send_text("6281299990000", "untuk nomor lain"))
    data = budi.get(f"/api/simulasi/pesan?number={NUMBER}").get_json()
    [bubble] = data["messages"]
    assert bubble["text"] == "Pilih kategori:" and bubble["author"] == "Bot"
    assert [(b["id"], b["title"], b["kind"]) for b in bubble["buttons"]] == [
        ("/a", "Pemerintahan", "button_reply"),
        ("/b", "Kesehatan", "button_reply"),
    ]
