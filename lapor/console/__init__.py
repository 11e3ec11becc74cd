"""The operator console: a Flask web app (queue, conversations, handoff, sandbox).

``create_app()`` builds the app; ``python -m lapor.console --port 8000`` serves
it with waitress and returns idle held conversations to the queue in the
background. Settings (environment):

- ``CONSOLE_SECRET_KEY`` — the session signing key (else one is generated once
  and kept in ``var/console_secret``, mode 600);
- ``CONSOLE_SESSION_MINUTES`` — how long a login lasts (default 480);
- ``HANDOFF_IDLE_MINUTES`` — a held conversation with no operator reply for
  this long goes back to the queue (default 10);
- ``WHATSAPP_API_URL``, ``WHATSAPP_APP_SECRET``, ``RASA_URL`` — the simulated
  phone (only when the Graph API URL points at 127.0.0.1).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import secrets
from typing import Any

from flask import Flask

from lapor import config as lapor_config

logger = logging.getLogger(__name__)


def _secret_key() -> str:
    configured = os.environ.get("CONSOLE_SECRET_KEY")
    if configured:
        return configured
    path = lapor_config.REPO_ROOT / "var" / "console_secret"
    if path.is_file() and path.stat().st_size > 0:
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(key + "\n")
    logger.info("generated a console secret key in var/console_secret")
    return key


def session_minutes() -> int:
    """``CONSOLE_SESSION_MINUTES`` (default 480)."""
    return int(os.environ.get("CONSOLE_SESSION_MINUTES", "480"))


def idle_minutes() -> float:
    """``HANDOFF_IDLE_MINUTES`` (default 10)."""
    return float(os.environ.get("HANDOFF_IDLE_MINUTES", "10"))


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build the console app.

    Args:
        config: Flask settings that override the defaults (tests pass e.g.
            ``SECRET_KEY``, ``WTF_CSRF_ENABLED``, ``SESSION_MINUTES``).
    """
    from lapor.console import (
        admin_routing,
        auth,
        complaints,
        dashboard,
        sandbox,
        views,
    )
    from lapor.open311 import open311

    app = Flask(__name__, static_folder="static", template_folder="templates")
    overrides = dict(config or {})
    minutes = int(overrides.pop("SESSION_MINUTES", session_minutes()))
    app.config.update(
        SECRET_KEY=overrides.pop("SECRET_KEY", None) or _secret_key(),
        SESSION_MINUTES=minutes,
        PERMANENT_SESSION_LIFETIME=dt.timedelta(minutes=minutes),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_NAME="lapor_console",
        WTF_CSRF_TIME_LIMIT=None,  # the token lives as long as the session
        WTF_CSRF_HEADERS=["X-CSRFToken"],
        MAX_CONTENT_LENGTH=6 * 1024 * 1024,
        IDLE_MINUTES=idle_minutes(),
        EXPIRE_ON_POLL_SECONDS=5.0,
    )
    app.config.update(overrides)
    auth.init_app(app)
    views.init_app(app)
    sandbox.init_app(app)
    complaints.init_app(app)
    dashboard.init_app(app)
    admin_routing.init_app(app)
    # Open311 GeoReport v2: public, no login; its POST is guarded by
    # OPEN311_API_KEYS, not by the console's CSRF token.
    app.register_blueprint(open311)
    auth.csrf.exempt(open311)
    return app


__all__ = ["create_app"]
