"""The canonical request schema: one row per model call, validated once at the io boundary.

Everything downstream (attribution, replay, apps) reads these columns and nothing else. Columns
carry their unit in the name. Token convention as in :mod:`workbench.core.cost`: ``input_tokens``
is the whole prompt and includes ``cached_input_tokens`` and ``cache_write_tokens``.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Column:
    name: str
    dtype: str          # pandas dtype the loaders produce
    required: bool
    description: str


COLUMNS: tuple[Column, ...] = (
    Column("request_id", "string", True, "unique id of the call (a retry is its own row with its own id)"),
    Column("ts", "datetime64[ns, UTC]", True, "when the request was sent, UTC"),
    Column("tenant", "string", False, "customer / organisation the call is billed to"),
    Column("feature", "string", False, "product feature that made the call"),
    Column("user", "string", False, "end user id"),
    Column("model", "string", True, "model id or alias as logged (resolved against the price book)"),
    Column("prompt", "string", False, "prompt text or JSON chat messages, when the log has it"),
    Column("system_prompt_hash", "string", False, "hash of the system prompt (groups shared prefixes)"),
    Column("input_tokens", "int64", True, "whole prompt in tokens, cached and cache-write included"),
    Column("cached_input_tokens", "int64", True, "of input_tokens: served from the provider's prompt cache"),
    Column("cache_write_tokens", "int64", True, "of input_tokens: written to the provider's prompt cache"),
    Column("output_tokens", "int64", True, "generated tokens (reasoning tokens included)"),
    Column("status", "string", True, "ok | error | timeout | rate_limited | … (lower case)"),
    Column("latency_ms", "float64", False, "end-to-end latency in milliseconds"),
    Column("attempt", "int64", True, "1 for the first try, 2+ for retries of the same logical request"),
    Column("quality", "float64", False, "optional quality / success label in [0, 1]"),
    Column("tags", "string", False, "free tags, JSON object text"),
    Column("token_source", "string", True, "logged | counted (filled in by the token counter)"),
)

#: Optional token kinds billed at their own rates (issue 8). Each is a *part* of a column above and 0 when a
#: log does not report it, so old logs and files written before these columns existed load unchanged.
EXTRA_TOKEN_COLUMNS: tuple[Column, ...] = (
    Column("cache_write_long_tokens", "int64", False,
           "of cache_write_tokens: written with the long TTL (Anthropic 1 hour, OpenAI 12 hours); default 0"),
    Column("audio_input_tokens", "int64", False,
           "of input_tokens: uncached audio tokens, billed at the audio rate; default 0"),
    Column("cached_audio_input_tokens", "int64", False,
           "of cached_input_tokens: audio tokens read from the cache; default 0"),
    Column("audio_output_tokens", "int64", False, "of output_tokens: audio tokens; default 0"),
    Column("image_input_tokens", "int64", False,
           "of input_tokens: image tokens where billed apart from text; default 0"),
)
#: The service tier a request was billed at (OpenAI ``service_tier``, Anthropic ``usage.service_tier`` /
#: ``inference_geo``); null = standard. Priced by ``price_frame`` and the replay per request.
TIER_COLUMN = Column("service_tier", "string", False,
                     "standard (null) | flex | priority | regional | us_only … as the price sheet names the tier")
ALL_COLUMNS: tuple[Column, ...] = COLUMNS + EXTRA_TOKEN_COLUMNS + (TIER_COLUMN,)
EXTRA_TOKEN_NAMES: tuple[str, ...] = tuple(c.name for c in EXTRA_TOKEN_COLUMNS)

COLUMN_NAMES: tuple[str, ...] = tuple(c.name for c in COLUMNS)
REQUIRED: tuple[str, ...] = tuple(c.name for c in COLUMNS if c.required)
TOKEN_COLUMNS = ("input_tokens", "cached_input_tokens", "cache_write_tokens", "output_tokens")
#: Largest token count of one request that ingest accepts and replay prices (2**31 - 1, ~2.1e9, far
#: above any model's context). Replay keeps money in int64 pico-dollars: 2**31 tokens at $1,000 per
#: 1M tokens is 2.1e18 pUSD, under int64's 9.2e18, so no single request can overflow it. Ingest rejects
#: larger counts row by row (file, line, field), so whatever ingest accepts, replay accepts.
MAX_TOKENS_PER_REQUEST = 2**31 - 1


def schema_markdown() -> str:
    """The schema as a Markdown table (for the README and the apps' help)."""
    rows = "\n".join(f"| `{c.name}` | {c.dtype} | {'yes' if c.required else ''} | {c.description} |"
                     for c in ALL_COLUMNS)
    return "| column | type | required | meaning |\n|---|---|---|---|\n" + rows
