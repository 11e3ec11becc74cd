"""Category inference from citizens' informal text (lapor.kategori)."""

from __future__ import annotations

import pytest

from lapor.kategori import KATEGORI, KategoriGuess, infer_kategori, label

EXAMPLES = [
    # the examples of the product notes
    ("jalan berlubang", "pembangunan"),
    ("puskesmas tutup", "kesehatan"),
    ("KTP belum jadi", "pemerintahan"),
    ("lampu jalan mati", "pembangunan"),
    ("pelayanan kantor desa lambat, perangkat desa pungli", "pemerintahan"),
    ("bidan desa tidak ada", "kesehatan"),
    ("anak stunting", "kesehatan"),
    ("DBD", "kesehatan"),
    ("BPJS ditolak rs", "kesehatan"),
    ("bansos tidak merata", "pemerintahan"),
    ("jembatan putus", "pembangunan"),
    ("irigasi", "pembangunan"),
    ("drainase mampet", "pembangunan"),
    # realistic messages
    ("jalan di desa sumberanyar kec paiton rusak parah banyak lubang", "pembangunan"),
    ("sampah numpuk di pinggir jalan gak diangkut baunya menyengat", "pembangunan"),
    ("air pdam mati sudah 3 hari", "pembangunan"),
    ("proyek pengaspalan baru 2 bulan sudah rusak lagi", "pembangunan"),
    ("tebing longsor menutup jalan desa", "pembangunan"),
    ("atap gedung sekolah SDN ambruk murid belajar di teras", "pembangunan"),
    ("jalan ke puskesmas rusak", "pembangunan"),
    ("mau urus akte kelahiran anak katanya blangko habis", "pemerintahan"),
    ("keluarga miskin tidak dapat bantuan blt", "pemerintahan"),
    ("kepala desa korupsi dana desa", "pemerintahan"),
    ("sppt pbb saya belum datang", "pemerintahan"),
    ("ppdb zonasi tidak adil anak saya tidak diterima smp negeri", "pemerintahan"),
    ("gas elpiji 3 kg langka", "pemerintahan"),
    ("pupuk subsidi langka di kios", "pemerintahan"),
    ("banyak pkl jualan di trotoar bikin macet", "pemerintahan"),
    ("balita di desa kami gizi buruk", "kesehatan"),
    ("posyandu tidak jalan, imunisasi anak terlambat", "kesehatan"),
    ("obat di puskesmas kosong disuruh beli di apotek", "kesehatan"),
    ("ada odgj dipasung keluarganya", "kesehatan"),
    ("banyak warga yang bab sembarangan belum punya jamban", "kesehatan"),
    ("ambulans puskesmas minta bayar bensin", "kesehatan"),
]


@pytest.mark.parametrize("text,expected", EXAMPLES)
def test_examples(text: str, expected: str) -> None:
    guess = infer_kategori(text)
    assert guess.kategori == expected, guess.scores
    assert 0 < guess.confidence <= 1
    assert guess.scores[expected] == max(guess.scores.values())


INFORMAL = [
    # abbreviations, repeated letters, Javanese/Madurese, glued words, typos
    ("jln rusakkk parah bgt", "pembangunan"),
    ("dalan remuk", "pembangunan"),
    ("dalane rusak ket biyen ra didandani", "pembangunan"),
    ("lampune mati", "pembangunan"),
    ("gorong2 buntu tiap hujan", "pembangunan"),
    ("jalanrusak", "pembangunan"),
    ("jalannya berlobang", "pembangunan"),
    ("pkm gak buka", "kesehatan"),
    ("puskesmsa tutup", "kesehatan"),
    ("stanting di desa tinggi", "kesehatan"),
    ("ektp sy blm jd", "pemerintahan"),
    ("kknya salah nama", "pemerintahan"),
    ("pak klebun jarang ngantor", "pemerintahan"),
]


@pytest.mark.parametrize("text,expected", INFORMAL)
def test_informal_writing(text: str, expected: str) -> None:
    assert infer_kategori(text).kategori == expected


NO_SIGNAL = [
    "halo",
    "mau lapor",
    "tolong",
    "Paiton",
    "desa Sumberanyar kec Paiton",
    "assalamualaikum min",
    "izin bertanya pak",
    "terima kasih banyak",
    "mohon dibantu",
    "saya mau mengadu",
    "sudah 3 bulan tidak ada kabar",
    "jalan",  # a generic word alone is not enough
    "",
]


@pytest.mark.parametrize("text", NO_SIGNAL)
def test_no_signal_gives_none(text: str) -> None:
    guess = infer_kategori(text)
    assert guess.kategori is None
    assert guess.confidence < 0.5


def test_place_names_alone_give_no_signal() -> None:
    # Place names must not be "corrected" into keywords (Lumbang ~ lubang,
    # Batur ~ batuk, Pedagangan ~ pedagang).
    from lapor import wilayah

    names = []
    for kec in wilayah.all_kecamatan():
        names.append(kec.name)
        names += [f"desa {p.name} kec {kec.name}" for p in wilayah.desa_in(kec.code)]
    assert len(names) > 300
    wrong = [n for n in names if infer_kategori(n).kategori is not None]
    assert wrong == []


def test_specific_phrase_outweighs_generic_word() -> None:
    generic = infer_kategori("jalan")
    specific = infer_kategori("jalan rusak")
    assert specific.kategori == "pembangunan"
    assert specific.scores["pembangunan"] > generic.scores["pembangunan"]
    assert specific.confidence > generic.confidence


def test_ambiguous_text_gives_none() -> None:
    # one strong signal for two kategori each: no guess
    guess = infer_kategori("ktp dan puskesmas")
    assert guess.scores["pemerintahan"] > 0 and guess.scores["kesehatan"] > 0
    assert guess.kategori is None


def test_guess_shape() -> None:
    guess = infer_kategori("jembatan putus")
    assert isinstance(guess, KategoriGuess)
    assert set(guess.scores) == set(KATEGORI)


def test_labels() -> None:
    assert [label(k) for k in KATEGORI] == ["Pemerintahan", "Pembangunan", "Kesehatan"]
    with pytest.raises(ValueError):
        label("keuangan")
