"""Reading a citizen's answers during the intake: pure functions, no Rasa.

The Rasa form (actions/intake.py) asks; these functions decide what an answer
means: is the detail enough to act on, is this a name or "anonim", which
choice did the citizen type.
"""

from __future__ import annotations

import re
import unicodedata

# Words that carry no information about the problem itself.
_FILLER = set(
    """
    a ada adalah agar aja aku and apa assalamualaikum atau bapak bisa bu buat
    dan dengan deh di dong dr ga gak gan hal halo hallo ibu ingin ini itu iya ja
    kak kakak kami kan ke kok lapor laporan lg mas mau melapor mengadu min mba
    mbak mohon nggih nih nya om pa pagi pak pengaduan permisi punten saja saya
    selamat siang sore sy tolong ulu utk untuk wr wb ya yang yg malam kepada
    sama lagi juga aduan adukan ngadu ngelapor kabar info informasi ds desa kec
    kecamatan kel kelurahan
    """.split()
)

MIN_CONTENT_WORDS = 5

_ANONYMOUS = re.compile(
    r"^\s*(?:saya\s+)?(?:mau\s+|ingin\s+)?(?:anonim\w*|anonym\w*|anon|rahasia\w*|"
    r"dirahasiakan|tanpa\s+nama|tidak\s+usah(?:\s+pakai\s+nama)?|gak\s+usah|"
    r"ga\s+usah|nggak\s+usah|ndak\s+usah|no\s+name|hamba\s+allah|-+)"
    r"(?:\s+(?:saja|aja|ya|yaa|pak|bu|min|kak|mas|mbak|nama\s*(?:saya|nya)?))*"
    r"\s*[.!]*\s*$",
    re.IGNORECASE,
)
_NAME_PREFIX = re.compile(
    r"^\s*(?:(?:nama\s*(?:saya|ku|sy)?|namaku|atas\s+nama|a\.?\s?n\.?|"
    r"saya|sy|aku|dengan)\s*[:,-]?\s+)+",
    re.IGNORECASE,
)
_NAME_OK = re.compile(r"^[A-Za-z][A-Za-z .'\-]{0,58}[A-Za-z.]$|^[A-Za-z]{2}$")
_LONG_NUMBER = re.compile(r"\d{6,}")

_CHOICE_WORDS = {
    "konfirmasi": {
        "kirim": (
            "kirim",
            "ya",
            "iya",
            "ok",
            "oke",
            "okey",
            "benar",
            "betul",
            "sudah",
            "setuju",
            "lanjut",
            "sip",
            "nggih",
            "enggeh",
            "yes",
            "y",
            "bener",
        ),
        "ubah": (
            "ubah",
            "ganti",
            "edit",
            "salah",
            "koreksi",
            "perbaiki",
            "revisi",
            "ralat",
        ),
    },
    "ubah_bagian": {
        "kategori": ("kategori", "jenis", "kategorinya"),
        "lokasi": (
            "lokasi",
            "tempat",
            "alamat",
            "desa",
            "kecamatan",
            "lokasinya",
            "daerah",
        ),
        "detail": (
            "detail",
            "keterangan",
            "isi",
            "cerita",
            "masalah",
            "uraian",
            "laporan",
            "keterangannya",
        ),
        "nama": ("nama", "pelapor", "identitas", "namanya"),
    },
    "kategori": {
        "pemerintahan": ("pemerintahan", "pemerintah", "pemerintahan"),
        "pembangunan": ("pembangunan", "pembangun", "infrastruktur"),
        "kesehatan": ("kesehatan", "sehat", "kesehatn"),
    },
}
_NUMBERED = {
    "kategori": ("pemerintahan", "pembangunan", "kesehatan"),
    "ubah_bagian": ("kategori", "lokasi", "detail", "nama"),
    "konfirmasi": ("kirim", "ubah"),
}


def words(text: str | None) -> list[str]:
    """Lower-case word tokens of ``text`` (letters and digits only)."""
    if not text:
        return []
    folded = unicodedata.normalize("NFKC", text).lower()
    return re.findall(r"[a-z0-9']+", folded)


def content_words(text: str | None) -> list[str]:
    """The words of ``text`` that say something about the problem."""
    return [w for w in words(text) if w not in _FILLER and len(w) > 1 or w.isdigit()]


def is_thin(detail: str | None) -> bool:
    """True when a detail is too short to act on (what, where exactly, since when)."""
    return len(content_words(detail)) < MIN_CONTENT_WORDS


def is_anonymous(text: str | None) -> bool:
    """True when the citizen asks to report without a name."""
    return bool(text and _ANONYMOUS.match(text.strip()))


def parse_name(text: str | None) -> str | None:
    """A display name from an answer such as "nama saya budi santoso".

    Returns None for what does not look like a name: digits (a NIK must never be
    stored from the chat), a long sentence, symbols only.
    """
    if not text or _LONG_NUMBER.search(text):
        return None
    candidate = _NAME_PREFIX.sub("", text.strip())
    candidate = re.sub(r"\s+", " ", candidate).strip(" .,!")
    if not candidate or len(candidate.split()) > 5 or not _NAME_OK.match(candidate):
        return None
    return " ".join(part[:1].upper() + part[1:].lower() for part in candidate.split())


def parse_choice(slot: str, text: str | None) -> str | None:
    """Which option of a multiple-choice question ``text`` picks, or None.

    Understands the option's words ("ubah", "lokasi") and its number ("2").
    """
    tokens = words(text)
    if not tokens:
        return None
    if len(tokens) == 1 and tokens[0].isdigit() and slot in _NUMBERED:
        index = int(tokens[0]) - 1
        options = _NUMBERED[slot]
        return options[index] if 0 <= index < len(options) else None
    if len(tokens) > 6:
        return None
    for option, synonyms in _CHOICE_WORDS.get(slot, {}).items():
        if any(token in synonyms for token in tokens):
            return option
    return None
