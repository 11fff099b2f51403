"""Spend attribution: golden numbers computed by hand on small frames."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from workbench.core import attribution as attr

D1, D2 = "2025-01-06", "2025-01-07"  # a Monday and a Tuesday


def frame(rows) -> pd.DataFrame:
    cols = ["ts", "feature", "tenant", "attempt", "status", "quality", "cost_usd", "input_tokens",
            "output_tokens"]
    df = pd.DataFrame(rows, columns=cols)
    df["ts"] = pd.to_datetime(df["ts"], utc=True)
    df["cached_input_tokens"] = 0
    df["model"] = "m"
    return df


@pytest.fixture
def small():
    return frame([
        (f"{D1} 09:00", "A", "t1", 1, "error", np.nan, 0.0, 0, 0),
        (f"{D1} 09:01", "A", "t1", 2, "ok", 0.9, 1.0, 100, 10),
        (f"{D1} 10:00", "A", "t2", 1, "ok", 0.2, 2.0, 300, 30),   # answered but unsuccessful
        (f"{D1} 11:00", "B", "t1", 1, "ok", np.nan, 0.5, 50, 5),  # no label: counts as success
        (f"{D2} 09:00", "A", "t1", 1, "timeout", np.nan, 0.25, 200, 3),
        (f"{D2} 09:01", "A", "t1", 2, "ok", 0.6, 0.75, 200, 20),
    ])


def test_spend_by_feature_and_day_golden(small):
    got = attr.spend_by(small, by="feature", period="day")
    assert list(got.columns) == ["feature", "day", *attr.SPEND_COLUMNS]
    keys = list(zip(got["feature"], got["day"]))
    assert keys == [("A", pd.Timestamp(D1)), ("A", pd.Timestamp(D2)), ("B", pd.Timestamp(D1))]  # sorted by keys
    a1, a2, b1 = (got.iloc[i] for i in range(3))
    # A on day 1: 3 calls, 2 logical requests (rows 1 and 3), 1 success (row 2), $3
    assert a1["spend_usd"] == pytest.approx(3.0)
    assert (a1["requests"], a1["logical_requests"], a1["failed"], a1["successful"]) == (3, 2, 1, 1)
    assert a1["retry_amplification"] == pytest.approx(1.5)
    assert a1["success_rate"] == pytest.approx(0.5)
    assert a1["cost_per_success_usd"] == pytest.approx(3.0)
    assert a1["share"] == pytest.approx(3.0 / 4.5)
    # percentiles over ok calls [100, 300] and [10, 30], linear interpolation
    assert (a1["p50_input_tokens"], a1["p95_input_tokens"]) == pytest.approx((200.0, 290.0))
    assert (a1["p50_output_tokens"], a1["p95_output_tokens"]) == pytest.approx((20.0, 29.0))
    assert a1["input_tokens"] == 400 and a1["output_tokens"] == 40
    # B: one unlabelled ok call
    assert (b1["requests"], b1["successful"], b1["retry_amplification"]) == (1, 1, 1.0)
    assert b1["cost_per_success_usd"] == pytest.approx(0.5)
    # A on day 2: a timeout then an ok retry
    assert a2["retry_amplification"] == pytest.approx(2.0)
    assert a2["cost_per_success_usd"] == pytest.approx(1.0)
    assert a2["p50_input_tokens"] == 200


def test_top_spenders_golden(small):
    top = attr.top_spenders(small, by="tenant", n=10)
    assert list(top["tenant"]) == ["t1", "t2"] and list(top["rank"]) == [1, 2]
    t1, t2 = top.iloc[0], top.iloc[1]
    assert t1["spend_usd"] == pytest.approx(2.5)
    assert t1["share"] == pytest.approx(2.5 / 4.5)
    assert (t1["requests"], t1["logical_requests"], t1["successful"]) == (5, 3, 3)
    assert t1["retry_amplification"] == pytest.approx(5 / 3)
    assert t1["cost_per_success_usd"] == pytest.approx(2.5 / 3)
    assert t2["successful"] == 0 and math.isnan(t2["cost_per_success_usd"])
    assert len(attr.top_spenders(small, by="tenant", n=1)) == 1


def test_totals_and_success_threshold(small):
    t = attr.totals(small)
    assert t["spend_usd"] == pytest.approx(4.5)
    assert (t["requests"], t["logical_requests"], t["successful"]) == (6, 4, 3)
    assert t["cost_per_success_usd"] == pytest.approx(1.5)
    assert isinstance(t["requests"], int)
    strict = attr.totals(small, success_quality=0.95)  # only the unlabelled call passes
    assert strict["successful"] == 1
    assert attr.totals(small.iloc[:0])["spend_usd"] == 0


def test_missing_group_values_are_labelled(small):
    small.loc[3, "tenant"] = None
    got = attr.spend_by(small, by="tenant", period=None)
    assert set(got["tenant"]) == {"t1", "t2", "(none)"}
    assert got.set_index("tenant").loc["(none)", "spend_usd"] == pytest.approx(0.5)


def test_periods(small):
    week = attr.spend_by(small, by=(), period="week")
    assert list(week["week"]) == [pd.Timestamp(D1)]  # Monday
    hour = attr.spend_by(small, by="feature", period="hour")
    assert len(hour) == 4  # A 09h and 10h on day 1, B 11h, A 09h on day 2
    with pytest.raises(ValueError, match="unknown period"):
        attr.spend_by(small, period="fortnight")


def test_prices_a_frame_without_cost(frozen_book):
    df = pd.DataFrame({
        "ts": pd.to_datetime(["2025-01-01 10:00", "2025-01-01 11:00"], utc=True),
        "feature": ["x", "x"], "model": ["gpt-4o-mini", "gpt-4o"],
        "input_tokens": [1_000_000, 1_000_000], "cached_input_tokens": [0, 0],
        "output_tokens": [0, 1_000_000], "status": ["ok", "ok"], "attempt": [1, 1],
    })
    got = attr.spend_by(df, by="model", period=None, book=frozen_book).set_index("model")
    assert got.loc["gpt-4o-mini", "spend_usd"] == pytest.approx(0.15)
    assert got.loc["gpt-4o", "spend_usd"] == pytest.approx(2.50 + 10.00)
    with pytest.raises(ValueError, match="no cost_usd"):
        attr.spend_by(df)


def daily(spends: dict[str, list[float | None]]) -> pd.DataFrame:
    """One row per (feature, day) with the given spend; None = no calls that day."""
    rows = []
    for feat, values in spends.items():
        for i, v in enumerate(values):
            if v is not None:
                rows.append((pd.Timestamp("2025-01-01", tz="UTC") + pd.Timedelta(days=i, hours=12),
                             feat, "t", 1, "ok", 1.0, v, 10, 1))
    return frame(rows)


def test_anomaly_at_twice_the_median_of_the_previous_week():
    df = daily({"X": [1, 1, 1, 1, 1, 1, 1, 2.0], "Z": [1, 1, 1, 1, 1, 1, 1, 1.99]})
    got = attr.anomalies(df, by="feature")
    flagged = got[got["anomaly"]]
    assert list(flagged["feature"]) == ["X"]
    assert flagged.iloc[0]["day"] == pd.Timestamp("2025-01-08")
    assert flagged.iloc[0]["baseline_usd"] == pytest.approx(1.0)
    assert flagged.iloc[0]["ratio"] == pytest.approx(2.0)
    z = got[got["feature"] == "Z"].set_index("day")
    assert z.loc["2025-01-08", "ratio"] == pytest.approx(1.99)
    # fewer than min_history previous days: no baseline yet
    assert z.loc[:"2025-01-03", "baseline_usd"].isna().all()
    assert z.loc["2025-01-04", "baseline_usd"] == pytest.approx(1.0)
    assert attr.anomalies(df, factor=1.5)["anomaly"].sum() == 2
    assert attr.anomalies(df, min_spend_usd=5.0)["anomaly"].sum() == 0


def test_days_without_calls_count_as_zero():
    # Y: $4, -, -, $4, $4. Day 4: median(4, 0, 0) = 0 -> no baseline to compare with.
    # Day 5: median(4, 0, 0, 4) = 2 -> 4 >= 2 x 2 -> anomaly.
    df = daily({"Y": [4, None, None, 4, 4]})
    got = attr.anomalies(df, by="feature").set_index("day")
    assert len(got) == 5
    assert got.loc["2025-01-02", "spend_usd"] == 0
    assert got.loc["2025-01-04", "baseline_usd"] == 0 and not got.loc["2025-01-04", "anomaly"]
    assert got.loc["2025-01-05", "baseline_usd"] == pytest.approx(2.0)
    assert bool(got.loc["2025-01-05", "anomaly"])


def test_window_and_total_anomalies():
    df = daily({"X": [5, 5, 5, 5, 5, 1, 1, 2.0]})
    # 7-day window: median(5,5,5,5,5,1,1) = 5 -> no; 2-day window: median(1, 1) = 1 -> yes
    assert not attr.anomalies(df, window_days=7)["anomaly"].any()
    two = attr.anomalies(df, window_days=2, min_history=2)
    assert two.loc[two["anomaly"], "day"].tolist() == [pd.Timestamp("2025-01-08")]
    total = attr.anomalies(df, by=())
    assert list(total.columns) == ["day", "spend_usd", "baseline_usd", "ratio", "anomaly"]


def test_day_summary_is_yesterday_with_its_baseline():
    df = daily({"X": [1, 1, 1, 1, 1, 1, 1, 2.0], "Z": [3, 3, 3, 3, 3, 3, 3, 1.5]})
    assert attr.latest_day(df) == pd.Timestamp("2025-01-08")
    s = attr.day_summary(df, by="feature")
    assert list(s["feature"]) == ["X", "Z"]  # highest spend first
    x, z = s.iloc[0], s.iloc[1]
    assert x["spend_usd"] == pytest.approx(2.0) and x["baseline_usd"] == pytest.approx(1.0)
    assert x["change"] == pytest.approx(1.0) and bool(x["anomaly"])
    assert z["change"] == pytest.approx(-0.5) and not z["anomaly"]
    earlier = attr.day_summary(df, by="feature", day="2025-01-02")
    assert earlier["spend_usd"].sum() == pytest.approx(4.0)
    assert attr.day_summary(df, by="feature", day="2030-01-01").empty
    total = attr.day_summary(df, by=())
    assert total.iloc[0]["spend_usd"] == pytest.approx(3.5)
    assert total.iloc[0]["baseline_usd"] == pytest.approx(4.0)


def test_does_not_mutate_its_input(small):
    before = small.copy()
    attr.spend_by(small, by=("feature", "tenant"))
    attr.anomalies(small)
    attr.day_summary(small)
    pd.testing.assert_frame_equal(small, before)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 9), st.sampled_from("abc"), st.integers(1, 3),
                          st.sampled_from(["ok", "error"]), st.floats(0, 5)), min_size=1, max_size=40))
def test_groups_add_up_to_the_total(rows):
    df = frame([(pd.Timestamp("2025-01-01", tz="UTC") + pd.Timedelta(hours=6 * h), f, "t", a, s, 1.0, c, 10, 1)
                for h, f, a, s, c in rows])
    by_day = attr.spend_by(df, by="feature", period="day")
    assert by_day["spend_usd"].sum() == pytest.approx(df["cost_usd"].sum())
    assert by_day["requests"].sum() == len(df)
    assert by_day["logical_requests"].sum() == (df["attempt"] == 1).sum()
    assert by_day["successful"].sum() == (df["status"] == "ok").sum()
    wide = attr.daily_spend(df, by="feature")
    assert wide.to_numpy().sum() == pytest.approx(df["cost_usd"].sum())


def test_a_dominant_spike_without_history_is_flagged():
    """Issue 13 item 4: a runaway loop on the log's third day has no 3-day baseline, yet it is
    most of the bill: with ``dominant_share`` it is flagged, and the reason says why."""
    df = daily({"loop": [1, 1, 50], "chat": [5, 5, 5]})
    plain = attr.anomalies(df, by="feature")
    assert not plain["anomaly"].any()  # the 2x-median rule cannot judge day 3
    got = attr.anomalies(df, by="feature", dominant_share=0.5).set_index(["feature", "day"])
    hit = got.loc[("loop", pd.Timestamp("2025-01-03"))]
    assert bool(hit["anomaly"]) and hit["reason"] == "dominant"
    assert hit["share_of_total"] == pytest.approx(50 / 67)
    assert got["anomaly"].sum() == 1
    one_day = attr.anomalies(daily({"only": [9]}), by="feature", dominant_share=0.5)
    assert not one_day["anomaly"].any()  # a one-day log: nothing to dominate


def test_a_work_frame_gives_the_same_tables_as_the_log():
    df = daily({"X": [1, 1, 1, 1, 1, 1, 1, 2.0], "Z": [3, None, 3, 3, 3, 3, 3, 1.5]})
    work = attr.work_frame(df)
    for by in ("feature", ("feature", "tenant"), ()):
        pd.testing.assert_frame_equal(attr.spend_by(work, by=by, period=None),
                                      attr.spend_by(df, by=by, period=None))
        pd.testing.assert_frame_equal(attr.anomalies(work, by=by), attr.anomalies(df, by=by))
        pd.testing.assert_frame_equal(attr.day_summary(work, by=by), attr.day_summary(df, by=by))
    pd.testing.assert_frame_equal(attr.spend_by(work, by="feature", period="week"),
                                  attr.spend_by(df, by="feature", period="week"))
    assert attr.totals(work[work["feature"] == "X"]) == attr.totals(df[df["feature"] == "X"])
    before = work.copy()
    attr.totals(work)
    attr.daily_spend(work, by=())
    pd.testing.assert_frame_equal(work, before)  # never changed by the functions that read it


@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(st.sampled_from("ABC"), st.sampled_from(["t1", "t2", "t3"]), st.sampled_from(["ok", "error"]),
                          st.integers(0, 40), st.integers(0, 9), st.booleans()), min_size=1, max_size=60))
def test_work_frame_percentiles_of_any_rows_match_a_sort(rows):
    """A work frame orders rows for the percentiles once (value positions); any subset of it must
    give exactly the percentiles of sorting that subset (ties, NaN of failed calls, empty groups)."""
    df = frame([(f"{D1} 09:{i % 60:02d}", f, t, 1, s, np.nan, 0.01 * i, tin * 10, tout, ) for i, (f, t, s, tin, tout, _)
                in enumerate(rows)])
    keep = np.array([k for *_, k in rows])
    work = attr.work_frame(df)
    for by in ("feature", ("feature", "tenant"), ()):
        fast = attr.spend_by(work[keep], by=by, period=None)
        plain = attr.spend_by(df[keep], by=by, period=None)
        keys = [by] if isinstance(by, str) else list(by)
        assert fast[keys].astype(str).values.tolist() == plain[keys].astype(str).values.tolist()
        pd.testing.assert_frame_equal(fast[list(attr.SPEND_COLUMNS)], plain[list(attr.SPEND_COLUMNS)],
                                      check_exact=True)


def test_work_frame_percentiles_on_a_larger_random_subset():
    rng = np.random.default_rng(7)
    n = 3000
    df = frame([(f"{D1} 09:00", "ABCD"[rng.integers(4)], f"t{rng.integers(9)}", 1,
                 "ok" if rng.random() < 0.9 else "error", np.nan, 0.001, int(rng.integers(0, 500)),
                 int(rng.integers(0, 50))) for _ in range(n)])
    keep = rng.random(n) < 0.6
    work = attr.work_frame(df)
    for by in ("tenant", ("feature", "tenant")):
        cols = list(attr.SPEND_COLUMNS)
        pd.testing.assert_frame_equal(attr.spend_by(work[keep], by=by, period=None)[cols],
                                      attr.spend_by(df[keep], by=by, period=None)[cols], check_exact=True)


def merged_day(view: pd.DataFrame, by, day, flags: pd.DataFrame) -> pd.DataFrame:
    """A day summary as plain pandas writes it: the day's table, left-merged with its flags."""
    group = [by] if isinstance(by, str) else list(by)
    table = attr.spend_by(view[view["day"] == day], by=group, period=None)
    flags = flags[flags["day"] == day][[*group, "baseline_usd", "ratio", "anomaly"]]
    table = table.merge(flags, on=group, how="left") if group else table.assign(**flags.iloc[0].to_dict())
    table["change"] = table["ratio"] - 1.0
    table["anomaly"] = table["anomaly"].fillna(False).astype(bool)
    table = table.drop(columns="ratio")
    return table.sort_values("spend_usd", ascending=False, kind="stable").reset_index(drop=True)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(st.sampled_from("ABC"), st.sampled_from(["t1", "t2", "t3"]), st.sampled_from(["ok", "error"]),
                          st.integers(0, 12), st.integers(0, 40), st.floats(0, 5), st.booleans()),
                min_size=1, max_size=80))
def test_work_rows_give_the_tables_of_the_filtered_frame(rows):
    """WorkRows aggregates rows of a work frame by mask without building the frame: every table,
    anomaly scan and day summary must equal the plain functions' on ``work[mask]``, float for float."""
    df = frame([(pd.Timestamp(D1) + pd.Timedelta(days=d, minutes=i), f, t, 1 + i % 2, s, np.nan, cost, i, 3)
                for i, (f, t, s, d, _, cost, _) in enumerate(rows)])
    keep = np.array([k for *_, k in rows])
    work = attr.work_frame(df)
    fast = attr.WorkRows(work)
    view = work[keep]
    for by in ("feature", ("feature", "tenant"), ()):
        pd.testing.assert_frame_equal(fast.spend_by(keep, by), attr.spend_by(view, by=by, period=None),
                                      check_exact=True)
        flags = attr.anomalies(view, by=by)
        pd.testing.assert_frame_equal(fast.anomalies(keep, by), flags, check_exact=True)
        if len(view):
            day = view["day"].max()
            got = fast.day_summary(keep, by, day, flags)
            pd.testing.assert_frame_equal(got, attr.day_summary(view, by=by, day=day, flags=flags), check_exact=True)
            pd.testing.assert_frame_equal(got, merged_day(view, by, day, flags), check_exact=True)
    for key in ("feature", "tenant", "day"):
        assert fast.distinct(keep, key) == view[key].nunique()
    got, want = fast.totals(keep), attr.totals(view)
    assert list(got) == list(want) and all(got[k] == want[k] or (got[k] != got[k] and want[k] != want[k]) for k in got)
    pd.testing.assert_frame_equal(fast.top_spenders(keep, "tenant", 2), attr.top_spenders(view, "tenant", 2),
                                  check_exact=True)
