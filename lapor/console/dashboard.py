"""The dashboard: counts, medians, overdue by unit, SVG charts and a kecamatan map.

Charts and the map are inline SVG drawn on the server (no chart library, no tile
server). The map reads ``kecamatan_boundaries.geojson`` from
:func:`lapor.config.wilayah_dir` and projects it equirectangularly onto the
bounding box of the regency.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import logging
import math
import statistics
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import Blueprint, Flask, render_template
from flask_login import current_user
from markupsafe import Markup, escape

from lapor import config, db, deadlines, workflow
from lapor.console.auth import roles_required
from lapor.console.complaints import (
    KATEGORI_LABELS,
    STATUS_SHORT,
    place_name,
    scoped,
    today,
    unit_name,
)
from lapor.models import STATUSES, Complaint, as_utc

logger = logging.getLogger(__name__)

bp = Blueprint("dashboard", __name__)

WEEKS = 12
BOUNDARIES = "kecamatan_boundaries.geojson"
MAP_WIDTH = 640
# Light to dark: 0 complaints, then five classes.
MAP_COLOURS = ("#eef1f4", "#d7efe3", "#a6dcc2", "#64bf98", "#2c9a6c", "#0b6e4f")
NO_UNIT = "Belum diteruskan"


# --------------------------------------------------------------------- numbers


@dataclass
class Stats:
    """What the dashboard shows (all counts over the complaints the user may see)."""

    total: int
    by_status: list[tuple[str, int]]
    by_kategori: list[tuple[str, int]]
    by_kecamatan: dict[str | None, int]
    by_week: list[tuple[str, int]]
    median_response_hours: float | None
    median_selesai_hours: float | None
    responded: int
    resolved: int
    overdue_by_unit: list[tuple[str, int]]
    overdue_total: int


def _hours(start: dt.datetime | None, end: dt.datetime | None) -> float | None:
    start, end = as_utc(start), as_utc(end)
    if start is None or end is None:
        return None
    return max(0.0, (end - start).total_seconds() / 3600)


def week_start(day: dt.date) -> dt.date:
    """The Monday of ``day``'s ISO week."""
    return day - dt.timedelta(days=day.weekday())


def compute(complaints: list[Complaint], day: dt.date) -> Stats:
    """The dashboard numbers of ``complaints`` as of ``day`` (local date).

    Weeks are ISO weeks of the filing date in WIB, the last :data:`WEEKS` ending
    with ``day``'s week. The time to first response runs from filing to the
    unit's first follow-up (``responded_at``); the time to selesai from filing to
    ``resolved_at``. Overdue complaints count once for each unit in charge (or
    under "Belum diteruskan" before forwarding).
    """
    status = Counter(c.status for c in complaints)
    kategori = Counter(c.kategori for c in complaints)
    kecamatan = Counter(c.kecamatan_code for c in complaints)
    first = week_start(day) - dt.timedelta(weeks=WEEKS - 1)
    weeks = Counter()
    for c in complaints:
        filed = deadlines.local_date(as_utc(c.created_at))
        if filed >= first:
            weeks[week_start(filed)] += 1
    by_week = []
    for i in range(WEEKS):
        monday = first + dt.timedelta(weeks=i)
        year, number, _ = monday.isocalendar()
        by_week.append((f"{year}-W{number:02d}", weeks.get(monday, 0)))
    response = [
        h for c in complaints if (h := _hours(c.created_at, c.responded_at)) is not None
    ]
    selesai = [
        h for c in complaints if (h := _hours(c.created_at, c.resolved_at)) is not None
    ]
    overdue_units: Counter[str] = Counter()
    overdue_total = 0
    for c in complaints:
        if c.status not in workflow.OPEN_STATUSES or not workflow.is_overdue(c, day):
            continue
        overdue_total += 1
        units = (
            workflow.unit_codes(c) if c.status in workflow.UNIT_STATUSES else ()
        ) or (NO_UNIT,)
        for code in units:
            overdue_units[code] += 1
    return Stats(
        total=len(complaints),
        by_status=[(s, status.get(s, 0)) for s in STATUSES],
        by_kategori=[(k, kategori.get(k, 0)) for k in KATEGORI_LABELS],
        by_kecamatan=dict(kecamatan),
        by_week=by_week,
        median_response_hours=statistics.median(response) if response else None,
        median_selesai_hours=statistics.median(selesai) if selesai else None,
        responded=len(response),
        resolved=len(selesai),
        overdue_by_unit=sorted(overdue_units.items(), key=lambda kv: (-kv[1], kv[0])),
        overdue_total=overdue_total,
    )


def human_hours(hours: float | None) -> str:
    """``3 jam``, ``2 hari 4 jam`` (or ``-``)."""
    if hours is None:
        return "-"
    total = int(round(hours))
    if total < 1:
        return "kurang dari 1 jam"
    days, rest = divmod(total, 24)
    if not days:
        return f"{rest} jam"
    return f"{days} hari {rest} jam" if rest else f"{days} hari"


# ---------------------------------------------------------------------- charts


def _fmt(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def bar_chart(items: list[tuple[str, int]], label: str, width: int = 460) -> Markup:
    """A horizontal bar chart as inline SVG (accessible: role img, titles)."""
    row, left, right = 24, 150, 40
    height = max(row, row * len(items)) + 8
    top = max([v for _, v in items] + [1])
    span = width - left - right
    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" width="100%" '
        f'role="img" aria-label="{escape(label)}" xmlns="http://www.w3.org/2000/svg">'
    ]
    for i, (name, value) in enumerate(items):
        y = 4 + i * row
        bar = span * value / top
        short = name if len(name) <= 22 else name[:21] + "…"
        parts.append(
            f"<g><title>{escape(name)}: {value}</title>"
            f'<text x="{left - 6}" y="{y + 15}" text-anchor="end" '
            f'class="chart-label">{escape(short)}</text>'
            f'<rect x="{left}" y="{y + 3}" width="{_fmt(max(bar, 0.5 if value else 0))}"'
            f' height="{row - 8}" rx="3" class="chart-bar"/>'
            f'<text x="{_fmt(left + bar + 5)}" y="{y + 15}" class="chart-value">'
            f"{value}</text></g>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def column_chart(items: list[tuple[str, int]], label: str, width: int = 640) -> Markup:
    """A vertical column chart (the weeks) as inline SVG."""
    height, bottom, top_pad, left = 200, 34, 18, 8
    n = max(1, len(items))
    slot = (width - 2 * left) / n
    top = max([v for _, v in items] + [1])
    span = height - bottom - top_pad
    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" width="100%" '
        f'role="img" aria-label="{escape(label)}" xmlns="http://www.w3.org/2000/svg">'
        f'<line x1="{left}" y1="{height - bottom}" x2="{width - left}" '
        f'y2="{height - bottom}" class="chart-axis"/>'
    ]
    for i, (name, value) in enumerate(items):
        x = left + i * slot
        h = span * value / top
        y = height - bottom - h
        week = name.split("-W")[-1]
        parts.append(
            f"<g><title>Minggu {escape(name)}: {value} aduan</title>"
            f'<rect x="{_fmt(x + slot * 0.15)}" y="{_fmt(y)}" '
            f'width="{_fmt(slot * 0.7)}" height="{_fmt(h)}" rx="3" class="chart-bar"/>'
            f'<text x="{_fmt(x + slot / 2)}" y="{_fmt(y - 4)}" text-anchor="middle" '
            f'class="chart-value">{value}</text>'
            f'<text x="{_fmt(x + slot / 2)}" y="{height - bottom + 16}" '
            f'text-anchor="middle" class="chart-label">M{escape(week)}</text></g>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))


# ------------------------------------------------------------------------- map


@dataclass(frozen=True)
class Shape:
    """A kecamatan outline: code, name, rings of (lon, lat), label point."""

    code: str
    name: str
    rings: tuple[tuple[tuple[float, float], ...], ...]
    label: tuple[float, float]


@functools.lru_cache(maxsize=4)
def _load_shapes(path: str, _mtime_ns: int) -> tuple[Shape, ...]:
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    shapes = []
    for feature in data.get("features", []):
        props = feature.get("properties") or {}
        geometry = feature.get("geometry") or {}
        if geometry.get("type") == "Polygon":
            polygons = [geometry["coordinates"]]
        elif geometry.get("type") == "MultiPolygon":
            polygons = geometry["coordinates"]
        else:
            continue
        rings = tuple(
            tuple((float(p[0]), float(p[1])) for p in ring)
            for polygon in polygons
            for ring in polygon
        )
        if not rings:
            continue
        if "lon" in props and "lat" in props:
            label = (float(props["lon"]), float(props["lat"]))
        else:
            outer = rings[0]
            label = (
                sum(p[0] for p in outer) / len(outer),
                sum(p[1] for p in outer) / len(outer),
            )
        shapes.append(
            Shape(str(props.get("code", "")), str(props.get("name", "")), rings, label)
        )
    return tuple(shapes)


def kecamatan_shapes() -> tuple[Shape, ...] | None:
    """The kecamatan outlines, or None when the region data is not available."""
    folder = config.wilayah_dir()
    if folder is None:
        return None
    path = folder / BOUNDARIES
    if not path.is_file():
        return None
    try:
        return _load_shapes(str(path), path.stat().st_mtime_ns)
    except (OSError, ValueError, KeyError, TypeError):
        logger.exception("kecamatan boundaries unreadable")
        return None


class _Projection:
    """Equirectangular projection of a lon/lat box onto ``width`` pixels."""

    def __init__(self, shapes: tuple[Shape, ...], width: float, pad: float) -> None:
        lons = [p[0] for s in shapes for r in s.rings for p in r]
        lats = [p[1] for s in shapes for r in s.rings for p in r]
        self.min_lon, self.max_lat = min(lons), max(lats)
        self.kx = math.cos(math.radians((min(lats) + max(lats)) / 2))
        self.scale = (width - 2 * pad) / ((max(lons) - self.min_lon) * self.kx)
        self.pad = pad
        self.width = width
        self.height = (self.max_lat - min(lats)) * self.scale + 2 * pad

    def xy(self, lon: float, lat: float) -> tuple[float, float]:
        return (
            self.pad + (lon - self.min_lon) * self.kx * self.scale,
            self.pad + (self.max_lat - lat) * self.scale,
        )

    def path(self, shape: Shape) -> str:
        out = []
        for ring in shape.rings:
            points = [self.xy(lon, lat) for lon, lat in ring]
            out.append("M" + "L".join(f"{x:.1f},{y:.1f}" for x, y in points) + "Z")
        return "".join(out)


def classes(counts: list[int], n: int = 5) -> list[int]:
    """Upper bounds of ``n`` equal-width classes from 1 to the largest count."""
    top = max(counts + [0])
    if top <= 0:
        return []
    step = max(1, math.ceil(top / n))
    bounds = []
    upper = 0
    while upper < top:
        upper += step
        bounds.append(min(upper, top))
    return bounds


def _class_colour(index: int, bounds: list[int]) -> str:
    """The colour of class ``index``: the top class is always the darkest."""
    shift = len(MAP_COLOURS) - len(bounds)
    return MAP_COLOURS[max(1, min(shift + index, len(MAP_COLOURS) - 1))]


def _colour(value: int, bounds: list[int]) -> str:
    if value <= 0 or not bounds:
        return MAP_COLOURS[0]
    for i, upper in enumerate(bounds):
        if value <= upper:
            return _class_colour(i, bounds)
    return MAP_COLOURS[-1]


def map_svg(counts: dict[str | None, int]) -> Markup | None:
    """Kabupaten Probolinggo shaded by complaints per kecamatan, with a legend.

    Returns None when the boundaries are not available.
    """
    shapes = kecamatan_shapes()
    if not shapes:
        return None
    proj = _Projection(shapes, MAP_WIDTH, 10)
    bounds = classes([counts.get(s.code, 0) for s in shapes])
    legend_h = 26
    height = proj.height + legend_h + 10
    parts = [
        f'<svg class="map" viewBox="0 0 {MAP_WIDTH} {height:.0f}" width="100%" '
        'role="img" aria-label="Peta jumlah aduan per kecamatan" '
        'xmlns="http://www.w3.org/2000/svg">'
    ]
    for shape in shapes:
        value = counts.get(shape.code, 0)
        parts.append(
            f'<path d="{proj.path(shape)}" fill="{_colour(value, bounds)}" '
            f'class="kec" data-code="{escape(shape.code)}" data-count="{value}">'
            f"<title>{escape(shape.name)}: {value} aduan</title></path>"
        )
    for shape in shapes:
        x, y = proj.xy(*shape.label)
        parts.append(
            f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="middle" class="map-label">'
            f"{escape(shape.name)}</text>"
        )
    y0 = proj.height + 8
    steps = [(MAP_COLOURS[0], "0")]
    low = 1
    for i, upper in enumerate(bounds):
        text = str(upper) if upper == low else f"{low}–{upper}"
        steps.append((_class_colour(i, bounds), text))
        low = upper + 1
    x = 10.0
    parts.append(f'<g class="legend"><text x="{x}" y="{y0 + 14}">Jumlah aduan:</text>')
    x += 95
    for colour, text in steps:
        parts.append(
            f'<rect x="{x:.0f}" y="{y0 + 3}" width="16" height="14" fill="{colour}" '
            f'stroke="#8a99a8" stroke-width=".5"/><text x="{x + 20:.0f}" '
            f'y="{y0 + 14}">{escape(text)}</text>'
        )
        x += 28 + 7 * len(text)
    parts.append("</g></svg>")
    return Markup("".join(parts))


def location_svg(
    kecamatan_code: str | None, lat: float | None, lon: float | None
) -> Markup | None:
    """A small map of the regency with the complaint's kecamatan (and pin) marked."""
    shapes = kecamatan_shapes()
    if not shapes:
        return None
    width = 320
    proj = _Projection(shapes, width, 6)
    parts = [
        f'<svg class="map map-small" viewBox="0 0 {width} {proj.height:.0f}" '
        'width="100%" role="img" aria-label="Lokasi laporan" '
        'xmlns="http://www.w3.org/2000/svg">'
    ]
    for shape in shapes:
        mine = shape.code == kecamatan_code
        parts.append(
            f'<path d="{proj.path(shape)}" fill="{MAP_COLOURS[4] if mine else MAP_COLOURS[0]}"'
            f' class="kec{" here" if mine else ""}"><title>{escape(shape.name)}</title>'
            "</path>"
        )
    if lat is not None and lon is not None:
        x, y = proj.xy(lon, lat)
        if 0 <= x <= width and 0 <= y <= proj.height:
            parts.append(
                f'<circle cx="{x:.1f}" cy="{y:.1f}" r="5" class="pin">'
                f"<title>Titik lokasi {lat:.5f}, {lon:.5f}</title></circle>"
            )
    parts.append("</svg>")
    return Markup("".join(parts))


# ------------------------------------------------------------------------ page


@bp.route("/dasbor")
@roles_required("operator", "opd", "admin")
def index() -> Any:
    """Counts, medians, overdue by unit, charts and the map."""
    from lapor import wilayah

    day = today()
    with db.session_scope() as s:
        complaints = list(s.scalars(scoped(current_user)))
        stats = compute(complaints, day)
    kecamatan_rows = [
        (k.name, stats.by_kecamatan.get(k.code, 0)) for k in wilayah.all_kecamatan()
    ]
    unknown = stats.by_kecamatan.get(None, 0)
    if unknown:
        kecamatan_rows.append(("Tidak diketahui", unknown))
    known_codes = {k.code for k in wilayah.all_kecamatan()}
    for code, value in stats.by_kecamatan.items():
        if code and code not in known_codes:
            kecamatan_rows.append((place_name(code), value))
    overdue_rows = [
        (code if code == NO_UNIT else unit_name(code), n, code)
        for code, n in stats.overdue_by_unit
    ]
    return render_template(
        "dashboard.html",
        stats=stats,
        today=day,
        status_rows=[(STATUS_SHORT[k], v, k) for k, v in stats.by_status],
        kategori_rows=[(KATEGORI_LABELS[k], v, k) for k, v in stats.by_kategori],
        kecamatan_rows=kecamatan_rows,
        overdue_rows=overdue_rows,
        status_chart=bar_chart(
            [(STATUS_SHORT[k], v) for k, v in stats.by_status], "Aduan per status"
        ),
        kategori_chart=bar_chart(
            [(KATEGORI_LABELS[k], v) for k, v in stats.by_kategori],
            "Aduan per kategori",
        ),
        kecamatan_chart=bar_chart(
            sorted(kecamatan_rows, key=lambda kv: -kv[1]), "Aduan per kecamatan"
        ),
        week_chart=column_chart(stats.by_week, "Aduan per minggu"),
        overdue_chart=bar_chart(
            [(name, n) for name, n, _ in overdue_rows], "Aduan terlambat per unit"
        )
        if overdue_rows
        else None,
        map=map_svg(stats.by_kecamatan),
        median_response=human_hours(stats.median_response_hours),
        median_selesai=human_hours(stats.median_selesai_hours),
        unit_label=unit_name(current_user.opd_code or "")
        if current_user.role == "opd"
        else None,
    )


def init_app(app: Flask) -> None:
    """Register the dashboard."""
    app.register_blueprint(bp)
