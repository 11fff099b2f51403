"""The savings and quality intervals share one set of cluster sums and one stream of draws."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from workbench.core.replay.bootstrap import bootstrap_ci, bootstrap_quality
from workbench.core.replay.pricing import DAY, PUSD_PER_USD, QUALITY_UNITS


def groups_table(n_tenants: int, days: int, seed: int = 3) -> pd.DataFrame:
    """(tenant, feature, day) groups as the replay's summary has them: float cost sums, quality
    sums in integer billionths and label counts; some tenant-days without a label."""
    rng = np.random.default_rng(seed)
    rows = [(f"t{t:03d}", f, 20251101 + d) for t in range(n_tenants) for f in ("a", "b") for d in range(days)]
    g = pd.DataFrame(rows, columns=["tenant", "feature", DAY])
    base = rng.integers(1, 5_000, len(g)) * 10**9
    g["f_c0"] = base.astype(np.float64)
    g["f_c1"] = (base * rng.uniform(0.6, 1.0, len(g))).round().astype(np.float64)
    for k in ("0", "1"):
        labelled = rng.integers(0, 4, len(g))
        g[f"qn{k}"] = labelled
        g[f"qs{k}"] = (labelled * rng.uniform(0.4, 1.0, len(g)) * QUALITY_UNITS).astype(np.int64)
    g.loc[g.index % 7 == 0, "tenant"] = None  # a missing tenant is its own cluster
    return g


def reference(g: pd.DataFrame, n_boot: int, seed: int) -> tuple[list[float], list[float]]:
    """The savings % and replayed-mean intervals with every resample drawn in one call."""
    keys = [g["tenant"].fillna("\x00").astype(str), g[DAY]]
    c = g.groupby(keys, sort=True)[["f_c0", "f_c1", "qs1", "qn1"]].sum()
    n = len(c)
    w = np.random.default_rng(seed).multinomial(n, np.full(n, 1.0 / n), size=n_boot).astype(np.float64)
    base = c["f_c0"].to_numpy() / PUSD_PER_USD
    saved = base - c["f_c1"].to_numpy() / PUSD_PER_USD
    pct = 100.0 * (w @ saved) / (w @ base)
    mean = (w @ (c["qs1"].to_numpy() / QUALITY_UNITS)) / (w @ c["qn1"].to_numpy(dtype=np.float64))
    return [float(v) for v in np.percentile(pct, [2.5, 97.5])], [float(v) for v in np.percentile(mean, [2.5, 97.5])]


@pytest.mark.parametrize("n_tenants, n_boot", [(6, 400), (800, 2_000)])  # the second is drawn in chunks
def test_one_set_of_draws_gives_both_intervals(n_tenants, n_boot):
    g = groups_table(n_tenants, days=7)
    ci = bootstrap_ci(g, "f_c0", "f_c1", n_boot, seed=5, quality=("0", "1"))
    n = ci["clusters"]
    assert n == len(set(zip(g["tenant"].fillna("\x00"), g[DAY]))) and ci["resamples"] == n_boot
    if n_tenants > 100:
        assert n_boot > 5_000_000 // n  # more resamples than one chunk holds
    pct, mean = reference(g, n_boot, seed=5)
    assert ci["savings_pct"] == pct
    assert ci["quality"]["replayed_mean"] == mean
    # the same as the quality interval drawn on its own
    assert ci["quality"] == bootstrap_quality(g, "0", "1", n_boot, seed=5)
    assert bootstrap_ci(g, "f_c0", "f_c1", n_boot, seed=5)["savings_usd"] == ci["savings_usd"]


def test_without_labels_or_clusters_the_quality_interval_is_empty():
    g = groups_table(3, days=2)
    g["qn1"] = 0
    g["qs1"] = 0
    assert bootstrap_ci(g, "f_c0", "f_c1", 300, quality=("0", "1"))["quality"] == {
        "level": 0.95, "unit": "tenant-day", "replayed_mean": None, "change": None}
    one = bootstrap_ci(g.iloc[:1], "f_c0", "f_c1", 300, quality=("0", "1"))
    assert one["clusters"] == 1 and one["savings_pct"] is None and one["quality"]["replayed_mean"] is None
