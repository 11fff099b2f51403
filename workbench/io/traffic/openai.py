"""OpenAI-style request logs (``openai-jsonl``) and OpenAI Batch API output files (``openai-batch``).

``openai-jsonl``: one JSON object per line, either a logged pair
``{"request": {chat request body}, "response": {chat.completion object}, ...}`` or a bare
``chat.completion`` object. Field names are OpenAI's (Chat Completions API reference): ``id``,
``created`` (epoch seconds), ``model``, ``choices``, ``usage.prompt_tokens``,
``usage.completion_tokens``, ``usage.prompt_tokens_details.cached_tokens``; the Responses API's
``usage.input_tokens`` / ``output_tokens`` / ``input_tokens_details.cached_tokens`` and Anthropic's
``usage.cache_read_input_tokens`` / ``cache_creation_input_tokens`` (split by TTL in
``cache_creation.ephemeral_5m_input_tokens`` / ``ephemeral_1h_input_tokens``; OpenAI's cache writes are
``prompt_tokens_details.cache_write_tokens``, audio ``prompt_tokens_details.audio_tokens`` and
``completion_tokens_details.audio_tokens``, images ``prompt_tokens_details.image_tokens``) (where ``input_tokens`` excludes
the cache) are read too, and so are the Realtime API's ``input_token_details`` / ``output_token_details``
(per modality, cached split in ``cached_tokens_details``), Gemini's ``usageMetadata`` (a bare
``generateContent`` response: ``responseId``, ``modelVersion``) and the billed tier (``service_tier``;
Anthropic ``usage.service_tier`` and ``usage.inference_geo``). Optional top-level keys a logger adds: ``request_id``, ``timestamp`` (ISO
8601 or epoch), ``tenant``, ``feature``, ``user``, ``status``, ``status_code``, ``latency_ms``,
``attempt``, ``quality``, ``tags``; ``tenant`` / ``feature`` / ``user`` are also read from the
request's ``metadata`` object and ``user`` field.

``openai-batch``: the Batch API output/error file (``BatchRequestOutput``): ``{"id", "custom_id",
"response": {"status_code", "request_id", "body": {chat.completion}}, "error": {"code",
"message"}}``. Failed requests have no timestamp or model and are reported as rejected rows, with
OpenAI's error. Kept rows carry ``{"custom_id", "batch_request_id", "batch": true}`` in ``tags``.
"""
from __future__ import annotations

import polars as pl

from workbench.io.traffic.formats import (
    FORMATS, S, Cols, Context, Format, http_status, jpath, number, tags_json, token_sum,
)

USAGE = pl.Struct({
    "prompt_tokens": S,
    "completion_tokens": S,
    "total_tokens": S,
    "prompt_tokens_details": pl.Struct({"cached_tokens": S, "cache_write_tokens": S, "audio_tokens": S,
                                        "image_tokens": S, "cache_creation_token_details": pl.Struct(
                                            {"ephemeral_5m_input_tokens": S, "ephemeral_1h_input_tokens": S})}),
    "completion_tokens_details": pl.Struct({"audio_tokens": S}),
    "input_tokens": S,
    "output_tokens": S,
    "input_tokens_details": pl.Struct({"cached_tokens": S, "cache_write_tokens": S}),
    "cache_read_input_tokens": S,
    "cache_creation_input_tokens": S,
    "cache_creation": pl.Struct({"ephemeral_5m_input_tokens": S, "ephemeral_1h_input_tokens": S}),
    "service_tier": S, "inference_geo": S,   # Anthropic: standard | priority | batch; "us" for US-only inference
    # Realtime API (response.done): input_tokens include the cached ones; details per modality
    "input_token_details": pl.Struct({"cached_tokens": S, "text_tokens": S, "audio_tokens": S, "image_tokens": S,
                                      "cached_tokens_details": pl.Struct({"text_tokens": S, "audio_tokens": S,
                                                                          "image_tokens": S})}),
    "output_token_details": pl.Struct({"text_tokens": S, "audio_tokens": S}),
})
#: Gemini ``usageMetadata`` (generateContent): counts per modality are lists of {modality, tokenCount}
GEMINI_USAGE = pl.Struct({
    "promptTokenCount": S, "cachedContentTokenCount": S, "candidatesTokenCount": S, "thoughtsTokenCount": S,
    "toolUsePromptTokenCount": S, "promptTokensDetails": S, "cacheTokensDetails": S, "candidatesTokensDetails": S,
})

COMPLETION = pl.Struct({
    "id": S, "object": S, "created": S, "model": S, "usage": USAGE, "choices": S, "output": S, "error": S,
    "service_tier": S, "usageMetadata": GEMINI_USAGE, "modelVersion": S, "responseId": S, "candidates": S,
})

JSONL_SCHEMA = {
    "request_id": S, "id": S, "custom_id": S,
    "timestamp": S, "ts": S, "created_at": S, "created": S,
    "model": S, "tenant": S, "feature": S, "user": S, "status": S, "status_code": S,
    "latency_ms": S, "duration_ms": S, "attempt": S, "quality": S, "tags": S, "metadata": S,
    "system_prompt_hash": S, "prompt": S, "messages": S, "choices": S, "error": S,
    "usage": USAGE, "service_tier": S,
    "usageMetadata": GEMINI_USAGE, "modelVersion": S, "responseId": S, "createTime": S, "candidates": S,
    "request": pl.Struct({"model": S, "messages": S, "input": S, "prompt": S, "user": S, "metadata": S}),
    "response": COMPLETION,
}

BATCH_SCHEMA = {
    "id": S, "custom_id": S, "error": S,
    "response": pl.Struct({"status_code": S, "request_id": S, "body": COMPLETION}),
}


def usage_columns(c: Cols, *prefixes: str) -> dict[str, pl.Expr]:
    """Canonical token columns from the first ``usage`` object present under ``prefixes``."""
    def u(field: str) -> pl.Expr:
        return c.first(*(f"{p}.{field}" for p in prefixes))

    anthropic_input = token_sum(u("input_tokens"), u("cache_read_input_tokens"), u("cache_creation_input_tokens"))
    has_details = u("input_tokens_details.cached_tokens").is_not_null()
    return dict(
        # OpenAI prompt_tokens and Responses input_tokens include cached tokens; Anthropic's do not.
        input_tokens=pl.coalesce(
            u("prompt_tokens"),
            pl.when(has_details | u("cache_read_input_tokens").is_null() & u("cache_creation_input_tokens").is_null())
            .then(u("input_tokens")).otherwise(anthropic_input),
        ),
        cached_input_tokens=pl.coalesce(
            u("prompt_tokens_details.cached_tokens"), u("input_tokens_details.cached_tokens"),
            u("input_token_details.cached_tokens"), u("cache_read_input_tokens")),
        # OpenAI (from GPT-5.6) reports cache writes in the details; Anthropic in cache_creation_input_tokens,
        # split by TTL in cache_creation.ephemeral_5m_input_tokens / ephemeral_1h_input_tokens
        cache_write_tokens=pl.coalesce(
            u("prompt_tokens_details.cache_write_tokens"), u("input_tokens_details.cache_write_tokens"),
            u("cache_creation_input_tokens")),
        cache_write_long_tokens=pl.coalesce(u("cache_creation.ephemeral_1h_input_tokens"),
                                            u("prompt_tokens_details.cache_creation_token_details.ephemeral_1h_input_tokens")),
        audio_input_tokens=pl.coalesce(u("prompt_tokens_details.audio_tokens"),
                                       _less(u("input_token_details.audio_tokens"),
                                             u("input_token_details.cached_tokens_details.audio_tokens"))),
        cached_audio_input_tokens=u("input_token_details.cached_tokens_details.audio_tokens"),
        audio_output_tokens=pl.coalesce(u("completion_tokens_details.audio_tokens"),
                                        u("output_token_details.audio_tokens")),
        # cached image tokens (Realtime) stay with the cached text tokens: no sheet prices them apart
        image_input_tokens=pl.coalesce(u("prompt_tokens_details.image_tokens"),
                                       _less(u("input_token_details.image_tokens"),
                                             u("input_token_details.cached_tokens_details.image_tokens"))),
        output_tokens=pl.coalesce(u("completion_tokens"), u("output_tokens")),
    )


def _less(whole: pl.Expr, part: pl.Expr) -> pl.Expr:
    """``whole - part`` of two counts given as text (null when ``whole`` is; a missing part is 0)."""
    return pl.when(whole.is_not_null()).then(
        (number(whole) - number(part).fill_null(0)).cast(pl.Int64, strict=False).cast(S))


def _modality(text: pl.Expr, kind: str) -> pl.Expr:
    """Tokens of one modality in a Gemini ``[{"modality": "AUDIO", "tokenCount": n}, …]`` list (JSON text)."""
    return jpath(text, f"$[?(@.modality=='{kind}')].tokenCount")


def gemini_columns(c: Cols, *prefixes: str) -> dict[str, pl.Expr]:
    """Token columns from a Gemini ``usageMetadata`` (Gemini API / Vertex AI ``GenerateContentResponse``).

    ``promptTokenCount`` includes the cached content (``cachedContentTokenCount``) and tool-use prompts are
    counted apart (``toolUsePromptTokenCount``, billed as input); thinking tokens
    (``thoughtsTokenCount``) are billed as output beside ``candidatesTokenCount``. Audio is billed at its own
    rate: the AUDIO entries of ``promptTokensDetails`` (whole prompt) less those of ``cacheTokensDetails``
    (cached audio), and of ``candidatesTokensDetails`` (audio output). Image and video input are billed at the
    text rate by Gemini, so they stay text here."""
    def u(field: str) -> pl.Expr:
        return c.first(*(f"{p}.{field}" for p in prefixes))

    prompt_audio, cached_audio = _modality(u("promptTokensDetails"), "AUDIO"), _modality(u("cacheTokensDetails"), "AUDIO")
    return dict(
        input_tokens=token_sum(u("promptTokenCount"), u("toolUsePromptTokenCount")),
        cached_input_tokens=u("cachedContentTokenCount"),
        audio_input_tokens=_less(prompt_audio, cached_audio),
        cached_audio_input_tokens=cached_audio,
        audio_output_tokens=_modality(u("candidatesTokensDetails"), "AUDIO"),
        output_tokens=token_sum(u("candidatesTokenCount"), u("thoughtsTokenCount")),
    )


def tier_column(c: Cols, *prefixes: str) -> pl.Expr:
    """The billed service tier: OpenAI's response ``service_tier`` (default | flex | priority | scale),
    Anthropic's ``usage.service_tier`` (standard | priority | batch) and ``usage.inference_geo`` ("us" =
    US-only inference, the sheets' ``us_only`` tier). Standard words become null in validation."""
    geo = c.first(*(f"{p}.usage.inference_geo" if p else "usage.inference_geo" for p in prefixes))
    return pl.coalesce(pl.when(geo.str.to_lowercase() == "us").then(pl.lit("us_only")),
                       c.first(*(f"{p}.service_tier" if p else "service_tier" for p in prefixes)),
                       c.first(*(f"{p}.usage.service_tier" if p else "usage.service_tier" for p in prefixes)))


def extract_jsonl(df: pl.DataFrame, ctx: Context) -> pl.DataFrame:
    c = Cols(df)
    meta = pl.coalesce(c("request.metadata"), c("metadata"))
    error = pl.coalesce(c("error"), c("response.error"))
    return df.select(
        "_line",
        request_id=c.first("request_id", "id", "response.id", "custom_id", "responseId", "response.responseId"),
        ts=c.first("timestamp", "ts", "created_at", "created", "response.created", "createTime"),
        tenant=pl.coalesce(c("tenant"), jpath(meta, "$.tenant")),
        feature=pl.coalesce(c("feature"), jpath(meta, "$.feature")),
        user=pl.coalesce(c("user"), c("request.user"), jpath(meta, "$.user")),
        model=c.first("response.model", "model", "request.model", "response.modelVersion", "modelVersion"),
        prompt=c.first("prompt", "messages", "request.messages", "request.input", "request.prompt"),
        system_prompt_hash=c("system_prompt_hash"),
        **_merge(usage_columns(c, "response.usage", "usage"), gemini_columns(c, "response.usageMetadata", "usageMetadata")),
        service_tier=tier_column(c, "response", ""),
        status=pl.coalesce(
            c("status"), http_status(c("status_code")),
            pl.when(error.is_not_null() & (error != "null")).then(pl.lit("error"))),
        latency_ms=c.first("latency_ms", "duration_ms"),
        attempt=c("attempt"),
        quality=c("quality"),
        tags=pl.coalesce(c("tags"), c("metadata")),
        _completion=c.first("response.choices", "choices", "response.output", "response.candidates", "candidates"),
    )


def _merge(first: dict[str, pl.Expr], second: dict[str, pl.Expr]) -> dict[str, pl.Expr]:
    """Column by column, the first source's value where it has one, else the second's."""
    return {k: pl.coalesce(first[k], second[k]) if k in second else first[k] for k in first} | \
        {k: v for k, v in second.items() if k not in first}


def _absent(c: Cols, path: str) -> pl.Expr:
    """True where a (possibly nested, possibly object) field is missing or null; no cast to text."""
    if not c.has(path):
        return pl.lit(True)
    parts = path.split(".")
    expr = pl.col(parts[0])
    for p in parts[1:]:
        expr = expr.struct.field(p)
    return expr.is_null()


def extract_batch(df: pl.DataFrame, ctx: Context) -> pl.DataFrame:
    c = Cols(df)
    body = "response.body"
    code = c("response.status_code")
    err = c("error")
    err_text = pl.coalesce(
        pl.format("{}: {}", jpath(err, "$.code"), jpath(err, "$.message")),
        jpath(err, "$.message"),
        pl.when(err != "null").then(err),
    )
    body_err = pl.coalesce(jpath(c(f"{body}.error"), "$.message"), c(f"{body}.error"))
    failed_http = code.is_not_null() & ~code.str.strip_chars().str.starts_with("2")
    reject = (pl.when(err_text.is_not_null()).then(pl.format("batch request failed: {}", err_text))
              .when(failed_http).then(pl.format("batch request failed with HTTP {}: {}", code,
                                                 pl.coalesce(body_err, pl.lit("no error message"))))
              .when(_absent(c, "response")).then(pl.lit("batch line has neither response nor error"))
              .when(_absent(c, body)).then(pl.lit("batch response has no body (no usage to price)")))
    return df.select(
        "_line",
        request_id=c.first("response.request_id", "id"),
        ts=c(f"{body}.created"),
        model=c(f"{body}.model"),
        **usage_columns(c, f"{body}.usage"),
        service_tier=tier_column(c, body),
        status=http_status(code),
        tags=tags_json(custom_id=c("custom_id"), batch_request_id=c("id"), batch=pl.lit(True)),
        _completion=c(f"{body}.choices"),
        _reject_field=pl.when(err_text.is_not_null()).then(pl.lit("error"))
        .when(~_absent(c, "response") & _absent(c, body) & ~failed_http).then(pl.lit("response.body"))
        .otherwise(pl.lit("response")),
        _reject_reason=reject,
    )


def _detect_jsonl(keys: frozenset[str]) -> bool:
    return bool(keys & {"usage", "response", "request", "choices", "usageMetadata"}) and "custom_id" not in keys


def _detect_batch(keys: frozenset[str]) -> bool:
    return "custom_id" in keys and bool(keys & {"response", "error"})


FORMATS.register(Format(
    name="openai-jsonl",
    description="OpenAI-style JSONL: request body + chat.completion response with usage (or bare completions)",
    kind="json",
    schema=JSONL_SCHEMA,
    extract=extract_jsonl,
    detect=_detect_jsonl,
    sources=("OpenAI API reference: Chat Completions object, usage.prompt_tokens_details.cached_tokens",),
))

FORMATS.register(Format(
    name="openai-batch",
    description="OpenAI Batch API output/error JSONL (custom_id, response.status_code/request_id/body, error)",
    kind="json",
    schema=BATCH_SCHEMA,
    extract=extract_batch,
    detect=_detect_batch,
    sources=("OpenAI API reference: BatchRequestOutput "
             "(id, custom_id, response{status_code, request_id, body}, error)",),
))
