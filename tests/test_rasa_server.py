"""The Rasa process fixes in lapor.rasa_server keep Rasa's behaviour."""

from __future__ import annotations

import pytest
from jsonschema import ValidationError
from rasa.core.actions.action import RemoteAction
from sqlalchemy import create_engine, text

from lapor import rasa_server


@pytest.fixture
def patched(monkeypatch):
    original = RemoteAction._validate_action_result
    rasa_server.apply()
    yield
    monkeypatch.setattr(RemoteAction, "_validate_action_result", original)
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    event.remove(Engine, "connect", rasa_server._sqlite_pragmas)


GOOD = {
    "events": [{"event": "slot", "name": "kategori", "value": "kesehatan"}],
    "responses": [{"response": "utter_salam"}],
}
BAD = {"events": [{"event": "slot", "name": 3}], "responses": "not a list"}


def test_cached_validator_accepts_and_refuses_like_rasa(patched):
    action = RemoteAction("action_x", None)
    assert action._validate_action_result(GOOD) is True
    with pytest.raises(ValidationError) as ours:
        action._validate_action_result(BAD)
    assert "Failed to validate Action server response" in ours.value.message


def test_the_original_refuses_the_same_response():
    from jsonschema import validate

    with pytest.raises(ValidationError):
        validate(BAD, RemoteAction.action_response_format_spec())
    validate(GOOD, RemoteAction.action_response_format_spec())


def _responses() -> list:
    """Action responses, valid and not: every event rasa_sdk builds, then
    broken variants of them and of the response around them."""
    import copy
    import datetime as dt

    from rasa_sdk import events as sdk

    good_events = [
        sdk.SlotSet("kategori", "kesehatan"),
        sdk.SlotSet("lat", -7.75),
        sdk.AllSlotsReset(),
        sdk.ActiveLoop("form_aduan"),
        sdk.ActiveLoop(None),
        sdk.Form("form_aduan"),
        sdk.FollowupAction("action_listen"),
        sdk.ActionExecuted("utter_salam"),
        sdk.ActionExecutionRejected("form_aduan"),
        sdk.ActionReverted(),
        sdk.UserUtteranceReverted(),
        sdk.UserUttered("halo", {"intent": {"name": "salam", "confidence": 0.9}}),
        sdk.BotUttered("Halo", {"buttons": []}),
        sdk.AgentUttered("Halo"),
        sdk.ConversationPaused(),
        sdk.ConversationResumed(),
        sdk.Restarted(),
        sdk.SessionStarted(),
        sdk.StoryExported(),
        sdk.LoopInterrupted(True),
        sdk.FormValidation(False),
        sdk.ReminderScheduled("EXTERNAL_x", dt.datetime(2026, 12, 4, 10, 0)),
        sdk.ReminderCancelled(name="r1"),
    ]
    responses = [
        {"events": [], "responses": []},
        {"events": good_events, "responses": [{"text": "Halo"}]},
        GOOD,
        BAD,
        {"events": [{"event": "unknown_type"}]},
        {"events": [{"event": 3}]},
        {"events": [{"name": "kategori"}]},
        {"events": ["slot"]},
        {"events": {"event": "slot"}},
        {"events": None},
        {"events": [{"event": "slot", "name": "x", "timestamp": "now"}]},
        {"events": [{"event": "slot", "value": 1}]},
        {"events": [{"event": "active_loop", "name": 5}]},
        {"events": [{"event": "user", "text": 5}]},
        {"events": [{"event": "user", "parse_data": {"entities": [{"start": 0}]}}]},
        {"events": [{"event": "bot", "text": ["Halo"]}]},
        {"responses": "not a list"},
        {"responses": [{"text": 5}]},
        [],
        "events",
    ]
    # Each good event broken in each of its fields in turn.
    for event in good_events:
        for key in event:
            if key in ("event", "timestamp"):
                continue
            broken = copy.deepcopy(event)
            broken[key] = {"a dict": "where something else belongs"}
            responses.append({"events": [event, broken]})
    return responses


def test_checking_each_event_against_its_own_type_decides_as_the_whole_schema():
    whole = rasa_server._response_validator()
    decided = {True: 0, False: 0}
    for response in _responses():
        valid = not list(whole.iter_errors(response))
        assert (not rasa_server._validation_errors(response)) is valid, response
        decided[valid] += 1
    assert decided[True] >= 20 and decided[False] >= 15, decided


def test_an_error_in_the_nth_event_names_its_place():
    response = {"events": [GOOD["events"][0], {"event": "slot", "name": 3, "value": 1}]}
    [error] = rasa_server._validation_errors(response)
    assert list(error.path) == ["events", 1, "name"]
    [unknown] = rasa_server._validation_errors({"events": [{"event": "nope"}]})
    assert list(unknown.path) == ["events", 0]
    assert "not valid under any of the given schemas" in unknown.message


def test_sqlite_engines_get_wal_and_normal_sync(patched, tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'tracker.db'}")
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA synchronous")).scalar() == 1  # NORMAL
    engine.dispose()


def _turns() -> list[list]:
    """The events of each turn of two sessions of a form conversation."""
    from rasa.shared.core.events import (
        ActionExecuted,
        ActiveLoop,
        BotUttered,
        SessionStarted,
        SlotSet,
        UserUttered,
    )

    def start() -> list:
        return [
            ActionExecuted("action_session_start"),
            SessionStarted(),
            ActionExecuted("action_listen"),
        ]

    def turn(text: str, intent: str, slot_value: str) -> list:
        return [
            UserUttered(
                text,
                {"name": intent, "confidence": 0.93},
                parse_data={
                    "text": text,
                    "intent": {"name": intent, "confidence": 0.93},
                    "entities": [],
                },
            ),
            ActionExecuted("laporan_form"),
            ActiveLoop("laporan_form"),
            SlotSet("kategori", slot_value),
            BotUttered("Di mana lokasi kejadiannya? 📍", {"buttons": None}),
            ActionExecuted("action_listen"),
        ]

    return [
        start() + turn("jalan rusak", "lapor", "pembangunan"),
        turn("puskesmas tutup", "lapor", "kesehatan"),
        [],  # a save that adds nothing
        start() + turn("halo", "sapa", "pemerintahan"),  # a new session
    ]


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_the_lean_tracker_store_stores_and_reads_what_rasas_own_does(
    patched, tmp_path, database
):
    """Rasa's SQLTrackerStore methods and ours, over the same saves: the same
    rows in the events table, the same trackers read back (latest session and
    all sessions)."""
    from rasa.core.tracker_store import SQLTrackerStore
    from rasa.shared.core.domain import Domain

    from lapor.config import REPO_ROOT

    domain = Domain.load(str(REPO_ROOT / "domain.yml"))

    class RasasOwn(SQLTrackerStore):
        _retrieve = rasa_server.ORIGINAL_SQL_STORE["_retrieve"]
        save = rasa_server.ORIGINAL_SQL_STORE["save"]

    assert SQLTrackerStore.save is rasa_server._save_new_events

    if database == "postgresql":  # a fresh database for each store
        from tests.conftest import _postgres_url

        databases = [_postgres_url(), _postgres_url()]
        urls = [next(gen) for gen in databases]
    else:
        databases = []
        urls = [f"sqlite:///{tmp_path / name}.db" for name in ("rasa", "lean")]
    try:
        _compare_tracker_stores(domain, RasasOwn, urls)
    finally:
        for gen in databases:  # drop them
            for _ in gen:
                pass


def _compare_tracker_stores(domain, rasas_own, urls: list[str]) -> None:
    import asyncio

    import sqlalchemy as sa
    from rasa.core.tracker_store import SQLTrackerStore

    stores = {
        "rasa": rasas_own(domain=domain, host=urls[0]),
        "lean": SQLTrackerStore(domain=domain, host=urls[1]),
    }
    sender = "6281100000001"

    async def read(store) -> tuple:
        latest = await store.retrieve(sender)
        full = await store.retrieve_full_tracker(sender)
        return (
            [event.as_dict() for event in latest.events],
            [event.as_dict() for event in full.events],
            latest.current_slot_values(),
        )

    async def run() -> list:
        from rasa.shared.core.trackers import DialogueStateTracker

        reads = []
        for events in _turns():  # as Rasa works: read, add the turn, save
            for store in stores.values():
                tracker = await store.retrieve(
                    sender
                ) or DialogueStateTracker.from_events(sender, [], domain.slots)
                for event in events:
                    tracker.update(event)
                await store.save(tracker)
            reads.append([await read(store) for store in stores.values()])
        for store in stores.values():
            assert await store.retrieve("6289999999999") is None
        return reads

    reads = asyncio.run(run())
    for by_rasa, by_lean in reads:
        assert by_lean == by_rasa
    # The latest session is read from its SessionStarted: 2 + 6 events.
    latest, full, slots = reads[-1][1]
    assert len(latest) == 8 and len(full) == 24 and slots["kategori"] == "pemerintahan"

    def rows(name: str) -> list:
        table = SQLTrackerStore.SQLEvent.__table__
        with stores[name].engine.connect() as conn:
            return [
                tuple(row)
                for row in conn.execute(
                    sa.select(
                        table.c.type_name,
                        table.c.timestamp,
                        table.c.intent_name,
                        table.c.action_name,
                        table.c.data,
                    )
                    .where(table.c.sender_id == sender)
                    .order_by(table.c.id)
                )
            ]

    assert rows("lean") == rows("rasa")
    assert len(rows("lean")) == 24
    for store in stores.values():
        store.engine.dispose()
