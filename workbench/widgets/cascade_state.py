"""The cascade simulator's state: labelled data, tiers, prices, a signal scored once, a threshold.

Changing the data set, tiers, prices or signal re-scores (once: embeddings, router training, the
sorted sums and the full report with bootstrap intervals). Moving the threshold only evaluates that
threshold on the scored arrays — no model, embedding or sort is recomputed — so the point on the
frontier, the table, the monthly projection and the examples follow the slider at once.
URL query: ``?dataset=routellm-gsm8k&tiers=mixtral,gpt-4&signal=valid&price=gpt-4=10/30&index=50&rpd=20000``.
"""
from __future__ import annotations

import time
from typing import Any
from urllib.parse import parse_qs

import numpy as np
from traitlets import Dict, Float, Int, List, Unicode, observe

from workbench.core.cascade import CascadeCosts, Scored, Target, get_signal, list_signals, report, score
from workbench.core.cascade.signals import query_classes  # noqa: F401  (re-exported for views)
from workbench.core.cascade.sweep import threshold_grid
from workbench.widgets._state import FieldErrors, guarded

DATASETS = {"routellm-mmlu": "RouteLLM MMLU (14,042 questions)", "routellm-gsm8k": "RouteLLM GSM8K (1,319 problems)",
            "routellm-mtbench": "RouteLLM MT-Bench (80 questions, judge scores)"}
DEFAULT_DATASET = "routellm-gsm8k"
DEFAULT_SIGNAL = "logreg"
QUERY_KEYS = {"dataset", "tiers", "signal", "price", "index", "rpd"}


class CascadeSimulatorState(FieldErrors):
    dataset = Unicode(DEFAULT_DATASET)
    tiers = List(Unicode(), help="models, cheapest first")
    signal = Unicode(DEFAULT_SIGNAL)
    prices = Dict(help="model -> [input, output] USD per 1M (overrides the sheets)")
    requests_per_day = Float(10_000.0)
    index = Int(-1, help="position on the frontier's threshold grid (-1: the calibrated operating point)")

    models = List(Unicode(), help="models in the data (read only)")
    signals = List(Unicode(), help="signals this data supports (read only)")
    result = Dict(help="the full report of the scored run")
    grid = List(Float(), help="thresholds of the frontier")
    point = Dict(help="the outcome at the slider's threshold")
    recompute_ms = Float(0.0, help="time of the last slider recompute")
    status = Unicode("")

    def __init__(self, book=None, *, embed=None, day=None, bootstrap: int = 100, **kwargs):
        self._book, self._embed, self._day, self._bootstrap = book, embed, day, bootstrap
        self._es = None
        self._scored: Scored | None = None
        self._features: dict[str, np.ndarray] = {}
        self._hold = True
        super().__init__(**kwargs)
        self._hold = False

    # -- inputs ------------------------------------------------------------------------------
    def apply_query(self, query: str) -> None:
        q = {k: v[-1] for k, v in parse_qs(query.lstrip("?")).items() if k in QUERY_KEYS}
        prices = {}
        for item in parse_qs(query.lstrip("?")).get("price", []):
            model, _, rates = item.rpartition("=")
            i, _, o = rates.partition("/")
            try:
                prices[model] = [float(i), float(o)]
            except ValueError:
                self.set_error("prices", f"price {item!r}: expected MODEL=IN/OUT")
        self._hold = True                     # observers stay quiet until the one load below
        with self.hold_trait_notifications():
            if "dataset" in q:
                self.dataset = q["dataset"]
            if "tiers" in q:
                self.tiers = [t for t in q["tiers"].split(",") if t]
            if "signal" in q:
                self.signal = q["signal"]
            if prices:
                self.prices = prices
            if "rpd" in q:
                try:
                    self.requests_per_day = float(q["rpd"])
                except ValueError:
                    self.set_error("volume", f"rpd {q['rpd']!r} is not a number")
        self._hold = False
        self.load()
        if "index" in q:
            try:
                self.index = int(q["index"])
            except ValueError:
                self.set_error("threshold", f"index {q['index']!r} is not an integer")

    @observe("dataset")
    def _dataset_changed(self, _=None) -> None:
        if not self._hold:
            self.load()

    @observe("tiers", "signal", "prices")
    def _config_changed(self, _=None) -> None:
        if not self._hold:
            self.rescore()

    @observe("requests_per_day", "index")
    def _slider(self, _=None) -> None:
        if not self._hold:
            self.evaluate()

    # -- work ----------------------------------------------------------------------------------
    @guarded("data")
    def load(self) -> None:
        from workbench.io.evaldata import load_eval
        if self.dataset not in DATASETS:
            raise ValueError(f"unknown data set {self.dataset!r}; valid: {', '.join(DATASETS)}")
        self.status = f"loading {DATASETS[self.dataset]}…"
        self._es = load_eval(self.dataset, cache=True)
        self._features = {}
        self._hold = True
        try:
            self.models = list(self._es.models)
            self.signals = [s for s in list_signals()
                            if not get_signal(s).needs_answer or s in self._es.signals]
            try:                                  # tiers may be given as unique substrings (URL)
                tiers = [self._es.models[self._es.model_index(t)] for t in self.tiers]
            except ValueError:
                tiers = []
            if len(tiers) < 2 or len(set(tiers)) < len(tiers):
                tiers = _default_tiers(self._es)
            self.tiers = tiers
            if self.signal not in self.signals:
                self.signal = DEFAULT_SIGNAL
        finally:
            self._hold = False
        self.rescore()

    def _book_or_load(self):
        if self._book is None:
            from workbench.io.pricesheets import load_prices
            self._book = load_prices()
        return self._book

    @guarded("config")
    def rescore(self) -> None:
        if self._es is None:
            return
        from workbench.io.evaldata import tier_prices
        td = self._es.for_tiers(self.tiers)
        prices = tier_prices(td.models, self._book_or_load(), {m: tuple(v) for m, v in self.prices.items()}, self._day)
        features = None
        if get_signal(self.signal).learned:
            if self.dataset not in self._features:
                self.status = f"embedding {td.n:,} prompts (cached on disk after the first time)…"
                embed = self._embed
                if embed is None:
                    from workbench.embeddings import embed_texts as embed
                self._features[self.dataset] = np.asarray(embed(list(self._es.prompts)))
            full = self._features[self.dataset]
            keep = {i: k for k, i in enumerate(self._es.ids)}
            features = full[[keep[i] for i in td.ids]]
        self.status = "scoring…"
        s = score(td, td.models, prices, self.signal, features=features, costs=CascadeCosts())
        self._scored = s
        r = report(s, bootstrap=self._bootstrap, target=Target("gap", 0.8), requests_per_day=self.requests_per_day)
        grid = [p["threshold"] for p in r["frontier"]]
        op = r["operating_point"]["threshold"]
        self._hold = True
        try:
            self.grid = grid
            self.result = r
            self.index = int(np.argmin([abs(g - op) for g in grid]))   # start at the calibrated point
        finally:
            self._hold = False
        self.status = ""
        self.evaluate()

    @guarded("threshold")
    def evaluate(self) -> None:
        """The outcome at the slider's threshold: nothing is re-scored."""
        s = self._scored
        if s is None or not self.grid:
            return
        t0 = time.perf_counter()
        i = min(max(self.index, 0), len(self.grid) - 1)
        t = self.grid[i]
        at = s.at(t)
        td = s.td
        n = td.n
        esc = at["tier"] > 0
        usd = float(at["usd"].sum())
        per_req = usd / n
        monthly = 30 * self.requests_per_day
        strong_pr = float(s.call[:, -1].sum()) / 1e12 / n
        cheap_pr = float(s.call[:, 0].sum()) / 1e12 / n
        light = s.classes == "light"
        trusted_wrong = np.flatnonzero((at["tier"] == 0) & (td.quality[:, 0] < td.quality[:, 1:].max(axis=1)))
        point = {
            "threshold": t, "index": i, "n": n, "quality": float(at["quality"].mean()), "usd": usd,
            "usd_per_request": per_req, "escalation_rate": float(esc.mean()),
            "escalation_light": float(esc[light].mean()) if light.any() else None,
            "tier_share": {m: float((at["tier"] == k).mean()) for k, m in enumerate(td.models)},
            "usd_per_month": per_req * monthly, "all_strong_usd_per_month": strong_pr * monthly,
            "all_cheap_usd_per_month": cheap_pr * monthly, "requests_per_day": self.requests_per_day,
            "trusted_wrong": int(len(trusted_wrong)),
            "examples": [{"id": str(td.ids[j]), "prompt": td.prompts[j][:300], "score": float(s.keys[0, j]),
                          "quality": [float(x) for x in td.quality[j]]} for j in trusted_wrong[:6]],
        }
        self.recompute_ms = (time.perf_counter() - t0) * 1e3     # the computation; views update after
        self.point = point


def _default_tiers(es) -> list[str]:
    """Cheapest-looking first: the RouteLLM sets name Mixtral (cheap) and GPT-4 (strong)."""
    models = list(es.models)
    cheap = [m for m in models if "mixtral" in m.lower()]
    rest = [m for m in models if m not in cheap]
    return (cheap + rest)[:2] if cheap else models[:2]


def query_of(state: CascadeSimulatorState) -> str:
    """The state as a URL query (for a shareable link)."""
    from urllib.parse import urlencode
    items: list[tuple[str, Any]] = [("dataset", state.dataset), ("tiers", ",".join(state.tiers)),
                                    ("signal", state.signal), ("index", state.index),
                                    ("rpd", f"{state.requests_per_day:g}")]
    items += [("price", f"{m}={v[0]:g}/{v[1]:g}") for m, v in state.prices.items()]
    return urlencode(items)


__all__ = ["CascadeSimulatorState", "DATASETS", "query_of", "threshold_grid"]
