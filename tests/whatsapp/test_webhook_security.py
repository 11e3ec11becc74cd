"""GET verification, signatures over raw bytes, bad input."""

from __future__ import annotations

import json

import pytest
from wa_helpers import fixture_bytes, fixture_json, rows, text_message

from lapor.whatsapp.inbound import sign, verify_signature


def test_verify_signature_accepts_the_real_meta_signed_body():
    vector = fixture_json("signature/pywa_real_signed_body.vector.json")
    body = fixture_bytes("signature/pywa_real_signed_body.json")
    header = vector["headers"]["X-Hub-Signature-256"]
    assert verify_signature(body, header, vector["app_secret"])
    assert sign(body, vector["app_secret"]) == header
    assert not verify_signature(body + b"\n", header, vector["app_secret"])
    assert not verify_signature(body, header, "another-secret")
    assert not verify_signature(body, None, vector["app_secret"])
    assert not verify_signature(body, header, "")


@pytest.mark.asyncio
async def test_get_verification(channel):
    case = fixture_json("verification/verify_get_ok.json")
    url = channel.webhook
    async with channel.http.get(url, params=case["query"]) as resp:
        assert resp.status == case["expected_status"]
        assert await resp.text() == case["expected_body"]
    wrong = {**case["query"], "hub.verify_token": "nope"}
    async with channel.http.get(url, params=wrong) as resp:
        assert resp.status == 403
        assert "challenge" not in await resp.text()
    not_subscribe = {**case["query"], "hub.mode": "unsubscribe"}
    async with channel.http.get(url, params=not_subscribe) as resp:
        assert resp.status == 403
    async with channel.http.get(url) as resp:
        assert resp.status == 403


@pytest.mark.asyncio
async def test_real_meta_signed_body_is_accepted(sqlite_url, channel_factory):
    vector = fixture_json("signature/pywa_real_signed_body.vector.json")
    cs = await channel_factory(secret=vector["app_secret"])
    body = fixture_bytes("signature/pywa_real_signed_body.json")
    status = await cs.post_raw(body, vector["headers"]["X-Hub-Signature-256"])
    assert status == 200
    await cs.idle()
    assert [(m.sender_id, m.text) for m in cs.received] == [
        ("972544401243", "Hey there! I am using PyWa.")
    ]
    assert cs.received[0].input_channel == "whatsapp"
    assert cs.received[0].message_id.startswith("wamid.HBgMOTcy")


@pytest.mark.asyncio
async def test_missing_and_forged_signatures_store_nothing(channel, sqlite_url):
    body = json.dumps(text_message("wamid.forged1")).encode()
    assert await channel.post_raw(body, signature=None) == 401
    assert await channel.post_raw(body, signature="") == 401
    forged = sign(body, "not-the-app-secret")
    assert await channel.post_raw(body, signature=forged) == 403
    assert await channel.post_raw(body, signature="sha256=zz") == 403
    # A real signature over other bytes (tampered body).
    tampered = body.replace(b"halo", b"HALO")
    assert await channel.post_raw(tampered, signature=sign(body, channel.secret)) == 403
    await channel.idle()
    assert rows(sqlite_url, "SELECT count(*) FROM wa_inbound")[0][0] == 0
    assert channel.received == []


@pytest.mark.asyncio
async def test_no_app_secret_fails_closed(sqlite_url, channel_factory):
    cs = await channel_factory(secret="")
    body = json.dumps(text_message("wamid.nosecret")).encode()
    assert await cs.post_raw(body, signature=sign(body, "")) == 403
    assert rows(sqlite_url, "SELECT count(*) FROM wa_inbound")[0][0] == 0


@pytest.mark.asyncio
async def test_bad_input(channel, sqlite_url):
    assert await channel.post_raw(b"{not json") == 400
    assert await channel.post_raw(b"\xff\xfe") == 400
    assert await channel.post_raw(b"[1, 2]") == 400
    weird = [
        {"object": "whatsapp_business_account", "entry": "x"},
        {
            "entry": [
                {"changes": [{"field": "messages", "value": {"messages": [1, None]}}]}
            ]
        },
        {
            "entry": [
                {
                    "changes": [
                        {"field": "messages", "value": {"messages": [{"id": "x"}]}}
                    ]
                }
            ]
        },
        {"entry": [{"changes": [{"field": "account_update", "value": {"x": 1}}]}]},
        {"entry": [None, {"changes": None}]},
        {"entry": [{"changes": [{"value": {"statuses": [{"status": "read"}]}}]}]},
    ]
    for payload in weird:
        assert await channel.post(payload) == 200
    await channel.idle()
    assert rows(sqlite_url, "SELECT count(*) FROM wa_inbound")[0][0] == 0
    assert channel.received == []


@pytest.mark.asyncio
async def test_health(channel):
    async with channel.http.get(channel.base_url + "/webhooks/whatsapp/") as resp:
        assert resp.status == 200
        assert (await resp.json())["status"] == "ok"
