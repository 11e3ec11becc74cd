"""Citizen notifications against the fake Graph API: text in the window, template
outside it, confirmation buttons after selesai, not sent for other channels."""

from __future__ import annotations

import datetime as dt
import json
import socket

import pytest
import pytest_asyncio
import requests
from sqlalchemy import select

from lapor import deadlines, notify, workflow
from lapor.models import ComplaintMessage, Conversation, utcnow
from lapor.whatsapp.fake_graph import FakeGraphServer
from lapor.whatsapp.models import WaOutbound
from lapor.workflow import StaffActor
from tests.factories import REPORTER, filed_complaint
from tests.servers import running_fake_graph

OPERATOR = StaffActor("ops1", "operator")
PUPR = StaffActor("pupr1", "opd", "PUPR")
TOKEN = "test-token"


def _graph_env(monkeypatch, api_url: str) -> None:
    monkeypatch.setenv("WHATSAPP_API_URL", api_url)
    monkeypatch.setenv("WHATSAPP_ACCESS_TOKEN", TOKEN)
    monkeypatch.setenv("WHATSAPP_PHONE_NUMBER_ID", "1122334455667")
    monkeypatch.setenv("WHATSAPP_RETRY_INITIAL", "0.01")
    monkeypatch.setenv("WHATSAPP_RETRY_MAX", "0.05")
    monkeypatch.setenv("WHATSAPP_HTTP_TIMEOUT", "5")
    monkeypatch.setenv("WHATSAPP_TEMPLATE_UPDATE", "lapor_update")


@pytest_asyncio.fixture
async def graph(monkeypatch):
    server = await FakeGraphServer(token=TOKEN).start()
    _graph_env(monkeypatch, server.api_url)
    yield server
    from lapor.whatsapp.graph import close_client

    await close_client()
    await server.stop()


@pytest.fixture
def graph_process(monkeypatch, tmp_path):
    """The fake Graph API as a subprocess (for the sync wrapper)."""
    with running_fake_graph(tmp_path, TOKEN) as base:
        _graph_env(monkeypatch, f"{base}/v21.0")
        yield base


def _window(session, open_: bool, sender: str = REPORTER) -> None:
    last = utcnow() - (dt.timedelta(minutes=5) if open_ else dt.timedelta(days=2))
    row = session.get(Conversation, sender)
    if row is None:
        session.add(
            Conversation(sender_id=sender, state="bot", last_citizen_message_at=last)
        )
    else:
        row.last_citizen_message_at = last
    session.commit()


def _template_params(message: dict) -> list[str]:
    [component] = message["template"]["components"]
    return [p["text"] for p in component["parameters"]]


async def test_inside_window_each_step_is_a_text(session, graph):
    _window(session, True)
    c = filed_complaint(session)
    change = workflow.verify(session, c, OPERATOR)
    session.commit()
    record = await notify.notify_change_async(session, c, change)
    assert record.delivery == "sent" and record.kind == "pemberitahuan"
    [msg] = graph.state.messages
    assert msg["to"] == REPORTER and msg["type"] == "text"
    assert c.ticket in msg["text"]["body"] and "kami periksa" in msg["text"]["body"]

    change = workflow.dispose(session, c, OPERATOR, ["PUPR", "CAMAT-35.13.12"])
    session.commit()
    await notify.notify_change_async(session, c, change)
    body = graph.state.messages[-1]["text"]["body"]
    assert "Dinas Pekerjaan Umum dan Penataan Ruang serta Camat Paiton" in body
    assert deadlines.format_date(c.respond_due) in body

    target = deadlines.local_date() + dt.timedelta(days=30)
    change = workflow.follow_up(session, c, PUPR, "Tim survei turun besok", target)
    session.commit()
    await notify.notify_change_async(session, c, change)
    body = graph.state.messages[-1]["text"]["body"]
    assert "Tim survei turun besok" in body and deadlines.format_date(target) in body

    later = target + dt.timedelta(days=30)
    message = workflow.follow_up(session, c, PUPR, "Menunggu aspal datang", later)
    session.commit()
    await notify.notify_change_async(session, c, message)
    body = graph.state.messages[-1]["text"]["body"]
    assert "Menunggu aspal datang" in body and deadlines.format_date(later) in body
    assert len(graph.state.messages) == 4

    outbound = session.scalars(select(WaOutbound).order_by(WaOutbound.id)).all()
    assert [o.kind for o in outbound] == ["text"] * 4
    assert all(o.status == "sent" for o in outbound)
    records = session.scalars(
        select(ComplaintMessage).where(ComplaintMessage.kind == "pemberitahuan")
    ).all()
    assert len(records) == 4 and {r.delivery for r in records} == {"sent"}
    assert records[0].meta["outbound_ids"] == [outbound[0].id]


async def test_outside_window_a_template_with_three_params(session, graph):
    _window(session, False)
    c = filed_complaint(
        session, anonymous=True, reporter_name=None
    )  # anonymous: still told
    workflow.verify(session, c, OPERATOR)
    change = workflow.reject(session, c, OPERATOR, "Lokasi di luar wilayah kabupaten")
    session.commit()
    record = await notify.notify_change_async(session, c, change)
    assert record.delivery == "sent"
    [msg] = graph.state.messages
    assert msg["type"] == "template" and msg["template"]["name"] == "lapor_update"
    ticket, label, note = _template_params(msg)
    assert ticket == c.ticket and label == "Ditolak"
    assert "Lokasi di luar wilayah kabupaten" in note


async def test_selesai_asks_for_confirmation_with_two_buttons(session, graph):
    _window(session, True)
    c = filed_complaint(session)
    workflow.verify(session, c, OPERATOR)
    workflow.dispose(session, c, OPERATOR, ["PUPR"])
    change = workflow.complete(session, c, PUPR, "Lubang sudah ditambal aspal")
    session.commit()
    await notify.notify_change_async(session, c, change)
    [msg] = graph.state.messages
    assert msg["type"] == "interactive"
    interactive = msg["interactive"]
    assert "Lubang sudah ditambal aspal" in interactive["body"]["text"]
    buttons = [b["reply"] for b in interactive["action"]["buttons"]]
    assert [b["title"] for b in buttons] == ["Sudah beres", "Belum"]
    for button, answer in zip(buttons, ("sudah", "belum"), strict=True):
        intent, _, payload = button["id"].partition("{")
        assert intent == "/konfirmasi_selesai"
        assert json.loads("{" + payload) == {"tiket": c.ticket, "jawab": answer}

    # The citizen's "belum" (button id) reopens it.
    data = json.loads(buttons[1]["id"][len("/konfirmasi_selesai") :])
    reopened = workflow.citizen_confirms(session, data["tiket"], REPORTER, False)
    session.commit()
    assert c.status == "didisposisikan" and reopened.to_status == "didisposisikan"
    await notify.notify_change_async(session, c, reopened)
    assert "buka kembali" in graph.state.messages[-1]["text"]["body"]


async def test_selesai_outside_window_is_a_template(session, graph):
    _window(session, False)
    c = filed_complaint(session)
    workflow.verify(session, c, OPERATOR)
    workflow.dispose(session, c, OPERATOR, ["PUPR"])
    change = workflow.complete(session, c, PUPR, "Sudah ditambal")
    session.commit()
    await notify.notify_change_async(session, c, change)
    [msg] = graph.state.messages
    assert msg["type"] == "template"
    ticket, label, note = _template_params(msg)
    assert (ticket, label) == (c.ticket, "Selesai") and "SUDAH" in note


async def test_refused_free_text_falls_back_to_the_template(session, graph):
    _window(session, True)
    c = filed_complaint(session)
    workflow.verify(session, c, OPERATOR)
    workflow.dispose(session, c, OPERATOR, ["PUPR"])
    change = workflow.complete(session, c, PUPR, "Sudah ditambal")
    session.commit()
    graph.state.fail.status, graph.state.fail.times = 400, 1
    graph.state.fail.error_code = 131047  # Meta: the window is in fact closed
    await notify.notify_change_async(session, c, change)
    assert [m["type"] for m in graph.state.messages] == ["template"]
    assert graph.state.attempts[0]["body"]["type"] == "interactive"


async def test_other_channels_are_recorded_as_not_sent(session, graph):
    c = filed_complaint(session, channel="open311", reporter_id="open311:abc")
    change = workflow.verify(session, c, OPERATOR)
    session.commit()
    record = await notify.notify_change_async(session, c, change)
    assert record.delivery == "not_sent" and record.status_change_id == change.id
    assert graph.state.messages == []
    assert session.scalars(select(WaOutbound)).all() == []


def test_sync_wrapper_from_flask_like_code(session, graph_process):
    _window(session, True)
    c = filed_complaint(session)
    change = workflow.verify(session, c, OPERATOR)
    session.commit()
    record = notify.notify_change(session, c, change)
    assert record.delivery == "sent"
    sent = requests.get(f"{graph_process}/_fake/messages", timeout=5).json()
    assert [m["type"] for m in sent] == ["text"] and c.ticket in sent[0]["text"]["body"]


async def test_sync_wrapper_inside_a_running_loop(session, graph_process):
    _window(session, False)
    c = filed_complaint(session)
    change = workflow.verify(session, c, OPERATOR)
    session.commit()
    record = notify.notify_change(session, c, change)  # e.g. sync code in an action
    assert record.delivery == "sent"
    sent = requests.get(f"{graph_process}/_fake/messages", timeout=5).json()
    assert [m["type"] for m in sent] == ["template"]


async def test_unreachable_api_is_recorded_as_failed(session, monkeypatch):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    _graph_env(monkeypatch, f"http://127.0.0.1:{port}/v21.0")
    monkeypatch.setenv("WHATSAPP_RETRY_ATTEMPTS", "1")
    _window(session, True)
    c = filed_complaint(session)
    change = workflow.verify(session, c, OPERATOR)
    session.commit()
    record = await notify.notify_change_async(session, c, change)
    assert record.delivery == "failed"
    from lapor.whatsapp.graph import close_client

    await close_client()
