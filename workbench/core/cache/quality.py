"""Hit quality of a semantic cache on labelled pairs ``{text_a, text_b, label}`` (1 = same answer).

At threshold ``t`` a pair with cosine ≥ ``t`` is served from the cache: a **hit** if its label is 1,
a **false hit** if 0; below ``t`` it is a **miss** (label 1) or a **true negative** (label 0) —
the table GPTCache publishes. Precision = hits / (hits + false hits); recall = hits / positives;
the false-hit rate is 1 − precision (the share of served answers that are wrong). Intervals are
Wilson 95 % score intervals.

Guards veto a hit when two otherwise similar prompts differ in a way embeddings blur:
``numbers`` (different numbers), ``negation`` (one negated, the other not), ``entities``
(different capitalised names). :func:`guard_effects` measures what each costs in hits and gains
in precision.
"""
from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import pandas as pd

Z95 = 1.959963984540054


def wilson(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval of a proportion k/n ((0, 1) when n = 0)."""
    if n == 0:
        return 0.0, 1.0
    p = k / n
    d = 1 + z * z / n
    c = (p + z * z / (2 * n)) / d
    h = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return max(0.0, c - h), min(1.0, c + h)


def read_pairs(path: str | Path) -> pd.DataFrame:
    """Read labelled pairs (JSONL ``{text_a, text_b, label}``). A bad line is an error naming the
    file, the line and the field; nothing is guessed."""
    rows, errors = [], []
    with open(path, encoding="utf-8") as fh:
        for i, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                r = json.loads(line)
            except ValueError as e:
                errors.append(f"{path}:{i}: not JSON ({e.msg})")
                continue
            if not isinstance(r, dict):
                errors.append(f"{path}:{i}: expected an object")
                continue
            bad = [k for k in ("text_a", "text_b") if not isinstance(r.get(k), str)]
            if bad:
                errors.append(f"{path}:{i}: field {bad[0]!r} must be a string")
                continue
            if r.get("label") not in (0, 1, True, False):
                errors.append(f"{path}:{i}: field 'label' must be 0 or 1, got {r.get('label')!r}")
                continue
            rows.append((r["text_a"], r["text_b"], int(r["label"])))
    frame = pd.DataFrame(rows, columns=["text_a", "text_b", "label"])
    frame.attrs["rejected"] = errors
    return frame


def similarities(pairs: pd.DataFrame, embed: Callable[[list[str]], np.ndarray]) -> np.ndarray:
    """Cosine of each pair (texts embedded once, rows L2-normalised)."""
    texts = pd.unique(pd.concat([pairs["text_a"], pairs["text_b"]], ignore_index=True))
    index = {t: i for i, t in enumerate(texts)}
    vec = np.asarray(embed(list(texts)), dtype=np.float32)
    a = vec[[index[t] for t in pairs["text_a"]]]
    b = vec[[index[t] for t in pairs["text_b"]]]
    return (a * b).sum(axis=1)


def confusion(sim: np.ndarray, label: np.ndarray, threshold: float, veto: np.ndarray | None = None) -> dict:
    served = sim >= threshold
    if veto is not None:
        served = served & ~veto
    pos = label == 1
    hits, false_hits = int((served & pos).sum()), int((served & ~pos).sum())
    misses, tn = int((~served & pos).sum()), int((~served & ~pos).sum())
    n_served = hits + false_hits
    lo, hi = wilson(false_hits, n_served)
    return {"threshold": float(threshold), "hits": hits, "false_hits": false_hits, "misses": misses,
            "true_negatives": tn,
            "precision": hits / n_served if n_served else None,
            "recall": hits / (hits + misses) if hits + misses else None,
            "false_hit_rate": false_hits / n_served if n_served else None,
            "false_hit_rate_ci95": [lo, hi], "hit_rate": n_served / len(sim) if len(sim) else 0.0}


def threshold_table(sim: np.ndarray, label: np.ndarray, thresholds: Sequence[float] | None = None) -> pd.DataFrame:
    """Hits, false hits, misses, true negatives, precision, recall at each threshold."""
    if thresholds is None:
        thresholds = np.round(np.arange(0.50, 1.0001, 0.02), 2)
    return pd.DataFrame([confusion(sim, label, t) for t in thresholds])


def pr_curve(sim: np.ndarray, label: np.ndarray) -> pd.DataFrame:
    """Precision and recall at every distinct similarity (one vectorised pass)."""
    order = np.argsort(-sim, kind="stable")
    s, y = sim[order], label[order].astype(np.int64)
    tp = np.cumsum(y)
    fp = np.cumsum(1 - y)
    last = np.r_[s[1:] != s[:-1], True]        # one point per distinct threshold
    pos = max(int(y.sum()), 1)
    return pd.DataFrame({"threshold": s[last], "precision": tp[last] / (tp[last] + fp[last]),
                         "recall": tp[last] / pos, "hits": tp[last], "false_hits": fp[last]})


def choose_threshold(sim: np.ndarray, label: np.ndarray, target_false_hit_rate: float,
                     conservative: bool = True) -> dict:
    """The lowest threshold (most hits) whose false-hit rate meets the target: its Wilson upper
    bound when ``conservative`` (default), else its point estimate. Returns its confusion row (and
    ``None`` threshold when no threshold meets the target)."""
    candidates = np.unique(sim)
    best = None
    for t in candidates[::-1]:                  # from strict to loose: keep the loosest that meets it
        row = confusion(sim, label, t)
        rate = row["false_hit_rate_ci95"][1] if conservative else (row["false_hit_rate"] or 0.0)
        if row["hits"] + row["false_hits"] and rate <= target_false_hit_rate:
            best = row
    if best is None:
        return {"threshold": None, "target_false_hit_rate": target_false_hit_rate}
    best["target_false_hit_rate"] = target_false_hit_rate
    best["rule"] = "Wilson 95% upper bound ≤ target" if conservative else "point estimate ≤ target"
    return best


# -- guards ----------------------------------------------------------------------------------------

_NUM = re.compile(r"\d+(?:[.,]\d+)*")
_NEG = re.compile(r"\b(?:not|no|never|none|nothing|without|cannot|can't|don't|doesn't|didn't|isn't|aren't|"
                  r"wasn't|weren't|won't|wouldn't|shouldn't|couldn't|n't)\b", re.IGNORECASE)
_SCALE = {"thousand": "000", "million": "000000", "billion": "000000000", "k": "000", "m": "000000"}
_ENT = re.compile(r"(?<![.!?]\s)(?<!^)\b[A-Z][a-zA-Z]+(?:\s[A-Z][a-zA-Z]+)*")


def _numbers(t: str) -> frozenset:
    return frozenset(n.replace(",", "") for n in _NUM.findall(t)) | frozenset(
        w for w in re.findall(r"\b(thousand|million|billion)\b", t.lower()))


def _negated(t: str) -> bool:
    return len(_NEG.findall(t)) % 2 == 1


def _entities(t: str) -> frozenset:
    return frozenset(e.lower() for e in _ENT.findall(t.strip()))


GUARDS: dict[str, Callable[[str, str], bool]] = {
    "numbers": lambda a, b: _numbers(a) != _numbers(b),
    "negation": lambda a, b: _negated(a) != _negated(b),
    "entities": lambda a, b: _entities(a) != _entities(b),
}


def guard_veto(text_a: Sequence[str], text_b: Sequence[str], guards: Sequence[str]) -> np.ndarray:
    """True where any of ``guards`` says the two prompts must not share an answer."""
    unknown = [g for g in guards if g not in GUARDS]
    if unknown:
        raise ValueError(f"unknown guard(s) {unknown}; valid: {', '.join(GUARDS)}")
    out = np.zeros(len(text_a), dtype=bool)
    for g in guards:
        fn = GUARDS[g]
        out |= np.fromiter((fn(a, b) for a, b in zip(text_a, text_b)), dtype=bool, count=len(text_a))
    return out


def guard_effects(pairs: pd.DataFrame, sim: np.ndarray, threshold: float) -> pd.DataFrame:
    """For no guard, each guard alone and all together: hits, false hits, precision, and the hit
    rate lost / precision gained against no guard."""
    label = pairs["label"].to_numpy()
    a, b = pairs["text_a"].tolist(), pairs["text_b"].tolist()
    base = confusion(sim, label, threshold)
    rows = [{"guard": "none", **base}]
    for name in [*GUARDS, "all"]:
        veto = guard_veto(a, b, list(GUARDS) if name == "all" else [name])
        rows.append({"guard": name, **confusion(sim, label, threshold, veto)})
    out = pd.DataFrame(rows)
    out["hit_rate_cost"] = base["hit_rate"] - out["hit_rate"]
    out["precision_gain"] = out["precision"].astype(float) - float(base["precision"] or 0.0)
    return out


def bitext_pairs(path: str | Path, n: int = 2000, seed: int = 0) -> pd.DataFrame:
    """Labelled pairs from the Bitext intent clusters: half same-intent (label 1), half
    different-intent (label 0), sampled reproducibly."""
    df = pd.read_csv(path, usecols=["instruction", "intent"]).dropna().drop_duplicates("instruction")
    rng = np.random.default_rng(seed)
    half = n // 2
    pos = []
    groups = {k: v["instruction"].to_numpy() for k, v in df.groupby("intent")}
    keys = sorted(groups)
    while len(pos) < half:
        g = groups[keys[rng.integers(len(keys))]]
        i, j = rng.choice(len(g), 2, replace=False)
        pos.append((g[i], g[j], 1))
    neg = []
    texts, intents = df["instruction"].to_numpy(), df["intent"].to_numpy()
    while len(neg) < n - half:
        i, j = rng.integers(len(df), size=2)
        if intents[i] != intents[j]:
            neg.append((texts[i], texts[j], 0))
    return pd.DataFrame(pos + neg, columns=["text_a", "text_b", "label"])
