"""Aggregate maths: percentiles, throughput, error rate, goodput, arrivals — recomputed by hand."""

from __future__ import annotations

import math
import statistics

import pytest

from workbench.bench.aggregate import SLO, percentiles, summarize
from workbench.bench.harness import LoadSpec, arrival_offsets
from workbench.bench.records import COLD, MEASURED, WARMUP, RequestResult


def linear_percentile(values, q):
    """Closest-ranks linear interpolation, written out (numpy's default method)."""
    xs = sorted(values)
    pos = (len(xs) - 1) * q / 100
    lo, hi = math.floor(pos), math.ceil(pos)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def test_percentiles_match_hand_computation():
    vals = [10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 80.0, 90.0, 100.0]
    p = percentiles(vals)
    assert p["p50"] == pytest.approx(55.0)  # halfway between 50 and 60
    assert p["p90"] == pytest.approx(91.0)  # 90 + 0.1 * 10
    assert p["p99"] == pytest.approx(99.1)  # 90 + 0.91 * 10
    assert p["mean"] == pytest.approx(55.0)
    assert (p["min"], p["max"], p["n"]) == (10.0, 100.0, 10)
    odd = [3.0, 1.0, 7.0, 5.0, 9.0, 2.0, 8.0]
    for q in (50, 90, 99):
        assert percentiles(odd)[f"p{q}"] == pytest.approx(linear_percentile(odd, q))


def test_percentiles_ignore_none_and_handle_empty():
    assert percentiles([None, 4.0, None])["p50"] == 4.0
    empty = percentiles([])
    assert empty["p50"] is None and empty["p99"] is None and empty["n"] == 0


def _r(i, ok=True, ttft=100.0, e2e=500.0, out=9, inp=20, itl=(50.0,) * 8, start=0.0, reason=None, phase=MEASURED):
    tpot = (e2e - ttft) / (out - 1) if ok and out > 1 else None
    return RequestResult(index=i, phase=phase, ok=ok, ttft_ms=ttft if ok else None, e2e_ms=e2e,
                         output_tokens=out if ok else 0, input_tokens=inp, itl_ms=list(itl) if ok else [],
                         tpot_ms=tpot, start_s=start, error_reason=reason, output_tokens_source="usage",
                         input_tokens_source="usage")


def test_summary_throughput_error_rate_goodput():
    results = [
        _r(0, ttft=100, e2e=500, start=0.0),
        _r(1, ttft=300, e2e=700, start=0.5),  # TTFT over the SLO
        _r(2, ttft=120, e2e=1300, start=1.0),  # TPOT (1300-120)/8 = 147.5 ms over the SLO
        _r(3, ok=False, e2e=50, start=1.5, reason="http_429"),
        _r(4, ok=False, e2e=30, start=1.6, reason="http_429"),
        _r(5, ok=False, e2e=1000, start=1.7, reason="timeout"),
        _r(9, phase=WARMUP, ttft=5000),  # never in the aggregates
        _r(10, phase=COLD, ttft=9000),
    ]
    s = summarize(results, wall_s=4.0, slo=SLO(ttft_ms=200, tpot_ms=100))
    assert s["requests"] == 6 and s["ok"] == 3 and s["errors"] == 3
    assert s["error_rate"] == pytest.approx(0.5)
    assert s["errors_by_reason"] == {"http_429": 2, "timeout": 1}
    assert s["output_tokens"] == 27 and s["input_tokens"] == 60
    assert s["output_tokens_per_s"] == pytest.approx(27 / 4.0)
    assert s["total_tokens_per_s"] == pytest.approx(87 / 4.0)
    assert s["requests_per_s"] == pytest.approx(3 / 4.0)
    assert s["goodput_requests"] == 1
    assert s["goodput_rps"] == pytest.approx(0.25)
    assert s["goodput_fraction"] == pytest.approx(1 / 6)
    assert s["ttft_ms"]["p50"] == pytest.approx(120.0)
    assert s["ttft_ms"]["max"] == 300.0  # warm-up and cold start excluded
    assert s["itl_ms"]["n"] == 24  # pooled gaps of the 3 successful requests
    assert s["tpot_ms"]["p50"] == pytest.approx((500 - 100) / 8)


def test_summary_wall_time_from_offsets_when_not_given():
    results = [_r(0, start=0.0, e2e=1000), _r(1, start=0.5, e2e=2000)]
    s = summarize(results)
    assert s["wall_s"] == pytest.approx(2.5)  # first send at 0 s, last completion at 0.5 + 2.0 s
    assert s["output_tokens_per_s"] == pytest.approx(18 / 2.5)


def test_slo_without_limits_counts_every_success():
    s = summarize([_r(0), _r(1, ok=False, reason="timeout")], wall_s=1.0)
    assert s["goodput_requests"] == 1 and s["goodput_fraction"] == 0.5


def test_poisson_arrivals_have_the_requested_rate():
    off = arrival_offsets(4000, rate=5.0, burstiness=1.0, seed=1)
    gaps = [b - a for a, b in zip(off, off[1:])]
    assert off[0] == 0.0 and all(g >= 0 for g in gaps)
    assert statistics.mean(gaps) == pytest.approx(0.2, rel=0.05)
    assert statistics.pstdev(gaps) / statistics.mean(gaps) == pytest.approx(1.0, rel=0.08)  # exponential: CV 1


def test_bursty_arrivals_keep_the_rate_but_raise_the_variance():
    off = arrival_offsets(4000, rate=5.0, burstiness=0.25, seed=2)
    gaps = [b - a for a, b in zip(off, off[1:])]
    assert statistics.mean(gaps) == pytest.approx(0.2, rel=0.1)
    assert statistics.pstdev(gaps) / statistics.mean(gaps) == pytest.approx(2.0, rel=0.12)  # CV = 1/sqrt(0.25)


def test_arrivals_are_reproducible_by_seed():
    assert arrival_offsets(10, 2.0, seed=3) == arrival_offsets(10, 2.0, seed=3)
    assert arrival_offsets(10, 2.0, seed=3) != arrival_offsets(10, 2.0, seed=4)


@pytest.mark.parametrize("kwargs", [dict(concurrency=0), dict(requests=0), dict(rate=0), dict(rate=-1),
                                    dict(burstiness=0), dict(max_duration_s=0)])
def test_load_spec_rejects_unbounded_or_invalid_levels(kwargs):
    with pytest.raises(ValueError):
        LoadSpec(**kwargs)


def test_load_spec_labels_and_modes():
    assert LoadSpec(concurrency=4).label == "c4" and LoadSpec().mode == "closed"
    assert LoadSpec(rate=2.0).mode == "poisson"
    assert LoadSpec(rate=2.0, burstiness=0.5).mode == "bursty"
