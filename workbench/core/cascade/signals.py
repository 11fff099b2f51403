"""Signals: one score per request and step, higher = "this tier is good enough".

One registry (``register_signal`` / ``get_signal`` / ``list_signals``), like the replay policies.
Each signal says whether it needs the cheap tier's *answer* (a cascade: logprob, schema validity,
self-reported confidence, a self-check call) or decides before any call (a router: random, the
seed's rule classifier, prompt length, keywords, k-nearest-neighbours or logistic regression on
prompt embeddings).

Learned routers never score a request with a model that saw its label: scores are cross-fitted
(``train`` rows get out-of-fold scores; other rows a model fit on all ``train`` rows). Their
target at step ``k`` is "tier k is at least as good as every later tier".
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Callable

import numpy as np

from workbench.core.cascade.evalset import EvalDataError, TierData, fold_ids

#: The seed's classify_query (guide BEE-30011): light / standard / heavy.
SEED_HEAVY_KEYWORDS = ("explain why", "compare", "design", "analyze", "implement")
LIGHT_MAX_WORDS = 20
LIGHT_MAX_CONTEXT_TOKENS = 500
HEAVY_MIN_CONTEXT_TOKENS = 10_000


@dataclass(frozen=True)
class Signal:
    name: str
    summary: str
    needs_answer: bool          # True: a cascade signal (read from the cheap tier's answer)
    learned: bool
    fn: Callable[..., np.ndarray]


_SIGNALS: dict[str, Signal] = {}


def register_signal(name: str, summary: str, *, needs_answer: bool = False, learned: bool = False):
    def deco(fn):
        if name in _SIGNALS:
            raise ValueError(f"signal {name!r} is already registered")
        _SIGNALS[name] = Signal(name, summary, needs_answer, learned, fn)
        return fn
    return deco


def list_signals() -> list[str]:
    return sorted(_SIGNALS)


def get_signal(name: str) -> Signal:
    if name in _SIGNALS:
        return _SIGNALS[name]
    close = difflib.get_close_matches(str(name), list(_SIGNALS), n=3)
    hint = f" (did you mean {', '.join(close)}?)" if close else ""
    raise EvalDataError(f"unknown signal {name!r}{hint}; valid: {', '.join(list_signals())}")


def describe_signals() -> str:
    return "\n".join(f"{s.name}: {s.summary}" for s in (_SIGNALS[n] for n in list_signals()))


# -- the seed's rule classifier ---------------------------------------------------------------------
def classify_query(prompt: str | None, context_tokens: int, heavy_keywords=SEED_HEAVY_KEYWORDS) -> str:
    """The seed's ``classify_query``, word count as the route policy defines it (single spaces + 1)."""
    if prompt is not None:
        text = prompt.strip(" ")
        words = 0 if text == "" else text.count(" ") + 1
        if words < LIGHT_MAX_WORDS and context_tokens < LIGHT_MAX_CONTEXT_TOKENS:
            return "light"
    low = prompt.lower() if prompt is not None else ""
    if any(k in low for k in heavy_keywords) or context_tokens > HEAVY_MIN_CONTEXT_TOKENS:
        return "heavy"
    return "standard"


TIER_RANK = {"light": 0, "standard": 1, "heavy": 2}


def query_classes(td: TierData) -> np.ndarray:
    """classify_query of every prompt, with its tier-1 input tokens as the context size."""
    return np.array([classify_query(p, int(n)) for p, n in zip(td.prompts, td.input_tokens[:, 0])])


def _per_step(score: np.ndarray, td: TierData) -> np.ndarray:
    return np.repeat(np.asarray(score, dtype=np.float64)[:, None], td.k - 1, axis=1)


@register_signal("random", "random router (baseline): a uniform score per request and step")
def _random(td: TierData, *, seed: int = 0, **_) -> np.ndarray:
    return np.random.default_rng(seed).random((td.n, td.k - 1))


@register_signal("rules", "the seed's classify_query: light → tier 1, standard → tier 2 (if 3 tiers), heavy → last")
def _rules(td: TierData, **_) -> np.ndarray:
    rank = np.array([TIER_RANK[c] for c in query_classes(td)], dtype=np.float64)
    # step k keeps classes of rank ≤ k-1 at score 1; the next class sits at 0.5, the rest at 0
    steps = np.arange(td.k - 1)[None, :]
    return np.clip(1.0 - (rank[:, None] - steps) / 2.0, 0.0, 1.0)


@register_signal("length", "shorter prompts stay on the cheap tier (score = 1 − length percentile)")
def _length(td: TierData, **_) -> np.ndarray:
    tokens = td.input_tokens[:, 0]
    order = np.argsort(np.argsort(tokens, kind="stable"), kind="stable")
    return _per_step(1.0 - order / max(td.n - 1, 1), td)


@register_signal("keyword", "the seed's reasoning keywords (explain why, compare, …) escalate; others stay")
def _keyword(td: TierData, **_) -> np.ndarray:
    heavy = np.array([any(k in p.lower() for k in SEED_HEAVY_KEYWORDS) for p in td.prompts])
    return _per_step(np.where(heavy, 0.0, 1.0), td)


def _data_signal(name: str):
    def fn(td: TierData, **_) -> np.ndarray:
        if name not in td.signals:
            have = ", ".join(sorted(td.signals)) or "none"
            raise EvalDataError(f"signal {name!r} is not in the data (signals present: {have})")
        s = td.signals[name][:, :-1]
        if np.isnan(s).any():
            bad = int(np.isnan(s).any(axis=1).sum())
            raise EvalDataError(f"signal {name!r} is missing for {bad} prompt(s) on the escalating tiers")
        return s.astype(np.float64)
    return fn


for _name, _what in (("logprob", "mean answer logprob of the tier's answer (escalate when low)"),
                     ("confidence", "the model's self-reported confidence (escalate when low)"),
                     ("valid", "validation of the answer: 1 valid, 0 failed (escalate on failure)"),
                     ("self_check", "a priced self-check call on the answer: score 0–1 (escalate when low)")):
    register_signal(_name, _what, needs_answer=True)(_data_signal(_name))


# -- learned routers on prompt embeddings -------------------------------------------------------------
def targets(td: TierData) -> np.ndarray:
    """(n, K-1): 1 where tier k is at least as good as every later tier."""
    q = td.quality
    later_best = np.maximum.accumulate(q[:, ::-1], axis=1)[:, ::-1]     # max over j ≥ k
    return (q[:, :-1] >= later_best[:, 1:]).astype(np.float64)


def crossfit(X: np.ndarray, Y: np.ndarray, train: np.ndarray, fit_predict, folds: int = 5, seed: int = 0,
             ids: np.ndarray | None = None) -> np.ndarray:
    """Scores for every row: out-of-fold for ``train`` rows, a model on all ``train`` rows for the rest."""
    n = len(X)
    out = np.empty(Y.shape)
    fold = fold_ids(ids if ids is not None else np.arange(n), folds, seed)
    tr = np.flatnonzero(train)
    rest = np.flatnonzero(~train)
    for f in range(folds):
        fit_rows = tr[fold[tr] != f]
        pred_rows = tr[fold[tr] == f]
        if len(pred_rows):
            out[pred_rows] = fit_predict(X[fit_rows], Y[fit_rows], X[pred_rows])
    if len(rest):
        out[rest] = fit_predict(X[tr], Y[tr], X[rest])
    return out


def knn_fit_predict(k: int = 25):
    def fn(Xtr: np.ndarray, Ytr: np.ndarray, Xte: np.ndarray) -> np.ndarray:
        kk = min(k, len(Xtr))
        out = np.empty((len(Xte), Ytr.shape[1]))
        Xtr32, Xte32 = Xtr.astype(np.float32), Xte.astype(np.float32)   # cosine ranks need no float64
        for a in range(0, len(Xte), 2048):                      # bounded memory: 2048 × n_train
            sim = Xte32[a:a + 2048] @ Xtr32.T
            nn = np.argpartition(-sim, kk - 1, axis=1)[:, :kk]
            out[a:a + 2048] = Ytr[nn].mean(axis=1)
        return out
    return fn


def logreg_fit_predict(l2: float = 1.0, iters: int = 25):
    """L2-regularised logistic regression by Newton's method (IRLS), one model per step."""
    def fn(Xtr: np.ndarray, Ytr: np.ndarray, Xte: np.ndarray) -> np.ndarray:
        A = np.hstack([Xtr, np.ones((len(Xtr), 1))])
        B = np.hstack([Xte, np.ones((len(Xte), 1))])
        reg = np.full(A.shape[1], l2)
        reg[-1] = 0.0
        out = np.empty((len(Xte), Ytr.shape[1]))
        for s in range(Ytr.shape[1]):
            y = Ytr[:, s]
            w = np.zeros(A.shape[1])
            for _ in range(iters):
                p = 1.0 / (1.0 + np.exp(-np.clip(A @ w, -30, 30)))
                g = A.T @ (p - y) + reg * w
                H = (A * (p * (1 - p))[:, None]).T @ A + np.diag(reg + 1e-9)
                step = np.linalg.solve(H, g)
                w -= step
                if np.abs(step).max() < 1e-6:
                    break
            out[:, s] = 1.0 / (1.0 + np.exp(-np.clip(B @ w, -30, 30)))
        return out
    return fn


def _learned(make):
    def fn(td: TierData, *, features: np.ndarray | None = None, train: np.ndarray | None = None,
           seed: int = 0, **_) -> np.ndarray:
        if features is None:
            raise EvalDataError("a learned router needs prompt embeddings (features=)")
        if len(features) != td.n:
            raise EvalDataError(f"{len(features)} embeddings for {td.n} prompts")
        train = np.ones(td.n, dtype=bool) if train is None else np.asarray(train, dtype=bool)
        return crossfit(np.asarray(features, dtype=np.float64), targets(td), train, make(), seed=seed, ids=td.ids)
    return fn


register_signal("knn", "k-nearest-neighbours (k=25, cosine) on prompt embeddings: share of neighbours the cheap tier "
                "served as well", learned=True)(_learned(knn_fit_predict))
register_signal("logreg", "logistic regression on prompt embeddings: P(the cheap tier is as good)",
                learned=True)(_learned(logreg_fit_predict))
