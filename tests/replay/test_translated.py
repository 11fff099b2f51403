"""Polars runs the engine's keyed expressions (pricing, checks, summary, output) translated once per
process: the same results as Narwhals translating them on every call, and the cache really serves."""
from __future__ import annotations

import itertools

import narwhals.stable.v2 as nw
import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from workbench.core.replay import backends, replay
from workbench.core.replay.backends import Backend, PolarsBackend
from workbench.core.replay.pricing import (
    BATCH, CACHED, EXTRA, FATE, IN, KINDS, OUT, WRITE, cost_expr)

from tests.replay.conftest import make_log


@pytest.fixture(scope="module")
def log():
    frame = make_log(300, seed=7)
    rng = np.random.default_rng(2)  # with quality labels: the quality rule and sums are keyed too
    return frame.assign(quality=np.where(rng.random(len(frame)) < 0.3, np.nan, np.round(rng.random(len(frame)), 4)))


def state(n: int, seed: int, levels: int, kinds: tuple[str, ...]) -> nw.LazyFrame:
    """Random replay state joined with random rates (some missing: -1), as price_into sees it."""
    rng = np.random.default_rng(seed)
    cols = {IN: rng.integers(0, 300_000, n), CACHED: rng.integers(0, 50, n), WRITE: rng.integers(0, 50, n),
            OUT: rng.integers(0, 5_000, n), FATE: rng.integers(0, 4, n).astype(np.int8),
            EXTRA: rng.integers(0, 10**6, n), BATCH: rng.random(n) < 0.3}
    for k in kinds:
        cols[k] = rng.integers(0, 40, n)
    for t in range(1, levels + 1):
        cols[f"_t{t}"] = np.full(n, 100_000 * t)
    for t in range(levels + 1):
        for x in ("i", "o", "c", "w", *(KINDS[k][2] for k in kinds)):
            cols[f"_r{t}{x}"] = np.where(rng.random(n) < 0.1, -1, rng.integers(0, 20_000_000, n))
    return nw.from_native(pl.DataFrame(cols).lazy())


SHAPES = [(levels, extra, as_called, kinds) for levels, extra, as_called in itertools.product((0, 1, 2), (False, True),
                                                                                            (False, True))
          for kinds in ((), ("_ain", "_aout"), tuple(KINDS))]


@pytest.mark.parametrize("levels, extra, as_called, kinds", SHAPES)
def test_translated_cost_equals_narwhals(levels, extra, as_called, kinds):
    key = ("test cost", levels, extra, as_called, kinds)
    backends._TRANSLATED.pop(key, None)
    build = lambda: {"cost": cost_expr(levels, extra, as_called, kinds)}  # noqa: E731
    for seed in (0, 1):  # the second frame runs the expressions translated for the first
        frame = state(500, seed, levels, kinds)
        want = Backend().with_columns(frame, key, build).collect().to_native()
        got = PolarsBackend().with_columns(frame, key, build).collect().to_native()
        assert_frame_equal(got, want)
    assert key in backends._TRANSLATED


def test_translated_select_and_group_agg_equal_narwhals():
    frame = state(400, 3, 1, ())
    frame = frame.with_columns(g=nw.col(FATE).cast(nw.Int64) % 3)
    pick = lambda: [nw.col(IN).max().alias("most"), (nw.col(OUT) - nw.col(CACHED)).min().alias("least")]  # noqa: E731

    def agg():
        return ({"x": nw.col(IN), "fx": nw.col(OUT).cast(nw.Float64)},
                [nw.len().alias("n"), nw.col("x").sum().alias("sx"), nw.col("fx").sum()])
    for key in (("test select",), ("test agg",)):
        backends._TRANSLATED.pop(key, None)
    for _ in range(2):
        assert_frame_equal(PolarsBackend().select(frame, ("test select",), pick).collect().to_native(),
                           Backend().select(frame, ("test select",), pick).collect().to_native())
        got = PolarsBackend().group_agg(frame, ("test agg",), ["g"], agg).collect().to_native().sort("g")
        want = Backend().group_agg(frame, ("test agg",), ["g"], agg).collect().to_native().sort("g")
        assert_frame_equal(got, want)


def test_a_key_is_translated_once():
    calls = []

    def build():
        calls.append(1)
        return {"y": nw.col(IN) * 2}
    backends._TRANSLATED.pop(("test once",), None)
    for seed in (0, 1, 2):
        out = PolarsBackend().with_columns(state(50, seed, 0, ()), ("test once",), build).collect().to_native()
        assert (out["y"] == out[IN] * 2).all()
    assert len(calls) == 1


def test_a_replay_serves_its_pricing_from_the_cache(log, book):
    stack = [{"policy": "batch", "features": ["reports"]}, {"policy": "output_cap", "max_output_tokens": 800}]
    first = replay(pl.from_pandas(log), stack, book, bootstrap=50)
    assert any(k[0] == "cost" for k in backends._TRANSLATED if isinstance(k, tuple) and k)
    again = replay(pl.from_pandas(log), stack, book, bootstrap=50)
    assert again.summary == first.summary
    assert_frame_equal(again.frame, first.frame)
    on_pandas = replay(log, stack, book, engine="pandas", bootstrap=50)
    assert {k: v for k, v in on_pandas.summary.items() if k != "engine"} == \
        {k: v for k, v in first.summary.items() if k != "engine"}


def test_this_narwhals_hands_over_its_translation():
    """Without it the engine still runs (each call translates again), only slower: say so here."""
    assert backends.CAN_TRANSLATE


def test_without_translation_the_plain_narwhals_path_runs(monkeypatch):
    monkeypatch.setattr(backends, "CAN_TRANSLATE", False)
    key = ("test fallback",)
    backends._TRANSLATED.pop(key, None)
    frame = state(30, 4, 0, ())
    got = PolarsBackend().with_columns(frame, key, lambda: {"y": nw.col(IN) + 1}).collect().to_native()
    assert (got["y"] == got[IN] + 1).all() and key not in backends._TRANSLATED
