"""Run Rasa's command line with measured fixes applied first.

``python -m lapor.rasa_server run ...`` is ``rasa run ...``, except that:

- the action server's responses are validated with JSON-schema validators
  built once, instead of once per call. Rasa 3.6's ``RemoteAction`` calls
  ``jsonschema.validate``, which re-checks the whole events schema against the
  meta-schema on every custom action: on these machines that was 57 % of the
  Rasa process's time in a form turn (py-spy). The schema is Rasa's own; each
  event is checked against the ``oneOf`` branch of its own type instead of all
  23 (every branch fixes ``event`` to one constant, so the same responses pass
  and fail), about a tenth of the time (see ``_validation_errors``);
- a SQLite tracker store runs in WAL mode with ``synchronous=NORMAL`` (the
  same settings as the complaint database, see ``lapor.db``): each turn's save
  no longer waits for a disk sync (13 % of the turn). PostgreSQL is untouched.

Together they took a form turn from 79 ms to about 35 ms (README "Benchmarks").
Two more, for the load of many citizens at once:

- the SQL tracker store keeps its SQLite connections in a pool. Rasa gives
  file SQLite SQLAlchemy 1.4's NullPool: every read and save opened the file,
  set its PRAGMAs and closed it again, and closing the last connection of a
  WAL database checkpoints it (py-spy: the largest single item in the turn);
- calls to the action server reuse one kept-alive HTTP session per event loop
  instead of a new ``aiohttp.ClientSession`` (and TCP connection) per call;
- the SQL tracker store reads and writes its ``events`` rows with SQLAlchemy
  Core statements, built once with a bound sender id, instead of ORM objects
  and a statement built per call: the same query, the same rows, in the same
  order (``_retrieve_events``, ``_save_new_events``). A turn's read and save
  took 2.8 → 1.0 ms of CPU (a 42-event session); the rest is Rasa rebuilding
  the tracker.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import json
import sys
import weakref
from typing import Any

# Rasa's own SQLTrackerStore methods, kept when apply() replaces them.
ORIGINAL_SQL_STORE: dict[str, Any] = {}


@functools.cache
def _response_validator() -> Any:
    """A validator of Rasa's whole action-response schema, built once."""
    from jsonschema.validators import validator_for
    from rasa.core.actions.action import RemoteAction

    schema = RemoteAction.action_response_format_spec()
    cls = validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


@functools.cache
def _split_validators() -> tuple[Any, dict[str, Any]]:
    """Rasa's action-response schema split in two: the response with each event
    checked only for the fields common to all events, and, per event type, a
    validator of one event against its own ``oneOf`` branch."""
    import copy

    schema = _response_validator().schema
    cls = type(_response_validator())
    events = schema["properties"]["events"]["items"]
    common = {key: value for key, value in events.items() if key != "oneOf"}
    outer = copy.deepcopy(schema)
    outer["properties"]["events"]["items"] = common
    by_type = {
        branch["properties"]["event"]["const"]: cls({**common, "allOf": [branch]})
        for branch in events["oneOf"]
    }
    return cls(outer), by_type


def _validation_errors(result: Any) -> Any:
    """The schema errors of an action response, as the whole schema finds them.

    Every ``oneOf`` branch fixes ``event`` to its own constant, so an event
    meets exactly one branch, that of its type, or none: checking only that
    branch accepts and refuses the same events as the ``oneOf``.
    """
    from jsonschema import ValidationError

    outer, by_type = _split_validators()
    errors = list(outer.iter_errors(result))
    if errors or not isinstance(result, dict):
        return errors
    for index, event in enumerate(result.get("events") or []):
        validator = by_type.get(event.get("event"))
        if validator is None:
            errors.append(
                ValidationError(
                    f"{event!r} is not valid under any of the given schemas",
                    path=["events", index],
                )
            )
            continue
        for error in validator.iter_errors(event):
            error.path.extendleft([index, "events"])  # prepended in reverse
            errors.append(error)
    return errors


def _validate_action_result(self: Any, result: dict[str, Any]) -> bool:
    from jsonschema import exceptions
    from rasa.shared.constants import DOCS_BASE_URL

    error = exceptions.best_match(_validation_errors(result))
    if error is None:
        return True
    error.message += (
        ". Failed to validate Action server response from API, "
        "make sure your response from the Action endpoint is valid. "
        f"For more information about the format visit {DOCS_BASE_URL}/custom-actions"
    )
    raise error


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    import sqlite3

    if isinstance(dbapi_connection, sqlite3.Connection):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()


def _pooled_sqlite(original: Any) -> Any:
    """Rasa's tracker-store engine kwargs, plus a connection pool for SQLite."""

    @functools.wraps(original)
    def kwargs_for(url: Any) -> dict[str, Any]:
        kwargs = dict(original(url))
        if str(url).startswith("sqlite") and ":memory:" not in str(url):
            from sqlalchemy.pool import QueuePool

            kwargs.setdefault("poolclass", QueuePool)
            kwargs.setdefault("connect_args", {"check_same_thread": False})
        return kwargs

    kwargs_for.__lapor_pooled__ = True  # type: ignore[attr-defined]
    return kwargs_for


class _KeptSession:
    """``async with`` on a shared aiohttp session that stays open afterwards."""

    def __init__(self, session: Any) -> None:
        self._session = session

    async def __aenter__(self) -> Any:
        return self._session

    async def __aexit__(self, *_exc: Any) -> None:
        return None


_kept_sessions: weakref.WeakKeyDictionary[Any, dict[Any, Any]] = (
    weakref.WeakKeyDictionary()
)


def _endpoint_session(self: Any) -> _KeptSession:
    """One kept-alive client session per event loop and endpoint settings.

    Rasa 3.6 opens a new ``aiohttp.ClientSession`` (and so a new TCP
    connection) for every call to the action server, several per turn.
    """
    import aiohttp
    from rasa.utils.endpoints import DEFAULT_REQUEST_TIMEOUT

    loop = asyncio.get_running_loop()
    auth = tuple(sorted(self.basic_auth.items())) if self.basic_auth else None
    key = (tuple(sorted(self.headers.items())), auth)
    sessions = _kept_sessions.setdefault(loop, {})
    session = sessions.get(key)
    if session is None or session.closed:
        session = aiohttp.ClientSession(
            headers=self.headers,
            auth=aiohttp.BasicAuth(**self.basic_auth) if self.basic_auth else None,
            timeout=aiohttp.ClientTimeout(total=DEFAULT_REQUEST_TIMEOUT),
        )
        sessions[key] = session
    return _KeptSession(session)


async def close_endpoint_sessions() -> None:
    """Close the kept sessions of the running event loop (at shutdown)."""
    sessions = _kept_sessions.pop(asyncio.get_running_loop(), {})
    for session in sessions.values():
        await session.close()


@functools.cache
def _session_events_query(table: Any, all_sessions: bool) -> Any:
    """Rasa's ``SQLTrackerStore._event_query`` as a Core select of ``data``:
    the events of ``:sender_id`` after its latest ``SessionStarted`` (or all),
    by id. Built once per table, as it runs twice in every turn."""
    import sqlalchemy as sa
    from rasa.shared.core.events import SessionStarted

    sender_id = sa.bindparam("sender_id")
    query = sa.select(table.c.data).where(table.c.sender_id == sender_id)
    if not all_sessions:
        session_start = (
            sa.select(sa.func.max(table.c.timestamp))
            .where(
                table.c.sender_id == sender_id,
                table.c.type_name == SessionStarted.type_name,
            )
            .scalar_subquery()
        )
        query = query.where(
            sa.or_(table.c.timestamp >= session_start, session_start.is_(None))
        )
    return query.order_by(table.c.id)


@functools.cache
def _count_session_events(table: Any) -> Any:
    import sqlalchemy as sa

    latest = _session_events_query(table, False).subquery()
    return sa.select(sa.func.count()).select_from(latest)


async def _retrieve_events(
    self: Any, sender_id: str, fetch_events_from_all_sessions: bool
) -> Any:
    """``SQLTrackerStore._retrieve`` reading rows, not ORM objects."""
    from rasa.shared.core.trackers import DialogueStateTracker

    query = _session_events_query(
        self.SQLEvent.__table__, fetch_events_from_all_sessions
    )
    with self.engine.connect() as conn:
        rows = conn.execute(query, {"sender_id": sender_id}).scalars().all()
    if not self.domain or not rows:
        return None
    events = [json.loads(data) for data in rows]
    return DialogueStateTracker.from_dict(sender_id, events, self.domain.slots)


async def _save_new_events(self: Any, tracker: Any) -> None:
    """``SQLTrackerStore.save``: the events not stored yet, in one INSERT."""
    from rasa.shared.nlu.constants import INTENT_NAME_KEY

    await self.stream_events(tracker)
    table = self.SQLEvent.__table__
    with self.engine.begin() as conn:
        stored = conn.execute(
            _count_session_events(table), {"sender_id": tracker.sender_id}
        ).scalar_one()
        rows = []
        for event in itertools.islice(tracker.events, stored, len(tracker.events)):
            data = event.as_dict()
            rows.append(
                {
                    "sender_id": tracker.sender_id,
                    "type_name": event.type_name,
                    "timestamp": data.get("timestamp"),
                    "intent_name": data.get("parse_data", {})
                    .get("intent", {})
                    .get(INTENT_NAME_KEY),
                    "action_name": data.get("name"),
                    "data": json.dumps(data),
                }
            )
        if rows:
            conn.execute(table.insert(), rows)


def apply() -> None:
    """Install the fixes above in this process (idempotent)."""
    from rasa.core import tracker_store
    from rasa.core.actions.action import RemoteAction
    from rasa.utils.endpoints import EndpointConfig
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    RemoteAction._validate_action_result = _validate_action_result
    EndpointConfig.session = _endpoint_session  # type: ignore[method-assign]
    if not getattr(tracker_store.create_engine_kwargs, "__lapor_pooled__", False):
        tracker_store.create_engine_kwargs = _pooled_sqlite(
            tracker_store.create_engine_kwargs
        )
    store = tracker_store.SQLTrackerStore
    if not ORIGINAL_SQL_STORE:
        ORIGINAL_SQL_STORE.update(_retrieve=store._retrieve, save=store.save)
    store._retrieve = _retrieve_events  # type: ignore[method-assign]
    store.save = _save_new_events  # type: ignore[method-assign]
    if not event.contains(Engine, "connect", _sqlite_pragmas):
        event.listen(Engine, "connect", _sqlite_pragmas)


def main() -> None:
    """Apply the fixes, then hand over to Rasa's own command line."""
    apply()
    from rasa.__main__ import main as rasa_main

    sys.argv[0] = "rasa"
    rasa_main()


if __name__ == "__main__":
    main()
