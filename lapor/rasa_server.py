"""Run Rasa's command line with two measured fixes applied first.

``python -m lapor.rasa_server run ...`` is ``rasa run ...``, except that:

- the action server's responses are validated with a JSON-schema validator
  built once, instead of once per call. Rasa 3.6's ``RemoteAction`` calls
  ``jsonschema.validate``, which re-checks the whole events schema against the
  meta-schema on every custom action: on these machines that was 57 % of the
  Rasa process's time in a form turn (py-spy). The validation itself is
  unchanged: the same schema, the same error message;
- a SQLite tracker store runs in WAL mode with ``synchronous=NORMAL`` (the
  same settings as the complaint database, see ``lapor.db``): each turn's save
  no longer waits for a disk sync (13 % of the turn). PostgreSQL is untouched.

Together they took a form turn from 79 ms to about 35 ms (README "Benchmarks").
"""

from __future__ import annotations

import functools
import sys
from typing import Any


@functools.cache
def _response_validator() -> Any:
    from jsonschema.validators import validator_for
    from rasa.core.actions.action import RemoteAction

    schema = RemoteAction.action_response_format_spec()
    cls = validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def _validate_action_result(self: Any, result: dict[str, Any]) -> bool:
    from jsonschema import exceptions
    from rasa.shared.constants import DOCS_BASE_URL

    error = exceptions.best_match(_response_validator().iter_errors(result))
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


def apply() -> None:
    """Install the cached validator and the SQLite settings in this process."""
    from rasa.core.actions.action import RemoteAction
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    RemoteAction._validate_action_result = _validate_action_result
    if not event.contains(Engine, "connect", _sqlite_pragmas):
        event.listen(Engine, "connect", _sqlite_pragmas)


def main() -> None:
    """Apply the fix, then hand over to Rasa's own command line."""
    apply()
    from rasa.__main__ import main as rasa_main

    sys.argv[0] = "rasa"
    rasa_main()


if __name__ == "__main__":
    main()
