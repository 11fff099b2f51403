"""The engine's per-backend hooks: reading the input, ``materialize``, ``partitioned_kernel``,
small frames and handing the result back in the caller's kind.

Everything else in the engine is written once against Narwhals. DuckDB lives in
:mod:`~workbench.core.replay.duckdb_backend`. PySpark lives in :mod:`~workbench.core.replay.spark_backend`: ``materialize`` = ``localCheckpoint()``,
``partitioned_kernel`` = repartition by the keys, sort within partitions, one Arrow call per
partition — the policies do not change.
"""
from __future__ import annotations

import os
from typing import Any, Callable, Hashable, Iterator, Mapping

import narwhals.stable.v2 as nw
import numpy as np
import pyarrow as pa

from workbench.core.replay.context import ORD

ENGINES = ("polars", "pandas", "duckdb", "spark")


def caller_kind(log: Any) -> str:
    """What the caller handed in: pandas, polars, polars-lazy, pyarrow, duckdb or path."""
    if isinstance(log, (str, os.PathLike)):
        return "path"
    mod = type(log).__module__.split(".")[0]
    name = type(log).__name__
    if mod == "pandas":
        return "pandas"
    if mod == "polars":
        return "polars-lazy" if name == "LazyFrame" else "polars"
    if mod == "pyarrow":
        return "pyarrow"
    if mod in ("duckdb", "_duckdb"):
        return "duckdb"
    if mod == "pyspark":
        return "spark"
    if mod == "narwhals":
        return caller_kind(nw.to_native(log))
    raise TypeError(f"cannot replay a {type(log).__name__}: pass a pandas, Polars, pyarrow, DuckDB or "
                    f"PySpark frame, or a path to a Parquet log")


def make_backend(engine: str | None, kind: str, memory_limit: str | None = None,
                 temp_dir: str | None = None, spark_master: str | None = None) -> "Backend":
    if engine is None:
        engine = "spark" if (kind == "spark" or spark_master) else \
            "duckdb" if (kind == "duckdb" or memory_limit) else "polars"
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}; valid: {', '.join(ENGINES)}")
    if (kind == "spark" or spark_master) and engine != "spark":
        raise ValueError("a Spark DataFrame or spark_master replays on engine='spark' (the log stays on the "
                         "cluster); collect it yourself first to replay it locally")
    if engine == "spark":
        if memory_limit:
            raise ValueError("memory_limit is DuckDB's; Spark's memory is set on the cluster (spark.executor.memory)")
        from workbench.core.replay.spark_backend import SparkBackend
        return SparkBackend(temp_dir=temp_dir, master=spark_master)
    if memory_limit and engine != "duckdb":
        raise ValueError("memory_limit needs engine='duckdb' (the out-of-core engine)")
    if engine == "duckdb":
        from workbench.core.replay.duckdb_backend import DuckDBBackend
        return DuckDBBackend(memory_limit=memory_limit, temp_dir=temp_dir)
    return {"polars": PolarsBackend, "pandas": PandasBackend}[engine](memory_limit=memory_limit, temp_dir=temp_dir)


def _partition_starts(arrays: Mapping[str, np.ndarray], by: list[str], n: int) -> np.ndarray:
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    change = np.zeros(n, dtype=bool)
    change[0] = True
    for key in by:
        a = arrays[key]  # object arrays compare element-wise; None == None groups the nulls
        change[1:] |= a[1:] != a[:-1]
    return np.flatnonzero(change)


class Backend:
    name = ""
    #: called with the fraction done of a long backend operation (set by the engine; DuckDB only)
    report: Callable[[float], None] | None = None
    #: materialize the state after every step (in memory: cheap, and progress is per step);
    #: DuckDB only at the end, fusing the steps into one query
    materialize_every_step = True
    #: compute the prepared input (casts, UTC day) once, before the checks, the model/day pairs and
    #: the sort read it, rather than once for each (in memory: what the sort holds anyway)
    materialize_input = False
    #: the frame stays in processing order (no final sort needed)
    keeps_order = False
    #: columns that order the requests, and the unique key that joins results back to a row;
    #: both set by add_order (DuckDB orders by (ts, request_id) and keys on the table's rowid)
    order_by: list[str] = [ORD]
    row_key: str = ORD
    #: per-request arrays may be brought into this process (a sweep's vectorised path); not on Spark
    local = True

    def __init__(self, memory_limit: str | None = None, temp_dir: str | None = None):
        self.memory_limit, self.temp_dir = memory_limit, temp_dir

    # input / output -------------------------------------------------------------------------
    def lazy(self, log: Any) -> nw.LazyFrame:
        raise NotImplementedError

    def small(self, columns: Mapping[str, list], schema: Mapping[str, Any]) -> nw.LazyFrame:
        raise NotImplementedError

    def from_arrow(self, table: pa.Table) -> nw.LazyFrame:
        raise NotImplementedError

    def materialize(self, frame: nw.LazyFrame) -> nw.LazyFrame:
        return frame

    def collect(self, frame: nw.LazyFrame) -> nw.DataFrame:
        """A small result (aggregates, events) as an eager Narwhals frame."""
        return frame.collect()

    def json_field(self, frame: nw.LazyFrame, column: str, key: str, name: str) -> nw.LazyFrame:
        """Add ``name``: the value of ``key`` in the JSON text of ``column`` as a string (null when
        absent or not JSON). Narwhals has no JSON functions, so each backend brings its own."""
        raise NotImplementedError

    def join_rates(self, frame: nw.LazyFrame, rates: nw.LazyFrame, on: list[str]) -> nw.LazyFrame:
        """Left-join the small rate table (every key of ``frame`` is in it)."""
        return frame.join(rates, on=on, how="left")

    def with_columns(self, frame: nw.LazyFrame, key: Hashable,
                     build: Callable[[], Mapping[str, nw.Expr]]) -> nw.LazyFrame:
        """``frame.with_columns(**build())``, where ``key`` names those expressions completely (the
        same key always builds the same expressions), so a backend may translate them once per
        process (Polars: translating a large Narwhals expression costs more than running it on a
        few thousand rows)."""
        return frame.with_columns(**build())

    def select(self, frame: nw.LazyFrame, key: Hashable, build: Callable[[], list[nw.Expr]]) -> nw.LazyFrame:
        """``frame.select(*build())`` (named expressions); ``key`` as in :meth:`with_columns`."""
        return frame.select(*build())

    def group_agg(self, frame: nw.LazyFrame, key: Hashable, by: list[str],
                  build: Callable[[], tuple[Mapping[str, nw.Expr], list[nw.Expr]]]) -> nw.LazyFrame:
        """``frame.select(*by, **columns).group_by(*by).agg(*aggs)`` for ``columns, aggs = build()``;
        ``key`` as in :meth:`with_columns`."""
        columns, aggs = build()
        return frame.select(*by, **columns).group_by(*by).agg(*aggs)

    def add_order(self, frame: nw.LazyFrame, by: list[str]) -> nw.LazyFrame:
        """Add ``_ord``: 0, 1, 2 … in the order of ``by`` (ties are the caller's problem)."""
        return frame.with_row_index(ORD, order_by=by).with_columns(nw.col(ORD).cast(nw.Int64))

    def finish_order(self, frame: nw.LazyFrame, by: list[str]) -> nw.LazyFrame:
        """Called after the first materialization (the priced baseline); see DuckDB."""
        return frame

    def window(self, frame: nw.LazyFrame, exprs: Mapping[str, nw.Expr], columns: list[str],
               key: str, pre: Mapping[str, nw.Expr]) -> nw.LazyFrame:
        """Add window expressions (``over(..., order_by=...)``) that read only ``columns`` and the
        helper columns ``pre``. ``key`` is a unique row key (DuckDB computes the window on those
        columns alone and joins the result back on it, instead of sorting whole rows)."""
        if not pre:
            return frame.with_columns(**exprs)
        return frame.with_columns(**pre).with_columns(**exprs).drop(*pre)

    def to_caller(self, frame: nw.LazyFrame, kind: str) -> Any:
        if kind in ("pandas", "polars", "pyarrow"):
            return frame.collect(backend=kind).to_native()
        if kind == "polars-lazy":
            return frame.collect(backend="polars").to_native().lazy()
        if kind == "duckdb":
            import duckdb
            table = frame.collect(backend="pyarrow").to_native()
            con = duckdb.connect()
            rel = con.from_arrow(table)
            return rel
        return self.native_result(frame)

    def native_result(self, frame: nw.LazyFrame) -> Any:
        return frame.collect().to_native()

    def close(self) -> None:
        pass

    # sequential kernels ---------------------------------------------------------------------
    def sorted_batches(self, frame: nw.LazyFrame, columns: list[str], by: list[str]) -> Iterator[pa.Table]:
        table = frame.select(columns).sort(by).collect(backend="pyarrow").to_native()
        yield table

    def partitioned_kernel(self, frame: nw.LazyFrame, by: list[str], inputs: list[str],
                           outputs: dict[str, Any], fn: Callable) -> nw.LazyFrame:
        """Sort by (``by``, order), feed whole partitions to ``fn``, join the outputs back on the row key."""
        key = self.row_key
        columns = list(dict.fromkeys([key, *by, *self.order_by, *inputs]))
        pieces: list[pa.Table] = []
        carry: pa.Table | None = None

        def run(table: pa.Table) -> None:
            arrays = {c: table.column(c).to_numpy(zero_copy_only=False) for c in columns}
            starts = _partition_starts(arrays, by, table.num_rows)
            result = fn({c: arrays[c] for c in inputs}, starts)
            data = {key: table.column(key)}
            for name in outputs:  # NaN in a float output is null (unknown), as everywhere in the state
                data[name] = pa.array(np.asarray(result[name]), from_pandas=True)
                if len(data[name]) != table.num_rows:
                    raise ValueError(f"kernel output {name!r} has {len(data[name])} rows, expected {table.num_rows}")
            pieces.append(pa.table(data))

        key_type = None
        for batch in self.sorted_batches(frame, columns, [*by, *self.order_by]):
            key_type = batch.schema.field(key).type
            table = batch if carry is None else pa.concat_tables([carry, batch])
            if table.num_rows == 0:
                continue
            if not by:  # one partition: the whole log, however the backend streams it
                carry = table
                continue
            keys = {c: table.column(c).to_numpy(zero_copy_only=False) for c in by}
            starts = _partition_starts(keys, by, table.num_rows)
            last = int(starts[-1])
            if last > 0:  # every partition but the last is complete; the last may continue
                run(table.slice(0, last))
            carry = table.slice(last)
        if carry is not None and carry.num_rows:
            run(carry.combine_chunks())
        schema = pa.schema([(key, key_type or pa.int64())] + [(n, _arrow_type(t)) for n, t in outputs.items()])
        result = pa.concat_tables([p.cast(schema) for p in pieces]) if pieces else schema.empty_table()
        return self.join_back(frame, self.from_arrow(result), key)

    def join_back(self, frame: nw.LazyFrame, other: nw.LazyFrame, key: str) -> nw.LazyFrame:
        return frame.join(other, on=key, how="left")


def _arrow_type(dtype: Any) -> pa.DataType:
    mapping = {nw.Int8: pa.int8(), nw.Int16: pa.int16(), nw.Int32: pa.int32(), nw.Int64: pa.int64(),
               nw.Float64: pa.float64(), nw.Boolean: pa.bool_(), nw.String: pa.string()}
    for k, v in mapping.items():
        if dtype == k:
            return v
    raise TypeError(f"unsupported kernel output dtype {dtype!r}")


class PolarsBackend(Backend):
    name = "polars"
    keeps_order = True  # add_order sorts physically; joins keep the left order
    materialize_input = True

    def lazy(self, log: Any) -> nw.LazyFrame:
        import polars as pl
        kind = caller_kind(log)
        if kind == "path":
            path = str(log)
            lf = pl.scan_csv(path, try_parse_dates=True) if path.endswith(".csv") else pl.scan_parquet(path)
        elif kind == "pandas":
            lf = pl.from_pandas(log).lazy()
        elif kind == "polars":
            lf = log.lazy()
        elif kind == "polars-lazy":
            lf = log
        elif kind == "pyarrow":
            lf = pl.from_arrow(log).lazy()
        else:  # duckdb relation
            lf = log.pl().lazy()
        return nw.from_native(lf)

    def small(self, columns, schema) -> nw.LazyFrame:
        import polars as pl
        return nw.from_native(pl.DataFrame(dict(columns), schema=_polars_schema(schema)).lazy())

    def from_arrow(self, table: pa.Table) -> nw.LazyFrame:
        import polars as pl
        return nw.from_native(pl.from_arrow(table).lazy())

    # Polars 2 picks the streaming engine for sorts, ~3x slower than in-memory at 1M rows here.
    def materialize(self, frame: nw.LazyFrame) -> nw.LazyFrame:
        return nw.from_native(frame.to_native().collect(engine="in-memory").lazy())

    def collect(self, frame: nw.LazyFrame) -> nw.DataFrame:
        return frame.collect(engine="in-memory")

    def to_caller(self, frame: nw.LazyFrame, kind: str) -> Any:
        df = frame.to_native().collect(engine="in-memory")
        if kind == "pandas":
            return df.to_pandas()
        if kind == "pyarrow":
            return df.to_arrow()
        if kind == "polars-lazy":
            return df.lazy()
        if kind == "duckdb":
            import duckdb
            return duckdb.connect().from_arrow(df.to_arrow())
        return df

    def sorted_batches(self, frame, columns, by):
        yield frame.select(columns).sort(by).to_native().collect(engine="in-memory").to_arrow()

    def join_back(self, frame, other, key):
        return nw.from_native(frame.to_native().join(other.to_native(), on=key, how="left", maintain_order="left"))

    def join_rates(self, frame: nw.LazyFrame, rates: nw.LazyFrame, on: list[str]) -> nw.LazyFrame:
        # keeping the left order lets Polars reuse the frame's columns instead of gathering copies
        return nw.from_native(frame.to_native().join(rates.to_native(), on=on, how="left", maintain_order="left"))

    def json_field(self, frame, column, key, name):
        import polars as pl
        return nw.from_native(frame.to_native().with_columns(pl.col(column).str.json_path_match(f"$.{key}").alias(name)))

    def with_columns(self, frame, key, build):
        exprs = _translated(frame, key, build)
        if exprs is None:
            return super().with_columns(frame, key, build)
        return nw.from_native(frame.to_native().with_columns(exprs))

    def select(self, frame, key, build):
        exprs = _translated(frame, key, build)
        if exprs is None:
            return super().select(frame, key, build)
        return nw.from_native(frame.to_native().select(exprs))

    def group_agg(self, frame, key, by, build):
        exprs = _translated(frame, key, build, pair=True)
        if exprs is None:
            return super().group_agg(frame, key, by, build)
        columns, aggs = exprs
        return nw.from_native(frame.to_native().select(*by, *columns).group_by(*by).agg(aggs))

    def add_order(self, frame: nw.LazyFrame, by: list[str]) -> nw.LazyFrame:
        # a physical sort is ~4x faster than a windowed row index in Polars, and leaves the rows
        # in processing order
        return nw.from_native(frame.to_native().sort(by).with_row_index(ORD).collect(engine="in-memory").lazy())


#: Narwhals expressions translated to Polars, by the key their builder names (see Backend.with_columns)
_TRANSLATED: dict[Hashable, Any] = {}
#: this Narwhals hands over its translation (a private method: without it, every call translates)
CAN_TRANSLATE = hasattr(nw.LazyFrame, "_flatten_and_extract")


def translate_polars(frame: nw.LazyFrame, exprs: Mapping[str, nw.Expr] | list[nw.Expr]) -> list:
    """``exprs`` (named, or a list) as the Polars expressions ``frame.with_columns(...)`` would run
    (Narwhals' own translation, with its checks), to be applied to other Polars frames without
    translating again."""
    if isinstance(exprs, Mapping):
        return [e.native for e in frame._flatten_and_extract(**exprs)]
    return [e.native for e in frame._flatten_and_extract(*exprs)]


def _translated(frame: nw.LazyFrame, key: Hashable, build: Callable, pair: bool = False) -> Any:
    """The Polars expressions of ``key`` (translated from ``build()`` the first time; ``pair``: it
    builds two lists), or None when this Narwhals cannot hand them over."""
    exprs = _TRANSLATED.get(key)
    if exprs is None:
        if not CAN_TRANSLATE:
            return None
        built = build()
        exprs = tuple(translate_polars(frame, b) for b in built) if pair else translate_polars(frame, built)
        if len(_TRANSLATED) >= 256:  # oldest first out
            _TRANSLATED.pop(next(iter(_TRANSLATED)))
        _TRANSLATED[key] = exprs
    return exprs


def _polars_schema(schema: Mapping[str, Any]) -> dict:
    import polars as pl
    mapping = {nw.Int8: pl.Int8, nw.Int32: pl.Int32, nw.Int64: pl.Int64, nw.String: pl.String,
               nw.Float64: pl.Float64, nw.Boolean: pl.Boolean}
    return {k: next(v for t, v in mapping.items() if t == d) for k, d in schema.items()}


class PandasBackend(Backend):
    name = "pandas"

    # Arrow-backed dtypes throughout: nulls stay nulls (a numpy-backed int column with a null
    # turns float), the same semantics as Polars and DuckDB.
    def lazy(self, log: Any) -> nw.LazyFrame:
        import pandas as pd
        kind = caller_kind(log)
        if kind == "path":
            path = str(log)
            pdf = (pd.read_csv(path, dtype_backend="pyarrow") if path.endswith(".csv")
                   else pd.read_parquet(path, dtype_backend="pyarrow"))
        elif kind == "pandas":
            pdf = log.convert_dtypes(dtype_backend="pyarrow")
        elif kind in ("polars", "polars-lazy"):
            pdf = (log.collect() if kind == "polars-lazy" else log).to_arrow().to_pandas(types_mapper=pd.ArrowDtype)
        elif kind == "pyarrow":
            pdf = log.to_pandas(types_mapper=pd.ArrowDtype)
        else:
            pdf = _arrow_table(log).to_pandas(types_mapper=pd.ArrowDtype)
        return nw.from_native(pdf).lazy()

    def small(self, columns, schema) -> nw.LazyFrame:
        types = {k: _arrow_type(v) for k, v in schema.items()}
        return self.from_arrow(pa.table({k: pa.array(v, type=types[k]) for k, v in columns.items()}))

    def from_arrow(self, table: pa.Table) -> nw.LazyFrame:
        import pandas as pd
        return nw.from_native(table.to_pandas(types_mapper=pd.ArrowDtype)).lazy()

    def join_rates(self, frame, rates, on):
        # keys must share dtypes, or pandas merges a numpy bool with an Arrow bool into object
        left, right = frame.collect().to_native(), rates.collect().to_native()
        right = right.astype({k: left[k].dtype for k in on})
        return nw.from_native(left.merge(right, on=on, how="left")).lazy()

    def json_field(self, frame, column, key, name):
        import json

        def get(text):
            try:
                v = json.loads(text).get(key) if isinstance(text, str) else None
            except (ValueError, AttributeError):
                return None
            return None if v is None else v if isinstance(v, str) else json.dumps(v)

        pdf = frame.collect().to_native()
        pdf = pdf.assign(**{name: pdf[column].map(get).astype("string")})
        return nw.from_native(pdf).lazy()

    def materialize(self, frame: nw.LazyFrame) -> nw.LazyFrame:
        return frame.collect().lazy()


def _arrow_table(rel) -> pa.Table:
    """A DuckDB relation as a pyarrow Table (``arrow()`` returns a reader since DuckDB 1.4)."""
    return rel.to_arrow_table() if hasattr(rel, "to_arrow_table") else rel.arrow()
