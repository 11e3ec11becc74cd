"""Routing of complaints to the OPD and the camat in charge.

Routing is data: ``lapor/data/routing.yml`` lists the units (OPD) with their
kategori and keywords, one default unit per kategori, category-only keywords and
spelling synonyms. Environment variable ``ROUTING_TABLE`` points to another file.
The camat is chosen by location: ``CAMAT-<kecamatan code>``, "Camat <Nama>".

The table is read lazily and cached per file (and reloaded when the file
changes); nothing happens at import time.
"""

from __future__ import annotations

import functools
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from lapor.kategori import KATEGORI, Lexicon, Match, raw_tokens

logger = logging.getLogger(__name__)

DEFAULT_TABLE = Path(__file__).resolve().parent / "data" / "routing.yml"
CAMAT_PREFIX = "CAMAT-"

_CODE = re.compile(r"^[A-Z0-9][A-Z0-9_-]*$")
_WEIGHTED = re.compile(r"^(.*?)\s*\|\s*([0-9]*\.?[0-9]+)\s*$")


@dataclass(frozen=True)
class Unit:
    """A unit that handles complaints: an OPD, or the camat of a kecamatan.

    Attributes:
        code: Stable code ("DINKES", "CAMAT-35.13.12").
        name: Official name ("Dinas Kesehatan", "Camat Paiton").
        kategori: The kategori of an OPD; ``None`` for a camat (all kategori).
    """

    code: str
    name: str
    kategori: str | None


@dataclass(frozen=True)
class Routing:
    """Where a complaint goes.

    Attributes:
        opd: The OPD in charge.
        camat: The camat of the complaint's kecamatan, when it is known.
        matched_keywords: The keywords (as written in the table) that chose the
            OPD; empty when the kategori's default unit was used.
    """

    opd: Unit
    camat: Unit | None
    matched_keywords: tuple[str, ...]


@dataclass(frozen=True)
class RoutingTable:
    """A loaded and validated routing table.

    Attributes:
        path: The file it was read from.
        units: The OPD, in file order.
        defaults: kategori -> code of its default unit.
        labels: kategori -> display label.
        lexicon: The keyword matcher (shared with category inference).
    """

    path: Path
    units: tuple[Unit, ...]
    defaults: dict[str, str]
    labels: dict[str, str]
    lexicon: Lexicon

    def unit(self, code: str) -> Unit:
        """The OPD with this code (KeyError if there is none)."""
        for u in self.units:
            if u.code == code:
                return u
        raise KeyError(f"no unit with code {code!r} in {self.path}")


# --------------------------------------------------------------------- loading
def _fail(path: Path, message: str) -> ValueError:
    return ValueError(f"routing table {path}: {message}")


def _keyword_rows(
    path: Path, where: str, value: Any, kategori: str, unit_code: str | None, weak: bool
) -> list[tuple[str, float | None, bool, str, str | None]]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise _fail(path, f"{where} must be a list of words or phrases")
    rows = []
    for item in value:
        if not isinstance(item, (str, int)) or not str(item).strip():
            raise _fail(path, f"{where} has an empty or non-text keyword: {item!r}")
        text, weight = str(item).strip(), None
        m = _WEIGHTED.match(text)
        if m:
            text, weight = m.group(1), float(m.group(2))
            if not 0 < weight <= 10:
                raise _fail(path, f"{where}: weight of {text!r} must be in (0, 10]")
        rows.append((text, weight, weak, kategori, unit_code))
    return rows


def _place_words() -> frozenset[str]:
    """Words of the region's place names, protected from typo correction."""
    try:
        from lapor import wilayah

        names = ["probolinggo"]
        for kec in wilayah.all_kecamatan():
            names.append(kec.name)
            names.extend(p.name for p in wilayah.desa_in(kec.code))
    except Exception:  # the gazetteer is optional for routing
        logger.warning("place names unavailable; typo correction is unprotected")
        return frozenset()
    return frozenset(tok for name in names for tok in raw_tokens(name))


def _parse(path: Path, data: Any) -> RoutingTable:
    if not isinstance(data, dict):
        raise _fail(path, "expected a mapping with 'kategori' and 'units'")
    unknown_keys = set(data) - {"kategori", "units", "synonyms"}
    if unknown_keys:
        raise _fail(path, f"unknown top-level keys {sorted(unknown_keys)}")
    sections = data.get("kategori")
    if not isinstance(sections, dict):
        raise _fail(path, "'kategori' must map each kategori to its settings")
    unknown = set(sections) - set(KATEGORI)
    if unknown:
        raise _fail(
            path, f"unknown kategori {sorted(unknown)}; expected only {list(KATEGORI)}"
        )
    missing = [k for k in KATEGORI if k not in sections]
    if missing:
        raise _fail(path, f"kategori {missing} missing from 'kategori'")

    raw_units = data.get("units")
    if not isinstance(raw_units, list) or not raw_units:
        raise _fail(path, "'units' must be a non-empty list")
    units: list[Unit] = []
    rows: list[tuple[str, float | None, bool, str, str | None]] = []
    for i, raw in enumerate(raw_units):
        if not isinstance(raw, dict):
            raise _fail(path, f"units[{i}] must be a mapping")
        code = str(raw.get("code") or "").strip()
        where = f"unit {code or f'#{i + 1}'}"
        if not _CODE.match(code):
            raise _fail(path, f"{where}: code must be upper-case letters/digits/-/_")
        if code.startswith(CAMAT_PREFIX):
            raise _fail(path, f"{where}: camat units come from the location, not here")
        if any(u.code == code for u in units):
            raise _fail(path, f"duplicate unit code {code!r}")
        name = str(raw.get("name") or "").strip()
        if not name:
            raise _fail(path, f"{where}: name is missing")
        kategori = raw.get("kategori")
        if kategori not in KATEGORI:
            raise _fail(
                path,
                f"{where}: unknown kategori {kategori!r}; expected one of "
                f"{list(KATEGORI)}",
            )
        extra = set(raw) - {"code", "name", "kategori", "keywords", "weak_keywords"}
        if extra:
            raise _fail(path, f"{where}: unknown keys {sorted(extra)}")
        units.append(Unit(code, name, kategori))
        rows += _keyword_rows(
            path, f"{where} keywords", raw.get("keywords"), kategori, code, False
        )
        weak = raw.get("weak_keywords")
        rows += _keyword_rows(path, f"{where} weak", weak, kategori, code, True)

    defaults: dict[str, str] = {}
    labels: dict[str, str] = {}
    for kategori in KATEGORI:
        section = sections[kategori] or {}
        if not isinstance(section, dict):
            raise _fail(path, f"kategori {kategori}: expected a mapping")
        default = section.get("default")
        if not default:
            raise _fail(path, f"kategori {kategori}: default unit is missing")
        match = [u for u in units if u.code == default]
        if not match:
            raise _fail(
                path, f"kategori {kategori}: default unit {default!r} not found"
            )
        if match[0].kategori != kategori:
            raise _fail(
                path,
                f"kategori {kategori}: default unit {default!r} belongs to "
                f"{match[0].kategori}",
            )
        defaults[kategori] = default
        labels[kategori] = str(section.get("label") or kategori.capitalize())
        for key, weak in (("keywords", False), ("weak_keywords", True)):
            where = f"kategori {kategori} {key}"
            rows += _keyword_rows(path, where, section.get(key), kategori, None, weak)

    synonyms = data.get("synonyms") or {}
    if not isinstance(synonyms, dict) or not all(
        isinstance(v, list) for v in synonyms.values()
    ):
        raise _fail(path, "'synonyms' must map a word to a list of variants")
    try:
        lexicon = Lexicon(
            {str(k): [str(v) for v in vs] for k, vs in synonyms.items()},
            rows,
            _place_words(),
        )
    except ValueError as exc:
        raise _fail(path, str(exc)) from None
    return RoutingTable(path, tuple(units), defaults, labels, lexicon)


@functools.lru_cache(maxsize=8)
def _load_cached(path: str, mtime_ns: int) -> RoutingTable:
    file = Path(path)
    try:
        data = yaml.safe_load(file.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise _fail(file, f"not valid YAML: {exc}") from None
    table = _parse(file, data)
    logger.info(
        "routing table %s: %d units, %d keywords",
        file,
        len(table.units),
        len(table.lexicon.entries),
    )
    return table


def table_path() -> Path:
    """The routing table in use: ``$ROUTING_TABLE`` or the bundled file."""
    configured = os.environ.get("ROUTING_TABLE")
    return Path(configured) if configured else DEFAULT_TABLE


def load_table(path: Path | None = None) -> RoutingTable:
    """Load and validate a routing table (cached until the file changes).

    Args:
        path: The YAML file; default ``$ROUTING_TABLE`` or
            ``lapor/data/routing.yml``.

    Returns:
        The validated table.

    Raises:
        ValueError: The file is not a valid routing table (unknown kategori,
            duplicate codes, a missing default unit, ...); the message says what.
        FileNotFoundError: The file does not exist.
    """
    file = Path(path) if path is not None else table_path()
    file = file.resolve()
    return _load_cached(str(file), file.stat().st_mtime_ns)


# --------------------------------------------------------------------- routing
def camat_unit(kecamatan_code: str) -> Unit:
    """The camat of a kecamatan (a desa code gives the camat of its kecamatan).

    Raises:
        ValueError: The code is not a kecamatan or desa of Kabupaten Probolinggo.
    """
    from lapor import wilayah

    try:
        place = wilayah.place(kecamatan_code)
    except (KeyError, LookupError, ValueError):
        place = None
    if place is None:
        raise ValueError(f"unknown kecamatan code {kecamatan_code!r}")
    if place.kind == "kecamatan":
        code, name = place.code, place.name
    else:
        code, name = place.kecamatan_code, place.kecamatan_name
    return Unit(f"{CAMAT_PREFIX}{code}", f"Camat {name}", None)


def route(kategori: str, text: str, kecamatan_code: str | None) -> Routing:
    """Choose the OPD (and camat) in charge of a complaint.

    Only keywords of units of the given kategori count: the citizen chose the
    kategori, so a keyword of another kategori's unit never wins. With no
    matching keyword the kategori's default unit is used.

    Args:
        kategori: One of :data:`lapor.kategori.KATEGORI`.
        text: The complaint's text (detail, possibly with the first message).
        kecamatan_code: The kecamatan (or desa) code of the location, if known.

    Returns:
        The routing decision.

    Raises:
        ValueError: Unknown kategori or kecamatan code.
    """
    if kategori not in KATEGORI:
        raise ValueError(f"unknown kategori {kategori!r}; expected one of {KATEGORI}")
    table = load_table()
    matches = table.lexicon.match(
        text or "",
        keep=lambda kw: kw.unit_code is not None and kw.kategori == kategori,
    )
    per_unit: dict[str, list[Match]] = {}
    for m in matches:
        per_unit.setdefault(m.keyword.unit_code or "", []).append(m)
    order = {u.code: i for i, u in enumerate(table.units)}
    default = table.defaults[kategori]
    if per_unit:
        best = max(
            per_unit,
            key=lambda code: (
                sum(m.keyword.weight for m in per_unit[code]),
                max(len(m.keyword.tokens) for m in per_unit[code]),
                code == default,
                -order[code],
            ),
        )
        opd = table.unit(best)
        matched = tuple(m.keyword.text for m in per_unit[best])
    else:
        opd, matched = table.unit(default), ()
    camat = camat_unit(kecamatan_code) if kecamatan_code else None
    logger.debug("routed %s to %s by %s", kategori, opd.code, matched)
    return Routing(opd=opd, camat=camat, matched_keywords=matched)


def units() -> list[Unit]:
    """All OPD of the routing table, in table order (camat units not included)."""
    return list(load_table().units)


def unit(code: str) -> Unit:
    """The unit with this code: an OPD, or ``CAMAT-<kecamatan code>``.

    Raises:
        KeyError: No such unit.
    """
    if code.upper().startswith(CAMAT_PREFIX):
        try:
            return camat_unit(code[len(CAMAT_PREFIX) :])
        except ValueError as exc:
            raise KeyError(str(exc)) from None
    return load_table().unit(code)


def unit_name(code: str) -> str:
    """A unit's display name ("Dinas PUPR", "Camat Paiton"), or the code itself
    when the table does not know it (an old code on an old complaint)."""
    try:
        return unit(code).name
    except (KeyError, ValueError):
        return code
