"""A private DuckDB connection for vectorised JSON work on Arrow data (one per thread)."""
from __future__ import annotations

import threading

import polars as pl
import pyarrow as pa

_local = threading.local()


def connection():
    con = getattr(_local, "con", None)
    if con is None:
        import duckdb  # imported lazily: only JSON work needs it

        con = _local.con = duckdb.connect()
    return con


def _interrupted(e: BaseException) -> bool:
    import duckdb

    return isinstance(e, duckdb.InterruptException) or (isinstance(e, RuntimeError) and "interrupted" in str(e).lower())


def run(sql: str, **tables: pa.Table) -> pl.DataFrame:
    """Run ``sql`` over the given Arrow tables (registered under their keyword names).

    DuckDB turns Ctrl-C into its own error; it is raised here as ``KeyboardInterrupt``.
    """
    con = connection()
    try:
        try:
            for name, table in tables.items():
                con.register(name, table)
            out = pl.from_arrow(con.sql(sql).to_arrow_table())
        finally:
            for name in tables:
                try:
                    con.unregister(name)
                except Exception:  # noqa: BLE001 - never registered (interrupted before)
                    pass
    except Exception as e:  # noqa: BLE001
        if _interrupted(e):
            raise KeyboardInterrupt from None
        raise
    assert isinstance(out, pl.DataFrame)
    return out


def text_table(**columns: pl.Series) -> pa.Table:
    """Polars text columns as an Arrow table of ``large_string`` (what DuckDB reads everywhere)."""
    return pa.table({k: v.cast(pl.String).to_arrow().cast(pa.large_string()) for k, v in columns.items()})
