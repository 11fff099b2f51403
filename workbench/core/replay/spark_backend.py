"""The Spark backend: the same replay on a PySpark DataFrame, or on Parquet that Spark reads itself.

The frame logic is the engine's own Narwhals code; only the hooks are here:

* ``lazy``: a PySpark DataFrame as it is, a path read by Spark (``spark.read.parquet`` — a file, a
  folder of parts, ``s3a://…``), a local frame sent once through Arrow;
* ``materialize``: ``localCheckpoint()`` — the state is kept on the executors and the plan cut;
* ``partitioned_kernel``: repartition by the kernel's keys (one partition when it has none), sort
  within partitions by (keys, ``ts``, ``request_id``), then ``mapInArrow``: each Spark partition is
  one Arrow table of whole key partitions handed to the kernel in one call, every column passed
  through with the kernel's outputs appended — no join back, no pandas in the worker;
* order: no global rank. Windows order by (``ts``, ``request_id``) (unique: validated), and the
  row key is ``request_id``.

Nothing of the log comes back to the driver: only aggregates (the rate-table keys, validation
counts, per-(tenant, feature, day) sums, at most 10,000 budget events). The per-request frame stays
a lazy Spark DataFrame for Spark and path inputs; a local input (pandas, Polars, Arrow) fits on the
driver by definition, so its result comes back in its kind.

Traps handled here: the replay runs with the session time zone UTC (``year()`` etc. follow it; the
previous value is restored); integers stay integers (Spark's ANSI mode raises on overflow instead of
wrapping); local frames go through Arrow, not pandas (PySpark 4.3 warns it does not fully support
pandas 3, so the Spark path never converts through pandas).
"""
from __future__ import annotations

import io
import os
import sys
import tempfile
import warnings
import zipfile
from pathlib import Path
from typing import Any, Callable, Iterator

import narwhals.stable.v2 as nw
import numpy as np
import pyarrow as pa

from workbench.core.replay.backends import Backend, _arrow_table, _arrow_type, _partition_starts, caller_kind

DEFAULT_MASTER = "local[*]"
_SHIPPED: set[str] = set()   # SparkContext application ids that have the workbench code


def spark_session(master: str | None = None, conf: dict[str, str] | None = None):
    """The active SparkSession, or a new one on ``master`` (default: ``SPARK_MASTER`` or local[*]).

    An existing session on another master is an error (Spark would silently keep the old one)."""
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise ImportError("engine='spark' needs PySpark and a Java 17+ runtime: "
                          "pip install 'llm-cost-workbench[spark]'") from None
    active = SparkSession.getActiveSession()
    if active is not None:
        if master and active.sparkContext.master != master:
            raise ValueError(f"a Spark session on {active.sparkContext.master!r} is already running in this "
                             f"process; cannot switch to {master!r} (stop it first)")
        return active
    master = master or os.environ.get("SPARK_MASTER") or DEFAULT_MASTER
    if master.startswith("local"):
        # the Python workers of a local master must run this interpreter (it has pyarrow, numpy);
        # a cluster's executors use their own (PYSPARK_PYTHON / spark.pyspark.python there)
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = (SparkSession.builder.appName("workbench-replay").master(master)
               .config("spark.sql.session.timeZone", "UTC")
               .config("spark.sql.execution.arrow.pyspark.enabled", "true"))
    for k, v in (conf or {}).items():
        builder = builder.config(k, v)
    with warnings.catch_warnings():  # see partitioned_kernel: the Spark path never converts through pandas
        warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas", category=FutureWarning)
        return builder.getOrCreate()


def _code_zip() -> str:
    """The workbench's Python modules as a zip, for ``addPyFile``: the executors then run the
    driver's kernels and policy classes, whatever is (or is not) installed on the cluster."""
    root = Path(__file__).resolve().parents[2]  # …/workbench
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for path in sorted(root.rglob("*.py")):
            z.write(path, path.relative_to(root.parent).as_posix())
    fd, name = tempfile.mkstemp(prefix="workbench-", suffix=".zip")
    with os.fdopen(fd, "wb") as f:
        f.write(buf.getvalue())
    return name


def _is_uri(path: str) -> bool:
    return "://" in path


class SparkBackend(Backend):
    """PySpark: the log stays on the cluster (or the local Spark); only summaries come back."""

    name = "spark"
    # a checkpoint per step keeps Catalyst's plans small: fusing the 9 steps of the conformance
    # stack into one plan made the replay 1.3-1.8x slower (planning grows with the plan)
    materialize_every_step = True
    row_key = "request_id"
    local = False  # per-request arrays never come to the driver (a sweep replays on the cluster)

    def __init__(self, memory_limit: str | None = None, temp_dir: str | None = None,
                 master: str | None = None, session: Any = None):
        super().__init__(memory_limit, temp_dir)
        self.master = master
        self.spark = session
        self.order_by = ["ts", "request_id"]
        self._saved_tz: str | None = None

    # session ----------------------------------------------------------------------------------
    def _session(self, log: Any = None):
        if self.spark is None:
            self.spark = log.sparkSession if caller_kind(log) == "spark" else spark_session(self.master)
            if self.master and self.spark.sparkContext.master != self.master:
                raise ValueError(f"the Spark DataFrame lives on {self.spark.sparkContext.master!r}, "
                                 f"not on --spark-master {self.master!r}")
        if self._saved_tz is None:
            self._saved_tz = self.spark.conf.get("spark.sql.session.timeZone")
            self.spark.conf.set("spark.sql.session.timeZone", "UTC")
        sc = self.spark.sparkContext
        if sc.applicationId not in _SHIPPED:
            sc.addPyFile(_code_zip())
            _SHIPPED.add(sc.applicationId)
        return self.spark

    def _restore(self) -> None:
        if self._saved_tz is not None and self.spark is not None:
            try:
                self.spark.conf.set("spark.sql.session.timeZone", self._saved_tz)
            except Exception:  # noqa: BLE001 - the session may already be stopped
                pass
            self._saved_tz = None

    # input / output -------------------------------------------------------------------------
    def lazy(self, log: Any) -> nw.LazyFrame:
        spark = self._session(log)
        kind = caller_kind(log)
        if kind == "spark":
            return nw.from_native(log)
        if kind == "path":
            return nw.from_native(read_log(spark, str(log)))
        if kind == "pandas":
            table = pa.Table.from_pandas(log, preserve_index=False)
        elif kind == "polars-lazy":
            table = log.collect().to_arrow()
        elif kind == "polars":
            table = log.to_arrow()
        elif kind == "duckdb":
            table = _arrow_table(log)
        else:
            table = log
        return self.from_arrow(table)

    def from_arrow(self, table: pa.Table) -> nw.LazyFrame:
        table = pa.table({name: _plain(col) for name, col in zip(table.column_names, table.columns)})
        return nw.from_native(self._session().createDataFrame(table))

    def small(self, columns, schema) -> nw.LazyFrame:
        types = {k: _arrow_type(v) for k, v in schema.items()}
        return self.from_arrow(pa.table({k: pa.array(v, type=types[k]) for k, v in columns.items()}))

    def materialize(self, frame: nw.LazyFrame) -> nw.LazyFrame:
        return nw.from_native(frame.to_native().localCheckpoint(eager=True))

    def join_rates(self, frame, rates, on):
        from pyspark.sql import functions as F
        return nw.from_native(frame.to_native().join(F.broadcast(rates.to_native()), on=on, how="left"))

    def add_order(self, frame: nw.LazyFrame, by: list[str]) -> nw.LazyFrame:
        # no global rank (a row_number over the whole log runs on one core): windows order by
        # (ts, request_id), which is unique, and results join back on request_id
        self.order_by = list(by)
        return frame

    def json_field(self, frame, column, key, name):
        from pyspark.sql import functions as F
        return nw.from_native(frame.to_native().withColumn(name, F.get_json_object(F.col(column), f"$.{key}")))

    def native_result(self, frame: nw.LazyFrame) -> Any:
        return frame.to_native()

    def to_caller(self, frame: nw.LazyFrame, kind: str) -> Any:
        try:
            if kind in ("spark", "path"):
                return frame.to_native()   # lazy: written or collected by the caller, if at all
            table = frame.to_native().toArrow()
            if kind == "pandas":
                return table.to_pandas()
            if kind == "pyarrow":
                return table
            if kind == "duckdb":
                import duckdb
                return duckdb.connect().from_arrow(table)
            import polars as pl
            df = pl.from_arrow(table)
            return df.lazy() if kind == "polars-lazy" else df
        finally:
            self._restore()

    def close(self) -> None:
        self._restore()

    # sequential kernels ---------------------------------------------------------------------
    def partitioned_kernel(self, frame: nw.LazyFrame, by: list[str], inputs: list[str],
                           outputs: dict[str, Any], fn: Callable) -> nw.LazyFrame:
        """Whole key partitions per Spark partition, sorted, through ``fn`` in one call each."""
        from pyspark.sql.pandas.types import from_arrow_schema
        from pyspark.sql.types import StructType
        df = frame.to_native()
        order = [*by, *self.order_by]
        df = (df.repartition(*by) if by else df.repartition(1)).sortWithinPartitions(*order)
        out_fields = [pa.field(n, _arrow_type(t)) for n, t in outputs.items()]
        names = list(df.columns)
        spark_schema = StructType([*df.schema.fields, *from_arrow_schema(pa.schema(out_fields)).fields])
        run = _kernel_runner(names, list(by), list(inputs), out_fields, fn)
        with warnings.catch_warnings():
            # mapInArrow checks the pandas version although it never uses pandas (Arrow in, Arrow out)
            warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas", category=FutureWarning)
            return nw.from_native(df.mapInArrow(run, spark_schema))


def _kernel_runner(names: list[str], by: list[str], inputs: list[str], out_fields: list[pa.Field],
                   fn: Callable) -> Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    """The function each Spark task runs (pickled with ``fn``): concatenate the partition's sorted
    batches, find the key partitions, call ``fn`` once, append its outputs to every column."""
    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        batches = list(batches)
        if not batches:
            return
        table = pa.Table.from_batches(batches).combine_chunks()
        n = table.num_rows
        if n == 0:
            return
        arrays = {c: table.column(c).to_numpy(zero_copy_only=False) for c in dict.fromkeys([*by, *inputs])}
        starts = _partition_starts(arrays, by, n) if by else np.zeros(1, dtype=np.int64)
        result = fn({c: arrays[c] for c in inputs}, starts)
        for field in out_fields:
            values = np.asarray(result[field.name])
            if len(values) != n:
                raise ValueError(f"kernel output {field.name!r} has {len(values)} rows, expected {n}")
            # NaN in a float output is null (unknown), as in the other backends
            table = table.append_column(field, pa.array(values, type=field.type, from_pandas=True))
        yield from table.select([*names, *(f.name for f in out_fields)]).to_batches(max_chunksize=65_536)
    return run


def _plain(col: pa.ChunkedArray) -> pa.ChunkedArray:
    """Arrow types Spark reads: large/view strings as strings, nanosecond times as microseconds
    (Spark's resolution), dictionary columns decoded."""
    t = col.type
    if pa.types.is_dictionary(t):
        return _plain(col.cast(t.value_type))
    if pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return col.cast(pa.string())
    if pa.types.is_timestamp(t) and t.unit == "ns":
        return col.cast(pa.timestamp("us", tz=t.tz), safe=False)
    return col


def read_log(spark, path: str):
    """A log that Spark reads itself: Parquet (a file, a folder of parts, a glob, ``s3a://…``),
    CSV, or a Delta table (a folder with ``_delta_log``; needs Delta Lake on the cluster)."""
    local = not _is_uri(path)
    if local and not Path(path).exists() and not any(ch in path for ch in "*?["):
        raise FileNotFoundError(f"log not found: {path}")
    if path.endswith(".csv"):
        return spark.read.csv(path, header=True, inferSchema=True)
    if path.startswith("delta:") or (local and (Path(path) / "_delta_log").is_dir()):
        target = path.removeprefix("delta:")
        try:
            return spark.read.format("delta").load(target)
        except Exception as e:  # noqa: BLE001 - Spark raises a Java-side class-not-found
            if "delta" in str(e).lower() and ("not find" in str(e).lower() or "failed to find" in str(e).lower()):
                raise ValueError(f"{target} is a Delta table, and this Spark has no Delta Lake: start it with "
                                 f"the delta-spark package on the cluster (spark.jars.packages="
                                 f"io.delta:delta-spark_2.13:<version>), or export the table to Parquet") from None
            raise
    return spark.read.parquet(path)


def write_decisions(frame, out: str) -> None:
    """Write the per-request frame as Parquet from the executors (never through the driver).

    A local folder is written beside ``out`` and renamed at the end (an interrupt leaves no partial
    result; an older ``out`` is replaced); object storage (``s3a://…``) is written in place."""
    import shutil
    import uuid
    if _is_uri(out):
        frame.write.mode("overwrite").parquet(out)
        return
    target = Path(out)
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}")
    try:
        frame.write.parquet(str(tmp))
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()
        os.replace(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
