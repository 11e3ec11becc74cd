"""Category inference from a citizen's free text, and the keyword matcher.

The keywords live in the routing table (``lapor/data/routing.yml``), which is the
single source of truth for both the kategori guess and the OPD routing. This
module holds the text normalisation and the matcher; ``lapor.routing`` loads the
table and builds a :class:`Lexicon` from it.

Citizens write informal Indonesian on WhatsApp: abbreviations ("jln", "tdk",
"pkm"), typos, repeated letters ("rusakkk"), words glued together, Javanese and
Madurese words ("dalan remuk", "lampune mati"). The normaliser lowercases,
strips punctuation, collapses repeated letters, maps synonyms, and tries simple
affix stripping, small-typo correction and splitting of glued words for words
the lexicon does not know.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # scikit-learn is imported lazily, when the model is trained
    from sklearn.pipeline import Pipeline

logger = logging.getLogger(__name__)

KATEGORI: tuple[str, ...] = ("pemerintahan", "pembangunan", "kesehatan")

_LABELS = {k: k.capitalize() for k in KATEGORI}

#: Weight of a single-word keyword, a phrase, and a weak (generic) keyword.
WEIGHT_WORD = 1.0
WEIGHT_PHRASE = 2.0
WEIGHT_WEAK = 0.4

#: A kategori is guessed only with at least this score ...
MIN_SCORE = 0.8
#: ... and when it leads the runner-up by this factor.
MIN_LEAD = 1.5

#: Typos are forgiven (one edit) only on words at least this long: shorter words
#: collide with everyday words ("hujan"/"hutan", "susah"/"sudah").
MIN_FUZZY = 6

#: Words that may stand between two words of a phrase ("jalan di desa kami rusak").
MAX_GAP = 2

_PREFIXES = (
    ("meng", "k"),
    ("meny", "s"),
    ("mem", "p"),
    ("men", "t"),
    ("meng", ""),
    ("mem", ""),
    ("men", ""),
    ("me", ""),
    ("ber", ""),
    ("ter", ""),
    ("di", ""),
    ("ke", ""),
    ("", ""),
)
_SUFFIXES = ("nya", "kan", "an", "ne", "e", "i", "")

_REDUP = re.compile(r"([a-z]{2,})2(?![0-9])")
_TOKEN = re.compile(r"[a-z]+|[0-9]+")
_RUN3 = re.compile(r"([a-z])\1{2,}")
_RUN2 = re.compile(r"([a-z])\1")


@dataclass(frozen=True)
class KategoriGuess:
    """The kategori inferred from a text.

    Attributes:
        kategori: One of :data:`KATEGORI`, or ``None`` when the text gives no
            clear signal.
        confidence: 0..1; 0 when nothing matched.
        scores: The score of every kategori (sum of matched keyword weights).
        source: Who decided: ``"lexicon"`` (the keywords), ``"model"`` (the
            statistical model, consulted only when the keywords abstain) or
            ``"none"`` (no guess).
    """

    kategori: str | None
    confidence: float
    scores: dict[str, float]
    source: str = "none"


@dataclass(frozen=True)
class Keyword:
    """One keyword of the routing table, normalised.

    Attributes:
        text: The keyword as written in the table (shown to operators).
        tokens: The normalised tokens.
        weight: Its weight in the score.
        kategori: The kategori it signals.
        unit_code: The unit it names, or ``None`` for a category-only keyword.
    """

    text: str
    tokens: tuple[str, ...]
    weight: float
    kategori: str
    unit_code: str | None


@dataclass(frozen=True)
class Match:
    """A keyword found in a text, with the token positions it used."""

    keyword: Keyword
    positions: tuple[int, ...]


def label(kategori: str) -> str:
    """Return the display label of a kategori ('Pemerintahan' ...).

    Args:
        kategori: One of :data:`KATEGORI`.

    Returns:
        The label citizens and operators see.

    Raises:
        ValueError: For an unknown kategori.
    """
    try:
        return _LABELS[kategori]
    except KeyError:
        raise ValueError(
            f"unknown kategori {kategori!r}; expected one of {KATEGORI}"
        ) from None


def raw_tokens(text: str) -> list[str]:
    """Lowercase, strip punctuation and split; no lexicon involved.

    Apostrophes vanish ("soka'an" -> "sokaan"), other punctuation separates
    words, a reduplication digit is spelled out ("gorong2" -> "gorong gorong")
    and runs of three or more equal letters become one ("rusakkk" -> "rusak").
    """
    text = text.lower().replace("'", "").replace("`", "").replace("’", "")
    text = _REDUP.sub(r"\1 \1", text)
    return [_RUN3.sub(r"\1", tok) for tok in _TOKEN.findall(text)]


def _owner(kategori: str, unit_code: str | None) -> str:
    return f"unit {unit_code}" if unit_code else f"kategori {kategori}"


def _dedouble(token: str) -> str:
    return _RUN2.sub(r"\1", token)


def _affix_variants(token: str) -> list[str]:
    """Stems of ``token`` after stripping common prefixes/suffixes (len >= 3)."""
    out: list[str] = []
    for prefix, restore in _PREFIXES:
        if prefix and not token.startswith(prefix):
            continue
        body = restore + token[len(prefix) :]
        for suffix in _SUFFIXES:
            if not prefix and not suffix:
                continue
            if suffix and not body.endswith(suffix):
                continue
            stem = body[: len(body) - len(suffix)] if suffix else body
            if len(stem) >= 3 and stem != token:
                out.append(stem)
    return out


def _within_one_edit(a: str, b: str) -> bool:
    """True when a and b differ by one insertion, deletion, substitution or swap."""
    la, lb = len(a), len(b)
    if abs(la - lb) > 1 or a == b:
        return a == b
    if la == lb:
        diff = [i for i in range(la) if a[i] != b[i]]
        if len(diff) == 1:
            return True
        return (
            len(diff) == 2
            and diff[1] == diff[0] + 1
            and a[diff[0]] == b[diff[1]]
            and a[diff[1]] == b[diff[0]]
        )
    if la > lb:
        a, b = b, a
    i = 0
    while i < len(a) and a[i] == b[i]:
        i += 1
    return a[i:] == b[i + 1 :]


@dataclass
class Lexicon:
    """Normaliser and keyword matcher built from the routing table.

    Args:
        synonyms: canonical form -> variants (words or phrases).
        keywords: ``(text, weight or None, weak, kategori, unit_code)`` rows.
        protected: Words that are only ever matched exactly: no typo
            correction, affix stripping or splitting (place names such as
            "Lumbang", which is one letter away from "lubang").
    """

    synonyms: dict[str, Sequence[str]]
    keywords: Iterable[tuple[str, float | None, bool, str, str | None]]
    protected: frozenset[str] = frozenset()
    _single: dict[str, tuple[str, ...]] = field(init=False, default_factory=dict)
    _multi: list[tuple[tuple[str, ...], tuple[str, ...]]] = field(
        init=False, default_factory=list
    )
    _known: set[str] = field(init=False, default_factory=set)
    _stems: dict[str, str] = field(init=False, default_factory=dict)
    _by_first: dict[str, list[Keyword]] = field(init=False, default_factory=dict)
    entries: list[Keyword] = field(init=False, default_factory=list)

    def __post_init__(self) -> None:
        rows = list(self.keywords)
        multi: dict[tuple[str, ...], tuple[str, ...]] = {}
        for canonical, variants in self.synonyms.items():
            canon = tuple(raw_tokens(canonical))
            if not canon:
                raise ValueError(f"synonym {canonical!r} is empty after normalisation")
            for variant in variants:
                toks = tuple(raw_tokens(str(variant)))
                if not toks or toks == canon:
                    continue
                if len(toks) == 1:
                    self._single[toks[0]] = canon
                else:
                    multi[toks] = canon
        # Multi-word variants are normalised word by word first ("gak nyala" is
        # matched as "tidak nyala"), then matched longest first.
        self._multi = sorted(
            ((self._exact(v), c) for v, c in multi.items()),
            key=lambda vc: -len(vc[0]),
        )
        for canon in set(self._single.values()) | {c for _, c in self._multi}:
            self._known.update(canon)
        seen: dict[tuple[str, ...], Keyword] = {}
        for text, weight, weak, kategori, unit_code in rows:
            tokens = self._apply_multi(self._exact(tuple(raw_tokens(text))))
            if not tokens:
                raise ValueError(f"keyword {text!r} is empty after normalisation")
            if weight is None:
                weight = (
                    WEIGHT_WEAK
                    if weak
                    else (WEIGHT_WORD if len(tokens) == 1 else WEIGHT_PHRASE)
                )
            kw = Keyword(text, tokens, float(weight), kategori, unit_code)
            other = seen.get(tokens)
            if other is not None:
                if (other.kategori, other.unit_code) == (kategori, unit_code):
                    continue  # the same keyword twice (e.g. via a synonym)
                raise ValueError(
                    f"keyword {text!r} ({_owner(kategori, unit_code)}) is the same as "
                    f"{other.text!r} ({_owner(other.kategori, other.unit_code)}) "
                    "after normalisation; a keyword may belong to one place only"
                )
            seen[tokens] = kw
            self.entries.append(kw)
            self._known.update(tokens)
            self._by_first.setdefault(tokens[0], []).append(kw)
        for word in sorted(self._known):
            if len(word) < 5:
                continue
            for stem in _affix_variants(word):
                if len(stem) >= 4 and stem not in self._known:
                    # ambiguous stems map to nothing
                    self._stems[stem] = "" if stem in self._stems else word
        self._known_by_len: dict[int, list[str]] = {}
        for word in self._known:
            self._known_by_len.setdefault(len(word), []).append(word)

    # ------------------------------------------------------------ normalisation
    def _exact(self, tokens: Sequence[str]) -> tuple[str, ...]:
        out: list[str] = []
        for tok in tokens:
            out.extend(self._single.get(tok, (tok,)))
        return tuple(out)

    def _apply_multi(self, tokens: Sequence[str]) -> tuple[str, ...]:
        out: list[str] = []
        i = 0
        while i < len(tokens):
            for variant, canon in self._multi:
                if tuple(tokens[i : i + len(variant)]) == variant:
                    out.extend(canon)
                    i += len(variant)
                    break
            else:
                out.append(tokens[i])
                i += 1
        return tuple(out)

    def _lookup(self, tok: str) -> tuple[str, ...] | None:
        if tok in self._single:
            return self._single[tok]
        if tok in self._known:
            return (tok,)
        return None

    def _canon(self, tok: str) -> tuple[str, ...]:
        found = self._lookup(tok)
        if found is not None or tok.isdigit() or len(tok) < 3:
            return found or (tok,)
        if tok in self.protected:
            return (tok,)
        plain = _dedouble(tok)
        candidates = [plain] if plain != tok else []
        candidates += _affix_variants(tok)
        if plain != tok:
            candidates += _affix_variants(plain)
        for cand in candidates:
            found = self._lookup(cand)
            if found is not None:
                return found
        for cand in [tok, *candidates]:
            word = self._stems.get(cand)
            if word:
                return (word,)
        if len(tok) >= MIN_FUZZY:
            near = {
                w
                for n in (len(tok) - 1, len(tok), len(tok) + 1)
                for w in self._known_by_len.get(n, ())
                if len(w) >= MIN_FUZZY and w[0] == tok[0] and _within_one_edit(tok, w)
            }
            if len(near) == 1:
                return (near.pop(),)
        if len(tok) >= 7:
            for i in range(3, len(tok) - 2):
                left, right = self._lookup(tok[:i]), self._lookup(tok[i:])
                if left and right:
                    return left + right
        return (tok,)

    def normalise(self, text: str) -> tuple[str, ...]:
        """Return the canonical tokens of ``text``."""
        out: list[str] = []
        for tok in raw_tokens(text):
            out.extend(self._canon(tok))
        return self._apply_multi(out)

    # ----------------------------------------------------------------- matching
    def _find(self, kw: Keyword, tokens: Sequence[str]) -> tuple[int, ...] | None:
        first = kw.tokens[0]
        for start, tok in enumerate(tokens):
            if tok != first:
                continue
            positions = [start]
            for want in kw.tokens[1:]:
                last = positions[-1]
                window = range(last + 1, min(len(tokens), last + 2 + MAX_GAP))
                nxt = next((j for j in window if tokens[j] == want), None)
                if nxt is None:
                    break
                positions.append(nxt)
            else:
                return tuple(positions)
        return None

    def match(
        self, text: str, keep: Callable[[Keyword], bool] | None = None
    ) -> list[Match]:
        """Find the keywords in ``text``; phrases first, each word used once.

        Args:
            text: The citizen's text.
            keep: Only keywords for which this returns True are considered.

        Returns:
            The matches, in the order they were accepted (most specific first).
        """
        tokens = self.normalise(text)
        found: list[Match] = []
        for tok in set(tokens):
            for kw in self._by_first.get(tok, ()):
                if keep is not None and not keep(kw):
                    continue
                positions = self._find(kw, tokens)
                if positions is not None:
                    found.append(Match(kw, positions))
        found.sort(
            key=lambda m: (
                -len(m.positions),
                m.positions[-1] - m.positions[0],
                -m.keyword.weight,
                m.positions[0],
            )
        )
        used: set[int] = set()
        accepted: list[Match] = []
        for m in found:
            if used.isdisjoint(m.positions):
                used.update(m.positions)
                accepted.append(m)
        return accepted

    def scores(self, text: str) -> tuple[dict[str, float], list[Match]]:
        """Score every kategori for ``text``."""
        matches = self.match(text)
        scores = {k: 0.0 for k in KATEGORI}
        for m in matches:
            scores[m.keyword.kategori] += m.keyword.weight
        return scores, matches


def guess_from_scores(scores: dict[str, float]) -> KategoriGuess:
    """Turn kategori scores into a guess (``None`` when weak or ambiguous)."""
    ranked = sorted(scores.items(), key=lambda kv: -kv[1])
    (top, top_score), second_score = ranked[0], ranked[1][1]
    total = sum(scores.values())
    if top_score <= 0:
        return KategoriGuess(None, 0.0, dict(scores))
    confidence = round((top_score / total) * min(1.0, top_score / 1.5), 3)
    if top_score < MIN_SCORE or top_score < MIN_LEAD * second_score:
        return KategoriGuess(None, confidence, dict(scores))
    return KategoriGuess(top, confidence, dict(scores))


def infer_kategori(text: str) -> KategoriGuess:
    """Guess the kategori of a complaint from its text.

    The keywords of the routing table (``lapor.routing.load_table``) decide
    first. When they abstain, the statistical model (:func:`model_guess`) may
    decide, provided the text has enough content and the model is confident.

    Args:
        text: The citizen's message, as written.

    Returns:
        A :class:`KategoriGuess`; its ``kategori`` is ``None`` when the text has
        no clear category signal ("halo", "mau lapor", a place name alone) or
        when two categories are about as likely. ``scores`` are always the
        keyword scores; ``source`` tells who decided.
    """
    from lapor.routing import load_table

    scores, matches = load_table().lexicon.scores(text or "")
    guess = guess_from_scores(scores)
    if guess.kategori is not None:
        guess = KategoriGuess(guess.kategori, guess.confidence, guess.scores, "lexicon")
    else:
        model = model_guess(text or "", scores)
        if model.kategori is not None:
            guess = model
    logger.debug(
        "kategori %s (%.2f, %s) from %s",
        guess.kategori,
        guess.confidence,
        guess.source,
        [m.keyword.text for m in matches],
    )
    return guess


# --------------------------------------------------------------------- the model
#: The labelled messages the model is trained on.
TRAIN_FILE = Path(__file__).resolve().parent / "data" / "kategori_train.yml"

#: The model guesses only when its probability reaches this. Chosen by 5-fold
#: cross-validation on TRAIN_FILE (3 shuffles): on the held-out messages the
#: keywords abstain on, 0.7 gives a precision of 0.93 for a coverage of 0.57
#: (0.6: 0.87 / 0.72); on all held-out messages 0.975 / 0.71.
MODEL_THRESHOLD = 0.7

#: ... and when the text has this many content words ...
MIN_CONTENT_WORDS = 3
#: ... of which this many occur in the training messages.
MIN_KNOWN_WORDS = 2

#: Words that carry no category: function words, chat fillers, greetings,
#: politeness, and words common to every kind of complaint. Compared with the
#: normalised tokens (so "tdk" is "tidak", "yg" is "yang").
STOPWORDS: frozenset[str] = frozenset(
    """
    yang di ke dari dr dan atau ini itu tsb tersebut saya sy aku ak kami kita
    kamu anda dia mereka beliau pak bapak bu ibu mas mbak min admin kak om cak
    lek mbah tolong tlg mohon minta bantu dibantu bantuannya lapor melapor
    laporan mengadu adu aduan pengaduan keluhan mau ingin pengen pingin ya iya
    assalamualaikum asalamualaikum assalamu alaikum wr wb salam halo hallo hai
    selamat pagi siang sore malam terima kasih makasih trims nuwun sakalangkong
    izin ijin tanya bertanya nanya sudah belum tidak ada sangat juga sama dengan
    dgn untuk utk buat karena krn karna kalau kalo klo tapi tp tetapi padahal
    dong deh sih kok lho loh kan aja saja gimana gmn bagaimana kapan kenapa
    knp mengapa apa apakah siapa mana dimana kemana oleh pada dalam jadi lagi
    masih terus sekali bisa harus hrs katanya kata sedang lagi akan mohonkan
    warga desa kecamatan kabupaten kab kota rt rw hari minggu bulan tahun thn
    kemarin sekarang tadi baru sejak sampai sampe hingga nih tuh gitu begitu
    seperti kayak kaya cuma hanya semua banyak sedikit sering selalu pernah
    tiap setiap kabar info informasi hal masalah soal tentang mengenai nggeh
    nggih enggih inggih ngapunten maaf punten permisi mengganggu ganggu
    """.split()
)


def _content_words(tokens: Sequence[str]) -> list[str]:
    """The tokens that may carry a category (no stopwords, numbers, places)."""
    from lapor.routing import load_table

    places = load_table().lexicon.protected
    return [
        tok
        for tok in tokens
        if len(tok) >= 2
        and not tok.isdigit()
        and tok not in STOPWORDS
        and tok not in places
    ]


def load_training_items(path: Path | None = None) -> list[tuple[str, str]]:
    """Read the labelled messages of the model.

    Args:
        path: A YAML file (``version: 1``, ``items: [{text, kategori}]``);
            default :data:`TRAIN_FILE`.

    Returns:
        ``(text, kategori)`` pairs.

    Raises:
        ValueError: When the file is malformed or a label is unknown.
    """
    import yaml

    path = path or TRAIN_FILE
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or data.get("version") != 1:
        raise ValueError(f"{path}: expected a mapping with 'version: 1'")
    items = data.get("items")
    if not isinstance(items, list) or not items:
        raise ValueError(f"{path}: 'items' must be a non-empty list")
    out: list[tuple[str, str]] = []
    for i, item in enumerate(items):
        if not isinstance(item, dict) or not isinstance(item.get("text"), str):
            raise ValueError(f"{path}: item {i} needs a 'text'")
        if item.get("kategori") not in KATEGORI:
            raise ValueError(
                f"{path}: item {i} has kategori {item.get('kategori')!r}; "
                f"expected one of {KATEGORI}"
            )
        out.append((item["text"], item["kategori"]))
    return out


def model_text(text: str) -> str:
    """The text the model sees: the lexicon's normalised tokens, joined."""
    from lapor.routing import load_table

    return " ".join(load_table().lexicon.normalise(text))


def build_pipeline() -> Pipeline:
    """An untrained model: char and word TF-IDF n-grams + logistic regression.

    Returns:
        A scikit-learn pipeline taking normalised texts (:func:`model_text`).
    """
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import FeatureUnion, Pipeline

    features = FeatureUnion(
        [
            (
                "char",
                TfidfVectorizer(
                    analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True
                ),
            ),
            (
                "word",
                TfidfVectorizer(
                    analyzer="word",
                    ngram_range=(1, 2),
                    sublinear_tf=True,
                    token_pattern=r"(?u)\b\w+\b",
                ),
            ),
        ]
    )
    # liblinear (one-vs-rest) trains in ~0.15 s here, lbfgs takes 0.4-1.4 s
    classifier = LogisticRegression(C=10.0, solver="liblinear")
    return Pipeline([("features", features), ("clf", classifier)])


@dataclass(frozen=True)
class KategoriModel:
    """A trained model and the words it has seen.

    Attributes:
        pipeline: The fitted scikit-learn pipeline.
        vocabulary: Every normalised word of the training messages.
    """

    pipeline: Any
    vocabulary: frozenset[str]

    def probabilities(self, text: str) -> dict[str, float]:
        """The probability of every kategori for an already normalised text."""
        probs = self.pipeline.predict_proba([text])[0]
        return {
            str(k): float(p) for k, p in zip(self.pipeline.classes_, probs, strict=True)
        }


def train_model(items: Sequence[tuple[str, str]]) -> KategoriModel:
    """Train the model on ``(text, kategori)`` pairs.

    Args:
        items: The labelled messages, as written (they are normalised here).

    Returns:
        The trained :class:`KategoriModel`.
    """
    texts = [model_text(t) for t, _ in items]
    pipeline = build_pipeline()
    pipeline.fit(texts, [k for _, k in items])
    vocabulary = frozenset(w for t in texts for w in t.split())
    return KategoriModel(pipeline, vocabulary)


@functools.cache
def _cached_model(path: str) -> KategoriModel:
    items = load_training_items(Path(path))
    model = train_model(items)
    logger.info("kategori model trained on %d messages from %s", len(items), path)
    return model


def load_model() -> KategoriModel:
    """The model trained on :data:`TRAIN_FILE` (trained once, on first use)."""
    return _cached_model(str(TRAIN_FILE))


def model_guess(
    text: str,
    scores: dict[str, float] | None = None,
    model: KategoriModel | None = None,
    threshold: float = MODEL_THRESHOLD,
) -> KategoriGuess:
    """The model's guess for a text, or no guess.

    The model abstains on texts with fewer than :data:`MIN_CONTENT_WORDS`
    content words or fewer than :data:`MIN_KNOWN_WORDS` words it has seen, and
    when its probability is below ``threshold``. When the keywords found an
    ambiguous signal (a score of at least :data:`MIN_SCORE`), the model may only
    choose among the kategori the keywords found about as likely.

    Args:
        text: The citizen's message, as written.
        scores: The keyword scores (kept in the result); zeros when omitted.
        model: A trained model; default :func:`load_model`.
        threshold: The minimum probability of a guess.

    Returns:
        A :class:`KategoriGuess` with ``source="model"``, or without kategori
        (``source="none"``, confidence 0).
    """
    scores = dict(scores) if scores is not None else {k: 0.0 for k in KATEGORI}
    none = KategoriGuess(None, 0.0, scores, "none")
    normalised = model_text(text)
    content = _content_words(normalised.split())
    if len(content) < MIN_CONTENT_WORDS:
        return none
    model = model or load_model()
    if sum(w in model.vocabulary for w in content) < MIN_KNOWN_WORDS:
        return none
    probs = model.probabilities(normalised)
    top_score = max(scores.values(), default=0.0)
    if top_score >= MIN_SCORE:
        allowed = {k for k, v in scores.items() if v * MIN_LEAD > top_score}
        probs = {k: (p if k in allowed else 0.0) for k, p in probs.items()}
    kategori, prob = max(probs.items(), key=lambda kv: kv[1])
    if prob < threshold:
        return none
    return KategoriGuess(kategori, round(prob, 3), scores, "model")
