"""A message id is handled once: retries, concurrent deliveries, restarts, replicas."""

from __future__ import annotations

import asyncio
import json

import pytest
from wa_helpers import rows, stop_channel, text_message


@pytest.mark.asyncio
async def test_same_message_twice_sequentially(any_db_url, channel_factory, fake_graph):
    cs = await channel_factory()
    body = text_message("wamid.dup-seq", body="jalan rusak")
    assert await cs.post(body) == 200
    await cs.idle()
    assert await cs.post(body) == 200
    await cs.idle()
    assert [m.text for m in cs.received] == ["jalan rusak"]
    assert rows(any_db_url, "SELECT count(*) FROM wa_inbound")[0][0] == 1
    assert len(fake_graph.state.reads) == 1


@pytest.mark.asyncio
async def test_same_message_concurrently(any_db_url, channel_factory):
    cs = await channel_factory()
    body = json.dumps(text_message("wamid.dup-conc")).encode()
    statuses = await asyncio.gather(*(cs.post_raw(body) for _ in range(12)))
    assert statuses == [200] * 12
    await cs.idle()
    assert len(cs.received) == 1
    state = rows(any_db_url, "SELECT state FROM wa_inbound")
    assert [s[0] for s in state] == ["handled"]


@pytest.mark.asyncio
async def test_two_replicas_receiving_the_same_message(any_db_url, channel_factory):
    first = await channel_factory()
    second = await channel_factory()
    body = json.dumps(text_message("wamid.dup-replicas")).encode()
    posts = [
        first.post_raw(body) if i % 2 else second.post_raw(body) for i in range(10)
    ]
    assert await asyncio.gather(*posts) == [200] * 10
    await first.idle()
    await second.idle()
    assert len(first.received) + len(second.received) == 1


@pytest.mark.asyncio
async def test_same_message_after_a_restart(any_db_url, channel_factory):
    body = text_message("wamid.dup-restart", body="lampu mati")
    before = await channel_factory()
    assert await before.post(body) == 200
    await before.idle()
    await stop_channel(before)
    after = await channel_factory()
    assert await after.post(body) == 200
    await after.idle()
    assert [m.text for m in before.received] == ["lampu mati"]
    assert after.received == []


@pytest.mark.asyncio
async def test_persisted_but_unprocessed_message_is_recovered(
    sqlite_url, channel_factory
):
    """A crash after the 200 and before the work: the next process does the work."""
    from lapor.whatsapp.inbound import WebhookProcessor, parse_webhook

    async def never(_message):  # the crashed process never got to the bot
        raise AssertionError("not reached")

    crashed = WebhookProcessor(never, app_secret="x")
    fresh = await asyncio.to_thread(
        crashed._persist, parse_webhook(text_message("wamid.crash", body="tolong"))
    )
    assert len(fresh) == 1  # stored, then the process "dies" before processing
    cs = await channel_factory()
    assert await cs.channel.processor.recover() == 1
    await cs.idle()
    assert [m.text for m in cs.received] == ["tolong"]
    assert await cs.channel.processor.recover() == 0
