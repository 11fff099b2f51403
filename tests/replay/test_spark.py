"""The replay on Apache Spark (``local[2]``): every request equal to the plain-Python reference to
the pico-dollar, on a log spread over several partitions with one tenant holding most rows; Parquet
read by Spark itself; only summaries cross to the driver; the CLI; Spark's traps.

One SparkSession for the whole test session (UI off, 4 shuffle partitions). PySpark and a Java
runtime are test requirements (``./run.sh test`` installs them): a missing one fails, never skips.
"""
from __future__ import annotations

import json
import warnings

import narwhals.stable.v2 as nw
import numpy as np
import pandas as pd
import polars as pl
import pytest

from tests.conftest import FROZEN_PRICES
from tests.replay.conftest import make_log, rows
from tests.replay.test_conformance import CACHE_BUDGET, FULL_STACK, _same_quality, one_pass
from workbench.core.replay import Policy, Reason, register_policy, replay
from workbench.core.replay.pricing import BLOCKED, CALLED, FATE
from workbench.core.replay.reference import reference_replay

FATE_NAMES = ["called", "cache_hit", "blocked", "removed"]


@pytest.fixture(scope="session")
def spark():
    from workbench.core.replay.spark_backend import spark_session
    session = spark_session("local[2]", {"spark.ui.enabled": "false", "spark.sql.shuffle.partitions": "4",
                                         "spark.default.parallelism": "2", "spark.driver.memory": "1g"})
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture(scope="module")
def skewed_log():
    """600 requests over 3 days, 70 % of them from one tenant (the skew a partition plan meets),
    with quality labels (20 % unlabelled)."""
    log = make_log(600, seed=11)
    rng = np.random.default_rng(5)
    whale = rng.random(len(log)) < 0.7
    log["tenant"] = pd.array(np.where(whale, "whale", log["tenant"].astype(object)), dtype="string")
    q = np.round(rng.random(len(log)), 3)
    return log.assign(quality=np.where(rng.random(len(log)) < 0.2, np.nan, q))


@pytest.fixture(scope="module")
def outcomes(skewed_log):
    """Per-model outcomes for about half of the (request, model) pairs."""
    rng = np.random.default_rng(11)
    rows_ = [(rid, m, int(rng.integers(0, 2000)), float(np.round(rng.random(), 3)))
             for rid in skewed_log["request_id"] for m in ("gpt-4o", "gpt-4o-mini", "claude-3-haiku", "tiered-sonnet")
             if rng.random() < 0.5]
    return pd.DataFrame(rows_, columns=["request_id", "model", "output_tokens", "quality"])


class _Collected:
    """Counts the rows of every result Spark hands to the driver."""

    def __init__(self, monkeypatch):
        from pyspark.sql.classic.dataframe import DataFrame
        self.sizes: list[int] = []
        for name, size in (("toArrow", lambda r: r.num_rows), ("collect", len), ("toPandas", len)):
            original = getattr(DataFrame, name)

            def wrapped(df, *a, _original=original, _size=size, **k):
                out = _original(df, *a, **k)
                self.sizes.append(_size(out))
                return out
            monkeypatch.setattr(DataFrame, name, wrapped)


def _check_rows(got: pl.DataFrame, reference: dict, stack: dict) -> None:
    ref_rows = list(reference["rows"].values())
    assert got["request_id"].to_list() == list(reference["rows"])  # processing order
    assert got["cost_pusd"].to_list() == [r["cost"] for r in ref_rows]
    assert got["replayed_model"].to_list() == [r["model"] for r in ref_rows]
    assert got["fate"].to_list() == [FATE_NAMES[r["fate"]] for r in ref_rows]
    for k, step in enumerate(stack["policies"], 1):
        assert got[f"act{k}_{step['policy']}"].to_list() == [r["acts"][k - 1] for r in ref_rows], step
    assert got["input_tokens"].to_list() == [r["in"] for r in ref_rows]
    assert got["output_tokens"].to_list() == [r["out"] for r in ref_rows]


def _totals(result) -> list[int]:
    totals = [result.summary["baseline_pusd"]]
    for step in result.waterfall:
        totals.append(totals[-1] - step["savings_pusd"])
    return totals


def test_spark_frame_over_partitions_equals_reference(spark, skewed_log, outcomes, frozen_book, monkeypatch):
    """A Spark DataFrame in three partitions, one tenant with 70 % of rows: the full conformance
    stack (windows, budgets, the sequential budget_fill kernel) with quality labels and per-model
    outcomes equals the reference request by request; the result stays a Spark DataFrame and
    nothing log-sized reaches the driver."""
    reference = reference_replay(skewed_log, FULL_STACK, frozen_book, outcomes=outcomes)
    frame = spark.createDataFrame(pl.from_pandas(skewed_log).to_arrow()).repartition(3)
    assert frame.rdd.getNumPartitions() == 3
    collected = _Collected(monkeypatch)
    result = replay(frame, FULL_STACK, frozen_book, outcomes=outcomes, bootstrap=0)  # engine from the input
    assert result.summary["engine"] == "spark"
    assert _totals(result) == reference["totals"]
    assert type(result.frame).__module__.startswith("pyspark")      # lazy, on the executors
    assert max(collected.sizes) < len(skewed_log) / 4, collected.sizes  # summaries only
    monkeypatch.undo()
    got = pl.from_arrow(result.frame.toArrow())
    _check_rows(got, reference, FULL_STACK)
    ref_rows = list(reference["rows"].values())
    assert _same_quality(got["quality"].to_list(), [r["q"] for r in ref_rows])
    assert got["outcome"].to_list() == [("logged", "outcome", "fallback")[r["src"]] for r in ref_rows]
    assert result.replayed_quality == pytest.approx(reference["quality"][-1], rel=1e-12)
    assert result.summary["by_tenant"][-1]["tenant"] == "whale"
    assert result.summary["by_tenant"][-1]["requests"] > 0.6 * len(skewed_log)
    assert result.decisions().count() == sum(
        d["requests"] for s in result.steps for d in s["decisions"])


@register_policy
class _AdmitFirst(Policy):
    """Test only: admit the first ``n`` requests of the whole log (a kernel without a partition key)."""
    name = "test_spark_admit_first"
    summary = "test only: admit the first n requests of the log"
    stateful = True
    from workbench.core.replay.params import Param
    params = (Param("n", "int", "requests admitted", minimum=0),)

    def reasons(self):
        return (Reason("blocked: beyond the first n requests"),)

    def apply(self, ctx):
        n = self.p["n"]

        def fn(arrays, starts):
            assert len(starts) == 1, "a kernel without keys sees the whole log at once"
            return {"late": (np.arange(len(arrays[FATE])) >= n).astype(np.int8)}

        frame = ctx.run_kernel(ctx.frame, [], [FATE], {"late": nw.Int8}, fn)
        hit = (nw.col("late") == 1) & (nw.col(FATE) == CALLED)
        return frame.with_columns(**{FATE: nw.when(hit).then(nw.lit(BLOCKED, nw.Int8)).otherwise(nw.col(FATE)),
                                     ctx.act: nw.when(hit).then(nw.lit(1, nw.Int8)).otherwise(nw.lit(0, nw.Int8))}
                                  ).drop("late")


def test_kernel_without_key_sees_every_partition_in_order(spark, frozen_book):
    """A per-log kernel is not split by Spark's partitions (the defect DuckDB's batches had)."""
    log = make_log(90, seed=4)
    stack = [{"policy": "test_spark_admit_first", "n": 25}]
    frame = spark.createDataFrame(pl.from_pandas(log).to_arrow()).repartition(3)
    got = replay(frame, stack, frozen_book, bootstrap=0).frame.toArrow()
    want = replay(log, stack, frozen_book, engine="polars", bootstrap=0).frame
    assert got.column("request_id").to_pylist() == want["request_id"].tolist()
    assert got.column("fate").to_pylist() == want["fate"].tolist()
    assert got.column("fate").to_pylist().count("called") == 25


def _cli(capsys, *argv):
    """``workbench replay ARGV`` in-process (the session's Spark is reused), as test_cli_replay does."""
    from workbench.cli import _Parser
    from workbench.cli import replay as replay_cli
    parser = _Parser(prog="workbench")
    replay_cli.add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(list(argv))
    code = args.func(args)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_parquet_folder_through_the_cli(spark, skewed_log, frozen_book, tmp_path, capsys):
    """``workbench replay DIR --engine spark --spark-master local[2] --out X.parquet``: Spark reads
    the folder of parts and writes the decisions; the JSON equals the Polars engine's."""
    folder = tmp_path / "log"
    folder.mkdir()
    for i, part in enumerate(np.array_split(np.arange(len(skewed_log)), 3)):
        skewed_log.iloc[part].to_parquet(folder / f"part-{i}.parquet")
    out = tmp_path / "decisions.parquet"
    policy = tmp_path / "stack.yaml"
    policy.write_text(json.dumps(FULL_STACK))  # JSON is YAML
    code, stdout, stderr = _cli(capsys, "replay", str(folder), "--policy", str(policy), "--engine", "spark",
                                             "--spark-master", "local[2]", "--json", "--bootstrap", "50",
                                             "--out", str(out), "--prices", str(FROZEN_PRICES),
                                             "--sweep", "9.usd=0.02,0.2")
    assert code == 0, stderr
    d = json.loads(stdout)
    same = replay(skewed_log, FULL_STACK, frozen_book, engine="polars", bootstrap=50)
    assert d["engine"] == "spark" and d["requests"] == len(skewed_log)
    assert (d["baseline_pusd"], d["replayed_pusd"]) == (same.summary["baseline_pusd"], same.summary["replayed_pusd"])
    assert [w["savings_pusd"] for w in d["waterfall"]] == [w["savings_pusd"] for w in same.waterfall]
    assert d["budget"]["events"] == same.budget["events"]
    for key in ("savings_usd", "savings_pct"):  # float sums per cluster: equal up to summation order
        assert d["ci95"][key] == pytest.approx(same.ci95[key], rel=1e-9)
    from workbench.core.replay import sweep
    assert d["sweep"] == [{k: p[k] for k in ("value", "replayed_usd", "replayed_quality")}
                          for p in sweep(skewed_log, FULL_STACK, frozen_book, 9, "usd", [0.02, 0.2])]
    written = pd.read_parquet(out)  # a folder of parts, written by the executors
    assert out.is_dir() and len(written) == len(skewed_log)
    assert written.set_index("request_id")["cost_pusd"].to_dict() == \
        same.frame.set_index("request_id")["cost_pusd"].to_dict()
    assert not list(tmp_path.glob(".decisions.parquet.*")), "temporary folder left behind"


def test_cache_and_budget_equal_one_sequential_pass(spark, skewed_log, frozen_book):
    """The stateful pair (an exact TTL cache kernel partitioned by prompt, then budgets) settles
    on Spark to the same single sequential pass as on the other engines."""
    want = one_pass(skewed_log, frozen_book)
    frame = spark.createDataFrame(pl.from_pandas(skewed_log).to_arrow()).repartition(2)
    got = pl.from_arrow(replay(frame, CACHE_BUDGET, frozen_book, bootstrap=0).frame.toArrow())
    assert got["fate"].to_list() == [FATE_NAMES[r["fate"]] for r in want]
    assert got["cost_pusd"].to_list() == [r["cost"] for r in want]
    assert _same_quality(got["quality"].to_list(), [r["q"] for r in want])
    assert {r["fate"] for r in want} == {0, 1, 2}


def test_days_are_utc_whatever_the_session_time_zone(spark, frozen_book):
    """Spark's day functions follow the session time zone: a request at 02:00 UTC on 1 March is
    on 28 February in Los Angeles. The replay runs in UTC and gives the session its zone back;
    pandas in, pandas out."""
    spark.conf.set("spark.sql.session.timeZone", "America/Los_Angeles")
    try:
        log = rows({"ts": pd.Timestamp("2025-03-01T02:00:00Z")}, {"ts": pd.Timestamp("2025-03-01T03:00:00Z")},
                   {"ts": pd.Timestamp("2025-03-02T01:00:00Z")}, day="2025-03-01")
        stack = [{"policy": "daily_budget", "usd": 0.008}]  # one $0.00775 request per day
        result = replay(log, stack, frozen_book, engine="spark", bootstrap=0)
        assert isinstance(result.frame, pd.DataFrame)
        assert result.frame["fate"].tolist() == ["called", "blocked", "called"]
        assert result.summary["budget"]["events"][0]["period"] == "2025-03-01"
        assert spark.conf.get("spark.sql.session.timeZone") == "America/Los_Angeles"
    finally:
        spark.conf.set("spark.sql.session.timeZone", "UTC")


def test_spark_input_needs_the_spark_engine(spark, frozen_book):
    frame = spark.createDataFrame(pl.from_pandas(make_log(5)).to_arrow())
    with pytest.raises(ValueError, match="engine='spark'"):
        replay(frame, [], frozen_book, engine="polars", bootstrap=0)
    with pytest.raises(ValueError, match="already running"):
        replay(make_log(5), [], frozen_book, engine="spark", spark_master="spark://elsewhere:7077", bootstrap=0)


def test_delta_table_without_delta_lake_says_what_is_missing(spark, frozen_book, tmp_path):
    """Delta Lake's jars cannot be fetched offline: a Delta folder must fail with what to install,
    not with a Java stack trace (or be misread as plain Parquet)."""
    table = tmp_path / "requests"
    (table / "_delta_log").mkdir(parents=True)
    make_log(5).to_parquet(table / "part-0.parquet")
    with pytest.raises(ValueError, match="Delta table.*delta-spark"):
        replay(str(table), [], frozen_book, engine="spark", bootstrap=0)
    with pytest.raises(FileNotFoundError, match="log not found"):
        replay(str(tmp_path / "missing.parquet"), [], frozen_book, engine="spark", bootstrap=0)


def test_pandas_3_frames_through_pyspark_both_ways(spark, frozen_book):
    """Why pandas needs no pin below 3 (PySpark 4.3 warns that it does not fully support pandas 3):
    a frame of pandas' own inferred dtypes (``str`` with missing values, ``datetime64[us, UTC]``)
    goes through PySpark's pandas→Spark conversion, the replay (windows, and the budget_fill
    kernel through ``mapInArrow``) and back through ``toPandas()``, and as a pandas input to a
    pandas result, equal to the Polars engine per request. The one other warning allowed is
    pandas 3 telling PySpark's ``toPandas()`` that its ``copy=`` keyword goes away in pandas 4."""
    log = make_log(200, seed=8)
    plain = pd.DataFrame({c: log[c].tolist() for c in log.columns})  # dtypes as pandas infers them
    assert pd.api.types.is_string_dtype(plain["tenant"]) and plain["tenant"].isna().any()
    fill = [{"policy": "daily_budget", "usd": 0.5}, {"policy": "budget_fill", "usd": 0.05, "scope": "tenant"}]
    want = {name: replay(plain, stack, frozen_book, engine="polars", bootstrap=0).frame
            for name, stack in (("full", FULL_STACK), ("fill", fill))}
    keys = ["request_id", "replayed_model", "fate", "cost_pusd"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas", category=FutureWarning)
        warnings.filterwarnings("ignore", message="The copy keyword is deprecated")
        frame = spark.createDataFrame(plain)                      # PySpark's own pandas path
        back = replay(frame, FULL_STACK, frozen_book, bootstrap=0).frame.toPandas()
        local = replay(plain, fill, frozen_book, engine="spark", bootstrap=0).frame
    assert isinstance(local, pd.DataFrame) and str(local["ts"].dt.tz) == "UTC"
    for got, name in ((back, "full"), (local, "fill")):
        assert got[keys].to_dict("list") == want[name][keys].to_dict("list"), name
        assert got["tenant"].isna().sum() == plain["tenant"].isna().sum()
        assert set(got["fate"]) >= {"called", "blocked"}
    # toPandas() gives Spark's session-zone wall times (UTC here), without a zone
    assert (back["ts"].dt.tz_localize("UTC").tolist() == want["full"]["ts"].tolist())
