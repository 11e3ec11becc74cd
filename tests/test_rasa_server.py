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


def test_sqlite_engines_get_wal_and_normal_sync(patched, tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'tracker.db'}")
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA synchronous")).scalar() == 1  # NORMAL
    engine.dispose()
