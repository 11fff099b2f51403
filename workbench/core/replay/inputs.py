"""Data joined to the log by request id: per-model outcomes and attached columns or arrays.

* **Outcomes** (``replay(..., outcomes=table)``): what each model produced for each prompt, one row
  per (``request_id``, ``model``) with ``output_tokens`` and/or ``quality`` (0–1) and optionally
  ``latency_ms``. Validated here, once: unknown columns, missing keys, duplicate pairs, unknown
  models (with close matches), negative tokens, quality outside [0, 1] — each error names the row
  and the field.
* **Attached columns** (``attach=frame``): any frame with ``request_id`` and columns computed outside
  the log (router scores, neighbour ids); joined by request id, null where a request has none.
* **Attached arrays** (``attach={"embedding": AttachedArray(ids, matrix)}``): a large matrix stays a
  numpy array outside the frame; the frame gets an Int64 column ``embedding`` = the request's row
  in the matrix, and a kernel reads the matrix through ``ctx.array("embedding")``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np
import pyarrow as pa

from workbench.core.prices import PriceBook

OUTCOME_COLUMNS = ("request_id", "model", "output_tokens", "quality", "latency_ms")


@dataclass(frozen=True)
class AttachedArray:
    """Rows of ``values`` (2-D, or 1-D of objects) keyed by ``request_ids`` (unique)."""

    request_ids: Any
    values: Any

    def __post_init__(self):
        ids = [str(i) for i in list(self.request_ids)]
        values = np.asarray(self.values)
        if len(ids) != len(values):
            raise ValueError(f"attached array: {len(ids)} request ids but {len(values)} rows of values")
        if len(set(ids)) != len(ids):
            raise ValueError("attached array: request ids are not unique")
        object.__setattr__(self, "request_ids", ids)
        object.__setattr__(self, "values", values)


def to_arrow(frame: Any, what: str) -> pa.Table:
    """A pandas / Polars / pyarrow / DuckDB frame (or a narwhals one) as a pyarrow table."""
    import narwhals.stable.v2 as nw
    if isinstance(frame, pa.Table):
        return frame
    mod = type(frame).__module__.split(".")[0]
    if mod in ("duckdb", "_duckdb"):
        return frame.arrow() if hasattr(frame, "arrow") else frame.fetch_arrow_table()
    try:
        native = nw.from_native(frame)
    except TypeError:
        raise TypeError(f"{what}: expected a pandas, Polars, pyarrow or DuckDB frame, got {type(frame).__name__}") from None
    if isinstance(native, nw.LazyFrame):
        native = native.collect()
    return native.to_arrow()


def attached_columns(attach: Any, log_columns: set[str]) -> tuple[list[pa.Table], dict[str, np.ndarray]]:
    """Split ``attach`` into frames to join (each with ``request_id`` + columns) and arrays."""
    if attach is None:
        return [], {}
    items = attach if isinstance(attach, (list, tuple)) else [attach]
    tables: list[pa.Table] = []
    arrays: dict[str, np.ndarray] = {}
    seen: set[str] = set()
    for item in items:
        if isinstance(item, Mapping):
            for name, arr in item.items():
                if not isinstance(arr, AttachedArray):
                    raise TypeError(f"attach[{name!r}]: expected an AttachedArray(request_ids, values), "
                                    f"got {type(arr).__name__}")
                _fresh(name, log_columns, seen)
                arrays[name] = arr.values
                tables.append(pa.table({"request_id": pa.array(arr.request_ids, pa.string()),
                                        name: pa.array(np.arange(len(arr.request_ids)), pa.int64())}))
            continue
        table = to_arrow(item, "attach")
        if "request_id" not in table.column_names:
            raise ValueError("attach: the frame has no request_id column to join on")
        table = table.set_column(table.column_names.index("request_id"), "request_id",
                                 table.column("request_id").cast(pa.string()))
        for name in table.column_names:
            if name != "request_id":
                _fresh(name, log_columns, seen)
        ids = table.column("request_id")
        if ids.null_count:
            raise ValueError(f"attach: {ids.null_count} row(s) without a request_id")
        if len(pa.compute.unique(ids)) != table.num_rows:
            raise ValueError("attach: request_id is not unique in the attached frame")
        tables.append(table)
    return tables, arrays


def _fresh(name: str, log_columns: set[str], seen: set[str]) -> None:
    if name.startswith("_"):
        raise ValueError(f"attach: column {name!r} may not start with '_' (reserved for the engine)")
    if name in log_columns or name in seen:
        raise ValueError(f"attach: column {name!r} is already in the log (or attached twice)")
    seen.add(name)


def validate_outcomes(outcomes: Any, book: PriceBook) -> pa.Table:
    """The outcomes table checked and normalised: request_id (str), model (canonical id),
    output_tokens (int64, may be absent), quality (float64 in [0, 1]), latency_ms (float64)."""
    import pyarrow.compute as pc
    table = to_arrow(outcomes, "outcomes")
    names = table.column_names
    unknown = [c for c in names if c not in OUTCOME_COLUMNS]
    if unknown:
        raise ValueError(f"outcomes: unknown column(s) {', '.join(unknown)}; valid: {', '.join(OUTCOME_COLUMNS)}")
    for c in ("request_id", "model"):
        if c not in names:
            raise ValueError(f"outcomes: missing column {c!r} (one row per request_id and model)")
    if "output_tokens" not in names and "quality" not in names:
        raise ValueError("outcomes: needs output_tokens and/or quality")
    cols = {"request_id": table.column("request_id").cast(pa.string())}
    models = table.column("model").cast(pa.string()).to_pylist()
    resolved: dict[str, str] = {}
    for i, m in enumerate(models):
        if m is None:
            raise ValueError(f"outcomes: row {i + 1}: field 'model' is missing")
        if m not in resolved:
            try:
                resolved[m] = book.resolve(m)
            except Exception as e:  # PriceError: unknown model, with close matches
                raise ValueError(f"outcomes: row {i + 1}: field 'model': {e}") from None
    cols["model"] = pa.array([resolved[m] for m in models], pa.string())
    nulls = pc.is_null(cols["request_id"]).to_pylist()
    if any(nulls):
        raise ValueError(f"outcomes: row {nulls.index(True) + 1}: field 'request_id' is missing")
    if "output_tokens" in names:
        tok = table.column("output_tokens")
        try:
            tok = tok.cast(pa.int64())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            raise ValueError("outcomes: field 'output_tokens' must be whole numbers") from None
        bad = [i for i, v in enumerate(tok.to_pylist()) if v is not None and v < 0]
        if bad:
            raise ValueError(f"outcomes: row {bad[0] + 1}: field 'output_tokens' is negative")
        cols["output_tokens"] = tok
    for c in ("quality", "latency_ms"):
        if c in names:
            v = table.column(c).cast(pa.float64())
            vals = v.to_pylist()
            lo, hi = (0.0, 1.0) if c == "quality" else (0.0, float("inf"))
            bad = [i for i, x in enumerate(vals) if x is not None and not (lo <= x <= hi)]
            if bad:
                rule = "in [0, 1]" if c == "quality" else "≥ 0"
                raise ValueError(f"outcomes: row {bad[0] + 1}: field {c!r} must be {rule}, got {vals[bad[0]]!r}")
            cols[c] = v
    out = pa.table(cols)
    pairs = pa.table({"r": out.column("request_id"), "m": out.column("model")})
    if pairs.group_by(["r", "m"]).aggregate([]).num_rows != out.num_rows:
        raise ValueError("outcomes: more than one row for the same (request_id, model)")
    return out


def pivot_outcomes(table: pa.Table, codes: Mapping[str, int]) -> tuple[pa.Table, dict[int, dict]]:
    """Wide columns per covered model code: ``_oh{c}`` (present), ``_oo{c}`` tokens, ``_oq{c}``
    quality; returns the table keyed by request_id and ``{code: {has, tokens, quality}}``."""
    import polars as pl
    df = pl.from_arrow(table)
    wide = df.select("request_id").unique()
    covered: dict[int, dict] = {}
    for model, code in codes.items():
        part = df.filter(pl.col("model") == model)
        if part.height == 0:
            continue
        cols = [pl.lit(True).alias(f"_oh{code}")]
        info = {"has": f"_oh{code}", "tokens": None, "quality": None}
        if "output_tokens" in df.columns:
            cols.append(pl.col("output_tokens").alias(f"_oo{code}"))
            info["tokens"] = f"_oo{code}"
        if "quality" in df.columns:
            cols.append(pl.col("quality").alias(f"_oq{code}"))
            info["quality"] = f"_oq{code}"
        wide = wide.join(part.select("request_id", *cols), on="request_id", how="left")
        covered[code] = info
    return wide.to_arrow(), covered
