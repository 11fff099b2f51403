"""The spend explorer's state: a priced request log, filters, attribution and a policy stack.

:class:`SpendExplorerState` holds a priced request log (the sample week by default, or an upload),
the filters (date range, feature, tenant), the attribution breakdown and a policy stack. Its
observers call :mod:`workbench.core.attribution` and :func:`workbench.core.replay.replay` and set
result traits; the view (:mod:`workbench.widgets.spend_explorer`) only displays them. Errors become
one-line messages in ``errors`` and the last good result stays. Everything a user can set is also a
URL query parameter (``?start=2025-11-05&end=2025-11-09&feature=rag_answer&tenant=initech&by=model&
policies=[{"policy":"output_cap","max_output_tokens":512}]``), so a view can be shared as a link.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import json
import math
from pathlib import Path
from typing import Any, Mapping
from urllib.parse import parse_qs

import numpy as np
import pandas as pd
from traitlets import Any as AnyTrait
from traitlets import Dict, Enum, Instance, Int, List, Unicode, dlink, observe

from workbench.widgets._state import FieldErrors, guarded as _guarded, one_line as _one_line
from workbench.core import attribution as attr
from workbench.core.frame_cost import price_frame
from workbench.core.prices import PriceBook, PriceError
from workbench.core.schema import COLUMNS
from workbench.widgets.dates import parse_date as _date
from workbench.widgets.log_source import MAX_UPLOAD_BYTES, LogSource, conform  # noqa: F401 (re-exported)

ROOT = Path(__file__).resolve().parents[2]
SAMPLE_LOG = ROOT / "sample_data" / "requests.parquet"
SAMPLE_TENANTS = ROOT / "sample_data" / "tenants.csv"

#: Attribution breakdowns -> group columns.
BREAKDOWNS: Mapping[str, tuple[str, ...]] = {
    "feature": ("feature",), "tenant": ("tenant",), "model": ("model",),
    "feature_tenant": ("feature", "tenant"),
}
BREAKDOWN_LABELS = {"feature": "Feature", "tenant": "Tenant", "model": "Model", "feature_tenant": "Feature × tenant"}
QUERY_KEYS = {"start", "end", "feature", "tenant", "by", "policies"}
#: The stack the sample week opens with (``?policies=[]`` opens with none).
SAMPLE_POLICIES = (
    {"policy": "batch", "features": ["nightly_summary"]},
    {"policy": "output_cap", "max_output_tokens": 800, "features": ["support_chat", "rag_answer"]},
)






def replay_available() -> bool:
    """Whether the replay engine (``workbench.core.replay``) is installed in this tree."""
    try:
        import workbench.core.replay  # noqa: F401
    except ImportError:
        return False
    return True


class _Frame(AnyTrait):
    """A DataFrame result: a new frame notifies without being compared cell by cell with the old
    one (traitlets compares old == new on every assignment; for frames that is a whole
    elementwise pass whose answer is then thrown away)."""

    def set(self, obj, value):
        old = obj._trait_values.get(self.name, self.default_value)
        obj._trait_values[self.name] = value
        if old is not value:
            obj._notify_trait(self.name, old, value)


# =============================================================================================
# State
# =============================================================================================

class SpendExplorerState(FieldErrors):
    """Log, filters, breakdown and policy stack of the explorer, and everything computed from them."""

    start = Instance(dt.date, allow_none=True, help="first day shown (UTC), inclusive")
    end = Instance(dt.date, allow_none=True, help="last day shown (UTC), inclusive; 'yesterday' is this day")
    feature = Unicode("", help="only this feature ('' = all)")
    tenant = Unicode("", help="only this tenant ('' = all)")
    breakdown = Enum(tuple(BREAKDOWNS), default_value="feature")
    policies = List(Dict(), help="the policy stack as config dicts [{'policy': name, **params}]")

    # results (read them, don't set them)
    source = Unicode("", help="where the log came from, one line")
    days = List(help="the days in the log (dt.date)")
    features_available = List(Unicode())
    tenants_available = List(Unicode())
    kpis = Dict(help="totals of the filtered log (attribution.totals) + days, cached share")
    yesterday = Dict(help="day, total, by_feature, by_tenant (records) of the last day shown")
    by_day = _Frame(help="DataFrame: feature, day, spend_usd, anomaly (the stacked bars)")
    top = _Frame(help="DataFrame: top spenders by tenant (attribution.top_spenders)")
    by_model = _Frame(help="DataFrame: spend by model")
    flags = _Frame(help="DataFrame: flagged days by feature and by tenant in the range")
    table = _Frame(help="DataFrame: attribution by the chosen breakdown over the range")
    replay = Dict(help="baseline_usd, replayed_usd, waterfall, events, timeline (records)")
    errors = Dict(help="field -> one-line message ('load', 'upload', 'filters', 'query', 'policy')")
    revision = Int(0, help="bumped after each recompute (views observe it)")
    replay_revision = Int(0)
    progress = Dict(help="long work under way: {'value': 0..1, 'label': str}; empty when idle")
    anomaly_check = Dict(help="what the anomaly scan checked: features, tenants, days, rule, first day judged")
    mapping = Dict(help="an upload waiting for its column mapping: name, header, message, targets, required")

    def _report(self, label: str):
        """A progress callback for load_log (done, total) and replay (done, total, step)."""
        def report(done: int, total: int, step: str = "") -> None:
            value = min(1.0, done / total) if total else 0.0
            self.progress = {"value": value, "label": f"{label} {step}".strip()}
        return report

    def __init__(self, prices: PriceBook, **kwargs: Any):
        self.prices = prices
        self.log: pd.DataFrame = pd.DataFrame()
        self.tenants_table: pd.DataFrame | None = None
        self.replay_result = None
        self._ready = False
        self._replay_held = self._replay_wanted = False
        super().__init__(**kwargs)
        # uploads and the sample week: the shared log source; its mapping and errors show here too
        self.log_source = LogSource(self.set_log, book=prices, sample=self.load_sample)
        dlink((self.log_source, "mapping"), (self, "mapping"))
        self.log_source.observe(lambda c: self.set_error("upload", c["new"].get("upload", "")), "errors")
        self._ready = True

    # -- loading -----------------------------------------------------------------------------
    @_guarded("load")
    def load_sample(self) -> None:
        frame = pd.read_parquet(SAMPLE_LOG)
        tenants = pd.read_csv(SAMPLE_TENANTS) if SAMPLE_TENANTS.is_file() else None
        with self.batch():
            if not self.policies and replay_available():
                self.policies = [dict(p) for p in SAMPLE_POLICIES]
            self.set_log(frame, f"Sample week: {len(frame):,} calls of a fictional help-desk SaaS "
                                "(sample_data/requests.parquet)", tenants)

    def set_log(self, frame: pd.DataFrame, source: str, tenants: pd.DataFrame | None = None) -> None:
        """Price ``frame`` (canonical columns) and make it the log; filters reset to everything."""
        priced = self._price(frame)
        priced["_day"] = attr.period_start(priced["ts"], "day")
        days = [pd.Timestamp(d).date() for d in np.unique(priced["_day"].dropna().to_numpy())]
        if not days:
            raise ValueError("the log has no rows")
        self.log = priced
        # computed once per log: the attribution work frame, and the columns filters compare
        self._work = attr.work_frame(priced)
        self._rows = attr.WorkRows(self._work)  # tables of any filter's rows, no frame built per change
        self._day_ns = priced["_day"].to_numpy(dtype="datetime64[ns]")
        # filters compare integer codes, not strings: (codes, {value: code})
        self._feature_col = _codes(priced["feature"])
        self._tenant_col = _codes(priced["tenant"])
        self._flag_cache: dict = {}
        self._result_cache: dict = {}  # (start, end, feature, tenant, breakdown) -> results, see recompute
        self._replay_input = None  # the log as the replay engine reads it (Polars), made on first replay
        self._replay_cache: dict = {}
        self.tenants_table = tenants
        with self.batch():
            self.source = source
            self.days = days
            self.features_available = sorted(priced["feature"].dropna().astype(str).unique())
            self.tenants_available = sorted(priced["tenant"].dropna().astype(str).unique())
            self.start, self.end, self.feature, self.tenant = days[0], days[-1], "", ""

    def _price(self, frame: pd.DataFrame) -> pd.DataFrame:
        try:
            return price_frame(frame, self.prices)
        except PriceError as whole:
            # price model by model; name the ones that cannot be priced, keep the rest
            parts, bad = [], []
            for model, part in frame.groupby(frame["model"].astype(str), sort=True):
                try:
                    parts.append(price_frame(part, self.prices))
                except PriceError as e:
                    bad.append(f"{len(part):,} rows of {model}: {_one_line(e)}")
            if not parts:
                raise whole
            self.set_error("load", "left out (cannot be priced): " + "; ".join(bad))
            return pd.concat(parts).sort_values(["ts", "request_id"], kind="stable").reset_index(drop=True)

    def load_file(self, name: str, content: bytes) -> str | None:
        """Load an uploaded log held in memory (see :meth:`LogSource.load_path`)."""
        return self.log_source.load_file(name, content)

    def load_path(self, name: str, path: Path, column_map: Mapping[str, str] | None = None) -> str | None:
        return self.log_source.load_path(name, path, column_map)

    def load_mapped(self, column_map: Mapping[str, str]) -> str | None:
        return self.log_source.load_mapped(column_map)

    # -- inputs ------------------------------------------------------------------------------
    @observe("start", "end", "feature", "tenant", "breakdown")
    def _filters_changed(self, change) -> None:
        if self._ready and len(self.log):
            self.recompute()
            if change["name"] != "breakdown":
                self.run_replay()

    @observe("policies")
    def _policies_changed(self, change) -> None:
        if self._ready and len(self.log):
            self.run_replay()

    def set_range(self, start: dt.date | str | None, end: dt.date | str | None) -> None:
        with self.batch():
            self.start = _date(start)
            self.end = _date(end)

    @contextlib.contextmanager
    def batch(self):
        """Change several inputs, then recompute (and replay) once."""
        was, self._ready = self._ready, False
        try:
            yield self
        finally:
            self._ready = was
        if was and len(self.log):
            self.recompute()
            self.run_replay()

    def new_policy(self, name: str) -> dict[str, Any]:
        """The config of a newly added policy: its required parameters sized to this log."""
        from workbench.core.replay import policy_schema

        schema = policy_schema(name)
        config: dict[str, Any] = {"policy": name}
        for p in schema["params"]:  # required ones, and those that declare how to size a start value
            if p["required"] or p.get("start"):
                config[p["name"]] = self._default_param(p)
        return config

    def add_policy(self, name: str) -> None:
        self.policies = [*self.policies, self.new_policy(name)]

    def options_for(self, p: Mapping[str, Any]) -> list[str] | None:
        """The log's values a declared parameter takes (feature, tenant or model names), or None."""
        source = p.get("values_from") or ("model" if p["kind"] == "model" else None)
        if source == "feature":
            return list(self.features_available)
        if source == "tenant":
            return list(self.tenants_available)
        if source == "model":
            in_log = sorted(self.log["model"].dropna().astype(str).unique()) if len(self.log) else []
            return list(dict.fromkeys(in_log + [m.id for m in self.prices.models()]))
        return None

    def remove_policy(self, index: int) -> None:
        self.policies = [p for i, p in enumerate(self.policies) if i != index]

    def move_policy(self, index: int, offset: int) -> None:
        items = list(self.policies)
        j = index + offset
        if 0 <= index < len(items) and 0 <= j < len(items):
            items[index], items[j] = items[j], items[index]
            self.policies = items

    def set_policy_param(self, index: int, name: str, value: Any) -> None:
        """Set one parameter of the policy at ``index``; ``None`` removes it (its default applies)."""
        items = [dict(p) for p in self.policies]
        if value is None:
            items[index].pop(name, None)
        else:
            items[index][name] = value
        self.policies = items

    def _default_param(self, p: Mapping[str, Any]) -> Any:
        """A starting value for a parameter: what its declaration's ``start`` computes on the log in
        view (see :class:`workbench.core.replay.Param`), else its example, else a neutral value."""
        start = p.get("start") or {}
        if "values_matching" in start:
            words = [str(w).lower() for w in start["values_matching"]]
            values = self.options_for(p) or []
            chosen = [v for v in values if any(w in v.lower() for w in words)]
            return chosen or start.get("otherwise", "all")
        if start.get("spend") == "median_day":
            view = self.filtered()
            if not len(view):
                return 1.0
            keys = ["_day", *(view[c].astype(str) for c in start.get("by", ()))]
            per = view.groupby(keys)["cost_usd"].sum()
            return _round2(float(per.median()) * float(start.get("times", 1.0)))
        if "example" in p:
            return p["example"]
        return {"int": 1, "float": 1.0, "bool": False, "choice": (p.get("choices") or [""])[0],
                "strings": ["all"], "strings_or_all": "all"}.get(p["kind"], "")

    # -- results -----------------------------------------------------------------------------
    def _mask(self, *, dates: bool = True, end: bool = True) -> np.ndarray:
        """Rows under the feature and tenant filters (and the date range)."""
        mask = np.ones(len(self.log), dtype=bool)
        for value, (codes, index) in ((self.feature, self._feature_col), (self.tenant, self._tenant_col)):
            if value:
                mask &= codes == index.get(value, -2)
        if end and self.end is not None:
            mask &= self._day_ns <= np.datetime64(self.end, "ns")
        if dates and self.start is not None:
            mask &= self._day_ns >= np.datetime64(self.start, "ns")
        return mask

    def filtered(self, *, dates: bool = True) -> pd.DataFrame:
        """The log under the feature and tenant filters, and the date range when ``dates``."""
        if not len(self.log):
            return self.log
        return self.log[self._mask(dates=dates)]

    def _flags(self, by: str | tuple) -> pd.DataFrame:
        """Anomalies of the feature/tenant-filtered log by ``by``, over the whole log: a day's
        baseline only looks back, so one scan per filter serves every date range."""
        key = (self.feature, self.tenant, by)
        if key not in self._flag_cache:
            self._flag_cache[key] = self._rows.anomalies(self._mask(dates=False, end=False), by=by)
        flags = self._flag_cache[key]
        return flags[flags["day"] <= pd.Timestamp(self.end)] if self.end is not None and len(flags) else flags

    @_guarded("filters")
    def recompute(self) -> None:
        if self.start and self.end and self.start > self.end:
            raise ValueError(f"the range starts ({self.start}) after it ends ({self.end})")
        key = (self.start, self.end, self.feature, self.tenant, self.breakdown)
        hit = self._result_cache.pop(key, None)
        if hit is None:  # a view not seen before (the same filters give the same results)
            hit = self._results()
        self._result_cache[key] = hit  # most recently used last
        while len(self._result_cache) > RESULT_CACHE:
            self._result_cache.pop(next(iter(self._result_cache)))
        with self.hold_trait_notifications():
            (self.kpis, self.by_day, self.flags, self.anomaly_check, self.yesterday, self.top, self.by_model,
             self.table) = hit
            self.revision += 1

    def _results(self) -> tuple:
        """kpis, by_day, flags, anomaly_check, yesterday, top, by_model, table of the filters now."""
        mask = self._mask()
        rows = self._rows
        start = pd.Timestamp(self.start) if self.start else None
        view = rows.select(mask)  # the rows in view: totals, top spenders, models, the table
        kpis = view.totals()
        kpis["days"] = rows.distinct(mask, "day")
        kpis["cached_share"] = (kpis["cached_input_tokens"] / kpis["input_tokens"]) if kpis["input_tokens"] else 0.0
        flags_f, flags_t = self._flags("feature"), self._flags("tenant")
        in_range = {dim: (fl[fl["day"] >= start] if start is not None else fl) for dim, fl in
                    (("feature", flags_f), ("tenant", flags_t))}
        in_range = {dim: _dominant(fl, kpis["spend_usd"], kpis["days"]) for dim, fl in in_range.items()}
        by_day = in_range["feature"]
        by_day = (by_day[["feature", "day", "spend_usd", "anomaly", "ratio"]].reset_index(drop=True) if len(by_day)
                  else pd.DataFrame(columns=["feature", "day", "spend_usd", "anomaly", "ratio"]))
        cols = ["dimension", "name", "day", "spend_usd", "baseline_usd", "ratio", "share", "reason"]
        flags = [fl[fl["anomaly"]].rename(columns={dim: "name"}).assign(dimension=dim)
                 for dim, fl in in_range.items() if len(fl)]
        flags_df = pd.concat(flags, ignore_index=True)[cols] if flags else pd.DataFrame(columns=cols)
        yesterday = self._yesterday(self._mask(dates=False), flags_f, flags_t)
        any_rows = bool(mask.any())
        top = view.top_spenders(by="tenant", n=12) if any_rows else pd.DataFrame()
        plans = self._plans()
        if len(top) and plans:
            top["plan"] = [plans.get(str(t), "(unknown)") for t in top["tenant"]]
        by_model = view.top_spenders(by="model", n=50) if any_rows else pd.DataFrame()
        table = (view.spend_by(by=BREAKDOWNS[self.breakdown])
                 .sort_values("spend_usd", ascending=False, kind="stable").reset_index(drop=True)
                 if any_rows else pd.DataFrame())
        judged = flags_f.loc[flags_f["baseline_usd"].notna(), "day"] if len(flags_f) else pd.Series([], dtype=object)
        check = {"features": rows.distinct(mask, "feature"), "tenants": rows.distinct(mask, "tenant"),
                 "days": kpis["days"], "factor": 2.0, "window_days": 7, "min_history": 3,
                 "dominant_share": DOMINANT_SHARE,
                 "first_judged": pd.Timestamp(judged.min()).date().isoformat() if len(judged) else None}
        return kpis, by_day, flags_df, check, yesterday, top, by_model, table

    def _plans(self) -> dict[str, str]:
        t = self.tenants_table
        if t is None or "plan" not in t:
            return {}
        return dict(zip(t["tenant"].astype(str), t["plan"].astype(str)))

    def _yesterday(self, history: np.ndarray, flags_f: pd.DataFrame, flags_t: pd.DataFrame) -> dict:
        """The last day of the range: totals and per feature / tenant, each against its 7-day median
        (``history``: the rows under the feature and tenant filters up to that day; the flags carry
        the medians, so only the day's own rows are read)."""
        if not history.any() or self.end is None:
            return {}
        day = pd.Timestamp(self.end)
        rows = self._rows.select(history & self._rows.on_day(day))  # the day's rows, taken once
        total = rows.day_summary((), day, self._flags(()))
        if not len(total):
            return {"day": self.end.isoformat(), "total": None, "by_feature": [], "by_tenant": []}
        keep = ["spend_usd", "requests", "retry_amplification", "cost_per_success_usd", "baseline_usd",
                "change", "anomaly", "share"]
        feats = rows.day_summary("feature", day, flags_f)
        tens = rows.day_summary("tenant", day, flags_t)
        return {
            "day": self.end.isoformat(),
            "total": _records(total, keep)[0],
            "by_feature": _records(feats, ["feature", *keep]),
            "by_tenant": _records(tens, ["tenant", *keep]),
        }

    def hold_replay(self) -> None:
        """Replays asked for from now on wait for :meth:`release_replay` (the app's first render
        shows the attribution first; the policy stack is below the fold)."""
        self._replay_held = True

    def release_replay(self) -> None:
        """Run the replay that was asked for while held (once), and replay normally from now on."""
        self._replay_held, wanted, self._replay_wanted = False, self._replay_wanted, False
        if wanted:
            self.run_replay()

    @_guarded("policy")
    def run_replay(self) -> None:
        if self._replay_held:
            self._replay_wanted = True
            return
        if not replay_available() or not len(self.log):
            return
        key = (self.start, self.end, self.feature, self.tenant,
               json.dumps(list(self.policies), sort_keys=True, default=str))
        hit = self._replay_cache.get(key)
        if hit is not None:  # the same rows under the same stack: the same replay
            self._replay_cache[key] = self._replay_cache.pop(key)  # most recently used last
            self.replay_result, self.replay = hit
            self.replay_revision += 1
            return
        mask = self._mask()
        if not mask.any():
            self.replay_result = None
            self.replay = {}
            self.replay_revision += 1
            return
        from workbench.core.replay import replay

        view = self._replay_frame(mask)
        try:
            result = replay(view, list(self.policies), self.prices, engine="polars", bootstrap=BOOTSTRAP,
                            progress=self._report("replaying"))
        except Exception:  # the cards show a stack that cannot run: show no result of another one
            self.replay_result = None
            self.replay = {}
            self.replay_revision += 1
            raise
        finally:
            self.progress = {}
        self.replay_result = result
        self.replay = {
            "baseline_usd": result.baseline_usd, "replayed_usd": result.replayed_usd,
            "savings_usd": result.savings_usd, "savings_pct": result.savings_pct,
            "waterfall": list(result.waterfall), "events": list(result.events),
            "blocked_requests": result.blocked_requests, "requests": result.requests,
            "timeline": _records(_timeline(result.frame)), "daily_cap": self._daily_cap(result),
            "budget_pace": self._budget_pace(),
            "interval": _interval(getattr(result, "ci95", None), result.baseline_usd),
        }
        self._replay_cache[key] = (result, self.replay)
        while len(self._replay_cache) > REPLAY_CACHE:
            self._replay_cache.pop(next(iter(self._replay_cache)))
        self.replay_revision += 1

    def _replay_frame(self, mask: np.ndarray):
        """The rows under ``mask`` as the replay reads them: a Polars frame of the log's own
        columns (no attribution or price columns), converted once per log and filtered here."""
        import polars as pl

        if self._replay_input is None:
            drop = ["_day", "input_usd", "cached_input_usd", "cache_write_usd", "output_usd", "cost_usd"]
            frame = self.log.drop(columns=drop, errors="ignore")
            try:
                self._replay_input = pl.from_pandas(frame)
            except Exception:  # a column of Python objects a caller added: the schema's columns only
                self._replay_input = pl.from_pandas(frame[[c.name for c in COLUMNS if c.name in frame]])
        return self._replay_input if mask.all() else self._replay_input.filter(pl.Series(mask))

    def _daily_cap(self, result) -> float | None:
        caps = [lim["value"] for lim in result.limits
                if (lim["scope"], lim["period"], lim["unit"]) == ("org", "day", "usd")]
        return float(min(caps)) if caps else None

    def _budget_pace(self) -> float | None:
        """Monthly budgets of the tenants in view / 30: the spend per day the budgets allow."""
        t = self.tenants_table
        if t is None or "monthly_budget_usd" not in t:
            return None
        if self.tenant:
            t = t[t["tenant"] == self.tenant]
        if self.feature or not len(t):
            return None
        return float(t["monthly_budget_usd"].sum()) / 30.0

    # -- URL query ---------------------------------------------------------------------------
    @_guarded("query")
    def apply_query(self, query: str) -> None:
        """Apply ``?start=&end=&feature=&tenant=&by=&policies=`` (policies: a JSON list)."""
        params = {k: v[-1] for k, v in parse_qs(query or "", keep_blank_values=True).items()}
        unknown = sorted(set(params) - QUERY_KEYS)
        problems = [f"ignored unknown parameter(s) {', '.join(unknown)}; valid: {', '.join(sorted(QUERY_KEYS))}"] \
            if unknown else []
        with self.batch():
            for key in ("start", "end"):
                if key in params:
                    try:
                        setattr(self, key, _date(params[key]))
                    except ValueError as e:
                        problems.append(f"{key}={params[key]!r}: {e}")
            for key, options in (("feature", self.features_available), ("tenant", self.tenants_available)):
                if key in params:
                    value = params[key]
                    if value and value not in options:
                        problems.append(f"{key}={value!r} is not in the log; valid: {', '.join(options)}")
                    else:
                        setattr(self, key, value)
            if "by" in params:
                if params["by"] in BREAKDOWNS:
                    self.breakdown = params["by"]
                else:
                    problems.append(f"by={params['by']!r}; valid: {', '.join(BREAKDOWNS)}")
            if "policies" in params:
                try:
                    items = json.loads(params["policies"]) if params["policies"].strip() else []
                    if isinstance(items, dict):
                        items = items.get("policies", [])
                    if not isinstance(items, list) or not all(isinstance(i, dict) and "policy" in i for i in items):
                        raise ValueError("expected a JSON list of {\"policy\": name, ...} objects")
                    self.policies = items
                except ValueError as e:
                    problems.append(f"policies: {_one_line(e)}")
        if problems:
            raise ValueError("; ".join(problems))

    def query(self) -> str:
        """The URL query that reproduces this view."""
        from urllib.parse import urlencode

        q: dict[str, str] = {}
        if self.days:
            if self.start and self.start != self.days[0]:
                q["start"] = self.start.isoformat()
            if self.end and self.end != self.days[-1]:
                q["end"] = self.end.isoformat()
        for key in ("feature", "tenant"):
            if getattr(self, key):
                q[key] = getattr(self, key)
        if self.breakdown != "feature":
            q["by"] = self.breakdown
        opens_with = [dict(p) for p in SAMPLE_POLICIES] if self.source.startswith("Sample week") else []
        if list(self.policies) != opens_with:  # an empty stack too: the page would open with the example
            q["policies"] = json.dumps(self.policies, separators=(",", ":"))
        return urlencode(q)


def _codes(column: pd.Series) -> tuple[np.ndarray, dict[str, int]]:
    """A text column as integer codes and the code of each value (missing values: '')."""
    codes, uniques = pd.factorize(column.astype("string").fillna(""))
    return codes, {str(u): i for i, u in enumerate(uniques)}


def _records(df: pd.DataFrame, columns: list[str] | None = None) -> list[dict]:
    """``df[columns].to_dict("records")`` with plain JSON-ready values (NaN and NA as None,
    timestamps as ISO strings), built column by column."""
    names = list(df.columns) if columns is None else columns
    return [dict(zip(names, row)) for row in zip(*(_plain_values(df[c].tolist()) for c in names))] \
        if names else [{} for _ in range(len(df))]


def _plain_values(values: list) -> list:
    out = []
    for v in values:
        if isinstance(v, pd.Timestamp):
            v = v.isoformat()
        elif isinstance(v, (np.integer,)):
            v = int(v)
        elif isinstance(v, (np.floating, float)):
            v = None if math.isnan(v) else float(v)
        elif isinstance(v, np.bool_):
            v = bool(v)
        elif v is pd.NA:
            v = None
        out.append(v)
    return out


#: Replays kept (filters x stack) so that going back to a view does not replay it again.
REPLAY_CACHE = 32
#: Attribution results kept (filters x breakdown): going back to a view recomputes nothing.
RESULT_CACHE = 32


def _timeline(frame) -> pd.DataFrame:
    """Spend so far in each UTC day, hour by hour, before and after the policies (from the
    replay's per-request frame: ``ts`` and the integer ``baseline_pusd`` / ``cost_pusd``, summed
    exactly and shown in dollars)."""
    from workbench.core.replay.pricing import PUSD_PER_USD

    if frame is None or not len(frame):
        return pd.DataFrame(columns=["hour", "series", "usd"])
    ts = frame["ts"]
    ts = ts.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy() if isinstance(ts, pd.Series) else ts.to_numpy()
    hour = np.asarray(ts, dtype="datetime64[ns]").astype("datetime64[h]")
    order = None if len(hour) < 2 or (hour[1:] >= hour[:-1]).all() else np.argsort(hour, kind="stable")
    if order is not None:
        hour = hour[order]
    starts = np.flatnonzero(np.r_[True, hour[1:] != hour[:-1]])
    hours = hour[starts]
    day = hours.astype("datetime64[D]")
    firsts = np.flatnonzero(np.r_[True, day[1:] != day[:-1]])  # each day's first hour
    bounds = list(zip(firsts, [*firsts[1:], len(hours)]))
    out = []
    for name, col in (("Logged", "baseline_pusd"), ("With policies", "cost_pusd")):
        units = np.asarray(frame[col], dtype=np.int64)
        per_hour = np.add.reduceat(units if order is None else units[order], starts)
        cum = np.concatenate([np.cumsum(per_hour[a:b]) for a, b in bounds])  # running total within each day
        out.append(pd.DataFrame({"hour": hours.astype("datetime64[ns]"), "series": name, "usd": cum / PUSD_PER_USD}))
    return pd.concat(out, ignore_index=True)


#: Resamples for the interval on the saving (tenant-day clusters; costs the same for any log size).
BOOTSTRAP = 400


def _interval(ci: Mapping[str, Any] | None, baseline_usd: float) -> dict | None:
    """The replay's interval as a share of spend, and in dollars of *this* log's spend.

    The bootstrap's dollar interval resamples the logged spend too (a resampled week may spend
    twice as much), so it can exceed what this log spent; the share of spend saved is the figure
    that carries over to "a week like this one", and times this log's spend it stays within it."""
    if not ci or not ci.get("savings_pct"):
        return None
    lo, hi = (float(v) / 100.0 for v in ci["savings_pct"])
    return {"level": ci.get("level", 0.95), "share": [lo, hi], "usd": [lo * baseline_usd, hi * baseline_usd],
            "unit": ci.get("unit", "tenant-day"), "clusters": ci.get("clusters"), "method": ci.get("method", "")}


#: A group's day that alone is this share of the range's spend is flagged, history or not.
DOMINANT_SHARE = 0.5


def _dominant(flags: pd.DataFrame, total_usd: float, days: int) -> pd.DataFrame:
    """``flags`` (anomalies in the range) with ``share`` of the range's spend and ``reason``: a day
    at >= 2x its median is ``ratio``; one that alone is >= DOMINANT_SHARE of a range of two days or
    more is ``dominant`` (flagged even without the three earlier days a median needs)."""
    if not len(flags):
        return flags.assign(share=pd.Series(dtype=float), reason=pd.Series(dtype=object))
    share = flags["spend_usd"] / total_usd if total_usd > 0 else flags["spend_usd"] * 0.0
    dominant = (share >= DOMINANT_SHARE) & (days >= 2) & ~flags["anomaly"].astype(bool)
    return flags.assign(share=share, reason=np.where(flags["anomaly"], "ratio", np.where(dominant, "dominant", "")),
                        anomaly=flags["anomaly"].astype(bool) | dominant)


def _round2(x: float) -> float:
    """Two significant digits (a friendly default budget)."""
    if x <= 0:
        return 1.0
    return float(round(x, 1 - int(math.floor(math.log10(x)))))

