"""Token-only production traces: Azure LLM inference 2023, Mooncake (prefix-block hashes), BurstGPT.

None of them logs request ids (rows get ``<file name>:<line>``) or prompts.

* ``azure-2023`` (Azure/AzurePublicDataset ``data/AzureLLMInferenceTrace_{code,conv}.csv``):
  ``TIMESTAMP, ContextTokens, GeneratedTokens``. Timestamps carry no zone and are read as UTC.
  No model column: pass ``model=`` / ``--model``.
* ``mooncake`` (kvcache-ai/Mooncake ``FAST25-release/traces/*.jsonl``): ``timestamp`` (ms from the
  trace start), ``input_length``, ``output_length``, ``hash_ids`` (one id per 512-token prompt
  block; equal ids = shared prefix). ``tags`` keeps ``{"hash_ids": [...], "block_tokens": 512}`` for
  prefix-cache replay. Relative times are anchored at ``origin``. No model column.
* ``burstgpt`` (HPMLL/BurstGPT ``data/BurstGPT_*.csv``): ``Timestamp`` (s from the trace start),
  ``Model`` (``ChatGPT`` or ``GPT-4``), ``Request tokens``, ``Response tokens``, ``Total tokens``,
  ``Log Type``. ``ChatGPT`` is read as ``gpt-3.5-turbo`` and ``GPT-4`` as ``gpt-4`` (the trace is "a
  GPT-3.5 & GPT-4 workload"); the logged name and log type stay in ``tags``. Rows with 0 response
  tokens are the trace's failures: ``status = "error"``.
"""
from __future__ import annotations

import polars as pl

from workbench.io.traffic.formats import FORMATS, S, Cols, Context, Format, number, relative_ts, tags_json

#: Mooncake's prompt block size in tokens (FAST'25 trace README).
MOONCAKE_BLOCK_TOKENS = 512
#: BurstGPT's model names → model ids of the price sheets.
BURSTGPT_MODELS = {"ChatGPT": "gpt-3.5-turbo", "GPT-4": "gpt-4"}

AZURE_COLUMNS = ("TIMESTAMP", "ContextTokens", "GeneratedTokens")
BURSTGPT_COLUMNS = ("Timestamp", "Model", "Request tokens", "Response tokens", "Total tokens", "Log Type")
MOONCAKE_SCHEMA = {"timestamp": S, "input_length": S, "output_length": S, "hash_ids": S}
_INT_LIST_RE = r"^\[\s*(-?\d+\s*(,\s*-?\d+\s*)*)?\]$"


def extract_azure(df: pl.DataFrame, ctx: Context) -> pl.DataFrame:
    c = Cols(df)
    return df.select("_line", ts=c("TIMESTAMP"), input_tokens=c("ContextTokens"), output_tokens=c("GeneratedTokens"))


def extract_mooncake(df: pl.DataFrame, ctx: Context) -> pl.DataFrame:
    c = Cols(df)
    hashes = c("hash_ids")  # JSON text of the list, kept verbatim in tags
    bad_hashes = hashes.is_not_null() & ~hashes.str.contains(_INT_LIST_RE)
    return df.select(
        "_line",
        ts=relative_ts(c("timestamp"), ctx, "ms"),
        _ts_raw=c("timestamp"),
        input_tokens=c("input_length"),
        output_tokens=c("output_length"),
        tags=pl.concat_str([pl.lit('{"hash_ids":'), hashes.fill_null("null"),
                            pl.lit(f',"block_tokens":{MOONCAKE_BLOCK_TOKENS}}}')]),
        _reject_field=pl.lit("hash_ids"),
        _reject_reason=pl.when(bad_hashes).then(
            pl.format("wrong type: expected a list of integers, got {}", hashes.str.slice(0, 40))),
    )


def extract_burstgpt(df: pl.DataFrame, ctx: Context) -> pl.DataFrame:
    c = Cols(df)
    logged = c("Model").str.strip_chars()
    response = c("Response tokens")
    return df.select(
        "_line",
        ts=relative_ts(c("Timestamp"), ctx, "s"),
        _ts_raw=c("Timestamp"),
        model=logged.replace(BURSTGPT_MODELS),
        input_tokens=c("Request tokens"),
        output_tokens=response,
        status=pl.when(number(response) == 0).then(pl.lit("error")).otherwise(pl.lit("ok")),
        tags=tags_json(logged_model=logged, log_type=c("Log Type")),
    )


FORMATS.register(Format(
    name="azure-2023", description="Azure LLM inference trace 2023 (TIMESTAMP, ContextTokens, GeneratedTokens)",
    kind="csv", extract=extract_azure, token_only=True,
    detect=lambda keys: set(AZURE_COLUMNS) <= keys,
    sources=("Azure/AzurePublicDataset AzureLLMInferenceTrace_{code,conv}.csv (Splitwise, ISCA'24)",),
))
FORMATS.register(Format(
    name="mooncake", description="Mooncake trace JSONL (timestamp ms, input_length, output_length, hash_ids)",
    kind="json", schema=MOONCAKE_SCHEMA, extract=extract_mooncake, token_only=True, relative_time=True,
    detect=lambda keys: {"input_length", "output_length"} <= keys,
    sources=("kvcache-ai/Mooncake FAST25-release/README.md (trace format)",),
))
FORMATS.register(Format(
    name="burstgpt", description="BurstGPT trace CSV (Timestamp s, Model, Request/Response tokens, Log Type)",
    kind="csv", extract=extract_burstgpt, relative_time=True,
    detect=lambda keys: {"Timestamp", "Request tokens", "Response tokens"} <= keys,
    sources=("HPMLL/BurstGPT README.md (schema)",),
))
