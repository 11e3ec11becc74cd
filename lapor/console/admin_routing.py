"""The routing table editor (admins): units, keywords, and the YAML itself.

A change is validated with :func:`lapor.routing.load_table` on a temporary file
next to the table in use, and only then moved over it atomically
(``os.replace``); invalid input changes nothing. A change made by someone else
since the page was opened is refused rather than overwritten.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

from flask import Blueprint, Flask, flash, redirect, render_template, request, url_for
from flask_login import current_user

from lapor import routing
from lapor.console.auth import roles_required

logger = logging.getLogger(__name__)

bp = Blueprint("admin_routing", __name__)

MAX_TABLE_BYTES = 512 * 1024


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def validate_text(text: str, folder: Path) -> routing.RoutingTable:
    """Validate YAML ``text`` as a routing table (through a temp file in ``folder``).

    Raises:
        ValueError: what is wrong, from :func:`lapor.routing.load_table`.
    """
    fd, tmp = tempfile.mkstemp(prefix=".routing-check-", suffix=".yml", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        return routing.load_table(Path(tmp))
    finally:
        Path(tmp).unlink(missing_ok=True)


def replace_table(text: str, path: Path) -> routing.RoutingTable:
    """Validate ``text`` and atomically replace the table at ``path`` with it.

    Raises:
        ValueError: the text is not a valid routing table (nothing is changed).
        OSError: the folder is not writable.
    """
    folder = path.parent
    fd, tmp = tempfile.mkstemp(prefix=".routing-new-", suffix=".yml", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        table = routing.load_table(Path(tmp))
        if path.exists():
            os.chmod(tmp, path.stat().st_mode & 0o777)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return table


def _summary(table: routing.RoutingTable) -> list[dict[str, Any]]:
    keywords: dict[str | None, list[str]] = {}
    weak: dict[str | None, list[str]] = {}
    for entry in table.lexicon.entries:
        unit = getattr(entry, "unit_code", None)
        target = weak if getattr(entry, "weak", False) else keywords
        target.setdefault(unit, []).append(getattr(entry, "text", str(entry)))
    defaults = {code: k for k, code in table.defaults.items()}
    return [
        {
            "code": u.code,
            "name": u.name,
            "kategori": table.labels.get(u.kategori or "", u.kategori),
            "default": defaults.get(u.code),
            "keywords": keywords.get(u.code, []),
            "weak": weak.get(u.code, []),
        }
        for u in table.units
    ]


@bp.route("/admin/rute", methods=["GET", "POST"])
@roles_required("admin")
def edit() -> Any:
    """Show the units and keywords; replace the table with validated YAML."""
    path = routing.table_path().resolve()
    error = None
    text = None
    if request.method == "POST":
        text = (request.form.get("yaml") or "").replace("\r\n", "\n")
        current = path.read_text(encoding="utf-8") if path.exists() else ""
        if len(text.encode("utf-8")) > MAX_TABLE_BYTES:
            error = "Tabel rute terlalu besar."
        elif request.form.get("versi") != _digest(current):
            error = (
                "Tabel rute sudah diubah orang lain sejak halaman ini dibuka. "
                "Muat ulang halaman, lalu ulangi perubahan Anda."
            )
        elif text == current:
            flash("Tidak ada perubahan.", "info")
            return redirect(url_for("admin_routing.edit"))
        else:
            try:
                table = replace_table(text, path)
            except ValueError as exc:
                error = f"Tabel rute tidak valid, tidak ada yang diubah: {exc}"
            except OSError as exc:
                logger.error("routing table not written: %s", exc)
                error = f"Tabel rute tidak dapat disimpan: {exc.strerror or exc}"
            else:
                logger.info(
                    "routing table replaced by %s (%d units)",
                    current_user.username,
                    len(table.units),
                )
                flash(
                    f"Tabel rute disimpan: {len(table.units)} unit. "
                    "Laporan baru memakai aturan ini.",
                    "ok",
                )
                return redirect(url_for("admin_routing.edit"))
    current = path.read_text(encoding="utf-8") if path.exists() else ""
    try:
        summary = _summary(routing.load_table(path))
        load_error = None
    except (ValueError, OSError) as exc:
        summary, load_error = [], str(exc)
    return (
        render_template(
            "routing_admin.html",
            path=path,
            summary=summary,
            load_error=load_error,
            text=current if text is None else text,
            version=_digest(current),
            error=error,
        ),
        400 if error else 200,
    )


def init_app(app: Flask) -> None:
    """Register the routing editor."""
    app.register_blueprint(bp)
