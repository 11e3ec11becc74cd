"""take / release / expire_idle / queue listing on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import threading

import sqlalchemy as sa

from lapor import db, handoff
from lapor.models import Conversation, utcnow
from lapor.whatsapp.models import WaOutbound

CITIZEN = "6281234567800"


def _state(url: str, sender: str) -> tuple[str, str | None]:
    with db.session_scope(url) as s:
        c = s.get(Conversation, sender)
        return c.state, c.operator


def test_take_from_queue_then_release(db_url):
    with db.session_scope(db_url) as s:
        handoff.request_handoff(s, CITIZEN, "permintaan_warga")
    with db.session_scope(db_url) as s:
        assert handoff.take(s, CITIZEN, "budi") is True
    assert _state(db_url, CITIZEN) == ("operator", "budi")
    with db.session_scope(db_url) as s:
        assert handoff.take(s, CITIZEN, "sari") is False  # held by budi
        assert handoff.take(s, CITIZEN, "budi") is True  # idempotent for the holder
        assert handoff.release(s, CITIZEN, operator="sari") is False
    assert _state(db_url, CITIZEN) == ("operator", "budi")
    with db.session_scope(db_url) as s:
        assert handoff.release(s, CITIZEN, operator="budi") is True
    assert _state(db_url, CITIZEN) == ("bot", None)


def test_take_a_conversation_still_with_the_bot_or_unknown(db_url):
    with db.session_scope(db_url) as s:
        handoff.get_or_create(s, "6281111111111")
    with db.session_scope(db_url) as s:
        assert handoff.take(s, "6281111111111", "budi")
        assert handoff.take(s, "6282222222222", "sari")  # no row yet
    assert _state(db_url, "6281111111111") == ("operator", "budi")
    assert _state(db_url, "6282222222222") == ("operator", "sari")
    with db.session_scope(db_url) as s:
        assert s.get(Conversation, "6281111111111").reason == "dipilih_operator"


def _race(url: str, sender: str, operators: list[str]) -> dict[str, bool | Exception]:
    barrier = threading.Barrier(len(operators))
    results: dict[str, bool | Exception] = {}

    def attempt(name: str) -> None:
        try:
            barrier.wait(5)
            with db.session_scope(url) as s:
                results[name] = handoff.take(s, sender, name)
        except Exception as exc:  # noqa: BLE001 - reported by the assertion
            results[name] = exc

    threads = [threading.Thread(target=attempt, args=(n,)) for n in operators]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return results


def test_two_operators_taking_at_once_exactly_one_wins(db_url):
    operators = ["budi", "sari", "wati", "eko"]
    for round_ in range(8):
        sender = f"62812000000{round_:02d}"
        with db.session_scope(db_url) as s:
            handoff.request_handoff(s, sender, "permintaan_warga")
        results = _race(db_url, sender, operators)
        assert all(isinstance(v, bool) for v in results.values()), results
        winners = [n for n, won in results.items() if won]
        assert len(winners) == 1, results
        assert _state(db_url, sender) == ("operator", winners[0])


def test_two_operators_racing_on_a_conversation_without_row(db_url):
    sender = "6281299999999"
    results = _race(db_url, sender, ["budi", "sari"])
    assert all(isinstance(v, bool) for v in results.values()), results
    assert sorted(results.values()) == [False, True]


def _age_hold(url: str, sender: str, minutes: float) -> None:
    past = utcnow() - dt.timedelta(minutes=minutes)
    with db.session_scope(url) as s:
        s.execute(
            sa.update(Conversation)
            .where(Conversation.sender_id == sender)
            .values(taken_at=past)
        )


def test_expire_idle_returns_silent_holds_to_the_queue(db_url):
    with db.session_scope(db_url) as s:
        handoff.request_handoff(s, "6281300000001", "permintaan_warga")
        handoff.request_handoff(s, "6281300000002", "darurat", urgent=True)
        handoff.request_handoff(s, "6281300000003", "permintaan_warga")
    with db.session_scope(db_url) as s:
        assert handoff.take(s, "6281300000001", "budi")
        assert handoff.take(s, "6281300000002", "sari")
        assert handoff.take(s, "6281300000003", "budi")
    _age_hold(db_url, "6281300000001", 11)  # idle: no reply at all
    _age_hold(db_url, "6281300000002", 30)  # taken long ago, but replied just now
    with db.session_scope(db_url) as s:
        s.add(
            WaOutbound(
                recipient_id="6281300000002",
                author="sari",
                kind="text",
                text="Baik, Bu.",
                body={},
                status="sent",
                attempts=1,
                created_at=utcnow() - dt.timedelta(minutes=2),
            )
        )
    # 6281300000003 was taken just now: not idle.
    with db.session_scope(db_url) as s:
        expired = handoff.expire_idle(s, 10)
    assert expired == ["6281300000001"]
    assert _state(db_url, "6281300000001") == ("menunggu", None)
    assert _state(db_url, "6281300000002") == ("operator", "sari")
    assert _state(db_url, "6281300000003") == ("operator", "budi")
    # Back in the queue it can be taken by someone else.
    with db.session_scope(db_url) as s:
        assert handoff.take(s, "6281300000001", "sari")
    # A reply older than the limit does not save the hold.
    _age_hold(db_url, "6281300000002", 60)
    with db.session_scope(db_url) as s:
        s.execute(
            sa.update(WaOutbound).values(created_at=utcnow() - dt.timedelta(minutes=15))
        )
    with db.session_scope(db_url) as s:
        assert handoff.expire_idle(s, 10) == ["6281300000002"]
        waiting = handoff.waiting(s)
    assert [e.sender_id for e in waiting] == ["6281300000002"]
    assert waiting[0].urgent is True


def test_expire_does_not_override_a_new_hold(db_url):
    """A hold taken again after the idle check read it is left alone."""
    sender = "6281300000009"
    with db.session_scope(db_url) as s:
        handoff.take(s, sender, "budi")
    _age_hold(db_url, sender, 20)
    with db.session_scope(db_url) as s:
        stale = s.get(Conversation, sender)
        # Meanwhile budi releases and sari takes it (other sessions).
        with db.session_scope(db_url) as other:
            handoff.release(other, sender, operator="budi")
        with db.session_scope(db_url) as other:
            handoff.take(other, sender, "sari")
        assert stale.state == "operator"
        s.expire_all()
        assert handoff.expire_idle(s, 10) == []
    assert _state(db_url, sender) == ("operator", "sari")


def test_queue_lists_emergencies_first_with_waiting_time(db_url):
    now = utcnow()
    with db.session_scope(db_url) as s:
        for sender, minutes, urgent in (
            ("6281400000001", 30, False),
            ("6281400000002", 5, True),
            ("6281400000003", 50, False),
            ("6281400000004", 1, True),
        ):
            handoff.request_handoff(
                s, sender, "darurat" if urgent else "tidak_paham", urgent
            )
            s.get(Conversation, sender).queued_at = now - dt.timedelta(minutes=minutes)
    with db.session_scope(db_url) as s:
        entries = handoff.waiting(s, now=now)
    assert [e.sender_id[-1] for e in entries] == ["2", "4", "3", "1"]
    assert [e.waiting_seconds for e in entries] == [300, 60, 3000, 1800]
    assert [e.urgent for e in entries] == [True, True, False, False]
