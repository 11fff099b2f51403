"""The replay summary's tables (per tenant, per feature, bootstrap interval) built from plain columns
and one pandas group sum equal, float for float, what the per-table pandas code they replace gave."""
from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from workbench.core.replay.bootstrap import bootstrap_ci
from workbench.core.replay.groups import GroupTable, summary_tables
from workbench.core.replay.pricing import DAY, QUALITY_UNITS, units_to_usd


# -- the code the tables replace (engine.py before the change), kept here as the reference ----------
def _group_column(name: str, values: list):
    if name in ("tenant", "feature") or name.startswith("f_"):
        return values
    if name.startswith(("s_", "min_")):
        return np.array([int(v) for v in values], dtype=object)
    return np.asarray(values, dtype=np.int64)


def _rollup(groups: pd.DataFrame, key: str, base: str, final: str, k_last: int | None = None) -> list[dict]:
    if not len(groups):
        return []
    names = ["n", f"f{base}", f"f{final}"] + ([] if k_last is None else ["qs0", "qn0", f"qs{k_last}", f"qn{k_last}"])
    sums = groups.groupby(groups[key].fillna("(none)").astype(str), sort=True)[list(dict.fromkeys(names))].sum()
    col = {c: sums[c].to_numpy(dtype=np.float64).tolist() for c in sums.columns}
    rows = []
    for i, name in enumerate(sums.index):
        baseline, replayed = col[f"f{base}"][i], col[f"f{final}"][i]
        row = {key: name, "requests": int(col["n"][i]), "baseline_usd": units_to_usd(baseline),
               "replayed_usd": units_to_usd(replayed), "savings_usd": units_to_usd(baseline - replayed)}
        if k_last is not None:
            for label, k in (("baseline_quality", 0), ("replayed_quality", k_last)):
                qs, qn = col[f"qs{k}"][i], col[f"qn{k}"][i]
                row[label] = float(qs / QUALITY_UNITS / qn) if qn else None
        rows.append(row)
    return rows


def reference(raw: dict, k_last: int, n_boot: int, seed: int, quality: bool):
    groups = pd.DataFrame({k: _group_column(k, v) for k, v in raw.items()})
    q = ("0", str(k_last)) if quality else None
    ci = bootstrap_ci(groups, "f_c0", f"f_c{k_last}", n_boot, seed, quality=q) if n_boot else None
    kq = k_last if quality else None
    return (_rollup(groups, "tenant", "_c0", f"_c{k_last}", kq), _rollup(groups, "feature", "_c0", f"_c{k_last}", kq),
            ci)


# -- random group tables, as a backend's to_dict(as_series=False) hands them over ------------------
TENANTS = st.sampled_from(["acme", "beta", "Zeta", "ünïcode", "t10", "t9", "", None])
FEATURES = st.sampled_from(["chat", "search", "reports", None])
# float sums of very different magnitudes: a group's compensated sum depends on the order of its rows
MONEY = st.one_of(st.integers(0, 10**6), st.integers(10**12, 10**16), st.integers(0, 2**53)).map(float) | \
    st.floats(0, 1e16, allow_nan=False)


@st.composite
def group_tables(draw):
    n = draw(st.integers(0, 60))
    k_last = draw(st.integers(0, 2))
    quality = draw(st.booleans())
    raw = {"tenant": draw(st.lists(TENANTS, min_size=n, max_size=n)),
           "feature": draw(st.lists(FEATURES, min_size=n, max_size=n)),
           DAY: draw(st.lists(st.sampled_from([20250301, 20250302, 20250310, 20251231]), min_size=n, max_size=n)),
           "n": draw(st.lists(st.integers(1, 10**6), min_size=n, max_size=n))}
    for k in range(k_last + 1):
        raw[f"s_c{k}"] = draw(st.lists(st.integers(0, 2**62), min_size=n, max_size=n))
        raw[f"min_c{k}"] = draw(st.lists(st.integers(-1, 10**9), min_size=n, max_size=n))
        raw[f"f_c{k}"] = draw(st.lists(MONEY, min_size=n, max_size=n))
        if quality:
            raw[f"qs{k}"] = draw(st.lists(st.integers(0, 10**12), min_size=n, max_size=n))
            raw[f"qn{k}"] = draw(st.lists(st.integers(0, 1000), min_size=n, max_size=n))
    return raw, k_last, quality


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(group_tables(), st.sampled_from([0, 200]), st.integers(0, 3))
def test_tables_equal_the_per_table_pandas_code(case, n_boot, seed):
    raw, k_last, quality = case
    want = reference(raw, k_last, n_boot, seed, quality)
    got = summary_tables(GroupTable(raw), "_c0", f"_c{k_last}", n_boot, seed,
                         ("0", str(k_last)) if quality else None)
    assert got == want  # floats compared exactly (==), rows in the same order


def test_a_groups_rows_are_added_in_table_order():
    """Three rows whose float sum depends on the order of addition: the rollup adds them as the
    pandas groupby did (the table's order), whichever tenant's rows sit in between."""
    raw = {"tenant": ["a", "b", "a", "a"], "feature": ["x", "x", "y", "z"], DAY: [20250301] * 4, "n": [1, 1, 1, 1],
           "s_c0": [0] * 4, "min_c0": [0] * 4, "f_c0": [1e16, 5.0, 1.0, -1e16]}
    got = summary_tables(GroupTable(raw), "_c0", "_c0")[0]
    assert got == reference(raw, 0, 0, 0, False)[0]
    assert [r["tenant"] for r in got] == ["a", "b"] and got[1]["baseline_usd"] == 5.0 / 1e12


def test_group_table_columns():
    raw = {"tenant": ["a", None], "feature": [None, "f"], DAY: [20250301, 20250302], "n": [3, 4],
           "s_c0": [2**62, 5], "min_c0": [-1, 0], "f_c0": [0.5, 1.5]}
    g = GroupTable(raw)
    assert len(g) == 2 and g.total("s_c0") == 2**62 + 5 and g.smallest("min_c0") == -1
    assert g["f_c0"].dtype == np.float64 and g["n"].dtype == np.int64 and g[DAY].tolist() == [20250301, 20250302]
    assert g.text("tenant", "(none)") == ["a", "(none)"] and g.exact_float("s_c0").tolist() == [float(2**62), 5.0]
