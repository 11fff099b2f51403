"""What a response cache compares: the cache text of a request, its normalised form, its namespace.

* **Conversation context.** A prompt may be plain text or JSON chat messages
  (``[{"role": ..., "content": ...}, ...]``). By default the cache text is the whole conversation
  (every message with its role), so "yes, cancel it" in one chat is not served the answer given in
  another. ``context="last_message"`` compares only the last user message — the common shortcut,
  offered so its false hits can be shown.
* **Normalisation** (the normalised cache): case folded, whitespace collapsed, and variable fields
  (timestamps, dates, UUIDs, long ids, e-mail addresses) replaced by a placeholder. The patterns
  are data (:data:`DEFAULT_PATTERNS`) and can be replaced or extended.
* **Namespaces**: tenant + prompt version + model by default (see :func:`namespace_codes`).
"""
from __future__ import annotations

import json
import re
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

CONTEXTS = ("conversation", "last_message")

#: (name, regex, placeholder), applied in order. Timestamps before dates before bare numbers.
DEFAULT_PATTERNS: tuple[tuple[str, str, str], ...] = (
    ("timestamp", r"\b\d{4}-\d{2}-\d{2}[t ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:z|[+-]\d{2}:?\d{2})?\b", "<ts>"),
    ("date", r"\b(?:\d{4}-\d{2}-\d{2}|\d{1,2}/\d{1,2}/\d{2,4})\b", "<date>"),
    ("time", r"\b\d{1,2}:\d{2}(?::\d{2})?\s?(?:am|pm)?\b", "<time>"),
    ("uuid", r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", "<id>"),
    ("email", r"\b[\w.+-]+@[\w-]+\.[\w.-]+\b", "<email>"),
    # ids of 6+ characters: numeric or hex-like (starting with a digit), or a short letter prefix
    # then digits ("ord-55812", "inv_2024a"); short numbers ("2 plus 2", "v2") are kept
    ("long_id", r"\b(?:\d[0-9a-z_-]{5,}|[a-z]{1,4}[_-]?\d[0-9a-z_-]{4,})\b", "<id>"),
)


def _messages(text: str):
    if not text or text[0] != "[":
        return None
    try:
        msgs = json.loads(text)
    except ValueError:
        return None
    if isinstance(msgs, list) and all(isinstance(m, dict) and "content" in m for m in msgs):
        return msgs
    return None


def _content(c) -> str:
    if isinstance(c, str):
        return c
    if isinstance(c, list):  # content parts
        return " ".join(p.get("text", "") if isinstance(p, dict) else str(p) for p in c)
    return "" if c is None else str(c)


def cache_text(prompts: Iterable[str | None], context: str = "conversation") -> list[str]:
    """The text a cache compares for each prompt (``None`` stays ``None``: never cached)."""
    if context not in CONTEXTS:
        raise ValueError(f"context must be one of {', '.join(CONTEXTS)}, got {context!r}")
    out: list[str | None] = []
    for p in prompts:
        if type(p) is str and p[:1] != "[":   # plain text (the common case)
            out.append(p)
            continue
        if p is None or (isinstance(p, float) and np.isnan(p)) or p is pd.NA:
            out.append(None)
            continue
        msgs = _messages(p)
        if msgs is None:
            out.append(p)
        elif context == "conversation":
            out.append("\n".join(f"{m.get('role', '')}: {_content(m.get('content'))}" for m in msgs))
        else:
            users = [m for m in msgs if m.get("role") == "user"] or msgs
            out.append(_content(users[-1].get("content")) if users else "")
    return out


def compile_patterns(patterns: Sequence[tuple[str, str, str]] | None = None) -> list[tuple[str, str, str]]:
    """Check ``(name, regex, placeholder)`` patterns (Rust regex syntax, as Polars runs them: no
    look-around); a bad one raises naming the pattern."""
    import polars as pl
    pats = list(DEFAULT_PATTERNS if patterns is None else patterns)
    probe = pl.Series(["x"], dtype=pl.String)
    for name, rx, placeholder in pats:
        try:
            probe.str.replace_all(rx, placeholder)
        except Exception as e:  # polars ComputeError
            raise ValueError(f"normalisation pattern {name!r} is not a valid regex: {str(e).splitlines()[0]}") from None
    return pats


def cache_text_series(prompts, context: str = "conversation"):
    """:func:`cache_text` over a Polars String series: plain-text rows pass through untouched (no
    per-row Python); only JSON chat rows (starting with ``[``) are parsed."""
    import polars as pl
    if context not in CONTEXTS:
        raise ValueError(f"context must be one of {', '.join(CONTEXTS)}, got {context!r}")
    chat = prompts.str.starts_with("[").fill_null(False).to_numpy()
    if not chat.any():
        return prompts
    idx = np.flatnonzero(chat)
    return prompts.scatter(idx, pl.Series(cache_text(prompts.gather(idx).to_list(), context), dtype=pl.String))


def normalize(texts, patterns: Sequence[tuple[str, str, str]] | None = None,
              case: bool = True, whitespace: bool = True):
    """Normalised cache keys: lower case, then each pattern's matches replaced by its placeholder
    (in order), then whitespace collapsed. Runs in Polars (Rust regex); a Polars series in gives a
    series out, anything else a list."""
    import polars as pl
    pats = compile_patterns(patterns)
    series = isinstance(texts, pl.Series)
    s = texts if series else pl.Series(list(texts), dtype=pl.String)
    if case:
        s = s.str.to_lowercase()
    for _, rx, placeholder in pats:
        s = s.str.replace_all(rx, placeholder)
    if whitespace:
        # only rows with a run of spaces, other whitespace, or an edge space need the (slow) pass
        idx = np.flatnonzero(s.str.contains(r"[^ \S]|  |^ | $").fill_null(False).to_numpy())
        if len(idx):
            s = s.scatter(idx, s.gather(idx).str.replace_all(r"\s+", " ").str.strip_chars())
    return s if series else s.to_list()


NAMESPACE_COLUMNS = ("tenant", "prompt_version", "model")


def prompt_version(frame: pd.DataFrame) -> pd.Series:
    """The prompt version of each request: ``tags.prompt_version`` when logged, else the
    ``system_prompt_hash`` column, else null (one version)."""
    version = pd.Series([None] * len(frame), index=frame.index, dtype="object")
    if "tags" in frame:
        codes, uniq = pd.factorize(frame["tags"].astype("object"), use_na_sentinel=True)

        def pv(t):
            # a JSON object has the key only if its text holds the name, or a \\uXXXX escape that could spell it
            if not isinstance(t, str) or not t.startswith("{") or ("prompt_version" not in t and "\\u" not in t):
                return None
            try:
                v = json.loads(t).get("prompt_version")
            except (ValueError, AttributeError):
                return None
            return None if v is None else str(v)
        per_tag = np.array([pv(t) for t in uniq] + [None], dtype=object)
        version = pd.Series(per_tag[np.where(codes >= 0, codes, len(uniq))], index=frame.index, dtype="object")
    if "system_prompt_hash" in frame:
        version = version.where(version.notna(), frame["system_prompt_hash"].astype("object"))
    return version


def namespace_codes(frame: pd.DataFrame, by: Sequence[str] = NAMESPACE_COLUMNS) -> tuple[np.ndarray, pd.DataFrame]:
    """Integer namespace of each row (rows with equal values of ``by`` share a cache) and the
    table of namespaces. ``by=()`` is one shared namespace. A missing value is its own value
    (requests without a tenant share the "no tenant" namespace, never another tenant's)."""
    unknown = [c for c in by if c not in NAMESPACE_COLUMNS]
    if unknown:
        raise ValueError(f"unknown namespace field(s) {unknown}; valid: {', '.join(NAMESPACE_COLUMNS)}")
    if not by:
        return np.zeros(len(frame), dtype=np.int64), pd.DataFrame(index=[0])
    parts = {}
    for c in by:
        col = prompt_version(frame) if c == "prompt_version" else (
            frame[c] if c in frame else pd.Series([None] * len(frame), index=frame.index, dtype="object"))
        codes, firsts = fast_codes(col, na_sentinel=False)   # a missing value is its own value
        parts[c] = (codes, col.iloc[firsts].astype("object").tolist())
    combo = np.zeros(len(frame), dtype=np.int64)
    for c in by:
        codes, uniq = parts[c]
        combo = combo * (len(uniq) + 1) + codes
    ns = pd.factorize(combo)[0].astype(np.int64)
    first = first_rows(ns)
    table = pd.DataFrame({c: [parts[c][1][k] for k in parts[c][0][first]] for c in by})
    return ns, table


def _firsts(codes: np.ndarray) -> np.ndarray:
    """Row position of each code's first occurrence (codes 0..k-1)."""
    first = np.full(int(codes.max(initial=-1)) + 1, len(codes), dtype=np.int64)
    np.minimum.at(first, codes, np.arange(len(codes)))
    return first


def _as_polars_strings(values):
    """``values`` as a Polars String series, or ``None`` when they are not all strings/nulls."""
    import polars as pl
    try:
        if isinstance(values, pl.Series):
            s = values
        elif isinstance(values, pd.Series):
            s = pl.from_pandas(values)
        else:
            s = pl.Series(values=list(values) if not isinstance(values, np.ndarray) else values, strict=True)
    except (TypeError, ValueError, pl.exceptions.PolarsError):
        return None
    if s.dtype in (pl.Categorical, pl.Enum):
        s = s.cast(pl.String)
    return s if s.dtype == pl.String else None


def first_rows(codes: np.ndarray) -> np.ndarray:
    """Row of each code's first appearance, for codes numbered in order of first appearance
    (as :func:`pandas.factorize` numbers them; -1 ignored)."""
    prev = np.maximum.accumulate(np.concatenate(([-1], codes[:-1]))) if len(codes) else codes
    return np.flatnonzero(codes > prev)


def fast_codes(values, na_sentinel: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Integer code of each value, numbered in order of first appearance (as
    :func:`pandas.factorize`), and the row of each code's first appearance. Strings go through
    Polars' vectorised 64-bit hash and then every row is compared with its code's first row, so a
    hash collision can never merge two different values (it falls back to an exact factorise).
    A missing value is -1 when ``na_sentinel``, else a value of its own."""
    s = _as_polars_strings(values)
    if s is not None and len(s):
        h = s.hash(seed=0).to_numpy()
        codes, _ = pd.factorize(h)
        codes = codes.astype(np.int64)
        firsts = first_rows(codes)
        if s.gather(firsts[codes]).eq_missing(s).all():   # every row equals its code's first row
            if na_sentinel and s.null_count():
                null = s.is_null().to_numpy()
                c = int(codes[np.argmax(null)])
                codes = np.where(null, -1, codes - (codes > c))
                firsts = np.delete(firsts, c)
            return codes, firsts
    if isinstance(values, pd.Series):
        values = values.astype("object")
    codes, _ = pd.factorize(pd.Series(values, dtype="object") if not isinstance(values, pd.Series) else values,
                            use_na_sentinel=na_sentinel)
    codes = np.asarray(codes, dtype=np.int64)
    return codes, first_rows(codes)


def key_codes(texts: Sequence[str | None]) -> np.ndarray:
    """Integer code per distinct text; ``None`` → -1 (never cached)."""
    codes, _ = pd.factorize(pd.Series(list(texts), dtype="object"), use_na_sentinel=True)
    return codes.astype(np.int64)
