"""The replay summary's table of (tenant, feature, UTC day) groups, and its sums per tenant, per
feature and per (tenant, day) bootstrap cluster.

The table is what one group-by on the engine's backend returns, held as plain columns (numpy arrays
built once, the exact Python ints of the money sums kept). Float sums over its rows go through
pandas' group sum, one call for every grouping at once: a group's rows are added in table order,
exactly as ``DataFrame.groupby(key, sort=True).sum()`` per grouping adds them (compensated), so the
figures are float-for-float those of the per-grouping pandas code this replaces (tested).
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from workbench.core.replay.bootstrap import cluster_columns, interval_from_clusters
from workbench.core.replay.pricing import DAY, QUALITY_UNITS, units_to_usd

TEXT = ("tenant", "feature")


class GroupTable:
    """Columns of the summary's groups: ``table[name]`` is a numpy array (money sums and minima,
    counts and the day int64, float sums float64, tenant and feature object); :meth:`total` adds
    a column exactly in Python integers."""

    def __init__(self, columns: Mapping[str, list]):
        self._raw = dict(columns)
        self._arrays: dict[str, np.ndarray] = {}
        self.n = len(next(iter(self._raw.values()))) if self._raw else 0

    def __len__(self) -> int:
        return self.n

    def __contains__(self, name: str) -> bool:
        return name in self._raw

    def __getitem__(self, name: str) -> np.ndarray:
        a = self._arrays.get(name)
        if a is None:
            values = self._raw[name]
            if name in TEXT:
                a = np.array(values, dtype=object)
            elif name.startswith("f_"):
                a = np.asarray(values, dtype=np.float64)
            else:
                a = np.asarray([int(v) for v in values] if name.startswith(("s_", "min_")) else values,
                               dtype=np.int64)
            self._arrays[name] = a
        return a

    def total(self, name: str) -> int:
        """The column's sum as an exact Python int."""
        return sum(int(v) for v in self._raw[name])

    def smallest(self, name: str) -> int:
        return min(int(v) for v in self._raw[name])

    def exact_float(self, name: str) -> np.ndarray:
        """An integer column as float64, each value rounded once from its exact int."""
        return np.array([int(v) for v in self._raw[name]], dtype=object).astype(np.float64)

    def text(self, name: str, missing: str) -> list[str]:
        """A text column as ``str`` values, ``missing`` where null (as ``fillna(missing).astype(str)``)."""
        return [missing if _missing(v) else str(v) for v in self._raw[name]]


def _missing(v: Any) -> bool:
    if v is None or v is pd.NA:
        return True
    return isinstance(v, float) and v != v


def codes_of(keys: Sequence) -> tuple[list, np.ndarray]:
    """Sorted distinct ``keys`` (strings or tuples) and each key's position among them."""
    uniques = sorted(set(keys))
    index = {k: i for i, k in enumerate(uniques)}
    return uniques, np.fromiter((index[k] for k in keys), dtype=np.int64, count=len(keys))


def group_sums(table: GroupTable | Mapping[str, Any], columns: Sequence[str],
               labellings: Sequence[np.ndarray]) -> list[dict[str, np.ndarray]]:
    """For each labelling (an integer group code 0 … k-1 per table row, every code used), the sums
    of ``columns`` per group in code order. One pandas group sum over the table stacked once per
    labelling: each group still adds its own rows in table order, as one groupby per labelling."""
    if not labellings:
        return []
    n = len(labellings[0])
    counts = [int(lab.max()) + 1 if n else 0 for lab in labellings]
    offsets = np.cumsum([0, *counts])
    labels = np.concatenate([lab + off for lab, off in zip(labellings, offsets)])
    data = {c: np.tile(np.asarray(table[c]), len(labellings)) for c in columns}
    if not n:
        return [{c: data[c][:0] for c in columns} for _ in labellings]
    sums = pd.DataFrame(data).groupby(pd.Index(labels), sort=True).sum()  # (an ndarray key is several times slower)
    whole = {c: sums[c].to_numpy() for c in columns}
    return [{c: whole[c][a:b] for c in columns} for a, b in zip(offsets[:-1], offsets[1:])]


def rollup_codes(table: GroupTable, key: str) -> tuple[list[str], np.ndarray]:
    """Tenants or features in sorted order ("(none)" for a missing one) and each group's code."""
    return codes_of(table.text(key, "(none)"))


def cluster_codes(table: GroupTable) -> np.ndarray:
    """Each group's (tenant, UTC day) cluster, numbered in sorted order (a missing tenant first)."""
    return codes_of(list(zip(table.text("tenant", "\x00"), table[DAY].tolist())))[1]


def rollup_rows(key: str, names: list[str], sums: Mapping[str, np.ndarray], base: str, final: str,
                k_last: int | None = None) -> list[dict]:
    """The summary's ``by_tenant`` / ``by_feature`` rows from the per-name sums."""
    # one float64 row per group (as iterrows() gave): the same arithmetic as before
    col = {c: np.asarray(v).astype(np.float64).tolist() for c, v in sums.items()}
    rows = []
    for i, name in enumerate(names):
        baseline, replayed = col[f"f{base}"][i], col[f"f{final}"][i]
        row = {key: name, "requests": int(col["n"][i]), "baseline_usd": units_to_usd(baseline),
               "replayed_usd": units_to_usd(replayed), "savings_usd": units_to_usd(baseline - replayed)}
        if k_last is not None:
            for label, k in (("baseline_quality", 0), ("replayed_quality", k_last)):
                qs, qn = col[f"qs{k}"][i], col[f"qn{k}"][i]
                row[label] = float(qs / QUALITY_UNITS / qn) if qn else None
        rows.append(row)
    return rows


def summary_tables(groups: GroupTable, base: str, final: str, n_boot: int = 0, seed: int = 0,
                   q_steps: tuple[str, str] | None = None) -> tuple[list[dict], list[dict], dict | None]:
    """The summary's ``by_tenant`` and ``by_feature`` rows and its bootstrap interval (``n_boot``
    resamples, None for 0) from the groups, all summed in one pandas group sum. ``base`` and
    ``final`` name the cost columns (``_c0``, ``_c{k}``); ``q_steps`` = (``"0"``, ``"k"``) when the
    replay carries quality."""
    if not len(groups):
        ci = interval_from_clusters({c: np.zeros(0) for c in cluster_columns(f"f{base}", f"f{final}", q_steps)},
                                    f"f{base}", f"f{final}", n_boot, seed, quality=q_steps) if n_boot else None
        return [], [], ci
    names = ["n", f"f{base}", f"f{final}"] + ([] if q_steps is None else
                                             [f"{p}{k}" for k in q_steps for p in ("qs", "qn")])
    tenants, by_tenant = rollup_codes(groups, "tenant")
    features, by_feature = rollup_codes(groups, "feature")
    labellings = [by_tenant, by_feature] + ([cluster_codes(groups)] if n_boot else [])
    sums = group_sums(groups, list(dict.fromkeys(names)), labellings)
    k_last = None if q_steps is None else int(q_steps[1])
    ci = interval_from_clusters(sums[2], f"f{base}", f"f{final}", n_boot, seed, quality=q_steps) if n_boot else None
    return (rollup_rows("tenant", tenants, sums[0], base, final, k_last),
            rollup_rows("feature", features, sums[1], base, final, k_last), ci)
