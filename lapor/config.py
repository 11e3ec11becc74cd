"""Settings read from the environment, with working defaults for a laptop."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def database_url() -> str:
    """The SQLAlchemy URL of the complaint database (SQLite under ./var by default)."""
    url = os.environ.get("DATABASE_URL")
    if url:
        return url
    var = REPO_ROOT / "var"
    var.mkdir(exist_ok=True)
    return f"sqlite:///{var / 'lapor.db'}"


def wilayah_dir() -> Path | None:
    """Folder with the region boundaries (``desa_boundaries.geojson`` ...).

    ``WILAYAH_DIR`` wins; otherwise the shared data next to the checkout is used
    when it exists. ``None`` means no coordinates or boundaries are available.
    """
    configured = os.environ.get("WILAYAH_DIR")
    if configured:
        path = Path(configured)
        return path if path.is_dir() else None
    candidate = REPO_ROOT.parent / "shared" / "data" / "wilayah"
    return candidate if candidate.is_dir() else None
