"""Work left behind by a process that died: claimed messages, unsent replies.

A message claimed by a worker that died is taken over at once (same host) or
after ``STALE_CLAIM`` (a claim of a live process, another replica's); a reply
stored and never sent is sent by the sweep once it is surely not still being
sent; a turn Rasa had already saved is not run twice.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import socket
import subprocess

import pytest
from wa_helpers import image_message, rows, text_message

from lapor import db
from lapor.models import utcnow
from lapor.whatsapp import inbound, outbound
from lapor.whatsapp.inbound import (
    BotMessage,
    Shard,
    WebhookProcessor,
    claim_abandoned,
    parse_webhook,
    worker_identity,
)


def dead_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def dead_claim() -> str:
    """A claim as a process of this host that has since died made it."""
    return f"{socket.gethostname()}:{dead_pid()}:0a1b2c3d"


class Bot:
    """A bot that records what it is told."""

    def __init__(self) -> None:
        self.told: list[BotMessage] = []

    async def __call__(self, message: BotMessage) -> None:
        self.told.append(message)


def store_claimed(wamid: str, body: str, claimed_by: str | None, age=dt.timedelta(0)):
    """A message stored and claimed (mid-turn) by ``claimed_by``."""

    async def never(_message):
        raise AssertionError("not reached")

    stored = WebhookProcessor(never, app_secret="x")._persist(
        parse_webhook(text_message(wamid, body=body))
    )
    assert len(stored) == 1
    with db.session_scope() as session:
        session.execute(
            inbound.m.WaInbound.__table__.update()
            .where(inbound.m.WaInbound.wamid == wamid)
            .values(
                state=inbound.m.PROCESSING,
                claimed_at=utcnow() - age,
                claimed_by=claimed_by,
            )
        )


async def started(channel_factory):
    """A channel server whose own start-up recovery is over."""
    cs = await channel_factory()
    await cs.idle()
    return cs


def test_which_claims_are_abandoned():
    host = socket.gethostname()
    assert not claim_abandoned(worker_identity())
    assert claim_abandoned(dead_claim())
    # This pid, but an earlier start of it (a restarted container, say).
    assert claim_abandoned(f"{host}:{os.getpid()}:earlier0")
    # A live process of this host, another host, nothing or garbage: not known.
    assert not claim_abandoned(f"{host}:{os.getppid()}:0a1b2c3d")
    assert not claim_abandoned(f"elsewhere.example:{dead_pid()}:0a1b2c3d")
    assert not claim_abandoned(None)
    assert not claim_abandoned("garbage")


@pytest.mark.asyncio
async def test_a_dead_workers_claim_is_taken_over_at_once(any_db_url, channel_factory):
    cs = await started(channel_factory)
    gone = dead_claim()
    await asyncio.to_thread(store_claimed, "wamid.dead-claim", "jalan rusak", gone)
    assert await cs.channel.processor.recover() == 1
    await cs.idle()
    assert [m.text for m in cs.received] == ["jalan rusak"]
    [(state, claimed_by)] = rows(any_db_url, "SELECT state, claimed_by FROM wa_inbound")
    assert state == "handled"
    assert claimed_by == worker_identity()
    # Done: nothing left to take.
    assert await cs.channel.processor.recover() == 0


@pytest.mark.asyncio
async def test_a_live_claim_is_left_until_it_is_stale(any_db_url, channel_factory):
    cs = await started(channel_factory)
    alive = f"{socket.gethostname()}:{os.getppid()}:0a1b2c3d"
    await asyncio.to_thread(store_claimed, "wamid.live-claim", "lampu mati", alive)
    assert await cs.channel.processor.recover() == 0
    assert rows(any_db_url, "SELECT state FROM wa_inbound")[0][0] == "processing"
    # Ten minutes on, the claim is taken over (that process may be stuck).
    with db.get_engine(any_db_url).begin() as conn:
        conn.execute(
            inbound.m.WaInbound.__table__.update().values(
                claimed_at=utcnow() - inbound.STALE_CLAIM - dt.timedelta(seconds=1)
            )
        )
    assert await cs.channel.processor.recover() == 1
    await cs.idle()
    assert [m.text for m in cs.received] == ["lampu mati"]


@pytest.mark.asyncio
async def test_two_replicas_take_an_abandoned_claim_once(any_db_url, channel_factory):
    first, second = await started(channel_factory), await started(channel_factory)
    gone = dead_claim()
    await asyncio.to_thread(store_claimed, "wamid.dead-twice", "banjir", gone)
    found = await asyncio.gather(
        first.channel.processor.recover(), second.channel.processor.recover()
    )
    await first.idle()
    await second.idle()
    # One or both may see it (the other may look after it was taken); the
    # claim lets only one of them run it.
    assert 1 <= sum(found) <= 2
    assert len(first.received) + len(second.received) == 1


@pytest.mark.asyncio
async def test_the_bot_is_told_a_message_was_taken_over(sqlite_url, fake_graph):
    bot = Bot()
    gone = dead_claim()
    await asyncio.to_thread(store_claimed, "wamid.resumed", "tolong", gone)
    await asyncio.to_thread(
        WebhookProcessor(bot, app_secret="x")._persist,
        parse_webhook(text_message("wamid.fresh", sender="6281111111111")),
    )
    processor = WebhookProcessor(bot, app_secret="x")
    assert await processor.recover() == 2
    await processor.wait_idle()
    assert {m.wamid: m.resumed for m in bot.told} == {
        "wamid.resumed": True,
        "wamid.fresh": False,
    }


@pytest.mark.asyncio
async def test_a_waiting_message_found_by_the_sweep_is_not_queued_twice(
    sqlite_url, fake_graph
):
    release = asyncio.Event()
    told: list[str] = []

    async def slow_bot(message: BotMessage) -> None:
        told.append(message.wamid)
        await release.wait()

    processor = WebhookProcessor(slow_bot, app_secret="x")
    # Both stored first: _persist does not wait for a lock the first one's
    # claim may hold (handle_post retries; this direct call does not).
    stored = [
        await asyncio.to_thread(
            processor._persist, parse_webhook(text_message(f"wamid.q{n}"))
        )
        for n in range(2)
    ]
    for [msg] in stored:
        processor.enqueue(msg)
    await asyncio.sleep(0.2)  # the first is with the bot, the second waits
    assert await processor.recover() == 1  # finds the waiting one
    release.set()
    await processor.wait_idle()
    assert told == ["wamid.q0", "wamid.q1"]


@pytest.mark.asyncio
async def test_each_turn_worker_takes_up_only_its_own_citizens(sqlite_url, fake_graph):
    """With two turn workers, each recovers the messages of its shard only, so
    a citizen's messages never run in two processes at once."""
    senders = [f"62812000000{n:02d}" for n in range(12)]
    assert {Shard.of(sender, 2) for sender in senders} == {0, 1}
    gone = dead_claim()
    for n, sender in enumerate(senders):
        await asyncio.to_thread(
            WebhookProcessor(Bot(), app_secret="x")._persist,
            parse_webhook(text_message(f"wamid.s{n}", sender=sender)),
        )
    await asyncio.to_thread(store_claimed, "wamid.s-claimed", "banjir", gone)
    bots = [Bot(), Bot()]
    workers = [
        WebhookProcessor(bots[i], app_secret="x", shard=Shard(i, 2)) for i in (0, 1)
    ]
    found = [await worker.recover() for worker in workers]
    for worker in workers:
        await worker.wait_idle()
    assert sum(found) == len(senders) + 1
    for index, bot in enumerate(bots):
        assert bot.told, "both shards hold citizens here"
        assert all(Shard.of(m.sender_id, 2) == index for m in bot.told)
    everyone = sorted(m.wamid for bot in bots for m in bot.told)
    assert everyone == sorted([f"wamid.s{n}" for n in range(12)] + ["wamid.s-claimed"])


def test_a_citizen_always_belongs_to_the_same_shard():
    # A stable hash (crc32), not Python's per-process salted hash().
    assert Shard.of("6281234567890", 2) == Shard.of("6281234567890", 2)
    assert Shard.of("6281234567890", 1) == 0
    script = (
        "from lapor.whatsapp.inbound import Shard; print(Shard.of('6281234567890', 7))"
    )
    other_process = subprocess.run(
        [__import__("sys").executable, "-c", script],
        capture_output=True,
        text=True,
        check=True,
    )
    assert int(other_process.stdout) == Shard.of("6281234567890", 7)
    assert Shard(1, 2).owns("6281234567890") == (Shard.of("6281234567890", 2) == 1)


# ------------------------------------------------------------------- outbound


def store_pending(to: str, text: str, age: dt.timedelta) -> int:
    """A reply stored as a sender does before sending, ``age`` ago."""
    [item] = outbound.plan_text(text)
    outbound_id = outbound._now_in_db(outbound._store(to, item, "bot"))
    with db.session_scope() as session:
        row = session.get(outbound.WaOutbound, outbound_id)
        row.claimed_at = utcnow() - age
    return outbound_id


@pytest.mark.asyncio
async def test_a_reply_left_pending_is_sent_once(any_db_url, fake_graph):
    patience = outbound.send_patience()
    old = store_pending("6281234500001", "Laporan sudah kami terima.", patience * 2)
    fresh = store_pending("6281234500002", "Masih dikirim.", dt.timedelta(0))

    results = await asyncio.gather(
        outbound.resend_abandoned(), outbound.resend_abandoned()
    )
    sent = [r for batch in results for r in batch]
    assert [(r.outbound_id, r.status) for r in sent] == [(old, "sent")]
    assert [m["text"]["body"] for m in fake_graph.state.messages] == [
        "Laporan sudah kami terima."
    ]
    states = dict(rows(any_db_url, "SELECT id, status FROM wa_outbound"))
    assert states == {old: "sent", fresh: "pending"}
    assert await outbound.resend_abandoned() == []


@pytest.mark.asyncio
async def test_a_reply_left_pending_that_meta_refuses_is_recorded(
    sqlite_url, fake_graph
):
    old = store_pending("6281234500003", "Halo", outbound.send_patience() * 2)
    fake_graph.state.fail.status = 400
    fake_graph.state.fail.error_code = 131026
    fake_graph.state.fail.times = 1
    [result] = await outbound.resend_abandoned()
    assert (result.outbound_id, result.status, result.error_code) == (
        old,
        "failed",
        131026,
    )
    [(status, code)] = rows(sqlite_url, "SELECT status, error_code FROM wa_outbound")
    assert (status, code) == ("failed", 131026)


def test_send_patience_covers_every_retry():
    settings = outbound.GraphSettings(
        timeout=10, attempts=5, backoff_initial=0.5, backoff_max=8
    )
    # 5 attempts of 10 s, each after up to 8.5 s of backoff: 92.5 s at most.
    assert outbound.send_patience(settings) > dt.timedelta(seconds=92.5)


@pytest.mark.asyncio
async def test_one_sweep_takes_up_both(sqlite_url, fake_graph):
    bot = Bot()
    gone = dead_claim()
    await asyncio.to_thread(store_claimed, "wamid.sweep", "sampah menumpuk", gone)
    store_pending("6281234500004", "Terima kasih", outbound.send_patience() * 2)
    processor = WebhookProcessor(bot, app_secret="x")
    assert await processor.sweep_once() == (1, 1)
    await processor.wait_idle()
    assert [m.text for m in bot.told] == ["sampah menumpuk"]
    assert [m["to"] for m in fake_graph.state.messages] == ["6281234500004"]


@pytest.mark.asyncio
async def test_only_the_first_turn_worker_resends_replies(sqlite_url, fake_graph):
    store_pending("6281234500005", "Terima kasih", outbound.send_patience() * 2)
    second = WebhookProcessor(Bot(), app_secret="x", shard=Shard(1, 2))
    assert await second.sweep_once() == (0, 0)
    assert fake_graph.state.messages == []
    first = WebhookProcessor(Bot(), app_secret="x", shard=Shard(0, 2))
    assert await first.sweep_once() == (0, 1)
    assert [m["to"] for m in fake_graph.state.messages] == ["6281234500005"]


# --------------------------------------------------------------- Rasa's side


@pytest.mark.asyncio
async def test_a_turn_rasa_saved_is_not_run_again():
    from rasa.core.tracker_store import InMemoryTrackerStore
    from rasa.shared.core.domain import Domain
    from rasa.shared.core.events import ActionExecuted, UserUttered
    from rasa.shared.core.trackers import DialogueStateTracker

    from channels.whatsapp import turn_saved

    store = InMemoryTrackerStore(Domain.empty())
    tracker = DialogueStateTracker("6281234567890", [])
    tracker.update(UserUttered("halo", message_id="wamid.answered"))
    tracker.update(ActionExecuted("utter_salam"))
    await store.save(tracker)

    def message(wamid: str, sender: str = "6281234567890") -> BotMessage:
        return BotMessage(sender, "halo", wamid, {}, resumed=True)

    assert await turn_saved(store, message("wamid.answered"))
    assert not await turn_saved(store, message("wamid.not-yet"))
    assert not await turn_saved(store, message("wamid.answered", "6289999999999"))
    # A message nobody had claimed before is run without a look-up.
    fresh = BotMessage("6281234567890", "halo", "wamid.answered", {}, resumed=False)
    assert not await turn_saved(store, fresh)


@pytest.mark.asyncio
async def test_a_taken_over_photo_is_not_downloaded_or_attached_twice(
    sqlite_url, fake_graph, media_dir
):
    """The worker died after storing the photo, before the turn was over."""
    bot = Bot()
    fake_graph.state.media["m-7"] = (b"\xff\xd8\xff\xe0jpeg", "image/jpeg")
    photo = image_message("wamid.photo-resumed", "6281200000007", "m-7", "image/jpeg")
    processor = WebhookProcessor(bot, app_secret="x")
    [msg] = await asyncio.to_thread(processor._persist, parse_webhook(photo))
    processor.enqueue(msg)
    await processor.wait_idle()
    # As if the worker had died right after: claimed, the photo stored.
    gone = dead_claim()
    with db.get_engine(sqlite_url).begin() as conn:
        conn.execute(
            inbound.m.WaInbound.__table__.update().values(
                state=inbound.m.PROCESSING, claimed_by=gone
            )
        )
    assert await processor.recover() == 1
    await processor.wait_idle()
    assert fake_graph.state.media_downloads == ["m-7"]
    [(attachment_id, path)] = rows(sqlite_url, "SELECT id, path FROM attachments")
    assert [(m.resumed, m.metadata["media"]["attachment_id"]) for m in bot.told] == [
        (False, attachment_id),
        (True, attachment_id),
    ]
    [(state, media_path)] = rows(sqlite_url, "SELECT state, media_path FROM wa_inbound")
    assert (state, media_path) == ("handled", path)
