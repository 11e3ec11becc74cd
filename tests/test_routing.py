"""Routing table loading and routing of complaints (lapor.routing)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from lapor import routing
from lapor.kategori import KATEGORI
from lapor.routing import DEFAULT_TABLE, Routing, Unit, load_table, route, unit, units

CASES = [
    ("pembangunan", "jalan poros desa berlobang2 bahaya buat motor", "PUPR"),
    ("pembangunan", "jembatan penghubung antar dusun ambrol kena banjir", "PUPR"),
    ("pembangunan", "selokan depan rumah mampet kalau hujan meluap", "PUPR"),
    ("pembangunan", "saluran irigasi sawah jebol", "PUPR"),
    ("pembangunan", "lampu PJU di depan balai desa mati sudah seminggu", "DISHUB"),
    ("pembangunan", "lampu penerangan jalan di jalan raya kraksaan padam", "DISHUB"),
    ("pembangunan", "traffic light perempatan mati", "DISHUB"),
    ("pembangunan", "sampah numpuk gak diangkut2 baunya menyengat", "DLH"),
    ("pembangunan", "limbah pabrik dibuang ke sungai airnya hitam", "DLH"),
    ("pembangunan", "air pdam mati sudah 3 hari kalau nyala keruh", "PDAM"),
    ("pembangunan", "warga kesulitan air bersih, hippam tidak jalan", "PERKIM"),
    ("pembangunan", "mohon bantuan bedah rumah tidak layak huni", "PERKIM"),
    ("pembangunan", "tebing longsor menutup jalan desa", "BPBD"),
    ("pembangunan", "ada pohon tumbang melintang di jalan", "BPBD"),
    ("pemerintahan", "KTP elektronik saya belum jadi, sudah rekam", "DISPENDUKCAPIL"),
    ("pemerintahan", "kk saya salah nama ibu", "DISPENDUKCAPIL"),
    ("pemerintahan", "keluarga miskin tidak dapat bantuan blt", "DINSOS"),
    ("pemerintahan", "pak kades jarang ngantor, kantor desa tutup terus", "DPMD"),
    ("pemerintahan", "dana desa tidak transparan apbdes tidak dipasang", "DPMD"),
    ("pemerintahan", "sppt pbb belum datang tagihan pajak naik", "BAPENDA"),
    ("pemerintahan", "ngurus izin usaha di ptsp lama sekali", "DPMPTSP"),
    ("pemerintahan", "pungutan sekolah mahal, uang gedung smp 2 juta", "DISPENDIK"),
    ("pemerintahan", "pupuk subsidi langka di kios", "DISPERTA"),
    ("pemerintahan", "gas elpiji 3 kg langka dan mahal", "DKUPP"),
    ("pemerintahan", "banyak pkl jualan di trotoar", "SATPOLPP"),
    ("pemerintahan", "ada kdrt di tetangga saya", "DP3AP2KB"),
    ("pemerintahan", "oknum minta uang pelicin biar cepat", "INSPEKTORAT"),
    ("kesehatan", "puskesmas tutup jam 12 padahal pasien masih antri", "DINKES"),
    ("kesehatan", "bu bidan desa jarang ada di polindes", "DINKES"),
    ("kesehatan", "di rsud waluyo jati antri lama sekali", "RSUD-WALUYOJATI"),
    ("kesehatan", "rumah sakit tongas kekurangan dokter spesialis", "RSUD-TONGAS"),
    ("kesehatan", "banyak warga kena demam berdarah minta fogging", "DINKES"),
]


@pytest.mark.parametrize("kategori,text,expected", CASES)
def test_route_realistic_cases(kategori: str, text: str, expected: str) -> None:
    result = route(kategori, text, None)
    assert result.opd.code == expected, result.matched_keywords
    assert result.opd.kategori == kategori
    assert result.matched_keywords  # chosen by keyword, not by default
    assert result.camat is None


@pytest.mark.parametrize(
    "kategori,expected",
    [("pemerintahan", "SETDA"), ("pembangunan", "PUPR"), ("kesehatan", "DINKES")],
)
def test_default_unit_when_no_keyword(kategori: str, expected: str) -> None:
    result = route(kategori, "mohon segera ditindaklanjuti", None)
    assert result.opd.code == expected
    assert result.matched_keywords == ()


def test_keyword_of_other_kategori_never_wins() -> None:
    # "puskesmas" names Dinkes, but the citizen chose pembangunan
    result = route("pembangunan", "puskesmas tutup", None)
    assert result.opd.kategori == "pembangunan"
    assert result.opd.code == "PUPR"
    # and the same text under kesehatan goes to Dinkes
    assert route("kesehatan", "puskesmas tutup", None).opd.code == "DINKES"


def test_camat_from_kecamatan_code() -> None:
    result = route("pembangunan", "jalan rusak", "35.13.12")
    assert result.camat == Unit("CAMAT-35.13.12", "Camat Paiton", None)
    assert route("kesehatan", "x", "35.13.01").camat.name == "Camat Sukapura"


def test_camat_from_desa_code_is_its_kecamatan() -> None:
    from lapor import wilayah

    desa = wilayah.desa_in("35.13.14")[0]
    assert route("pemerintahan", "ktp", desa.code).camat.code == "CAMAT-35.13.14"


def test_unknown_kecamatan_or_kategori() -> None:
    with pytest.raises(ValueError, match="kecamatan"):
        route("pembangunan", "jalan rusak", "99.99.99")
    with pytest.raises(ValueError, match="kategori"):
        route("keuangan", "jalan rusak", None)


def test_units_and_unit_lookup() -> None:
    all_units = units()
    codes = [u.code for u in all_units]
    assert len(codes) == len(set(codes))
    expected = "DINKES PUPR DISPENDUKCAPIL DPMD DISHUB DLH DINSOS PERKIM DISPENDIK"
    for code in expected.split() + ["BPBD", "SATPOLPP"]:
        assert code in codes
    assert {u.kategori for u in all_units} == set(KATEGORI)
    assert unit("DINKES").name == "Dinas Kesehatan"
    assert unit("CAMAT-35.13.23").name == "Camat Tongas"
    with pytest.raises(KeyError):
        unit("NOPE")
    with pytest.raises(KeyError):
        unit("CAMAT-35.99.01")


def test_routing_shape() -> None:
    result = route("kesehatan", "dbd", None)
    assert isinstance(result, Routing)
    assert result.matched_keywords == ("dbd",)


# --------------------------------------------------------------- table loading
GOOD = """
kategori:
  pemerintahan: {default: A, keywords: [surat]}
  pembangunan: {default: B}
  kesehatan: {default: C}
units:
  - {code: A, name: Unit A, kategori: pemerintahan, keywords: [ktp]}
  - {code: B, name: Unit B, kategori: pembangunan, keywords: [jalan rusak]}
  - {code: B2, name: Unit B2, kategori: pembangunan, keywords: [sampah]}
  - {code: C, name: Unit C, kategori: kesehatan, keywords: [puskesmas]}
synonyms:
  jalan: [jln]
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "routing.yml"
    path.write_text(text, encoding="utf-8")
    return path


def test_env_overrides_table(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _write(tmp_path, GOOD)
    monkeypatch.setenv("ROUTING_TABLE", str(path))
    assert [u.code for u in units()] == ["A", "B", "B2", "C"]
    assert route("pembangunan", "jln rusak", None).opd.code == "B"
    assert route("pembangunan", "sampah", None).opd.code == "B2"
    monkeypatch.delenv("ROUTING_TABLE")
    assert load_table().path == DEFAULT_TABLE.resolve()


def test_table_reloads_when_file_changes(tmp_path: Path) -> None:
    path = _write(tmp_path, GOOD)
    assert load_table(path).unit("A").name == "Unit A"
    path.write_text(GOOD.replace("Unit A", "Unit Baru"), encoding="utf-8")
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    assert load_table(path).unit("A").name == "Unit Baru"


BROKEN = [
    (
        GOOD.replace("kategori: kesehatan, keywords", "kategori: keuangan, keywords"),
        "unknown kategori 'keuangan'",
    ),
    (GOOD.replace("code: B2", "code: B"), "duplicate unit code 'B'"),
    (
        GOOD.replace("  pembangunan: {default: B}\n", "  pembangunan: {}\n"),
        "pembangunan: default unit is missing",
    ),
    (GOOD.replace("{default: C}", "{default: ZZ}"), "default unit 'ZZ' not found"),
    (GOOD.replace("{default: C}", "{default: A}"), "belongs to pemerintahan"),
    (GOOD.replace("  kesehatan: {default: C}\n", ""), "missing"),
    (GOOD.replace("keywords: [sampah]", "keywords: [ktp]"), "'ktp'"),
    (GOOD.replace("keywords: [sampah]", "keywords: [jln rusak]"), "jln rusak"),
    (GOOD.replace("name: Unit C, ", ""), "unit C: name is missing"),
    ("kategori: [1, 2\n", "not valid YAML"),
    ("- just a list\n", "mapping"),
]


@pytest.mark.parametrize("text,message", BROKEN)
def test_broken_table_raises_clear_error(
    tmp_path: Path, text: str, message: str
) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(ValueError, match="routing table") as info:
        load_table(path)
    assert message in str(info.value)


def test_bundled_table_is_valid() -> None:
    table = load_table(DEFAULT_TABLE)
    assert set(table.defaults) == set(KATEGORI)
    for kategori, code in table.defaults.items():
        assert table.unit(code).kategori == kategori
    # every kategori has units with keywords of their own
    for kategori in KATEGORI:
        assert any(
            kw.kategori == kategori and kw.unit_code for kw in table.lexicon.entries
        )


def test_nothing_loaded_at_import(tmp_path: Path) -> None:
    # Importing must not read the table: with a missing file the import works
    # and only the first use fails.
    import subprocess
    import sys

    code = (
        "import lapor.routing, lapor.kategori\n"
        "try:\n"
        "    lapor.routing.units()\n"
        "except FileNotFoundError:\n"
        "    print('lazy')\n"
    )
    env = {**os.environ, "ROUTING_TABLE": str(tmp_path / "none.yml")}
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=Path(routing.__file__).parent.parent,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == "lazy"
