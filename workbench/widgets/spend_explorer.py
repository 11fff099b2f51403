"""Spend & budget explorer: "what did we spend yesterday, by feature and tenant?" and "what if?".

:class:`SpendExplorerState` holds a priced request log (the sample week by default, or an upload),
the filters (date range, feature, tenant), the attribution breakdown and a policy stack. Its
observers call :mod:`workbench.core.attribution` and :func:`workbench.core.replay.replay` and set
result traits; :class:`SpendExplorer` only displays them. Errors become one-line messages in
``errors`` and the last good result stays. Everything a user can set is also a URL query
parameter (``?start=2025-11-05&end=2025-11-09&feature=rag_answer&tenant=initech&by=model&
policies=[{"policy":"output_cap","max_output_tokens":512}]``), so a view can be shared as a link.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import json
import math
import os
import tempfile
from html import escape
from pathlib import Path
from typing import Any, Mapping, Sequence
from urllib.parse import parse_qs

import altair as alt
import ipywidgets as w
import numpy as np
import pandas as pd
from traitlets import Any as AnyTrait
from traitlets import Dict, Enum, Instance, Int, List, Unicode, observe

from workbench.widgets._state import FieldErrors, guarded as _guarded, one_line as _one_line
from workbench.core import attribution as attr
from workbench.core.frame_cost import price_frame
from workbench.core.prices import PriceBook, PriceError
from workbench.core.schema import COLUMNS, REQUIRED
from workbench.widgets import _html
from workbench.widgets.charts import offline_chart
from workbench.widgets.debounce import Debouncer

ROOT = Path(__file__).resolve().parents[2]
SAMPLE_LOG = ROOT / "sample_data" / "requests.parquet"
SAMPLE_TENANTS = ROOT / "sample_data" / "tenants.csv"
MAX_UPLOAD_BYTES = 50_000_000

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
_EMBED = {"actions": False, "renderer": "svg"}  # svg: crisp screenshots, text the tests can read
_PALETTE = ["#0969da", "#bf3989", "#1a7f37", "#9a6700", "#8250df", "#cf222e", "#57606a", "#0a3069"]
_PLAN_COLORS = {"enterprise": "#0969da", "pro": "#8250df", "free": "#9a6700", "(unknown)": "#8c959f"}






def replay_available() -> bool:
    """Whether the replay engine (``workbench.core.replay``) is installed in this tree."""
    try:
        import workbench.core.replay  # noqa: F401
    except ImportError:
        return False
    return True


def conform(frame: pd.DataFrame, name: str = "log") -> pd.DataFrame:
    """A frame already in canonical columns (e.g. a parquet export) with the schema's dtypes."""
    missing = [c for c in REQUIRED if c not in frame.columns]
    if missing:
        raise ValueError(f"{name}: missing required column(s) {', '.join(missing)}; "
                         "a parquet upload must already be in the canonical request schema")
    out = pd.DataFrame(index=frame.index)
    for c in COLUMNS:
        col = frame[c.name] if c.name in frame.columns else pd.Series(None, index=frame.index, dtype=object)
        out[c.name] = pd.to_datetime(col, utc=True) if c.dtype.startswith("datetime64") else col.astype(c.dtype)
    return out.sort_values(["ts", "request_id"], kind="stable").reset_index(drop=True)


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
    by_day = AnyTrait(help="DataFrame: feature, day, spend_usd, anomaly (the stacked bars)")
    top = AnyTrait(help="DataFrame: top spenders by tenant (attribution.top_spenders)")
    by_model = AnyTrait(help="DataFrame: spend by model")
    flags = AnyTrait(help="DataFrame: flagged days by feature and by tenant in the range")
    table = AnyTrait(help="DataFrame: attribution by the chosen breakdown over the range")
    replay = Dict(help="baseline_usd, replayed_usd, waterfall, events, timeline (records)")
    errors = Dict(help="field -> one-line message ('load', 'upload', 'filters', 'query', 'policy')")
    revision = Int(0, help="bumped after each recompute (views observe it)")
    replay_revision = Int(0)
    progress = Dict(help="long work under way: {'value': 0..1, 'label': str}; empty when idle")

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
        super().__init__(**kwargs)
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
        days = sorted({d.date() for d in priced["_day"]})
        if not days:
            raise ValueError("the log has no rows")
        self.log = priced
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

    @_guarded("upload")
    def load_file(self, name: str, content: bytes) -> str:
        """Load an uploaded log: canonical parquet, or any format ``workbench.io.traffic`` reads."""
        if len(content) > MAX_UPLOAD_BYTES:
            raise ValueError(f"{name}: {len(content):,} bytes is over the {MAX_UPLOAD_BYTES:,}-byte upload limit; "
                             "use the CLI for large logs. Nothing changed.")
        suffix = Path(name).suffix.lower() or ".csv"
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / f"upload{suffix}"
            path.write_bytes(bytes(content))
            if suffix == ".parquet":
                try:
                    raw = pd.read_parquet(path)
                except Exception as e:
                    why = _one_line(e).replace(f"'{path}'", name).replace(str(path), name)
                    raise ValueError(f"{name} is not a readable parquet file ({why[:120]}); "
                                     "nothing changed") from None
                frame = conform(raw, name)
                note = f"{len(frame):,} rows (canonical parquet)"
            else:
                from workbench.io.traffic import load_log

                try:
                    result = load_log(path, book=self.prices, progress=self._report(f"reading {name}"))
                except Exception as e:  # name the upload, not the temporary file
                    raise ValueError(_one_line(e).replace(str(path), name)) from None
                frame = result.frame
                note = result.summary().replace(str(path), name)
                if result.rejected:
                    first = "; ".join(str(r).replace(str(path), name) for r in result.rejected[:3])
                    note += f" (first rejected: {first})"
        if len(frame) == 0:
            raise ValueError(f"{name}: no usable rows ({note}); nothing changed")
        self.set_log(frame, f"Uploaded {name}: {note}")
        return note

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

    def add_policy(self, name: str) -> None:
        from workbench.core.replay import policy_schema

        schema = policy_schema(name)
        config: dict[str, Any] = {"policy": name}
        for p in schema["params"]:
            if (p["required"] or p["name"] == "limit") and p["name"] != "label":
                config[p["name"]] = self._default_param(p)
        self.policies = [*self.policies, config]

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
        """A starting value for a required parameter, sized to this log."""
        name, kind = p["name"], p["kind"]
        if name == "features":
            batchy = [f for f in self.features_available
                      if any(k in f for k in ("nightly", "batch", "report", "summar", "eval"))]
            return batchy or "all"
        if kind == "float" and name in ("usd", "limit"):
            view = self.filtered()
            if not len(view):
                return 1.0
            if name == "limit":  # a per-tenant quota: twice a typical tenant's day
                per_tenant = view.groupby(["_day", view["tenant"].astype(str)])["cost_usd"].sum()
                return _round2(float(per_tenant.median()) * 2)
            return _round2(float(view.groupby("_day")["cost_usd"].sum().median()) * 0.9)
        if "example" in p:
            return p["example"]
        return {"int": 1, "float": 1.0, "bool": False, "choice": (p.get("choices") or [""])[0],
                "strings": ["all"], "strings_or_all": "all"}.get(kind, "")

    # -- results -----------------------------------------------------------------------------
    def filtered(self, *, dates: bool = True) -> pd.DataFrame:
        """The log under the feature and tenant filters, and the date range when ``dates``."""
        f = self.log
        if not len(f):
            return f
        mask = np.ones(len(f), dtype=bool)
        if self.feature:
            mask &= (f["feature"] == self.feature).fillna(False).to_numpy(dtype=bool)
        if self.tenant:
            mask &= (f["tenant"] == self.tenant).fillna(False).to_numpy(dtype=bool)
        if self.end is not None:
            mask &= (f["_day"] <= pd.Timestamp(self.end)).to_numpy()
        if dates and self.start is not None:
            mask &= (f["_day"] >= pd.Timestamp(self.start)).to_numpy()
        return f[mask]

    @_guarded("filters")
    def recompute(self) -> None:
        if self.start and self.end and self.start > self.end:
            raise ValueError(f"the range starts ({self.start}) after it ends ({self.end})")
        view = self.filtered()
        history = self.filtered(dates=False)  # baselines look back before the range
        start = pd.Timestamp(self.start) if self.start else None
        kpis = attr.totals(view)
        kpis["days"] = int(view["_day"].nunique()) if len(view) else 0
        kpis["cached_share"] = (kpis["cached_input_tokens"] / kpis["input_tokens"]) if kpis["input_tokens"] else 0.0
        flags_f = attr.anomalies(history, by="feature") if len(history) else pd.DataFrame()
        flags_t = attr.anomalies(history, by="tenant") if len(history) else pd.DataFrame()
        by_day = pd.DataFrame(columns=["feature", "day", "spend_usd", "anomaly", "ratio"])
        if len(flags_f):
            by_day = flags_f[flags_f["day"] >= start] if start is not None else flags_f
            by_day = by_day[["feature", "day", "spend_usd", "anomaly", "ratio"]].reset_index(drop=True)
        flags = []
        for dim, fl in (("feature", flags_f), ("tenant", flags_t)):
            if len(fl):
                hit = fl[fl["anomaly"] & ((fl["day"] >= start) if start is not None else True)]
                flags.append(hit.rename(columns={dim: "name"}).assign(dimension=dim))
        flags_df = (pd.concat(flags, ignore_index=True) if flags else
                    pd.DataFrame(columns=["dimension", "name", "day", "spend_usd", "baseline_usd", "ratio"]))
        flags_df = flags_df[["dimension", "name", "day", "spend_usd", "baseline_usd", "ratio"]]
        yesterday = self._yesterday(history)
        top = attr.top_spenders(view, by="tenant", n=12) if len(view) else pd.DataFrame()
        plans = self._plans()
        if len(top) and plans:
            top["plan"] = [plans.get(str(t), "(unknown)") for t in top["tenant"]]
        by_model = attr.top_spenders(view, by="model", n=50) if len(view) else pd.DataFrame()
        table = (attr.spend_by(view, by=BREAKDOWNS[self.breakdown], period=None)
                 .sort_values("spend_usd", ascending=False, kind="stable").reset_index(drop=True)
                 if len(view) else pd.DataFrame())
        with self.hold_trait_notifications():
            self.kpis = kpis
            self.by_day = by_day
            self.flags = flags_df
            self.yesterday = yesterday
            self.top = top
            self.by_model = by_model
            self.table = table
            self.revision += 1

    def _plans(self) -> dict[str, str]:
        t = self.tenants_table
        if t is None or "plan" not in t:
            return {}
        return dict(zip(t["tenant"].astype(str), t["plan"].astype(str)))

    def _yesterday(self, history: pd.DataFrame) -> dict:
        """The last day of the range: totals and per feature / tenant, each against its 7-day median."""
        if not len(history) or self.end is None:
            return {}
        day = pd.Timestamp(self.end)
        total = attr.day_summary(history, by=(), day=day)
        if not len(total):
            return {"day": self.end.isoformat(), "total": None, "by_feature": [], "by_tenant": []}
        keep = ["spend_usd", "requests", "retry_amplification", "cost_per_success_usd", "baseline_usd",
                "change", "anomaly", "share"]
        feats = attr.day_summary(history, by="feature", day=day)
        tens = attr.day_summary(history, by="tenant", day=day)
        return {
            "day": self.end.isoformat(),
            "total": _records(total[keep])[0],
            "by_feature": _records(feats[["feature", *keep]]),
            "by_tenant": _records(tens[["tenant", *keep]]),
        }

    @_guarded("policy")
    def run_replay(self) -> None:
        if not replay_available() or not len(self.log):
            return
        from workbench.core.replay import replay

        view = self.filtered().drop(columns=["_day", "input_usd", "cached_input_usd", "cache_write_usd",
                                             "output_usd", "cost_usd"], errors="ignore")
        if not len(view):
            self.replay_result = None
            self.replay = {}
            self.replay_revision += 1
            return
        try:
            result = replay(view, list(self.policies), self.prices, engine="pandas", bootstrap=0,
                            progress=self._report("replaying"))
        finally:
            self.progress = {}
        self.replay_result = result
        self.replay = {
            "baseline_usd": result.baseline_usd, "replayed_usd": result.replayed_usd,
            "savings_usd": result.savings_usd, "savings_pct": result.savings_pct,
            "waterfall": list(result.waterfall), "events": list((result.budget or {}).get("events") or []),
            "blocked_requests": result.blocked_requests, "requests": result.requests,
            "timeline": _records(self._timeline(result)), "daily_cap": self._daily_cap(result),
            "budget_pace": self._budget_pace(),
        }
        self.replay_revision += 1

    def _timeline(self, result) -> pd.DataFrame:
        """Spend so far in each UTC day, hour by hour, before and after the policies."""
        f = result.frame
        if f is None or not len(f):
            return pd.DataFrame(columns=["hour", "series", "usd"])
        ts = pd.to_datetime(f["ts"], utc=True).dt.tz_localize(None)
        hour = ts.dt.floor("h")
        g = pd.DataFrame({"hour": hour, "day": hour.dt.floor("D"),
                          "Logged": f["baseline_usd"].to_numpy(dtype=float),
                          "With policies": f["cost_usd"].to_numpy(dtype=float)})
        per_hour = g.groupby(["day", "hour"], sort=True)[["Logged", "With policies"]].sum()
        cum = per_hour.groupby(level="day").cumsum().reset_index().drop(columns="day")
        return cum.melt(id_vars="hour", var_name="series", value_name="usd")

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
        if self.policies:
            q["policies"] = json.dumps(self.policies, separators=(",", ":"))
        return urlencode(q)


def _records(df: pd.DataFrame) -> list[dict]:
    out = []
    for row in df.to_dict("records"):
        clean = {}
        for k, v in row.items():
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
            clean[k] = v
        out.append(clean)
    return out


def _date(text: str | dt.date | None) -> dt.date | None:
    if text is None or isinstance(text, dt.date):
        return text
    try:
        return dt.date.fromisoformat(str(text).strip())
    except ValueError:
        raise ValueError("expected a date YYYY-MM-DD") from None


def _round2(x: float) -> float:
    """Two significant digits (a friendly default budget)."""
    if x <= 0:
        return 1.0
    return float(round(x, 1 - int(math.floor(math.log10(x)))))


# =============================================================================================
# Charts (pure functions of the state's results)
# =============================================================================================

def _usd_axis(top: float) -> str:
    """A d3 format for dollar axes that keeps ticks distinct for small amounts."""
    top = abs(float(top or 0))
    return "$,.0f" if top >= 20 else "$,.2f" if top >= 0.2 else "$,.4f" if top >= 0.002 else "$,.2e"


def _day_label(day: pd.Series) -> pd.Series:
    return pd.to_datetime(day).dt.strftime("%a %d %b")


def spend_by_day_chart(by_day: pd.DataFrame) -> alt.TopLevelMixin:
    """Stacked bars of spend per feature and day; flagged days marked with their ratio."""
    df = by_day.copy() if by_day is not None else pd.DataFrame(columns=["feature", "day", "spend_usd"])
    if df.empty:
        return alt.Chart(pd.DataFrame({"x": []})).mark_text().properties(width=980, height=260)
    df["label"] = _day_label(df["day"])
    order = list(dict.fromkeys(df.sort_values("day")["label"]))
    bars = alt.Chart(df).mark_bar().encode(
        x=alt.X("label:O", sort=order, title=None, axis=alt.Axis(labelAngle=0, labelFontSize=12)),
        y=alt.Y("sum(spend_usd):Q", title="Spend (USD)",
                axis=alt.Axis(format=_usd_axis(df.groupby("label")["spend_usd"].sum().max()))),
        color=alt.Color("feature:N", title="Feature", scale=alt.Scale(range=_PALETTE),
                        legend=alt.Legend(orient="top", labelFontSize=12)),
        order=alt.Order("feature:N"),
        tooltip=[alt.Tooltip("label:N", title="Day"), alt.Tooltip("feature:N", title="Feature"),
                 alt.Tooltip("spend_usd:Q", title="Spend", format="$,.2f")],
    )
    totals = df.groupby("label", sort=False)["spend_usd"].sum().rename("total")
    hot = df[df["anomaly"].astype(bool)].join(totals, on="label")
    layers = [bars]
    if len(hot):
        hot = hot.assign(text=[f"▲ {f} {r:.1f}×" for f, r in zip(hot["feature"], hot["ratio"])])
        layers.append(alt.Chart(hot).mark_text(dy=-10, color="#cf222e", fontWeight="bold", fontSize=12).encode(
            x=alt.X("label:O", sort=order), y="total:Q", text="text:N"))
    return alt.layer(*layers).properties(width=980, height=260)


def bar_chart(df: pd.DataFrame, key: str, title: str, color: str | None = None, width: int = 440) -> alt.TopLevelMixin:
    """Horizontal bars of spend per ``key``, highest first, each labelled with its dollars."""
    if df is None or df.empty:
        return alt.Chart(pd.DataFrame({"x": []})).mark_text().properties(width=width, height=60)
    d = df[[key, "spend_usd", "share", "requests"] + ([color] if color else [])].copy()
    d["text"] = [f"${v:,.2f}" for v in d["spend_usd"]]
    order = list(d.sort_values("spend_usd", ascending=False)[key])
    enc = dict(y=alt.Y(f"{key}:N", sort=order, title=None, axis=alt.Axis(labelFontSize=12, labelLimit=220)),
               x=alt.X("spend_usd:Q", title=title, axis=alt.Axis(format=_usd_axis(d["spend_usd"].max()), tickCount=5),
                       scale=alt.Scale(domain=[0, float(d["spend_usd"].max()) * 1.22 or 1.0], nice=False)),
               tooltip=[alt.Tooltip(f"{key}:N"), alt.Tooltip("spend_usd:Q", title="Spend", format="$,.2f"),
                        alt.Tooltip("share:Q", title="Share", format=".1%"),
                        alt.Tooltip("requests:Q", title="Calls", format=",")])
    if color:
        domain = [k for k in _PLAN_COLORS if k in set(d[color])]
        enc["color"] = alt.Color(f"{color}:N", title="Plan", scale=alt.Scale(
            domain=domain, range=[_PLAN_COLORS[k] for k in domain]), legend=alt.Legend(orient="top"))
    bars = alt.Chart(d).mark_bar(color=_PALETTE[0]).encode(**enc)
    text = alt.Chart(d).mark_text(align="left", dx=4, fontSize=11, color="#1f2328").encode(
        y=alt.Y(f"{key}:N", sort=order), x="spend_usd:Q", text="text:N")
    return alt.layer(bars, text).properties(width=width, height=max(60, 24 * len(d)))


def waterfall_chart(replay: Mapping[str, Any]) -> alt.TopLevelMixin:
    """Logged spend, each policy's saving as a floating bar, and the spend with the policies."""
    steps = replay.get("waterfall") or []
    base, after = replay.get("baseline_usd"), replay.get("replayed_usd")
    if base is None:
        return alt.Chart(pd.DataFrame({"x": []})).mark_text().properties(width=980, height=240)
    rows = [{"name": "Logged spend", "lo": 0.0, "hi": base, "kind": "total", "value": base}]
    for s in steps:
        rows.append({"name": f"{s['step']}. {s['label']}", "lo": min(s["before_usd"], s["after_usd"]),
                     "hi": max(s["before_usd"], s["after_usd"]),
                     "kind": "saving" if s["savings_usd"] >= 0 else "extra cost", "value": -s["savings_usd"]})
    rows.append({"name": "With policies", "lo": 0.0, "hi": after, "kind": "total", "value": after})
    df = pd.DataFrame(rows)
    df["text"] = [f"${v:,.2f}" if k == "total" else f"{'−' if v <= 0 else '+'}${abs(v):,.2f}"
                  for v, k in zip(df["value"], df["kind"])]
    order = list(df["name"])
    low = float(min(base, after, *(s["after_usd"] for s in steps)) if steps else min(base, after))
    top = float(max(base, after, *(s["before_usd"] for s in steps)) if steps else max(base, after)) * 1.06
    floor = max(0.0, low - 0.35 * max(top - low, 0.05 * top))  # zoom in so small savings stay visible
    scale = alt.Scale(domain=["total", "saving", "extra cost"], range=["#57606a", "#1a7f37", "#cf222e"])
    bars = alt.Chart(df).mark_bar(size=44).encode(
        x=alt.X("name:N", sort=order, title=None, axis=alt.Axis(labelAngle=0, labelFontSize=12, labelLimit=180)),
        y=alt.Y("lo:Q", title="Spend (USD), zoomed in", axis=alt.Axis(format=_usd_axis(top)),
                scale=alt.Scale(zero=False, domain=[floor, top], clamp=True)), y2="hi:Q",
        color=alt.Color("kind:N", scale=scale, title=None, legend=alt.Legend(orient="top")),
        tooltip=[alt.Tooltip("name:N", title="Step"), alt.Tooltip("text:N", title="Amount")])
    text = alt.Chart(df).mark_text(dy=-8, fontSize=12, color="#1f2328").encode(
        x=alt.X("name:N", sort=order), y="hi:Q", text="text:N")
    return alt.layer(bars, text).properties(width=980, height=260)


def timeline_chart(replay: Mapping[str, Any]) -> alt.TopLevelMixin:
    """Spend so far each day, hour by hour, logged vs with policies; the daily cap or budget pace."""
    tl = pd.DataFrame(replay.get("timeline") or [])
    if tl.empty:
        return alt.Chart(pd.DataFrame({"x": []})).mark_text().properties(width=980, height=240)
    tl["hour"] = pd.to_datetime(tl["hour"])
    lines = alt.Chart(tl).mark_line(interpolate="step-after", strokeWidth=2).encode(
        x=alt.X("hour:T", title=None, axis=alt.Axis(format="%a %d %b", labelFontSize=12, tickCount="day")),
        y=alt.Y("usd:Q", title="Spend so far that day (USD)", axis=alt.Axis(format=_usd_axis(tl["usd"].max()))),
        color=alt.Color("series:N", title=None, scale=alt.Scale(domain=["Logged", "With policies"],
                                                               range=["#8c959f", "#0969da"]),
                        legend=alt.Legend(orient="top")),
        tooltip=[alt.Tooltip("hour:T", format="%a %d %b %H:00"), "series:N",
                 alt.Tooltip("usd:Q", format="$,.2f")])
    layers = [lines]
    for value, label, color in ((replay.get("daily_cap"), "daily cap", "#cf222e"),
                                (replay.get("budget_pace"), "budget pace (monthly budgets / 30)", "#9a6700")):
        if value:
            rule = pd.DataFrame({"usd": [value], "label": [f"{label} ${value:,.2f}"]})
            layers.append(alt.Chart(rule).mark_rule(strokeDash=[6, 4], color=color).encode(y="usd:Q"))
            layers.append(alt.Chart(rule).mark_text(align="left", dx=4, dy=-7, color=color, fontSize=11).encode(
                y="usd:Q", x=alt.value(0), text="label:N"))
    events = pd.DataFrame([e for e in replay.get("events") or [] if e.get("scope") == "org"])
    if len(events):
        events["hour"] = pd.to_datetime(events["ts"], utc=True).dt.tz_localize(None)
        layers.append(alt.Chart(events).mark_point(filled=True, size=70, shape="triangle-down").encode(
            x="hour:T", y=alt.Y("spend:Q"),
            color=alt.Color("event:N", title="Budget event", legend=alt.Legend(orient="top")),
            tooltip=[alt.Tooltip("hour:T", format="%a %d %b %H:%M"), "event:N",
                     alt.Tooltip("spend:Q", format="$,.2f")]))
    return alt.layer(*layers).resolve_scale(color="independent").properties(width=980, height=240)


# =============================================================================================
# HTML pieces
# =============================================================================================

_STYLE = """<style>
.wb-spend-explorer .wb-kpis { display: flex; gap: 12px; flex-wrap: wrap; margin: 8px 0; }
.wb-spend-explorer .wb-kpis { flex-wrap: nowrap; }
.wb-spend-explorer .wb-kpi { border: 1px solid #d8dee4; border-radius: 8px; padding: 8px 14px; flex: 1 1 0; min-width: 0; }
.wb-spend-explorer .wb-range .widget-readout { min-width: 170px; max-width: none; overflow: visible; }
.wb-spend-explorer .wb-kpi .wb-kpi-value { font-size: 22px; font-weight: 600; font-variant-numeric: tabular-nums; }
.wb-spend-explorer .wb-kpi .wb-kpi-label { color: #57606a; font-size: 12px; }
.wb-spend-explorer .wb-up { color: #cf222e; font-weight: 600; }
.wb-spend-explorer .wb-down { color: #1a7f37; }
.wb-spend-explorer .wb-flag { color: #cf222e; font-weight: 600; }
.wb-spend-explorer .wb-source { color: #57606a; margin: 0 0 6px 0; }
.wb-spend-explorer .wb-two { display: grid; grid-template-columns: 1fr 1fr; gap: 24px; }
.wb-spend-explorer .wb-placeholder { border: 1px dashed #d8dee4; border-radius: 8px; padding: 12px 16px; color: #57606a; }
.wb-spend-explorer .wb-policy-card { border: 1px solid #d8dee4; border-radius: 8px; padding: 6px 12px; margin: 6px 0; }
.wb-spend-explorer .wb-param-label { color: #57606a; font-weight: 500; }
</style>"""


def _pct(x: float | None, signed: bool = False) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "—"
    return f"{x:+.0%}" if signed else f"{x:.1%}"


def _num(x: float | None, fmt: str = "{:,.0f}") -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "—"
    return fmt.format(x)


def kpis_html(k: Mapping[str, Any]) -> str:
    if not k:
        return "<div class='wb-empty'>No data.</div>"
    cards = [
        ("spend", _html.usd(k["spend_usd"]), f"spend over {k.get('days', 0)} day(s)"),
        ("requests", _num(k["requests"]), f"calls ({_num(k['logical_requests'])} logical requests)"),
        ("amplification", _num(k["retry_amplification"], "{:.3f}×"), "retry amplification (calls / logical)"),
        ("cost-per-success", _html.usd(k["cost_per_success_usd"]) if k["successful"] else "—",
         f"per successful task ({_pct(k['success_rate'])} succeed)"),
        ("cached", _pct(k.get("cached_share")), "of input tokens read from a prompt cache"),
    ]
    body = "".join(f"<div class='wb-kpi'><div class='wb-kpi-value' data-testid='kpi-{n}'>{v}</div>"
                   f"<div class='wb-kpi-label'>{escape(lbl)}</div></div>" for n, v, lbl in cards)
    return f"<div class='wb-kpis' data-testid='kpis'>{body}</div>"


def _change(row: Mapping[str, Any]) -> str:
    ch = row.get("change")
    if ch is None:
        return "<span class='wb-sub'>no baseline</span>"
    cls = "wb-up" if ch > 0 else "wb-down"
    flag = " <span class='wb-flag' data-testid='flag'>▲ anomaly</span>" if row.get("anomaly") else ""
    return (f"<span class='{cls}'>{ch:+.0%}</span> <span class='wb-sub'>vs median "
            f"{_html.usd(row.get('baseline_usd'))}</span>{flag}")


def yesterday_html(y: Mapping[str, Any], limit: int = 6) -> str:
    if not y or not y.get("total"):
        return "<div class='wb-empty'>No calls on the last day of the range.</div>"
    t = y["total"]
    day = dt.date.fromisoformat(y["day"]).strftime("%A %d %B %Y")
    head = (f"<p data-testid='yesterday-total'>On <b>{day}</b> we spent "
            f"<b data-testid='yesterday-spend'>{_html.usd(t['spend_usd'])}</b> on {t['requests']:,} calls "
            f"({_change(t)}).</p>")

    def table(rows: Sequence[Mapping[str, Any]], key: str, title: str) -> str:
        body = "".join(
            f"<tr data-testid='yday-{key}-{escape(str(r[key]))}'><td>{escape(str(r[key]))}</td>"
            f"<td class='wb-num' data-testid='spend'>{_html.usd(r['spend_usd'])}</td>"
            f"<td class='wb-num'>{_pct(r['share'])}</td><td>{_change(r)}</td></tr>"
            for r in rows[:limit])
        more = f"<div class='wb-sub'>… and {len(rows) - limit} more</div>" if len(rows) > limit else ""
        return (f"<table class='wb-table' data-testid='yesterday-{key}'><thead><tr><th>{title}</th>"
                f"<th class='wb-num'>Spend</th><th class='wb-num'>Share</th><th>vs previous 7 days</th>"
                f"</tr></thead><tbody>{body}</tbody></table>{more}")

    return (head + "<div class='wb-two'>" + table(y["by_feature"], "feature", "Feature")
            + table(y["by_tenant"], "tenant", "Tenant") + "</div>")


def flags_html(flags: pd.DataFrame | None) -> str:
    if flags is None or flags.empty:
        return ("<div class='wb-empty' data-testid='no-flags'>No feature or tenant spent 2× its median "
                "of the previous 7 days in this range.</div>")
    body = "".join(
        f"<tr data-testid='flag-{escape(r.dimension)}-{escape(str(r.name))}'><td>{escape(r.dimension)}</td>"
        f"<td><b>{escape(str(r.name))}</b></td><td>{pd.Timestamp(r.day).strftime('%a %d %b')}</td>"
        f"<td class='wb-num'>{_html.usd(r.spend_usd)}</td><td class='wb-num'>{_html.usd(r.baseline_usd)}</td>"
        f"<td class='wb-num wb-flag'>{r.ratio:.2f}×</td></tr>"
        for r in flags.sort_values(["day", "ratio"], ascending=[True, False]).itertuples())
    return ("<table class='wb-table' data-testid='flags'><thead><tr><th>By</th><th>Who</th><th>Day</th>"
            "<th class='wb-num'>Spend</th><th class='wb-num'>7-day median</th><th class='wb-num'>Ratio</th>"
            f"</tr></thead><tbody>{body}</tbody></table>")


def attribution_html(table: pd.DataFrame | None, keys: Sequence[str]) -> str:
    if table is None or table.empty:
        return "<div class='wb-empty'>No calls in this selection.</div>"
    head = "".join(f"<th>{escape(k.capitalize())}</th>" for k in keys) + "".join(
        f"<th class='wb-num'>{t}</th>" for t in (
            "Spend", "Share", "Calls", "Retry amp.", "Success", "Per success", "Input p50 / p95",
            "Output p50 / p95"))
    rows = []
    for r in table.to_dict("records"):
        rid = "-".join(str(r[k]) for k in keys)
        rows.append(
            f"<tr data-testid='attr-{escape(rid)}'>" + "".join(f"<td>{escape(str(r[k]))}</td>" for k in keys)
            + f"<td class='wb-num' data-testid='spend'>{_html.usd(r['spend_usd'])}</td>"
            f"<td class='wb-num'>{_pct(r['share'])}</td><td class='wb-num'>{r['requests']:,}</td>"
            f"<td class='wb-num' data-testid='amp'>{_num(r['retry_amplification'], '{:.3f}')}</td>"
            f"<td class='wb-num'>{_pct(r['success_rate'])}</td>"
            f"<td class='wb-num' data-testid='cps'>{_html.usd(r['cost_per_success_usd']) if r['successful'] else '—'}</td>"
            f"<td class='wb-num'>{_num(r['p50_input_tokens'])} / {_num(r['p95_input_tokens'])}</td>"
            f"<td class='wb-num'>{_num(r['p50_output_tokens'])} / {_num(r['p95_output_tokens'])}</td></tr>")
    return (f"<table class='wb-table' data-testid='attribution'><thead><tr>{head}</tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table>")


def replay_summary_html(r: Mapping[str, Any]) -> str:
    if not r:
        return ""
    blocked = f" · {r['blocked_requests']:,} calls blocked" if r.get("blocked_requests") else ""
    events = [e for e in r.get("events") or [] if e.get("kind") == "stop" and e.get("action") == "block"]
    stops = f" · {len(events)} hard stop(s)" if events else ""
    return (f"<p data-testid='replay-summary'>Logged <b data-testid='replay-baseline'>{_html.usd(r['baseline_usd'])}</b>"
            f" → with these policies <b data-testid='replay-replayed'>{_html.usd(r['replayed_usd'])}</b>: "
            f"<span class='wb-down'>saves {_html.usd(r['savings_usd'])} ({r['savings_pct']:.1f} %)</span>"
            f"{blocked}{stops}.</p>")


# =============================================================================================
# View
# =============================================================================================

class SpendExplorer(w.VBox):
    """The explorer's view: filters, attribution dashboard and policy stack over ``state``."""

    def __init__(self, state: SpendExplorerState, *, debounce_ms: float = 300):
        self.state = state
        self._debounce_ms = debounce_ms
        self._building = False
        self.header = w.HTML(_html.STYLE + _STYLE + _html.header(
            "Spend & budget explorer",
            "What did we spend, on which feature, tenant and model? Filter the log, read yesterday's "
            "spend against the previous week, and stack policies to see what they would have saved."))
        self.source = w.HTML()
        self.source.add_class("wb-source-line")
        self.upload = w.FileUpload(accept=".parquet,.csv,.jsonl,.json,.ndjson,.tsv", multiple=False,
                                   description="Upload log", icon="upload")
        self.upload.add_class("wb-upload")
        self.sample_button = w.Button(description="Sample week", icon="refresh", layout=w.Layout(width="140px"))
        self.sample_button.add_class("wb-sample")
        self.load_error = w.HTML()
        self.range = w.SelectionRangeSlider(options=[("—", None)], index=(0, 0), description="Days",
                                            continuous_update=False, layout=w.Layout(width="430px"),
                                            style={"description_width": "40px"})
        self.range.add_class("wb-range")
        self.feature_dd = w.Dropdown(description="Feature", layout=w.Layout(width="260px"))
        self.feature_dd.add_class("wb-feature")
        self.tenant_dd = w.Dropdown(description="Tenant", layout=w.Layout(width="240px"))
        self.tenant_dd.add_class("wb-tenant")
        self.filter_error = w.HTML()
        self.kpis = w.HTML(layout=w.Layout(width="100%"))
        self.kpis.add_class("wb-kpis-box")
        self.yesterday = w.HTML(layout=w.Layout(width="100%"))
        self.yesterday.add_class("wb-yesterday")
        self.day_chart = offline_chart(spend_by_day_chart(state.by_day), embed_options=_EMBED)
        self.day_chart.add_class("wb-chart-days")
        self.top_chart = offline_chart(bar_chart(state.top, "tenant", "Spend (USD)", width=370), embed_options=_EMBED)
        self.top_chart.add_class("wb-chart-tenants")
        self.model_chart = offline_chart(bar_chart(state.by_model, "model", "Spend (USD)", width=260),
                                         embed_options=_EMBED)
        self.model_chart.add_class("wb-chart-models")
        self.flags = w.HTML()
        self.flags.add_class("wb-flags")
        self.breakdown = w.ToggleButtons(options=[(v, k) for k, v in BREAKDOWN_LABELS.items()],
                                         value=state.breakdown, style={"button_width": "130px"})
        self.breakdown.add_class("wb-breakdown")
        self.table = w.HTML()
        self.table.add_class("wb-attribution")
        self.policy_box = w.VBox()
        self.policy_box.add_class("wb-policies")
        self.progress = w.FloatProgress(min=0.0, max=1.0, description="", layout=w.Layout(width="360px"))
        self.progress_label = w.HTML()
        self.progress_row = w.HBox([self.progress, self.progress_label],
                                   layout=w.Layout(display="none", align_items="center"))
        self.progress_row.add_class("wb-progress")

        charts_row = w.HBox([
            w.VBox([w.HTML(_html.section("Top spenders (tenant)")), self.top_chart], layout=w.Layout(width="50%")),
            w.VBox([w.HTML(_html.section("Spend by model")), self.model_chart], layout=w.Layout(width="50%")),
        ], layout=w.Layout(width="100%"))
        super().__init__([
            self.header,
            w.HBox([self.source, w.HBox([self.sample_button, self.upload])],
                   layout=w.Layout(justify_content="space-between", align_items="center", width="100%")),
            self.load_error, self.progress_row,
            w.HBox([self.range, self.feature_dd, self.tenant_dd],
                   layout=w.Layout(align_items="center", flex_flow="row wrap")),
            self.filter_error, self.kpis,
            w.HTML(_html.section("Yesterday")), self.yesterday,
            w.HTML(_html.section("Spend by feature per day")), self.day_chart,
            charts_row,
            w.HTML(_html.section("Anomalies: a day at ≥ 2× its median of the previous 7 days")), self.flags,
            w.HTML(_html.section("Attribution")), self.breakdown, self.table,
            self.policy_box,
        ], layout=w.Layout(max_width="1100px", padding="0 16px 24px 16px"))
        self.add_class("wb-app")
        self.add_class("wb-spend-explorer")

        # controls -> state
        self.range.observe(self._range_to_state, "value")
        self.feature_dd.observe(lambda c: self._set("feature", c["new"] or ""), "value")
        self.tenant_dd.observe(lambda c: self._set("tenant", c["new"] or ""), "value")
        self.breakdown.observe(lambda c: self._set("breakdown", c["new"]), "value")
        self.upload.observe(self._uploaded, "value")
        self.sample_button.on_click(lambda _: state.load_sample())
        # state -> view
        state.observe(self._show_options, ["days", "features_available", "tenants_available", "source"])
        state.observe(self._show_results, "revision")
        state.observe(self._show_errors, "errors")
        state.observe(self._show_progress, "progress")
        state.observe(self._show_filters, ["start", "end", "feature", "tenant", "breakdown"])
        self._build_policies()
        self._show_options()
        self._show_results()
        self._show_errors()

    def _show_progress(self, change=None) -> None:
        p = self.state.progress
        if p:
            self.progress.value = p.get("value", 0.0)
            self.progress_label.value = f"<span class='wb-sub'>{escape(p.get('label', ''))}</span>"
        self.progress_row.layout.display = "flex" if p else "none"

    # -- controls -> state -------------------------------------------------------------------
    def _set(self, name: str, value: Any) -> None:
        if self._building:
            return
        try:
            setattr(self.state, name, value)
        except Exception as e:  # never a traceback in the app
            self.state.set_error("filters", _one_line(e))

    def _range_to_state(self, change) -> None:
        if self._building:
            return
        lo, hi = change["new"]
        if lo is not None and hi is not None:
            self.state.set_range(lo, hi)

    def _uploaded(self, change) -> None:
        files = change["new"]
        if not files:
            return
        f = files[0]
        self.state.load_file(f["name"], bytes(f["content"]))
        self.upload.value = ()

    # -- state -> view -----------------------------------------------------------------------
    def _show_options(self, change=None) -> None:
        s = self.state
        self._building = True
        try:
            with self.hold_sync():
                self.source.value = f"<div class='wb-source' data-testid='source'>{escape(s.source)}</div>"
                if s.days:
                    self.range.options = [(d.strftime("%a %d %b"), d) for d in s.days]
                    self.range.style.description_width = "40px"
                self.feature_dd.options = [("All features", "")] + [(f, f) for f in s.features_available]
                self.tenant_dd.options = [("All tenants", "")] + [(t, t) for t in s.tenants_available]
        finally:
            self._building = False
        self._show_filters()

    def _show_filters(self, change=None) -> None:
        s = self.state
        self._building = True
        try:
            if s.days and s.start in s.days and s.end in s.days:
                self.range.index = (s.days.index(s.start), s.days.index(s.end))
            self.feature_dd.value = s.feature if s.feature in s.features_available else ""
            self.tenant_dd.value = s.tenant if s.tenant in s.tenants_available else ""
            self.breakdown.value = s.breakdown
        finally:
            self._building = False

    def _show_results(self, change=None) -> None:
        s = self.state
        with self.hold_sync():
            self.kpis.value = kpis_html(s.kpis)
            self.yesterday.value = yesterday_html(s.yesterday)
            self.flags.value = flags_html(s.flags)
            self.table.value = attribution_html(s.table, BREAKDOWNS[s.breakdown])
            self.day_chart.chart = spend_by_day_chart(s.by_day)
            self.top_chart.chart = bar_chart(s.top, "tenant", "Spend (USD)", width=370,
                                             color="plan" if s.top is not None and "plan" in s.top else None)
            self.model_chart.chart = bar_chart(s.by_model, "model", "Spend (USD)", width=260)

    def _show_errors(self, change=None) -> None:
        e = self.state.errors
        self.load_error.value = _html.error("  ".join(m for m in (e.get("load", ""), e.get("upload", ""),
                                                                   e.get("query", "")) if m), "load")
        self.filter_error.value = _html.error(e.get("filters", ""), "filters")
        if hasattr(self, "policy_error"):
            self.policy_error.value = _html.error(e.get("policy", ""), "policy")

    # -- policy stack ------------------------------------------------------------------------
    def _build_policies(self) -> None:
        title = w.HTML(_html.section("Policy stack: what would this traffic have cost?"))
        if not replay_available():
            self.policy_box.children = (title, w.HTML(
                "<div class='wb-placeholder' data-testid='replay-missing'>The replay engine "
                "(<code>workbench.core.replay</code>) is not in this installation yet: the policy stack, "
                "waterfall and budget timeline appear here once it is.</div>"),)
            return
        from workbench.core.replay import list_policies, policy_schema

        self._schemas = {n: policy_schema(n) for n in list_policies()}
        self.add_dd = w.Dropdown(options=list(self._schemas), layout=w.Layout(width="200px"))
        self.add_dd.add_class("wb-add-policy-name")
        self.add_help = w.HTML()
        self.add_dd.observe(lambda c: self._show_add_help(), "value")
        self._show_add_help()
        self.add_button = w.Button(description="Add policy", icon="plus", layout=w.Layout(width="130px"))
        self.add_button.add_class("wb-add-policy")
        self.add_button.on_click(lambda _: self._guard(self.state.add_policy, self.add_dd.value))
        self.cards = w.VBox()
        self.cards.add_class("wb-policy-cards")
        self.policy_error = w.HTML()
        self.replay_summary = w.HTML()
        self.waterfall = offline_chart(waterfall_chart(self.state.replay), embed_options=_EMBED)
        self.waterfall.add_class("wb-chart-waterfall")
        self.timeline = offline_chart(timeline_chart(self.state.replay), embed_options=_EMBED)
        self.timeline.add_class("wb-chart-timeline")
        self.policy_box.children = (
            title, w.HTML("<p class='wb-sub'>Policies apply top to bottom to the calls selected above "
                          "(replayed with <code>workbench.core.replay</code>). Controls come from each "
                          "policy's declared parameters.</p>"),
            w.HBox([self.add_dd, self.add_button, self.add_help], layout=w.Layout(align_items="center")),
            self.cards, self.policy_error, self.replay_summary,
            w.HTML(_html.section("Savings waterfall")), self.waterfall,
            w.HTML(_html.section("Budget timeline")), self.timeline,
        )
        self.state.observe(self._show_cards, "policies")
        self.state.observe(self._show_replay, "replay_revision")
        self._show_cards()
        self._show_replay()

    def _show_add_help(self) -> None:
        summary = self._schemas.get(self.add_dd.value, {}).get("summary", "")
        self.add_help.value = f"<span class='wb-sub'>{escape(summary)}</span>"

    def _guard(self, fn, *args) -> None:
        try:
            fn(*args)
        except Exception as e:
            self.state.set_error("policy", _one_line(e))

    def _show_cards(self, change=None) -> None:
        self.cards.children = [self._card(i, cfg) for i, cfg in enumerate(self.state.policies)]

    def _card(self, i: int, cfg: Mapping[str, Any]) -> w.Widget:
        name = cfg.get("policy", "?")
        schema = self._schemas.get(name, {"summary": "unknown policy", "params": []})
        controls = [param_control(p, cfg.get(p["name"], p.get("default")), self._options_for(p),
                                  lambda v, n=p["name"]: self._guard(self.state.set_policy_param, i, n, v),
                                  self._debounce_ms)
                    for p in schema["params"]]
        up = w.Button(icon="arrow-up", tooltip="move up", layout=w.Layout(width="36px"))
        down = w.Button(icon="arrow-down", tooltip="move down", layout=w.Layout(width="36px"))
        remove = w.Button(icon="times", tooltip="remove this policy", layout=w.Layout(width="36px"))
        remove.add_class("wb-remove-policy")
        up.on_click(lambda _: self.state.move_policy(i, -1))
        down.on_click(lambda _: self.state.move_policy(i, +1))
        remove.on_click(lambda _: self.state.remove_policy(i))
        head = w.HBox([w.HTML(f"<b>{i + 1}. {escape(name)}</b> <span class='wb-sub'>"
                              f"{escape(schema['summary'])}</span>", layout=w.Layout(flex="1")), up, down, remove])
        card = w.VBox([head, *controls])
        card.add_class("wb-policy-card")
        card.add_class(f"wb-policy-{name}")
        return card

    def _options_for(self, p: Mapping[str, Any]) -> list[str] | None:
        s = self.state
        if p["name"] in ("features", "feature"):
            return list(s.features_available)
        if p["name"] in ("tenants", "tenant"):
            return list(s.tenants_available)
        if p["kind"] == "model":
            in_log = sorted(s.log["model"].dropna().astype(str).unique()) if len(s.log) else []
            return list(dict.fromkeys(in_log + [m.id for m in s.prices.models()]))
        return None

    def _show_replay(self, change=None) -> None:
        r = self.state.replay
        with self.hold_sync():
            self.replay_summary.value = replay_summary_html(r)
            self.waterfall.chart = waterfall_chart(r)
            self.timeline.chart = timeline_chart(r)


def param_control(p: Mapping[str, Any], value: Any, options: list[str] | None, push, debounce_ms: float) -> w.Widget:
    """A widget for one declared policy parameter: bounds -> range, description -> label."""
    kind, name = p["kind"], p["name"]
    label = name.replace("_", " ")
    tip = p.get("description", "")
    layout = w.Layout(width="340px")

    if kind in ("int", "float"):
        lo, hi = p.get("minimum"), p.get("maximum")
        cls = w.BoundedIntText if kind == "int" else w.BoundedFloatText
        if kind == "float" and lo is not None and hi is not None and hi - lo <= 1:
            ctrl = w.FloatSlider(value=value if value is not None else lo, min=lo, max=hi, step=0.05,
                                 continuous_update=False)
        else:
            ctrl = cls(value=value if value is not None else (lo or 0), min=lo if lo is not None else -1e12,
                       max=hi if hi is not None else 1e12)
        ctrl.observe(lambda c: push(c["new"]), "value")
    elif kind == "bool":
        ctrl = w.Checkbox(value=bool(value), indent=False)
        ctrl.observe(lambda c: push(c["new"]), "value")
    elif kind == "choice":
        ctrl = w.Dropdown(options=list(p.get("choices") or []), value=value)
        ctrl.observe(lambda c: push(c["new"]), "value")
    elif kind in ("strings", "strings_or_all") and options is not None:
        chosen = [] if value in (None, "all") else [v for v in (value if isinstance(value, (list, tuple)) else [value])]
        ctrl = w.TagsInput(value=chosen, allowed_tags=options, allow_duplicates=False,
                           placeholder="all" if kind == "strings_or_all" else "choose…")
        ctrl.observe(lambda c: push(list(c["new"]) or ("all" if kind == "strings_or_all" else None)), "value")
    elif kind == "model" and options is not None:
        ctrl = w.Combobox(value=value or "", options=options, ensure_option=False, placeholder="model id")
        ctrl.observe(lambda c: push(c["new"] or None), "value")
    elif kind in ("str",):
        ctrl = w.Text(value=value or "", placeholder="default")
        deb = Debouncer(lambda v: push(v or None), debounce_ms)
        ctrl.observe(lambda c: deb(c["new"]), "value")
    else:  # lists, mappings, fractions, custom: JSON text
        ctrl = w.Textarea(value="" if value is None else json.dumps(value), placeholder="JSON",
                          layout=w.Layout(width="340px", height="56px"))

        def parse(text: str) -> None:
            text = text.strip()
            if not text:
                push(None)
                return
            try:
                push(json.loads(text))
            except ValueError as e:
                raise ValueError(f"{name}: not valid JSON ({e.args[0].split(':')[0]})") from None

        deb = Debouncer(parse, debounce_ms)
        ctrl.observe(lambda c: deb(c["new"]), "value")
    ctrl.tooltip = tip
    ctrl.layout = layout if kind not in ("bool",) else w.Layout(width="auto")
    ctrl.add_class(f"wb-param-{name}")
    required = "" if not p.get("required") else " <span class='wb-sub'>(required)</span>"
    return w.HBox([w.HTML(f"<span class='wb-param-label'>{escape(label)}</span>{required}",
                          layout=w.Layout(width="190px")),
                   ctrl, w.HTML(f"<span class='wb-sub' title='{escape(tip, quote=True)}'>{escape(tip[:90])}</span>",
                                layout=w.Layout(flex="1"))],
                  layout=w.Layout(align_items="center", width="100%"))


def make_spend_explorer(prices: PriceBook | None = None, *, query: str | None = None,
                        log: pd.DataFrame | None = None, debounce_ms: float = 300) -> w.Widget:
    """The spend explorer app on the sample week (or ``log``). ``query`` defaults to Voila's
    ``QUERY_STRING``; the view has ``.state``."""
    try:
        if prices is None:
            from workbench.io.pricesheets import load_prices

            prices = load_prices()
        state = SpendExplorerState(prices)
        with state.batch():  # load, then apply the link's settings: one recompute and replay
            if log is not None:
                state.set_log(log, f"{len(log):,} calls")
            else:
                state.load_sample()
            state.apply_query(os.environ.get("QUERY_STRING", "") if query is None else query)
    except Exception as e:  # e.g. a broken price sheet: say so instead of a traceback
        view = w.HTML(_html.STYLE + "<div class='wb-app'>" + _html.error(
            f"The spend explorer could not start: {_one_line(e)}", "startup") + "</div>")
        view.state = None
        return view
    return SpendExplorer(state, debounce_ms=debounce_ms)
