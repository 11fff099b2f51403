"""The cascade simulator's state: labelled data, tiers, prices, a signal scored once, a threshold.

Changing the data set, tiers, prices or signal re-scores (once: embeddings, router training, the
sorted sums and the full report with bootstrap intervals). Moving the threshold only evaluates that
threshold on the scored arrays — no model, embedding or sort is recomputed — so the point on the
frontier, the table (with bootstrap intervals from resampling weights drawn once), the monthly
projection, the projection on the traffic log (one replay per traffic tier pair, then a numpy
selection: :class:`~workbench.core.cascade.traffic.TrafficProjection`) and the examples follow the
slider at once. A target (share of the quality gap, mean quality, or a monthly budget) picks the
calibrated operating point without re-scoring. A team's own evaluation CSV (long or wide) can be
uploaded; its rejected rows are counted and named. The traffic log is the sample week, or one the
engineer uploads (:mod:`workbench.widgets.log_source`, handed to :meth:`CascadeSimulatorState.set_log`).
URL query: ``?dataset=routellm-gsm8k&tiers=mixtral,gpt-4&signal=valid&price=gpt-4=10/30&index=50&rpd=20000``
``&target=budget:500&traffic=gpt-4.1-mini,gpt-4.1``.
"""
from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import numpy as np
from traitlets import Dict, Float, Int, List, Unicode, observe

from workbench.core.cascade import CascadeCosts, Scored, Target, get_signal, list_signals, operating_point, report, score
from workbench.core.cascade.metrics import bootstrap_weights, interval
from workbench.core.cascade.signals import query_classes  # noqa: F401  (re-exported for views)
from workbench.core.cascade.sweep import threshold_grid
from workbench.widgets._state import FieldErrors, guarded
from workbench.widgets.address import url_number
from workbench.widgets.log_source import LogSource, sample_label

DATASETS = {"routellm-mmlu": "RouteLLM MMLU (14,042 questions)", "routellm-gsm8k": "RouteLLM GSM8K (1,319 problems)",
            "routellm-mtbench": "RouteLLM MT-Bench (80 questions, judge scores)"}
DEFAULT_DATASET = "routellm-gsm8k"
DEFAULT_SIGNAL = "logreg"
UPLOAD = "upload"
QUERY_KEYS = {"dataset", "tiers", "signal", "price", "index", "rpd", "target", "traffic"}
TARGET_KINDS = {"gap": "share of the quality gap ≥", "quality": "mean quality ≥", "budget": "USD per month ≤"}
SAMPLE_LOG = Path(__file__).resolve().parents[2] / "sample_data" / "requests.parquet"
DEFAULT_TRAFFIC_TIERS = ["gpt-4.1-mini", "gpt-4.1"]
REQUESTS_PER_DAY = 10_000.0
TARGET = ("gap", 0.8)
MAX_UPLOAD_BYTES = 50_000_000


class CascadeSimulatorState(FieldErrors):
    dataset = Unicode(DEFAULT_DATASET)
    tiers = List(Unicode(), help="models, cheapest first")
    signal = Unicode(DEFAULT_SIGNAL)
    prices = Dict(help="model -> [input, output] USD per 1M (overrides the sheets)")
    requests_per_day = Float(REQUESTS_PER_DAY)
    index = Int(-1, help="position on the frontier's threshold grid (-1: the calibrated operating point)")

    models = List(Unicode(), help="models in the data (read only)")
    signals = List(Unicode(), help="signals this data supports (read only)")
    result = Dict(help="the full report of the scored run")
    grid = List(Float(), help="thresholds of the frontier")
    point = Dict(help="the outcome at the slider's threshold")
    recompute_ms = Float(0.0, help="time of the last slider recompute (point, intervals, traffic projection)")
    status = Unicode("")
    target_kind = Unicode(TARGET[0], help="how the operating point is picked: gap, quality or budget")
    target_value = Float(TARGET[1], help="the target's value (share of the gap, mean quality, or USD per month)")
    operating = Dict(help="the operating point the target picks (calibration split → held-out split)")
    traffic_tiers = List(Unicode(), default_value=list(DEFAULT_TRAFFIC_TIERS), help="cheap, strong model of the log")
    traffic_models = List(Unicode(), help="models of the traffic log (read only)")
    traffic_cheap_models = List(Unicode(), help="models the cheap tier can be (read only): every hosted model the "
                                "sheets price over the log's days for less than the strong one (else the log's)")
    traffic = Dict(help="the slider's point replayed over the traffic log")
    load_report = Dict(help="rows read, rejected (first few named) and missing outcomes of the loaded data")
    upload_name = Unicode("", help="name of the uploaded evaluation file ('' = none)")

    def __init__(self, book=None, *, embed=None, day=None, bootstrap: int = 100, traffic_log=None, **kwargs):
        self._book, self._embed, self._day, self._bootstrap = book, embed, day, bootstrap
        self._es = None
        self._uploaded = None
        self._scored: Scored | None = None
        self._features: dict[str, np.ndarray] = {}
        self._weights: np.ndarray | None = None
        self._traffic_log, self._log_frame = traffic_log, None
        self._projections: dict[tuple, Any] = {}
        self._hold = True
        super().__init__(**kwargs)
        self._hold = False
        given = None if traffic_log is None else f"Given log: {len(traffic_log):,} requests"
        self.log_source = LogSource(self.set_log, book=book, source=given or sample_label(self._log()))

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
            if "target" in q:
                kind, _, value = q["target"].partition(":")
                try:
                    if kind not in TARGET_KINDS:
                        raise ValueError
                    self.target_kind, self.target_value = kind, float(value)
                except ValueError:
                    self.set_error("target", f"target {q['target']!r}: expected gap:0.8, quality:0.75 or budget:500")
            if "traffic" in q:
                pair = [t for t in q["traffic"].split(",") if t]
                if len(pair) == 2:
                    self.traffic_tiers = pair
                else:
                    self.set_error("traffic", f"traffic {q['traffic']!r}: expected CHEAP,STRONG")
        self._hold = False
        self.load()
        if "index" in q:
            try:
                self.index = int(q["index"])
            except ValueError:
                self.set_error("threshold", f"index {q['index']!r} is not an integer")

    def query(self) -> str:
        """The URL query that reproduces this view: the inverse of :meth:`apply_query`. The data set,
        tiers, signal and slider position always; volume, target, traffic tiers and prices when they
        differ from the defaults. An uploaded file cannot travel in a link: ``dataset=upload`` asks
        for it again (with the same tiers, once uploaded)."""
        from urllib.parse import urlencode
        items: list[tuple[str, str]] = [("dataset", self.dataset), ("tiers", ",".join(self.tiers)),
                                        ("signal", self.signal)]
        if self.grid and self.index >= 0:
            items.append(("index", str(self.index)))
        if self.requests_per_day != REQUESTS_PER_DAY:
            items.append(("rpd", url_number(self.requests_per_day)))
        if (self.target_kind, self.target_value) != TARGET:
            items.append(("target", f"{self.target_kind}:{url_number(self.target_value)}"))
        if list(self.traffic_tiers) != DEFAULT_TRAFFIC_TIERS:
            items.append(("traffic", ",".join(self.traffic_tiers)))
        items += [("price", f"{m}={url_number(v[0])}/{url_number(v[1])}") for m, v in self.prices.items()]
        return urlencode(items, safe=",:/")

    @observe("dataset")
    def _dataset_changed(self, _=None) -> None:
        if not self._hold:
            self.load()

    @observe("tiers", "signal", "prices")
    def _config_changed(self, _=None) -> None:
        if not self._hold:
            self.rescore()

    @observe("requests_per_day", "index")
    def _slider(self, change=None) -> None:
        if self._hold:
            return
        if change is not None and change["name"] == "requests_per_day":
            # the operating point's month is at this volume; a budget per month also means another threshold
            self.repick(move=self.target_kind == "budget")
        else:
            self.evaluate()

    @observe("target_kind", "target_value")
    def _target_changed(self, _=None) -> None:
        if not self._hold:
            self.repick()

    @observe("traffic_tiers")
    def _traffic_changed(self, _=None) -> None:
        if self._log_frame is not None:
            self._cheap_options()
        if not self._hold:
            self.evaluate()

    # -- work ----------------------------------------------------------------------------------
    @guarded("data")
    def load(self) -> None:
        from workbench.io.evaldata import load_eval
        if self.dataset == UPLOAD:
            if self._uploaded is None:
                raise ValueError("no evaluation file uploaded yet (a link cannot carry one): upload the CSV "
                                 "with 'Upload eval CSV' to see this view, or pick a data set")
            self._es = self._uploaded
        elif self.dataset not in DATASETS:
            raise ValueError(f"unknown data set {self.dataset!r}; valid: {', '.join(DATASETS)}, or an upload")
        else:
            self.status = f"loading {DATASETS[self.dataset]}…"
            self._es = load_eval(self.dataset, cache=True)
        rep = self._es.report
        self.load_report = rep.to_dict(limit=8) if rep is not None else {}
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

    @guarded("upload")
    def load_upload(self, name: str, path) -> None:
        """A team's own evaluation CSV (long: ``id, prompt, model, quality, input_tokens,
        output_tokens``; or wide), through the shared upload checks; bad rows are counted and named."""
        from workbench.core.cascade import EvalDataError
        from workbench.io.evaldata import detect_format, load_eval
        from workbench.widgets.upload import UploadError, prepare
        with tempfile.TemporaryDirectory(prefix="wb-eval-") as tmp:
            target, kind = prepare(name, Path(path), Path(tmp), max_bytes=MAX_UPLOAD_BYTES)
            if kind != "text":
                raise UploadError(f"{name}: an evaluation file is a CSV (long or wide), not {kind}; nothing changed")
            try:
                fmt = detect_format(target)
                if fmt not in ("long-csv", "wide-csv"):
                    raise EvalDataError(f"cannot read it as a long or wide CSV ({fmt})")
                es = load_eval(target, fmt)
            except EvalDataError as e:
                raise UploadError(f"{name}: {str(e).replace(str(target), name)}; nothing changed") from None
        es.name = Path(name).stem
        if es.report is not None:                  # name the user's file, not the temporary copy
            es.report.source = name
            from dataclasses import replace
            es.report.rejected = [replace(b, file=name) for b in es.report.rejected]
        self._uploaded = es
        self._features.pop(UPLOAD, None)
        self.upload_name = name
        if self.dataset == UPLOAD:
            self.load()
        else:
            self.dataset = UPLOAD

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
        r = report(s, bootstrap=self._bootstrap, target=self._target(), requests_per_day=self.requests_per_day)
        grid = [p["threshold"] for p in r["frontier"]]
        op = r["operating_point"]["threshold"]
        self._weights = bootstrap_weights(td.n, self._bootstrap, 1) if self._bootstrap else None
        self._hold = True
        try:
            self.grid = grid
            self.result = r
            self.operating = r["operating_point"]
            self.index = int(np.argmin([abs(g - op) for g in grid]))   # start at the calibrated point
        finally:
            self._hold = False
        self.status = ""
        self._warm_traffic()
        self.evaluate()

    @guarded("traffic")
    def _warm_traffic(self) -> None:
        self.projection()        # one replay per traffic tier pair, before the slider needs it

    def _target(self) -> Target:
        return Target(self.target_kind, self.target_value)

    @guarded("target")
    def repick(self, move: bool = True) -> None:
        """The operating point for the target (no re-scoring); with ``move`` the slider goes there."""
        s = self._scored
        if s is None or not self.grid:
            return
        if self.target_kind in ("gap", "quality") and not 0 <= self.target_value <= 1:
            raise ValueError(f"a {'share of the gap' if self.target_kind == 'gap' else 'mean quality'} is between "
                             f"0 and 1 (e.g. 0.8), got {self.target_value:g}")
        op = operating_point(s, self._target(), self.requests_per_day, bootstrap=self._bootstrap)
        self._hold = True
        try:
            self.operating = op
            if move:
                self.index = int(np.argmin([abs(g - op["threshold"]) for g in self.grid]))
        finally:
            self._hold = False
        self.evaluate()

    # -- traffic ---------------------------------------------------------------------------------
    def _log(self):
        if self._log_frame is None:
            import pandas as pd
            log = self._traffic_log if self._traffic_log is not None else pd.read_parquet(SAMPLE_LOG)
            self._log_frame = log
            book = self._book_or_load()
            names = sorted({book.resolve(m) for m in log["model"].dropna().unique() if m in book})
            self.traffic_models = names
            self._cheap_options()
        return self._log_frame

    def _cheap_options(self) -> None:
        strong = self.traffic_tiers[1] if len(self.traffic_tiers) == 2 else None
        cheaper = _cheaper_models(self._log_frame, self._book_or_load(), strong)
        self.traffic_cheap_models = sorted(cheaper) if cheaper else list(self.traffic_models)

    def set_log(self, frame, source: str) -> None:
        """Project onto ``frame`` (canonical request columns) from now on (``source``: its label).
        The traffic tiers stay when the log has requests on the strong one; otherwise they become
        the log's cheapest and dearest priced models."""
        self._traffic_log, self._log_frame, self._projections = frame, None, {}
        self._log()
        pair = _traffic_pair(frame, self._book_or_load(), list(self.traffic_tiers))
        self._hold = True
        try:
            self.traffic_tiers = pair
        finally:
            self._hold = False
        self._warm_traffic()
        self.evaluate()

    def projection(self):
        """The traffic projection for the current traffic tiers (one replay, then cached)."""
        from workbench.core.cascade.traffic import TrafficProjection
        key = tuple(self.traffic_tiers)
        if key not in self._projections:
            if len(key) != 2 or key[0] == key[1]:
                raise ValueError(f"traffic tiers: pick two different models (cheap, strong), got {list(key)}")
            self.status = "replaying the traffic log through the cascade…"
            try:
                self._projections[key] = TrafficProjection(self._log(), self._book_or_load(), cheap=key[0],
                                                           strong=key[1])
            finally:
                self.status = ""
        return self._projections[key]

    @guarded("traffic")
    def _traffic_at(self, rate: float, quality_change: float, quality_ci) -> dict:
        r = self.projection().at(rate, quality_change, quality_ci)
        r["labelled"] = (f"{self._scored.td.source} at this threshold ({self._scored.td.n:,} prompts; "
                         "cascade vs all-strong)")
        return r

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
        strong_q = td.quality[:, -1]
        ci = {}
        w = self._weights
        if w is not None:           # the same resamples at every threshold: intervals follow the slider
            ci = {"quality": interval(w @ at["quality"] / n), "usd": interval(w @ at["usd"]),
                  "escalation_rate": interval(w @ esc.astype(np.float64) / n),
                  "quality_change_vs_all_strong": interval(w @ (at["quality"] - strong_q) / n),
                  "resamples": int(w.shape[0]), "unit": "prompt"}
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
            "ci95": ci, "quality_change_vs_all_strong": float(at["quality"].mean() - strong_q.mean()),
        }
        traffic = self._traffic_at(point["escalation_rate"], point["quality_change_vs_all_strong"],
                                   ci.get("quality_change_vs_all_strong")) or {}
        self.recompute_ms = (time.perf_counter() - t0) * 1e3     # the computation; views update after
        with self.hold_trait_notifications():
            self.traffic = traffic
            self.point = point


def _traffic_pair(log, book, pair: list[str]) -> list[str]:
    """``pair`` (cheap, strong) if the log has requests on its strong model, else the log's cheapest
    and dearest models by input + output price per 1M on the log's last day (``pair`` if fewer than two)."""
    import pandas as pd
    day = pd.Timestamp(log["ts"].max()).date()
    models = {book.resolve(m) for m in log["model"].dropna().unique() if m in book}
    if len(pair) == 2 and pair[1] in book and book.resolve(pair[1]) in models:
        return pair
    priced = []
    for m in models:
        try:
            p = book.price_on(m, day)
        except Exception:  # no price on that day: not a candidate
            continue
        priced.append((p.input + p.output, m))
    priced.sort()
    return [priced[0][1], priced[-1][1]] if len(priced) >= 2 and priced[0][0] < priced[-1][0] else pair


def _cheaper_models(log, book, strong: str | None) -> list[str]:
    """Hosted models the sheets price on the log's first and last day for less than ``strong`` on
    the last day (input + output per 1M): a cheap tier needs no request of its own in the log
    (the requests that went to ``strong`` try it first). None if ``strong`` has no price then."""
    import pandas as pd
    first, last = (pd.Timestamp(log["ts"].min()).date(), pd.Timestamp(log["ts"].max()).date())

    def usd(m: str) -> float | None:
        try:
            book.price_on(m, first)
            p = book.price_on(m, last)
        except Exception:  # no price on one of those days: not a candidate
            return None
        return p.input + p.output

    top = usd(strong) if strong and strong in book else None
    if top is None:
        return []
    return [m.id for m in book.models() if m.vendor != "self-hosted" and (c := usd(m.id)) is not None and c < top]


def _default_tiers(es) -> list[str]:
    """Cheapest-looking first: the RouteLLM sets name Mixtral (cheap) and GPT-4 (strong)."""
    models = list(es.models)
    cheap = [m for m in models if "mixtral" in m.lower()]
    rest = [m for m in models if m not in cheap]
    return (cheap + rest)[:2] if cheap else models[:2]


__all__ = ["CascadeSimulatorState", "DATASETS", "TARGET_KINDS", "UPLOAD", "threshold_grid"]
