"""Turn a format's staged rows into canonical rows, vectorised, with a reason for every rejected row.

A format's extractor produces a polars frame whose columns are canonical names (any subset, any
type: text straight from the file is fine) plus ``_line`` and optionally ``_completion`` (reply text,
to count missing output tokens) and ``_reject_field`` / ``_reject_reason`` (format-level rejections,
e.g. a failed batch request). :class:`Validator` checks every column with whole-column expressions,
keeps state across chunks (duplicate ids, the file's time-zone style) and returns the rows that pass
with exactly the canonical columns (:func:`canonical`; :func:`to_pandas` gives the schema's pandas
dtypes), plus one :class:`Rejection` per row that does not.

Rules (each rejected row gets the first failing check, in this order):

* ``ts`` present, parseable (ISO 8601, or epoch seconds/ms/µs/ns by magnitude), and of the same
  time-zone style as the file's first timestamp: a file is either all naive (read as UTC) or all
  with offsets; rows of the other style are rejected as *mixed time zones*.
* ``model`` present (or given by ``model=``) and known to the price book.
* token columns are integers in [0, ``MAX_TOKENS_PER_REQUEST``] (``"12"`` and ``12.0`` are accepted; the
  schema's bound, which replay shares, so what ingest accepts replay accepts); missing
  ``input_tokens`` / ``output_tokens`` are counted from the prompt / reply text when the log has it,
  and those rows are tagged ``token_source = "counted"``; cached and cache-write tokens default to 0
  and may not exceed ``input_tokens``.
* ``latency_ms`` non-negative, ``attempt`` an integer >= 1 (default 1), ``quality`` in [0, 1].
* ``request_id`` unique across the file: later repeats are rejected; a missing id becomes
  ``<file name>:<line>`` (line zero-padded to 9 digits, so ids sort in file order).
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa

from workbench.core.prices import PriceBook, UnknownModelError
from workbench.core.schema import ALL_COLUMNS as COLUMNS, EXTRA_TOKEN_NAMES, MAX_TOKENS_PER_REQUEST, TOKEN_COLUMNS
from workbench.io.traffic import _duck
from workbench.io.traffic.counting import fill_missing_counts
from workbench.io.traffic.result import Rejection, StrictError

TEXT_COLUMNS = ("request_id", "tenant", "feature", "user", "model", "prompt", "system_prompt_hash",
                "status", "tags", "token_source", "_completion", "_reject_field", "_reject_reason", "service_tier")
#: Logged service-tier words that mean the standard price (OpenAI "default"/"auto", Anthropic "standard");
#: Anthropic's "batch" (the Batch API) is kept: ``price_frame`` and the replay bill it at batch prices.
TIER_SYNONYMS = {"default": None, "auto": None, "standard": None, "on_demand": None}
TOKEN_SOURCES = ("logged", "counted")
#: Logged status words mapped to the schema's vocabulary (others are kept, lower-cased).
STATUS_SYNONYMS = {"success": "ok", "succeeded": "ok", "successful": "ok", "completed": "ok", "200": "ok",
                   "failure": "error", "failed": "error", "fail": "error", "timed_out": "timeout",
                   "rate_limit": "rate_limited", "ratelimited": "rate_limited", "429": "rate_limited"}
_OFFSET_RE = r"(?i)\d:\d{2}(:\d{2}(\.\d+)?)?\s*(z|[+-]\d{2}(:?\d{2})?)$"
_UTC_SUFFIX_RE = r"(?i)\s*(utc|gmt)$"
_EPOCH_RE = r"^-?\d+(\.\d+)?$"
_TS_MIN = pd.Timestamp.min.tz_localize("UTC")
_TS_MAX = pd.Timestamp.max.tz_localize("UTC")

_PL_TYPES = {"string": pl.String, "int64": pl.Int64, "float64": pl.Float64}
_PD_TYPES = {
    pa.large_string(): pd.StringDtype("pyarrow"),
    pa.string(): pd.StringDtype("pyarrow"),
    pa.string_view(): pd.StringDtype("pyarrow"),
}


def _empty_bad() -> pl.DataFrame:
    return pl.DataFrame(schema={"_line": pl.Int64, "field": pl.String, "reason": pl.String})


def _part_checks() -> list[tuple[pl.Expr, str, pl.Expr]]:
    """The optional token kinds are parts of a total: a part above its whole rejects the row."""
    def n(name: str) -> pl.Expr:
        return pl.col(f"_n_{name}").fill_null(0)

    out = []
    for part, whole in (("cache_write_long_tokens", "cache_write_tokens"),
                        ("cached_audio_input_tokens", "cached_input_tokens"),
                        ("audio_output_tokens", "output_tokens")):
        out.append((n(part) > n(whole), part,
                    pl.format(f"{part} ({{}}) exceed {whole} ({{}})", n(part).cast(pl.Int64), n(whole).cast(pl.Int64))))
    parts = n("cached_input_tokens") + n("cache_write_tokens") + n("audio_input_tokens") + n("image_input_tokens")
    out.append((pl.col("_n_input_tokens").is_not_null() & (parts > pl.col("_n_input_tokens")), "audio_input_tokens",
                pl.format("cached + cache-write + audio + image input tokens ({}) exceed input_tokens ({})",
                          parts.cast(pl.Int64), pl.col("_n_input_tokens").cast(pl.Int64))))
    return out


def empty_frame() -> pd.DataFrame:
    """A canonical frame with no rows."""
    return pd.DataFrame({c.name: pd.Series([], dtype=c.dtype) for c in COLUMNS})


def epoch_to_datetime(values: pl.Expr, whole: pl.Expr | None = None) -> pl.Expr:
    """Epoch numbers to UTC datetimes, unit chosen per value by magnitude (s, ms, µs, ns).

    ``whole``: the same values as exact integers where they are integers (null otherwise), so
    millisecond and nanosecond epochs are converted without float rounding.
    """
    v = values.cast(pl.Float64)
    a = v.abs()
    scale = (pl.when(a < 1e11).then(pl.lit(10**9, pl.Int64)).when(a < 1e14).then(pl.lit(10**6, pl.Int64))
             .when(a < 1e17).then(pl.lit(10**3, pl.Int64)).otherwise(pl.lit(1, pl.Int64)))
    base = v.floor()  # whole units exactly, then the fraction: no float rounding at ns scale
    approx = (base.cast(pl.Int64, strict=False) * scale
              + ((v - base) * scale.cast(pl.Float64)).round(0).cast(pl.Int64, strict=False))
    ns = approx if whole is None else pl.coalesce(whole.cast(pl.Int64, strict=False) * scale, approx)
    fits = (a * scale.cast(pl.Float64)) < 9.2e18  # int64 nanoseconds: beyond, the product would wrap
    return pl.when(fits).then(ns).cast(pl.Datetime("ns", "UTC"))


_SYSTEM_SQL = """
SELECT CASE WHEN v[1] IN ('system', 'developer') THEN v[2]
            WHEN v[4] IN ('system', 'developer') THEN v[5]
            ELSE v[3] END AS s
FROM (SELECT CASE WHEN json_valid(p) THEN
             json_extract_string(p, ['$[0].role', '$[0].content', '$.system', '$.messages[0].role',
                                     '$.messages[0].content']) END AS v
      FROM prompts)
"""


def system_prompt_text(prompts: pl.Series) -> pl.Series:
    """The system prompt inside chat messages (an OpenAI message list, or an Anthropic body with
    ``system``), or null; one JSON parse per prompt (DuckDB, vectorised)."""
    return _duck.run(_SYSTEM_SQL, prompts=_duck.text_table(p=prompts))["s"]


def add_system_prompt_hash(df: pl.DataFrame) -> pl.DataFrame:
    """Fill ``system_prompt_hash`` with the first 16 hex digits of SHA-256 of the system prompt text.

    The hash itself runs once per distinct system prompt.
    """
    need = df["system_prompt_hash"].is_null() & df["prompt"].is_not_null()
    if not need.any():
        return df
    texts = system_prompt_text(df["prompt"])
    uniques = texts.filter(need & texts.is_not_null()).unique().to_list()
    if not uniques:
        return df
    hashes = {t: hashlib.sha256(t.encode("utf-8")).hexdigest()[:16] for t in uniques}
    filled = pl.select(pl.when(pl.lit(need)).then(
        pl.lit(texts).replace_strict(hashes, default=None, return_dtype=pl.String))).to_series()
    return df.with_columns(system_prompt_hash=pl.coalesce(pl.col("system_prompt_hash"), pl.lit(filled)))


class Validator:
    """Checks staged chunks of one file; keeps the cross-chunk state (ids seen, time-zone style)."""

    def __init__(self, file: str, book: PriceBook, *, model: str | None = None, strict: bool = False):
        self.file = file
        self.name = Path(file).name
        self.book = book
        self.default_model = model
        self.strict = strict
        self.tz_style: str | None = None
        self._models: dict[str, str | None] = {}
        self._seen = pl.DataFrame(schema={"_h": pl.UInt64, "_line": pl.Int64})
        self.counted = 0

    # ------------------------------------------------------------------ helpers

    def _model_reason(self, name: str) -> str | None:
        if name not in self._models:
            try:
                self.book.resolve(name)
                self._models[name] = None
            except UnknownModelError as e:
                close = f"close matches: {', '.join(e.close)}" if e.close else "no close matches"
                self._models[name] = f"unknown model {name!r} ({close})"
        return self._models[name]

    @staticmethod
    def _timestamps(df: pl.DataFrame, src: str = "ts", out: str = "_ts", raw_col: str = "_ts_raw") -> pl.DataFrame:
        """Adds ``{out}`` (UTC datetime or null), ``{out}_style`` (aware/naive/null) and ``{out}_text``."""
        dtype = df.schema[src]
        col = pl.col(src)
        text_col = pl.col(raw_col).cast(pl.String) if raw_col in df.columns else col.cast(pl.String)
        style, text = f"{out}_style", f"{out}_text"
        if isinstance(dtype, pl.Datetime):
            ts = col.dt.convert_time_zone("UTC") if dtype.time_zone else col.dt.replace_time_zone("UTC")
            kind = pl.lit("aware" if dtype.time_zone else "naive")
            return df.with_columns(**{out: ts.dt.cast_time_unit("ns"),
                                      style: pl.when(col.is_not_null()).then(kind), text: text_col})
        if dtype.is_numeric():
            whole = col if dtype.is_integer() else None
            return df.with_columns(**{out: epoch_to_datetime(col, whole),
                                      style: pl.when(col.is_not_null()).then(pl.lit("aware")), text: text_col})
        df = df.with_columns(**{text: col.cast(pl.String).str.strip_chars()})
        t = pl.col(text)
        epoch = t.str.contains(_EPOCH_RE).fill_null(False)
        aware = t.str.contains(_OFFSET_RE) | t.str.contains(_UTC_SUFFIX_RE)
        df = df.with_columns(**{
            "_epoch": epoch,
            style: pl.when(t.is_null() | (t == "")).then(None).when(epoch | aware).then(pl.lit("aware"))
            .otherwise(pl.lit("naive")),
        })
        iso = df.select(pl.when(~pl.col("_epoch")).then(t.str.replace(_UTC_SUFFIX_RE, "+00:00"))).to_series()
        parsed = pd.to_datetime(iso.to_numpy(), format="ISO8601", utc=True, errors="coerce")
        in_range = (parsed >= _TS_MIN) & (parsed <= _TS_MAX)  # ns timestamps: years 1677-2262
        oob = pl.Series("_ts_oob", np.asarray(parsed.notna() & ~in_range))
        parsed = parsed.where(in_range).as_unit("ns")
        df = df.with_columns(_iso=pl.from_arrow(pa.array(parsed)).cast(pl.Datetime("ns", "UTC")), _ts_oob=oob)
        epoch_ts = epoch_to_datetime(t.cast(pl.Float64, strict=False), t.cast(pl.Int64, strict=False))
        return df.with_columns(**{out: pl.when(pl.col("_epoch")).then(epoch_ts).otherwise(pl.col("_iso"))}
                               ).drop("_epoch", "_iso")

    @staticmethod
    def _number(df: pl.DataFrame, name: str) -> tuple[pl.Expr, pl.Expr]:
        """(parsed Float64, present) for a column that may be text, numeric or boolean."""
        dtype = df.schema[name]
        col = pl.col(name)
        if dtype == pl.String:
            stripped = col.str.strip_chars()
            return stripped.cast(pl.Float64, strict=False), col.is_not_null() & (stripped != "")
        if dtype.is_numeric():
            return col.cast(pl.Float64), col.is_not_null()
        if dtype == pl.Null:
            return pl.lit(None, pl.Float64), pl.lit(False)
        return pl.lit(None, pl.Float64), col.is_not_null()  # booleans, lists...: wrong type

    # --------------------------------------------------------------------- main

    def __call__(
        self, staged: pl.DataFrame, parse_bad: list[tuple[int, str, str]] | None = None
    ) -> tuple[pl.DataFrame, list[Rejection]]:
        """Canonical rows (polars, canonical dtypes) and the rejections of one chunk."""
        df = self._normalise(staged)
        df = self._timestamps(df)
        if self.tz_style is None:
            styles = df.filter(pl.col("_ts").is_not_null())["_ts_style"]
            if len(styles):
                self.tz_style = styles[0]

        # numbers
        num: dict[str, pl.Expr] = {}
        present: dict[str, pl.Expr] = {}
        for name in (*TOKEN_COLUMNS, *EXTRA_TOKEN_NAMES, "latency_ms", "attempt", "quality"):
            num[name], present[name] = self._number(df, name)
        df = df.with_columns(
            *(num[n].alias(f"_n_{n}") for n in num), *(present[n].alias(f"_p_{n}") for n in num)
        )

        if "_end_ts" in df.columns:  # latency from an end timestamp when the log has no latency
            df = self._timestamps(df, "_end_ts", "_end", raw_col="")
            span = (pl.col("_end") - pl.col("_ts")).dt.total_microseconds() / 1000.0
            df = df.with_columns(_n_latency_ms=pl.coalesce(
                pl.col("_n_latency_ms"), pl.when(span >= 0).then(span)))

        # models
        if self.default_model is not None:
            df = df.with_columns(model=pl.coalesce(pl.col("model"), pl.lit(self.default_model)))
        names = df["model"].drop_nulls().unique().to_list()
        reasons = {m: self._model_reason(m) for m in names}
        bad_models = {m: r for m, r in reasons.items() if r}
        model_reason = (pl.col("model").replace_strict(bad_models, default=None, return_dtype=pl.String)
                        if bad_models else pl.lit(None, pl.String))

        def integral(n: str) -> pl.Expr:
            v = pl.col(f"_n_{n}")
            return v.is_not_null() & v.is_finite() & (v == v.floor())

        def bad_int(n: str) -> pl.Expr:
            return pl.col(f"_p_{n}") & ~integral(n)

        def raw_text(n: str) -> pl.Expr:
            return pl.col(n).cast(pl.String).str.slice(0, 40)

        checks: list[tuple[pl.Expr, str, pl.Expr]] = [
            (pl.col("_reject_reason").is_not_null(), "", pl.col("_reject_reason")),
            (pl.col("_ts_text").is_null() | (pl.col("_ts_text") == ""), "ts", pl.lit("missing timestamp")),
            (pl.col("_ts").is_null(), "ts",
             pl.when(pl.col("_ts_oob") if "_ts_oob" in df.columns else pl.lit(False))
             .then(pl.format("timestamp out of range '{}' (representable: 1677-09-22 to 2262-04-11)",
                             pl.col("_ts_text")))
             .otherwise(pl.format("unparseable timestamp '{}'", pl.col("_ts_text")))),
        ]
        if self.tz_style is not None:
            other = "naive" if self.tz_style == "aware" else "aware"
            msg = ("mixed time zones: timestamp '{}' has no UTC offset but the file's first timestamp has one"
                   if other == "naive" else
                   "mixed time zones: timestamp '{}' has a UTC offset but the file's first timestamp has none")
            checks.append((pl.col("_ts_style") == other, "ts", pl.format(msg, pl.col("_ts_text"))))
        checks += [
            (pl.col("model").is_null(), "model",
             pl.lit("missing model (pass --model / model= to assign one to rows without a model)")),
            (model_reason.is_not_null(), "model", model_reason),
        ]
        for n in (*TOKEN_COLUMNS, *EXTRA_TOKEN_NAMES):
            checks.append((bad_int(n), n, pl.format("not a whole number: {}", raw_text(n))))
            checks.append((pl.col(f"_n_{n}") < 0, n, pl.format("negative token count {}", raw_text(n))))
            checks.append((pl.col(f"_n_{n}") > MAX_TOKENS_PER_REQUEST, n,
                           pl.format(f"token count {{}} above the limit of {MAX_TOKENS_PER_REQUEST:,} per request",
                                     raw_text(n))))
        checks += [
            (~pl.col("_p_input_tokens") & pl.col("prompt").is_null(), "input_tokens",
             pl.lit("missing input token count and no prompt text to count")),
            (~pl.col("_p_output_tokens") & pl.col("_completion").is_null(), "output_tokens",
             pl.lit("missing output token count and no reply text to count")),
            ((pl.col("_n_cached_input_tokens").fill_null(0) + pl.col("_n_cache_write_tokens").fill_null(0)
              > pl.col("_n_input_tokens")), "cached_input_tokens",
             pl.format("cached_input_tokens + cache_write_tokens ({}) exceed input_tokens ({})",
                       (pl.col("_n_cached_input_tokens").fill_null(0)
                        + pl.col("_n_cache_write_tokens").fill_null(0)).cast(pl.Int64),
                       pl.col("_n_input_tokens").cast(pl.Int64))),
            *_part_checks(),
            (pl.col("_p_latency_ms") & (pl.col("_n_latency_ms").is_null() | ~pl.col("_n_latency_ms").is_finite()),
             "latency_ms", pl.format("not a number: {}", raw_text("latency_ms"))),
            (pl.col("_n_latency_ms") < 0, "latency_ms", pl.format("negative latency {}", raw_text("latency_ms"))),
            (bad_int("attempt") | (pl.col("_n_attempt") < 1), "attempt",
             pl.format("attempt must be an integer >= 1, got {}", raw_text("attempt"))),
            (pl.col("_p_quality") & ~pl.col("_n_quality").is_between(0, 1).fill_null(False), "quality",
             pl.format("quality must be a number in [0, 1], got {}", raw_text("quality"))),
            (pl.col("token_source").is_not_null() & ~pl.col("token_source").is_in(TOKEN_SOURCES), "token_source",
             pl.format("token_source must be logged or counted, got {}", raw_text("token_source"))),
        ]
        field_expr: pl.Expr = pl.lit(None, pl.String)
        reason_expr: pl.Expr = pl.lit(None, pl.String)
        for mask, fld, reason in reversed(checks):
            f = pl.col("_reject_field").fill_null("line") if fld == "" else pl.lit(fld)
            field_expr = pl.when(mask.fill_null(False)).then(f).otherwise(field_expr)
            reason_expr = pl.when(mask.fill_null(False)).then(reason).otherwise(reason_expr)
        df = df.with_columns(_bad_field=field_expr, _bad_reason=reason_expr)

        # typed values for the rows that pass
        df = df.with_columns(
            *(pl.col(f"_n_{n}").cast(pl.Int64, strict=False).alias(n) for n in TOKEN_COLUMNS),
            *(pl.col(f"_n_{n}").cast(pl.Int64, strict=False).fill_null(0).alias(n) for n in EXTRA_TOKEN_NAMES),
            latency_ms=pl.col("_n_latency_ms"),
            attempt=pl.col("_n_attempt").cast(pl.Int64, strict=False).fill_null(1),
            quality=pl.col("_n_quality"),
            token_source=pl.col("token_source").fill_null("logged"),  # a canonical file keeps its labels
        ).with_columns(
            cached_input_tokens=pl.col("cached_input_tokens").fill_null(0),
            cache_write_tokens=pl.col("cache_write_tokens").fill_null(0),
        )

        good = df.filter(pl.col("_bad_reason").is_null())
        bad = df.filter(pl.col("_bad_reason").is_not_null()).select(
            "_line", pl.col("_bad_field").alias("field"), pl.col("_bad_reason").alias("reason"))

        # slow path, only rows with a missing count: the token counter
        need = good.select((pl.col("input_tokens").is_null() | pl.col("output_tokens").is_null()).any()).item()
        if need:
            good, count_bad = fill_missing_counts(good, self.book)
            bad = pl.concat([bad, count_bad], how="vertical")

        good, dup_bad = self._dedupe(good)
        bad = pl.concat([bad, dup_bad], how="vertical")
        good = add_system_prompt_hash(good)

        rejections = self._rejections(bad, parse_bad or [])
        if self.strict and rejections:
            first = rejections[0]
            raise StrictError(first.file, first.line, first.field, first.reason)
        self.counted += int((good["token_source"] == "counted").sum())
        return canonical(good), rejections

    def _normalise(self, staged: pl.DataFrame) -> pl.DataFrame:
        exprs = []
        for c in COLUMNS:
            if c.name not in staged.columns:
                exprs.append(pl.lit(None, pl.String).alias(c.name))
        for name in ("_completion", "_reject_field", "_reject_reason"):
            if name not in staged.columns:
                exprs.append(pl.lit(None, pl.String).alias(name))
        df = staged.with_columns(exprs) if exprs else staged
        text = []
        for name in TEXT_COLUMNS:
            col = pl.col(name) if df.schema[name] == pl.String else pl.col(name).cast(pl.String)
            if name == "model":
                col = col.str.strip_chars()
            text.append(pl.when(col.str.contains(r"^\s*$")).then(None).otherwise(col).alias(name))
        df = df.with_columns(text)
        status = pl.col("status").str.strip_chars().str.to_lowercase()
        tier = pl.col("service_tier").str.strip_chars().str.to_lowercase()
        return df.with_columns(status=status.replace(STATUS_SYNONYMS).fill_null("ok"),
                               token_source=pl.col("token_source").str.strip_chars().str.to_lowercase(),
                               service_tier=pl.when(tier.is_in(list(TIER_SYNONYMS))).then(None).otherwise(tier))

    def _dedupe(self, good: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
        """Reject repeats of a request id, within the chunk and against earlier chunks.

        Ids are compared by a 64-bit hash (a cheap hash set of the ids kept so far). A false match
        has odds of about 3 in 10^8 for a million ids, and would be reported like any duplicate.
        """
        good = good.with_columns(request_id=pl.coalesce(
            pl.col("request_id"), pl.lit(self.name + ":") + pl.col("_line").cast(pl.String).str.zfill(9)))
        good = good.with_columns(_h=pl.col("request_id").hash(seed=7))
        maybe = ~pl.col("_h").is_first_distinct()
        if self._seen.height:
            maybe = maybe | pl.col("_h").is_in(self._seen["_h"].implode())
        cand = good.filter(maybe).select("_h", "_line", "request_id")
        if not cand.height:
            self._seen = pl.concat([self._seen, good.select("_h", "_line")])
            return good.drop("_h"), _empty_bad()
        here = (good.filter(pl.col("_h").is_in(cand["_h"].implode()))
                .group_by("_h").agg(pl.col("_line").min().alias("_here")))
        cand = (cand.join(here, on="_h", how="left")
                .join(self._seen.rename({"_line": "_before"}), on="_h", how="left")
                .with_columns(_first=pl.coalesce("_before", "_here"))
                .filter(pl.col("_line") != pl.col("_first")))
        keep = good.filter(~pl.col("_line").is_in(cand["_line"].implode()))
        self._seen = pl.concat([self._seen, keep.select("_h", "_line")])
        dup = cand.select(
            "_line", pl.lit("request_id").alias("field"),
            pl.format("duplicate request_id '{}' (first seen on line {})", pl.col("request_id"), pl.col("_first"))
            .alias("reason"))
        return keep.drop("_h"), dup

    def _rejections(self, bad: pl.DataFrame, parse_bad: list[tuple[int, str, str]]) -> list[Rejection]:
        rows = list(zip(bad["_line"].to_list(), bad["field"].to_list(), bad["reason"].to_list()))
        rows += parse_bad
        rows.sort(key=lambda r: r[0])
        return [Rejection(self.file, int(line), str(fld), str(reason)) for line, fld, reason in rows]


def canonical(good: pl.DataFrame) -> pl.DataFrame:
    """Exactly the canonical columns, in order, with their polars types (``ts`` in ns, UTC)."""
    exprs = []
    for c in COLUMNS:
        if c.name == "ts":
            exprs.append(pl.col("_ts").cast(pl.Datetime("ns", "UTC")).alias("ts"))
        else:
            exprs.append(pl.col(c.name).cast(_PL_TYPES[c.dtype]))
    return good.select(exprs)


def to_pandas(frame: pl.DataFrame) -> pd.DataFrame:
    """A canonical polars frame as pandas with the schema's dtypes (strings arrow-backed)."""
    out = frame.to_arrow().to_pandas(types_mapper=_PD_TYPES.get)
    for c in COLUMNS:
        if str(out[c.name].dtype) != c.dtype:
            out[c.name] = out[c.name].astype(c.dtype)
    return out
