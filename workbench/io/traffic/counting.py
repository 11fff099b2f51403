"""Fill missing token counts with the token counter (the slow path: only rows without a count).

The prompt is counted as chat messages (OpenAI framing, :func:`workbench.core.tokens.count_messages`)
when it is a JSON list of ``{"role", "content"}`` messages (or an object with ``"messages"``), else as
plain text; the reply as plain text (a JSON string, ``{"content": ...}`` or OpenAI ``choices`` are
unwrapped). The tokenizer is the one the price sheet names for the row's model, so non-OpenAI models
get the labelled estimate of :mod:`workbench.core.tokens`. Counted rows get ``token_source = "counted"``.
"""
from __future__ import annotations

import json
from collections import defaultdict

import numpy as np
import polars as pl

from workbench.core.prices import PriceBook
from workbench.core.tokens import count_batch, count_messages

BAD_SCHEMA = {"_line": pl.Int64, "field": pl.String, "reason": pl.String}


def _json(text: str) -> object:
    try:
        return json.loads(text)
    except (ValueError, TypeError):
        return text


def prompt_payload(text: str) -> tuple[str, object]:
    """``("messages", list)`` for chat messages, else ``("text", str)``."""
    obj = _json(text)
    if isinstance(obj, dict) and isinstance(obj.get("messages"), list):
        msgs = list(obj["messages"])
        if isinstance(obj.get("system"), str):  # Anthropic-style request body
            msgs.insert(0, {"role": "system", "content": obj["system"]})
        obj = msgs
    if isinstance(obj, list) and obj and all(isinstance(m, dict) and "role" in m for m in obj):
        return "messages", obj
    if isinstance(obj, str):
        return "text", obj
    return "text", text


def reply_text(text: str) -> str:
    obj = _json(text)
    if isinstance(obj, list) and obj and isinstance(obj[0], dict):  # OpenAI choices
        obj = obj[0].get("message", obj[0])
    if isinstance(obj, dict):
        obj = obj.get("content", obj.get("text", text))
    if isinstance(obj, list):  # content parts
        parts = [p.get("text") for p in obj if isinstance(p, dict) and isinstance(p.get("text"), str)]
        obj = "".join(parts) if parts else text
    return obj if isinstance(obj, str) else text


def fill_missing_counts(df: pl.DataFrame, book: PriceBook) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Count missing ``input_tokens`` / ``output_tokens``; returns (rows kept, rows rejected)."""
    n = df.height
    models = df["model"].to_list()
    tokenizers: dict[str, str] = {}

    def tokenizer(model: str) -> str:
        if model not in tokenizers:
            tokenizers[model] = book.model(model).tokenizer
        return tokenizers[model]

    fails: dict[int, tuple[str, str]] = {}
    counted = np.zeros(n, dtype=bool)

    def fill(column: str, source: str, as_prompt: bool) -> np.ndarray:
        values = df[column].to_numpy().astype(np.float64, copy=True) if n else np.zeros(0)
        texts = df[source].to_list()
        rows = np.flatnonzero(df[column].is_null().to_numpy())
        plain: dict[str, list[tuple[int, str]]] = defaultdict(list)
        for i in rows:
            tok = tokenizer(models[i])
            kind, payload = prompt_payload(texts[i]) if as_prompt else ("text", reply_text(texts[i]))
            if kind == "messages":
                try:
                    values[i] = count_messages(payload, tokenizer=tok).tokens  # type: ignore[arg-type]
                    counted[i] = True
                except (ValueError, TypeError) as e:
                    fails.setdefault(int(i), (column, f"cannot count {source} tokens: {e}"))
            else:
                plain[tok].append((int(i), payload))  # type: ignore[arg-type]
        for tok, items in plain.items():
            counts = count_batch([t for _, t in items], tokenizer=tok)
            idx = np.fromiter((i for i, _ in items), dtype=np.int64, count=len(items))
            values[idx] = counts
            counted[idx] = True
        return values

    inp = fill("input_tokens", "prompt", True)
    out = fill("output_tokens", "_completion", False)
    df = df.with_columns(
        input_tokens=pl.Series(inp).cast(pl.Int64, strict=False),
        output_tokens=pl.Series(out).cast(pl.Int64, strict=False),
        token_source=pl.when(pl.lit(pl.Series(counted))).then(pl.lit("counted")).otherwise(pl.col("token_source")),
    )
    over = (pl.col("cached_input_tokens") + pl.col("cache_write_tokens")) > pl.col("input_tokens")
    failed = pl.lit(pl.Series(np.isin(np.arange(n), list(fails)) if fails else np.zeros(n, dtype=bool)))
    bad_rows = [(int(df["_line"][i]), f, r) for i, (f, r) in sorted(fails.items())]
    over_df = df.filter(over & ~failed).select(
        "_line", pl.lit("cached_input_tokens").alias("field"),
        pl.format("cached_input_tokens + cache_write_tokens ({}) exceed counted input_tokens ({})",
                  pl.col("cached_input_tokens") + pl.col("cache_write_tokens"), pl.col("input_tokens")).alias("reason"))
    bad = pl.concat([pl.DataFrame(bad_rows, schema=BAD_SCHEMA, orient="row"), over_df], how="vertical")
    keep = df.filter(~failed & ~over.fill_null(False))
    return keep, bad
