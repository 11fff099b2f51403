"""Exports of LLM proxies and observability tools: LiteLLM spend logs, Langfuse, Helicone.

Each reads JSONL, a JSON array or CSV (the exports people have); nested values (``metadata``,
``usageDetails`` ...) arrive as JSON text either way and are read with JSON paths, so the same
mapping serves every container.

Field names and token conventions, with where they come from:

* **LiteLLM** ``LiteLLM_SpendLogs`` (BerriAI/litellm ``schema.prisma``; ``SpendLogsMetadata`` in
  ``litellm/proxy/_types.py``): ``request_id, call_type, api_key, spend, total_tokens,
  prompt_tokens, completion_tokens, startTime, endTime, request_duration_ms, model, model_group,
  custom_llm_provider, user, metadata, cache_hit, request_tags, team_id, organization_id,
  end_user, messages, response, session_id, status``. ``prompt_tokens`` is cache-inclusive (LiteLLM
  adds Anthropic's cache read and creation tokens to it); cached tokens are in
  ``metadata.additional_usage_values.prompt_tokens_details.cached_tokens`` (OpenAI) or
  ``.cache_read_input_tokens`` (Anthropic), cache writes in ``.cache_creation_input_tokens``.
  tenant = ``team_id`` (else the key's team alias, else ``organization_id``); user = ``end_user``
  (the request's OpenAI ``user`` field; LiteLLM's own ``user`` column is the key owner);
  feature = ``metadata.spend_logs_metadata.feature``.
* **Langfuse** observations / generations export (Langfuse public API ``Observation``; UI table
  export as CSV/JSON): ``id, traceId, type, name, startTime, endTime, model, input, output,
  usageDetails, usage, promptTokens, completionTokens, level, statusMessage, latency, userId,
  sessionId, environment, metadata``. Input tokens are the sum of the ``usageDetails`` keys that
  contain ``input`` (Langfuse's own rule; with the OpenAI schema ``input`` excludes
  ``input_cached_tokens``), output the sum of keys containing ``output``. feature = observation
  ``name``; observations of another ``type`` than GENERATION/EMBEDDING are rejected as not model calls.
* **Helicone** request export (``HeliconeRequest`` in Helicone/helicone; ``@helicone/export`` CLI
  CSV columns): ``request_id, request_created_at, request_body, request_user_id,
  request_properties, request_model, response_model, model, response_status, response_created_at,
  delay_ms, latency, prompt_tokens, prompt_cache_read_tokens, prompt_cache_write_tokens,
  completion_tokens, costUSD, cost, feedback_rating, provider``. Helicone's ``prompt_tokens`` are the
  uncached ones (its cost code prices cache reads/writes separately), so input = prompt + cache
  read + cache write. tenant / feature come from the custom properties ``tenant`` / ``feature``
  (``Helicone-Property-Tenant`` headers).
"""
from __future__ import annotations

import io
import json

import polars as pl

from workbench.io.traffic.formats import (
    FORMATS, S, Cols, Context, Format, blank_to_null, http_status, jpath, tags_json, token_sum,
)

LITELLM_FIELDS = (
    "request_id", "call_type", "api_key", "spend", "total_tokens", "prompt_tokens", "completion_tokens",
    "startTime", "endTime", "completionStartTime", "request_duration_ms", "model", "model_id", "model_group",
    "custom_llm_provider", "api_base", "user", "metadata", "cache_hit", "cache_key", "request_tags", "team_id",
    "organization_id", "end_user", "requester_ip_address", "messages", "response", "session_id", "status",
)
LANGFUSE_FIELDS = (
    "id", "traceId", "type", "name", "startTime", "endTime", "completionStartTime", "model", "modelParameters",
    "input", "output", "usage", "usageDetails", "costDetails", "level", "statusMessage", "latency",
    "timeToFirstToken", "promptTokens", "completionTokens", "totalTokens", "userId", "sessionId",
    "environment", "metadata", "promptName", "version", "parentObservationId", "calculatedTotalCost",
)
HELICONE_FIELDS = (
    "request_id", "request_created_at", "request_body", "request_path", "request_user_id", "request_properties",
    "request_model", "model_override", "response_id", "response_created_at", "response_body", "response_status",
    "response_model", "helicone_user", "provider", "delay_ms", "latency", "time_to_first_token", "total_tokens",
    "prompt_tokens", "prompt_cache_write_tokens", "prompt_cache_read_tokens", "completion_tokens",
    "prompt_audio_tokens", "completion_audio_tokens", "costUSD", "cost", "properties", "model",
    "feedback_rating", "scores", "target_url",
)


def _empty_json(expr: pl.Expr) -> pl.Expr:
    e = blank_to_null(expr)
    return pl.when(e.is_in(["{}", "[]", "null"])).then(None).otherwise(e)


# --------------------------------------------------------------------------------------- LiteLLM


def extract_litellm(df: pl.DataFrame, ctx: Context) -> pl.DataFrame:
    c = Cols(df)
    meta = c("metadata")

    def aux(path: str) -> pl.Expr:
        return pl.coalesce(jpath(meta, f"$.additional_usage_values.{path}"), jpath(meta, f"$.usage_object.{path}"))

    status = pl.coalesce(c("status"), jpath(meta, "$.status")).str.to_lowercase()
    return df.select(
        "_line",
        request_id=c("request_id"),
        ts=c("startTime"),
        _end_ts=c("endTime"),
        tenant=pl.coalesce(blank_to_null(c("team_id")), jpath(meta, "$.user_api_key_team_id"),
                           jpath(meta, "$.user_api_key_team_alias"), blank_to_null(c("organization_id"))),
        feature=jpath(meta, "$.spend_logs_metadata.feature"),
        user=blank_to_null(c("end_user")),
        model=c.first("model", "model_group"),
        prompt=_empty_json(c("messages")),
        input_tokens=c("prompt_tokens"),
        cached_input_tokens=pl.coalesce(aux("prompt_tokens_details.cached_tokens"), aux("cache_read_input_tokens")),
        cache_write_tokens=aux("cache_creation_input_tokens"),
        # LiteLLM's Usage: TTL split in prompt_tokens_details.cache_creation_token_details, audio in the
        # details (image tokens are not mapped: Gemini, the provider that reports them, bills them as text)
        cache_write_long_tokens=pl.coalesce(
            aux("prompt_tokens_details.cache_creation_token_details.ephemeral_1h_input_tokens"),
            aux("cache_creation.ephemeral_1h_input_tokens")),
        audio_input_tokens=aux("prompt_tokens_details.audio_tokens"),
        audio_output_tokens=aux("completion_tokens_details.audio_tokens"),
        service_tier=pl.coalesce(aux("service_tier"), jpath(meta, "$.service_tier")),
        output_tokens=c("completion_tokens"),
        status=pl.when(status.is_in(["success", "ok"])).then(pl.lit("ok"))
        .when(status.is_in(["failure", "failed", "error"])).then(pl.lit("error")).otherwise(status),
        latency_ms=c("request_duration_ms"),
        tags=tags_json(request_tags=_empty_json(c("request_tags")), spend_usd=c("spend"), call_type=c("call_type"),
                       cache_hit=c("cache_hit"), provider=c("custom_llm_provider"), session_id=c("session_id"),
                       api_key_hash=c("api_key")),
        _completion=_empty_json(c("response")),
    )


def _detect_litellm(keys: frozenset[str]) -> bool:
    return "call_type" in keys or {"startTime", "spend", "request_id"} <= keys


# -------------------------------------------------------------------------------------- Langfuse


def _decode_maps(texts: pl.Series) -> pl.DataFrame:
    """JSON objects with arbitrary keys (one per row) as a frame of text columns, one per key seen.

    Parsed in one vectorised pass (the texts as JSON lines); rows that are not JSON objects (a
    malformed CSV cell) come back empty, so their usage falls back to the other columns.
    """
    lines = texts.fill_null("{}").str.replace_all("\n", " ", literal=True)
    ok = lines.str.json_path_match("$").is_not_null() & lines.str.strip_chars().str.starts_with("{")
    lines = pl.select(pl.when(ok).then(lines).otherwise(pl.lit("{}"))).to_series()
    try:
        decoded = pl.read_ndjson(io.BytesIO("\n".join(lines.to_list()).encode()), infer_schema_length=None)
    except Exception:  # noqa: BLE001 - mixed value types across rows: read every value as text
        decoded = pl.DataFrame([{k: None if v is None else str(v) for k, v in json.loads(t).items()}
                                for t in lines.to_list()], infer_schema_length=None)
    if decoded.height != len(texts):
        return pl.DataFrame()
    return decoded.select(pl.all().cast(S, strict=False)) if decoded.width else decoded


def _usage_details(df: pl.DataFrame) -> dict[str, pl.Expr]:
    """Token columns from ``usageDetails`` (a JSON map of arbitrary usage types)."""
    if "usageDetails" not in df.columns or df["usageDetails"].null_count() == df.height:
        return {}
    decoded = _decode_maps(df["usageDetails"])
    if decoded.width == 0 or decoded.height != df.height:
        return {}

    def total(pred) -> pl.Expr | None:
        chosen = [k for k in decoded.columns if pred(k.lower())]
        if not chosen:
            return None
        return token_sum(*(pl.lit(decoded[k]) for k in chosen))

    out = {
        "input_tokens": total(lambda k: "input" in k and "total" not in k),
        "output_tokens": total(lambda k: "output" in k and "total" not in k),
        "cached_input_tokens": total(lambda k: "cache_read" in k or "cached" in k),
        "cache_write_tokens": total(lambda k: "cache_creation" in k or "cache_write" in k),
        # long-TTL writes (Anthropic 1 hour: e.g. "input_cache_creation_1h"), audio in and out (OpenAI's
        # details flattened: "input_audio_tokens", "output_audio_tokens"; cached audio "input_cached_audio…")
        "cache_write_long_tokens": total(lambda k: ("cache_creation" in k or "cache_write" in k) and "1h" in k),
        "audio_input_tokens": total(lambda k: "input" in k and "audio" in k and "cache" not in k),
        "cached_audio_input_tokens": total(lambda k: "input" in k and "audio" in k
                                           and ("cache_read" in k or "cached" in k)),
        "audio_output_tokens": total(lambda k: "output" in k and "audio" in k),
    }
    return {k: v for k, v in out.items() if v is not None}


def extract_langfuse(df: pl.DataFrame, ctx: Context) -> pl.DataFrame:
    c = Cols(df)
    details = _usage_details(df)
    usage = c("usage")
    kind = c("type").str.to_uppercase()
    level = c("level").str.to_uppercase()
    latency_s = c("latency").str.strip_chars().cast(pl.Float64, strict=False)
    return df.select(
        "_line",
        request_id=c("id"),
        ts=c("startTime"),
        _end_ts=c("endTime"),
        tenant=jpath(c("metadata"), "$.tenant"),
        feature=c.first("name", "promptName"),
        user=c("userId"),
        model=c("model"),
        prompt=_empty_json(c("input")),
        input_tokens=pl.coalesce(details.get("input_tokens", pl.lit(None, S)), jpath(usage, "$.input"),
                                 c("promptTokens")),
        cached_input_tokens=details.get("cached_input_tokens", pl.lit(None, S)),
        cache_write_tokens=details.get("cache_write_tokens", pl.lit(None, S)),
        **{k: details[k] for k in ("cache_write_long_tokens", "audio_input_tokens", "cached_audio_input_tokens",
                                   "audio_output_tokens") if k in details},
        service_tier=pl.coalesce(jpath(c("metadata"), "$.service_tier"), jpath(c("modelParameters"), "$.service_tier")),
        output_tokens=pl.coalesce(details.get("output_tokens", pl.lit(None, S)), jpath(usage, "$.output"),
                                  c("completionTokens")),
        status=pl.when(level == "ERROR").then(pl.lit("error")).otherwise(pl.lit("ok")),
        latency_ms=(latency_s * 1000).cast(S),
        tags=tags_json(trace_id=c("traceId"), session_id=c("sessionId"), environment=c("environment"),
                       type=c("type"), status_message=c("statusMessage")),
        _completion=_empty_json(c("output")),
        _reject_field=pl.lit("type"),
        _reject_reason=pl.when(kind.is_not_null() & ~kind.is_in(["GENERATION", "EMBEDDING"]))
        .then(pl.format("observation type '{}' is not a model call", c("type"))),
    )


def _detect_langfuse(keys: frozenset[str]) -> bool:
    return "traceId" in keys or "usageDetails" in keys or {"startTime", "promptTokens"} <= keys


# -------------------------------------------------------------------------------------- Helicone


def extract_helicone(df: pl.DataFrame, ctx: Context) -> pl.DataFrame:
    c = Cols(df)
    props = pl.coalesce(_empty_json(c("request_properties")), _empty_json(c("properties")))
    body = c("request_body")
    rating = c("feedback_rating").str.to_lowercase()
    return df.select(
        "_line",
        request_id=c.first("request_id", "response_id"),
        ts=c.first("request_created_at", "response_created_at"),
        _end_ts=c("response_created_at"),
        tenant=pl.coalesce(jpath(props, "$.tenant"), jpath(props, "$.Tenant")),
        feature=pl.coalesce(jpath(props, "$.feature"), jpath(props, "$.Feature")),
        user=c("request_user_id"),
        model=c.first("model", "model_override", "response_model", "request_model"),
        # an Anthropic body keeps its top-level "system" prompt, so it is stored whole
        prompt=pl.when(jpath(body, "$.system").is_not_null()).then(body)
        .otherwise(pl.coalesce(jpath(body, "$.messages"), jpath(body, "$.prompt"), jpath(body, "$.input"),
                               _empty_json(body))),
        # Helicone's prompt_tokens exclude cache reads, writes and audio, and completion_tokens exclude
        # audio: its cost code (packages/cost costOfPrompt) adds each kind at its own rate
        input_tokens=token_sum(c("prompt_tokens"), c("prompt_cache_read_tokens"), c("prompt_cache_write_tokens"),
                               c("prompt_audio_tokens")),
        cached_input_tokens=c("prompt_cache_read_tokens"),
        cache_write_tokens=c("prompt_cache_write_tokens"),
        audio_input_tokens=c("prompt_audio_tokens"),
        audio_output_tokens=c("completion_audio_tokens"),
        output_tokens=token_sum(c("completion_tokens"), c("completion_audio_tokens")),
        status=http_status(c("response_status")),
        latency_ms=c.first("delay_ms", "latency"),
        quality=pl.when(rating.is_in(["true", "1"])).then(pl.lit("1"))
        .when(rating.is_in(["false", "0"])).then(pl.lit("0")),
        tags=tags_json(provider=c("provider"), cost_usd=c.first("costUSD", "cost"), response_id=c("response_id"),
                       properties=props),
        _completion=_empty_json(c("response_body")),
    )


def _detect_helicone(keys: frozenset[str]) -> bool:
    return bool(keys & {"request_created_at", "response_created_at", "prompt_cache_read_tokens", "helicone_user"})


for _name, _fields, _extract, _detect, _desc, _src in (
    ("litellm", LITELLM_FIELDS, extract_litellm, _detect_litellm,
     "LiteLLM proxy spend logs (LiteLLM_SpendLogs rows as JSONL, JSON or CSV)",
     "BerriAI/litellm schema.prisma model LiteLLM_SpendLogs; SpendLogsMetadata.additional_usage_values"),
    ("langfuse", LANGFUSE_FIELDS, extract_langfuse, _detect_langfuse,
     "Langfuse observations/generations export (JSONL, JSON or CSV)",
     "Langfuse public API Observation (usageDetails, startTime, traceId ...); UI table export"),
    ("helicone", HELICONE_FIELDS, extract_helicone, _detect_helicone,
     "Helicone request export (JSONL, JSON or CSV)",
     "Helicone/helicone HeliconeRequest type; examples/export CSV columns"),
):
    FORMATS.register(Format(
        name=_name, description=_desc, kind="json|csv", schema={f: S for f in _fields},
        extract=_extract, detect=_detect, sources=(_src,),
    ))
