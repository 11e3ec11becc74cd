"""``python -m lapor.console [--host H] [--port P]`` serves the console (waitress).

``python -m lapor.console create-admin`` creates the first admin: the username
comes from ``ADMIN_USERNAME`` (default ``admin``), the password from
``ADMIN_PASSWORD`` or is asked for (twice). There is no default password.
"""

from __future__ import annotations

import argparse
import getpass
import logging
import os
import sys
import threading
import time

logger = logging.getLogger("lapor.console")

EXPIRE_EVERY_SECONDS = 30.0
CLOSE_QUIET_EVERY_SECONDS = 3600.0


def create_admin() -> int:
    """Create the first admin account; returns the exit code."""
    from lapor import db
    from lapor.console.auth import MIN_PASSWORD_LENGTH, create_user

    db.migrate()
    username = (os.environ.get("ADMIN_USERNAME") or "admin").strip().lower()
    password = os.environ.get("ADMIN_PASSWORD")
    if not password:
        if not sys.stdin.isatty():
            print("Set ADMIN_PASSWORD or run this in a terminal.", file=sys.stderr)
            return 2
        password = getpass.getpass(f"Password for {username}: ")
        if password != getpass.getpass("Repeat the password: "):
            print("The passwords differ.", file=sys.stderr)
            return 2
    if len(password) < MIN_PASSWORD_LENGTH:
        print(
            f"The password needs at least {MIN_PASSWORD_LENGTH} characters.",
            file=sys.stderr,
        )
        return 2
    try:
        create_user(username, password, role="admin", full_name="Administrator")
    except ValueError as exc:
        print(f"Not created: {exc}", file=sys.stderr)
        return 1
    print(f"Admin '{username}' created.")
    return 0


def _expire_loop(app, stop: threading.Event) -> None:
    """Every 30 s: idle holds back to the queue; at most hourly: close quiet ones."""
    from lapor.console.complaints import close_quiet_now
    from lapor.console.views import expire_idle_now

    last_close = None
    while not stop.wait(EXPIRE_EVERY_SECONDS):
        try:
            expired = expire_idle_now(app)
            if expired:
                logger.info(
                    "%d held conversation(s) returned to the queue", len(expired)
                )
        except Exception:
            logger.exception("expire_idle failed")
        now = time.monotonic()
        if last_close is None or now - last_close >= CLOSE_QUIET_EVERY_SECONDS:
            last_close = now
            try:
                close_quiet_now()
            except Exception:
                logger.exception("close_quiet failed")


def serve(host: str, port: int, threads: int = 8) -> None:
    """Serve the console with waitress; expire idle holds, close quiet complaints."""
    from waitress import serve as waitress_serve

    from lapor.console import create_app

    app = create_app()
    stop = threading.Event()
    worker = threading.Thread(target=_expire_loop, args=(app, stop), daemon=True)
    worker.start()
    logger.info("console on http://%s:%d", host, port)
    try:
        waitress_serve(
            app, host=host, port=port, threads=threads, ident="lapor-console"
        )
    finally:
        stop.set()


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    parser = argparse.ArgumentParser(prog="python -m lapor.console")
    parser.add_argument(
        "command", nargs="?", choices=["serve", "create-admin"], default="serve"
    )
    parser.add_argument("--host", default=os.environ.get("CONSOLE_HOST", "127.0.0.1"))
    parser.add_argument(
        "--port", type=int, default=int(os.environ.get("CONSOLE_PORT", "8000"))
    )
    parser.add_argument("--threads", type=int, default=8)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s"
    )
    if args.command == "create-admin":
        return create_admin()
    serve(args.host, args.port, args.threads)
    return 0


if __name__ == "__main__":
    sys.exit(main())
