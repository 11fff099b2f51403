"""Cascade simulator app: a router or cascade on labelled data, its frontier in dollars.

Thin view over :class:`~workbench.widgets.cascade_state.CascadeSimulatorState`: data set (or an
uploaded evaluation CSV, through the shared chunked upload), tiers, prices (from the sheets,
overridable), signal; a threshold slider moving the point along the frontier chart (with all-cheap,
all-strong, random and oracle baselines); the table with bootstrap intervals, an operating point
picked by target quality, gap or monthly budget, the monthly projection, the projection on the
traffic log by feature (quality carried over, labelled so), escalation by route and examples where
the cheap answer was trusted and was wrong.
"""
from __future__ import annotations

import os
from html import escape
from typing import Any, Mapping

import altair as alt
import ipywidgets as w
import pandas as pd

from workbench.widgets import _html
from workbench.widgets.address import follow
from workbench.widgets.cascade_state import DATASETS, MAX_UPLOAD_BYTES, TARGET_KINDS, UPLOAD, CascadeSimulatorState
from workbench.widgets.charts import PALETTE, chart_widget, usd_axis
from workbench.widgets.log_source import LogSourceView, upload_into
from workbench.widgets.prices_asof import prices_as_of_html
from workbench.widgets.upload import ProgressRow

NONE = "—"


def frontier_chart(result: Mapping[str, Any], point: Mapping[str, Any] | None) -> alt.TopLevelMixin:
    """Quality against dollars: the swept curve, the random line, single models, oracle, and the
    slider's point, drawn from two chart parameters (``px``, ``py``) so that moving the slider only
    sends two numbers to the browser (no new chart)."""
    if not result:
        return alt.Chart(pd.DataFrame({"x": []})).mark_text().properties(width=760, height=340)
    curve = pd.DataFrame(result["frontier"])
    curve["series"] = f"{result['signal']} ({result['mode']})"
    rnd = pd.DataFrame(result["random"])
    rnd["series"] = "random"
    marks = [{"usd": b["usd"], "quality": b["quality"], "label": f"all {m.split('/')[-1]}"}
             for m, b in result["baselines"].items()]
    marks.append({"usd": result["oracle"]["usd"], "quality": result["oracle"]["quality"], "label": "oracle"})
    marks = pd.DataFrame(marks)
    top = max(curve["usd"].max(), rnd["usd"].max(), marks["usd"].max())
    x = alt.X("usd:Q", title=f"Cost of the {result['n']:,} requests (USD)", axis=alt.Axis(format=usd_axis(top)))
    y = alt.Y("quality:Q", title="Mean quality", scale=alt.Scale(zero=False), axis=alt.Axis(format=".0%"))
    color = alt.Color("series:N", title=None, legend=alt.Legend(orient="top"),
                      scale=alt.Scale(domain=[curve["series"].iloc[0], "random"], range=[PALETTE[0], "#8c959f"]))
    line = alt.Chart(curve).mark_line(point=alt.OverlayMarkDef(size=18)).encode(
        x=x, y=y, color=color, tooltip=[alt.Tooltip("threshold:Q", format=".4g"),
                                        alt.Tooltip("quality:Q", format=".2%"), alt.Tooltip("usd:Q", format="$,.4f"),
                                        alt.Tooltip("escalation_rate:Q", format=".1%")])
    random_line = alt.Chart(rnd).mark_line(strokeDash=[5, 4]).encode(x=x, y=y, color=color)
    dots = alt.Chart(marks).mark_point(size=90, filled=True, color=PALETTE[2], shape="diamond").encode(
        x=x, y=y, tooltip=["label:N", alt.Tooltip("quality:Q", format=".2%"), alt.Tooltip("usd:Q", format="$,.4f")])
    labels = alt.Chart(marks).mark_text(dx=8, dy=-8, align="left", fontSize=12).encode(x=x, y=y, text="label:N")
    px = alt.param(name="px", value=float(point["usd"]) if point else float(curve["usd"].iloc[0]))
    py = alt.param(name="py", value=float(point["quality"]) if point else float(curve["quality"].iloc[0]))
    here = alt.Chart(pd.DataFrame({"k": [0]})).mark_point(size=260, filled=True, color="#cf222e", opacity=1).encode(
        x=alt.X(datum=alt.ExprRef("px"), type="quantitative"), y=alt.Y(datum=alt.ExprRef("py"), type="quantitative"))
    here = here.add_params(px, py)
    return alt.layer(random_line, line, dots, labels, here).properties(width=760, height=340)


def _pct(v) -> str:
    return "–" if v is None else f"{v * 100:.1f}%"


def _usd(v) -> str:
    return "–" if v is None else f"${v:,.4f}" if abs(v) < 100 else f"${v:,.2f}"


def table_html(r: Mapping[str, Any], p: Mapping[str, Any]) -> str:
    if not r or not p:
        return ""
    rows = []
    models = list(r["baselines"])
    for m in models:
        b = r["baselines"][m]
        rows.append((f"all {m}", b["quality"], b["usd"], 0.0 if m == models[0] else 1.0))
    rows.append(("oracle (cheapest tier that gets it right)", r["oracle"]["quality"], r["oracle"]["usd"], None))
    rows.append((f"<b>this threshold ({p['threshold']:.4g})</b>", p["quality"], p["usd"], p["escalation_rate"]))
    pci = p.get("ci95") or {}

    def cell(i, v, fmt, key):
        band = pci.get(key) if i == len(rows) - 1 else None
        sub = (f"<br><span class='wb-sub' data-testid='ci-{key}'>95% CI {fmt(band[0])} – {fmt(band[1])}</span>"
               if band else "")
        return f"<td class='wb-num'>{fmt(v)}{sub}</td>"
    body = "".join(f"<tr><td>{name}</td>{cell(i, q, _pct, 'quality')}{cell(i, c, _usd, 'usd')}"
                   f"{cell(i, e, _pct, 'escalation_rate')}</tr>" for i, (name, q, c, e) in enumerate(rows))
    boot = (f"<p class='wb-sub'>Intervals: bootstrap over the {p['n']:,} prompts ({pci['resamples']} resamples, "
            "the same at every threshold).</p>") if pci.get("resamples") else ""
    ci = r.get("ci95") or {}

    def metric(key, fmt):
        v = r.get(key)
        interval = f" <span class='wb-sub'>(95% CI {fmt(ci[key][0])} – {fmt(ci[key][1])})</span>" if ci.get(key) else ""
        return ("–" if v is None else fmt(v)) + interval
    op = r["operating_point"]
    sp = r["split"]
    cal_line = ""
    return (f"<table class='wb-table wb-cascade-table'><tr><th>route</th><th class='wb-num'>quality</th>"
            f"<th class='wb-num'>cost (USD)</th><th class='wb-num'>escalated</th></tr>{body}</table>{boot}"
            f"<p class='wb-stats'>APGR <b>{metric('apgr', lambda v: f'{v:.3f}')}</b> · AIQ "
            f"<b data-testid='aiq'>{metric('aiq', lambda v: f'{v:.4f}')}</b> · cost at 50% of the gap "
            f"<b>{metric('usd_at_50pct_gap', _usd)}</b> · at 80% <b>{metric('usd_at_80pct_gap', _usd)}</b></p>"
            f"<p class='wb-sub'>Split: {escape(sp['method'])}, {sp['calibrate_n']:,} calibration / {sp['test_n']:,} "
            f"held-out prompts. Router scores: {escape(sp['frontier_scores'])}.</p>{cal_line}")


def _signed(v) -> str:
    """Savings with their sign (a cascade can cost more): −$1.20."""
    return "–" if v is None else ("−" if v < 0 else "") + _usd(abs(v))


def _pts(v) -> str:
    return "–" if v is None else f"{v * 100:+.2f} pts"


def _target_text(t: Mapping[str, Any]) -> str:
    v = t["value"]
    return {"gap": f"{v * 100:g}% of the quality gap", "quality": f"mean quality ≥ {v * 100:g}%",
            "budget": f"≤ {_usd(v)} per month"}.get(t["kind"], f"{t['kind']} {v:g}")


def operating_html(op: Mapping[str, Any], r: Mapping[str, Any]) -> str:
    """The operating point the target picks: chosen on the calibration split, reported on the held-out one."""
    if not op or not r:
        return ""
    t, pj, sp = op["test"], op["projection"], r["split"]
    ci = t.get("ci95") or {}
    qci = ci.get("quality")
    met = "" if op["target_met_on_calibration"] else (
        " <b class='wb-warn'>The target cannot be met on the calibration split: this is the closest point.</b>")
    saved = pj["saved_vs_all_strong_usd_per_month"]
    return (f"<div class='wb-operating' data-testid='operating'>Operating point for <b>{escape(_target_text(op['target']))}"
            f"</b>: threshold {op['threshold']:.4g}, chosen on {sp['calibrate_n']:,} calibration prompts; on "
            f"{sp['test_n']:,} held-out prompts quality <b>{_pct(t['quality'])}</b>"
            + (f" (95% CI {_pct(qci[0])} – {_pct(qci[1])})" if qci else "")
            + f", escalation {_pct(t['escalation_rate'])}. At {pj['requests_per_day']:,.0f} requests/day: "
            f"<b data-testid='operating-monthly'>{_usd(pj['usd_per_month'])}</b> per month vs all-strong "
            f"{_usd(pj['all_strong_usd_per_month'])} ({'saves' if saved >= 0 else 'costs'} {_usd(abs(saved))}; "
            f"quality {pj['quality_change_vs_all_strong'] * 100:+.1f} points).{met}</div>")


def traffic_html(t: Mapping[str, Any], tiers) -> str:
    """The slider's point replayed over the traffic log: per day and month by feature."""
    if not t:
        return ""
    draw = (t.get("ci95") or {}).get("draw")
    qc, qci = t.get("quality_change"), t.get("quality_change_ci95")
    rows = "".join(
        f"<tr><td>{escape(f['feature'])}</td><td class='wb-num'>{f['requests']:,}</td>"
        f"<td class='wb-num'>{f['cascaded_requests']:,}</td><td class='wb-num'>{f['escalated_requests']:,}</td>"
        f"<td class='wb-num'>{_signed(f['saved_usd_per_day'])}</td><td class='wb-num'>{_signed(f['saved_usd_per_month'])}"
        + (f"<br><span class='wb-sub'>{_signed(f['saved_usd_per_month_ci95_draw'][0])} – "
           f"{_signed(f['saved_usd_per_month_ci95_draw'][1])}</span>" if f.get("saved_usd_per_month_ci95_draw")
           and f["cascaded_requests"] else "")
        + f"</td><td class='wb-num'>{_pts(f['quality_change_on_feature'])}</td></tr>" for f in t["by_feature"])
    verb = "saves" if t["saved_usd_per_month"] >= 0 else "costs"
    return (f"<p class='wb-stats'>{t['requests']:,} requests over {t['days']} day{'s' if t['days'] != 1 else ''}; {t['cascaded_requests']:,} went to "
            f"{escape(tiers[1])} and now try {escape(tiers[0])} first, {t['escalated_requests']:,} of them escalate "
            f"({_pct(t['escalation_rate'])}, the rate at this threshold). The cascade {verb} "
            f"<b data-testid='traffic-day'>{_usd(abs(t['saved_usd_per_day']))}</b> per day, "
            f"<b data-testid='traffic-month'>{_usd(abs(t['saved_usd_per_month']))}</b> per month (30 days)"
            + (f" — saved per month, 95% range over random draws: {_signed(draw[0])} – {_signed(draw[1])}"
               if draw else "") + ".</p>"
            f"<table class='wb-table wb-traffic-table'><tr><th>feature</th><th class='wb-num'>requests</th>"
            f"<th class='wb-num'>cascaded</th><th class='wb-num'>escalated</th><th class='wb-num'>saved / day</th>"
            f"<th class='wb-num'>saved / month</th><th class='wb-num'>quality change<br>(carried over)</th></tr>{rows}"
            f"</table><p class='wb-sub' data-testid='traffic-notes'>Which requests escalate: "
            f"{escape(t['escalation_method'])}. Quality: <b>carried over from the labelled set</b> "
            f"({escape(t.get('labelled', ''))}): {'–' if qc is None else f'{qc * 100:+.1f}'} points per cascaded request"
            + (f" (95% CI {qci[0] * 100:+.1f} – {qci[1] * 100:+.1f})" if qci else "")
            + ", not measured on this traffic; a feature's change is that times its cascaded share. The cheap "
            "model's answers are assumed as long as the logged ones (the log has no answer from it).</p>")


def load_html(rep: Mapping[str, Any], upload_name: str) -> str:
    """What loading the data read, rejected (first few named) and found missing."""
    if not rep:
        return ""
    bad = "".join(f"<li>{escape(str(b['file']).split('/')[-1])}:{b['line']}: {escape(b['field'])}: "
                  f"{escape(b['reason'])}</li>" for b in rep.get("rejected", []))
    more = rep["rejected_rows"] - len(rep.get("rejected", []))
    missing = ", ".join(f"{escape(m)} {k:,}" for m, k in (rep.get("missing") or {}).items())
    src = escape(upload_name) if upload_name else escape(str(rep.get("source", "")).split("/")[-1])
    return (f"<div class='wb-load-report' data-testid='load-report'>{src}: <b>{rep['rows_read']:,}</b> rows read, "
            f"<b data-testid='rejected'>{rep['rejected_rows']:,}</b> rejected"
            + (f"; prompts missing an outcome, by model: {missing} (left out, never guessed)" if missing else "")
            + (f"<ul class='wb-rejected'>{bad}</ul>" if bad else "")
            + (f"<p class='wb-sub'>… and {more:,} more</p>" if more > 0 else "") + "</div>")


def projection_html(r: Mapping[str, Any], p: Mapping[str, Any]) -> str:
    if not p:
        return ""
    saved = p["all_strong_usd_per_month"] - p["usd_per_month"]
    strong_q = list(r["baselines"].values())[-1]["quality"]
    return (f"<div class='wb-projection'><b data-testid='monthly'>{_usd(p['usd_per_month'])}</b> per month at "
            f"{p['requests_per_day']:,.0f} requests/day (30 days) vs all-strong {_usd(p['all_strong_usd_per_month'])}"
            f" and all-cheap {_usd(p['all_cheap_usd_per_month'])}: "
            f"{'saves' if saved >= 0 else 'costs'} <b>{_usd(abs(saved))}</b> a month; quality "
            f"{(p['quality'] - strong_q) * 100:+.1f} points vs all-strong (measured on this labelled set).</div>")


def routes_html(r: Mapping[str, Any], p: Mapping[str, Any]) -> str:
    if not p:
        return ""
    e = p["escalation_rate"]
    level = "red" if e > 0.20 else "amber" if e > 0.15 else "ok"
    light = p.get("escalation_light")
    warn_light = light is not None and light > 0.40
    return (f"<p class='wb-escalation wb-level-{level}'>Escalation {_pct(e)} overall "
            f"<b>[{level}]</b> — the seeds advise under 15–20% on production traffic. "
            + (f"Light (classify_query 'cheap') routes escalate {_pct(light)}"
               + (" <b>⚠ above 40%: the classifier needs more labels or features</b>" if warn_light else "")
               if light is not None else "") + "</p>")


def examples_html(r: Mapping[str, Any], p: Mapping[str, Any]) -> str:
    if not p:
        return ""
    if not p["examples"]:
        return "<p class='wb-empty'>No prompt at this threshold kept a cheap answer that a later tier beat.</p>"
    models = list(r["baselines"])
    items = "".join(
        f"<tr><td><pre style='white-space:pre-wrap;margin:0'>{escape(ex['prompt'])}</pre></td>"
        f"<td class='wb-num'>{ex['score']:.3g}</td>"
        + "".join(f"<td class='wb-num'>{q:g}</td>" for q in ex["quality"]) + "</tr>" for ex in p["examples"])
    head = "".join(f"<th class='wb-num'>{escape(m.split('/')[-1])}</th>" for m in models)
    return (f"<p class='wb-stats'>{p['trusted_wrong']:,} prompts kept the cheap answer where a later tier did "
            f"better; the first few:</p><table class='wb-table wb-examples'><tr><th>prompt</th>"
            f"<th class='wb-num'>score</th>{head}</tr>{items}</table>")


def notes_html(r: Mapping[str, Any]) -> str:
    if not r:
        return ""
    tiers = "".join(f"<li>{escape(t['model'])}: ${t['usd_per_mtok_input']:g} / ${t['usd_per_mtok_output']:g} per 1M "
                    f"— {escape(t['price_source'])}<br><span class='wb-sub'>tokens: {escape(t['tokens'])}</span></li>"
                    for t in r["tiers"])
    extra = f"<p class='wb-sub'>{escape(r['assumption'])}</p>" if r.get("assumption") else ""
    return f"<details class='wb-note'><summary>Prices, tokens and assumptions</summary><ul>{tiers}</ul>{extra}</details>"


class CascadeSimulator(w.VBox):
    def __init__(self, state: CascadeSimulatorState):
        self.state = state
        self.header = w.HTML(_html.STYLE + _html.header(
            "Cascade simulator",
            "Try the cheap model first and escalate only when needed — on real quality labels, in dollars. "
            "Pick the data, the tiers and the signal; move the threshold along the frontier."))
        self.dataset = w.Dropdown(description="data", layout=w.Layout(width="420px"))    # options: _config
        self.tier_dd = [w.Dropdown(description=f"tier {i + 1}", layout=w.Layout(width="420px")) for i in range(3)]
        self.signal = w.Dropdown(description="signal", layout=w.Layout(width="300px"))
        self.rpd = w.BoundedFloatText(value=state.requests_per_day, min=1, max=1e9, description="requests/day",
                                      style={"description_width": "initial"}, layout=w.Layout(width="260px"))
        self.price_box = w.VBox()
        self.slider = w.IntSlider(description="threshold", min=0, max=0, continuous_update=True,
                                  layout=w.Layout(width="760px"), readout=False)
        self.slider_label = w.HTML()
        self.chart = chart_widget(frontier_chart(state.result, state.point), "wb-frontier")
        self.table = w.HTML()
        self.projection = w.HTML()
        self.routes = w.HTML()
        self.examples = w.HTML()
        self.notes = w.HTML()
        self.message = w.HTML()
        self.upload_progress = ProgressRow()
        self.upload = upload_into(state, state.load_upload, self.upload_progress, description="Upload eval CSV",
                                  max_bytes=MAX_UPLOAD_BYTES, accept=".csv,.gz")
        self.load_report = w.HTML()
        self.target_kind = w.Dropdown(options=[(v, k) for k, v in TARGET_KINDS.items()], value=state.target_kind,
                                      description="pick by", layout=w.Layout(width="330px"))
        self.target_value = w.FloatText(value=state.target_value, layout=w.Layout(width="120px"))
        self.operating = w.HTML()
        self.traffic_dd = [w.Dropdown(description=d, layout=w.Layout(width="330px")) for d in ("cheap", "strong")]
        self.traffic = w.HTML()
        self.log_view = LogSourceView(state.log_source, description="Upload traffic log")
        for name, ctrl in (("dataset", self.dataset), ("signal", self.signal), ("rpd", self.rpd),
                           ("slider", self.slider), ("upload", self.upload), ("target-kind", self.target_kind),
                           ("target-value", self.target_value), ("traffic-cheap", self.traffic_dd[0]),
                           ("traffic-strong", self.traffic_dd[1])):
            ctrl.add_class(f"wb-cascade-{name}")
        for i, dd in enumerate(self.tier_dd):
            dd.add_class(f"wb-cascade-tier{i + 1}")
        self._sync = False
        self._charted = state.result      # the chart above was drawn from it: _point moves its point only
        self.dataset.observe(lambda c: None if self._sync else setattr(state, "dataset", c["new"]), "value")
        self.target_kind.observe(self._target_changed, "value")
        self.target_value.observe(self._target_changed, "value")
        for dd in self.traffic_dd:
            dd.observe(self._traffic_changed, "value")
        for dd in self.tier_dd:
            dd.observe(self._tiers_changed, "value")
        self.signal.observe(lambda c: None if self._sync or c["new"] is None else setattr(state, "signal", c["new"]),
                            "value")
        self.rpd.observe(lambda c: None if self._sync else setattr(state, "requests_per_day", float(c["new"])),
                         "value")
        self.slider.observe(lambda c: None if self._sync else setattr(state, "index", int(c["new"])), "value")
        state.observe(self._config, ["models", "signals", "tiers", "signal", "result", "upload_name",
                                     "traffic_models", "traffic_cheap_models", "traffic_tiers"])
        state.observe(self._inputs, ["requests_per_day", "target_kind", "target_value"])
        state.observe(self._point, ["point"])
        state.observe(self._traffic, ["traffic"])      # a new traffic log: the same point, another projection
        state.observe(self._operating, ["operating"])
        state.observe(self._errors, ["errors", "status"])
        state.observe(lambda _: setattr(self.load_report, "value", load_html(state.load_report, state.upload_name)),
                      "load_report")
        self.address_bar = follow(state, ["dataset", "tiers", "signal", "prices", "requests_per_day", "index",
                                          "grid", "target_kind", "target_value", "traffic_tiers"], state.query)
        super().__init__([self.header, self.address_bar, self.message,
                          w.HBox([self.dataset, self.upload], layout=w.Layout(flex_flow="row wrap",
                                                                              align_items="center")),
                          self.upload_progress, self.load_report,
                          w.HBox([self.signal, self.rpd], layout=w.Layout(flex_flow="row wrap")),
                          w.VBox(self.tier_dd), self.price_box,
                          w.HBox([self.target_kind, self.target_value], layout=w.Layout(align_items="center")),
                          self.operating,
                          w.HTML(_html.section("Frontier: quality against dollars")), self.slider, self.slider_label,
                          self.chart, self.table, self.projection, self.routes,
                          w.HTML(_html.section("On your traffic: this threshold replayed over a traffic log")),
                          self.log_view,
                          w.HBox(self.traffic_dd, layout=w.Layout(flex_flow="row wrap")), self.traffic,
                          w.HTML(_html.section("Trusted and wrong: the cheap answer was kept, a later tier did better")),
                          self.examples, self.notes])
        self.add_class("wb-app")
        self._config()
        self._point()
        self._operating()
        self._errors()
        self.load_report.value = load_html(state.load_report, state.upload_name)

    def _target_changed(self, _=None) -> None:
        if self._sync:
            return
        with self.state.hold_trait_notifications():
            self.state.target_kind = self.target_kind.value
            self.state.target_value = float(self.target_value.value)

    def _traffic_changed(self, _=None) -> None:
        if self._sync:
            return
        pair = [d.value for d in self.traffic_dd]
        if all(pair) and pair != list(self.state.traffic_tiers):
            self.state.traffic_tiers = pair

    def _inputs(self, _=None) -> None:
        """Volume and target as the state has them (a link sets them before the page is drawn)."""
        s = self.state
        self._sync = True
        try:
            self.rpd.value = s.requests_per_day
            self.target_kind.value = s.target_kind
            self.target_value.value = s.target_value
        finally:
            self._sync = False

    def _operating(self, _=None) -> None:
        self.operating.value = operating_html(self.state.operating, self.state.result)

    def _tiers_changed(self, _=None) -> None:
        if self._sync:
            return
        tiers = [d.value for d in self.tier_dd if d.value and d.value != NONE]
        if len(tiers) >= 2 and tiers != list(self.state.tiers):
            self.state.tiers = tiers

    def _config(self, _=None) -> None:
        s = self.state
        self._sync = True
        try:
            for i, dd in enumerate(self.tier_dd):
                opts = list(s.models) if i < 2 else [NONE, *s.models]
                dd.options = opts
                want = s.tiers[i] if i < len(s.tiers) else (NONE if i >= 2 else None)
                dd.value = want if want in opts else (opts[0] if opts else None)
            options = [(v, k) for k, v in DATASETS.items()]
            if s.upload_name or s.dataset == UPLOAD:     # a link to an upload: ask for the file
                options.append((f"Uploaded: {s.upload_name or '(upload the file)'}", UPLOAD))
            if list(self.dataset.options) != options:
                self.dataset.options = options
            self.dataset.value = s.dataset
            # the strong tier is one of the log's models; the cheap one may be any cheaper priced model
            for dd, want, models in zip(self.traffic_dd, s.traffic_tiers, (s.traffic_cheap_models, s.traffic_models)):
                opts = sorted(set(models) | {want})
                if list(dd.options) != opts:
                    dd.options = opts
                dd.value = want
            self.signal.options = list(s.signals)
            if s.signal in s.signals:
                self.signal.value = s.signal
            self.slider.max = max(len(s.grid) - 1, 0)
            self.slider.value = min(max(s.index, 0), self.slider.max)
        finally:
            self._sync = False
        self._prices()

    def _prices(self) -> None:
        r = self.state.result
        priced = {t["model"]: t for t in (r.get("tiers") or [])}
        rows = []
        for model in self.state.tiers:   # a tier the sheets lack still gets boxes: enter its price there
            given = self.state.prices.get(model)
            t = priced.get(model) or {"model": model, "usd_per_mtok_input": given[0] if given else 0.0,
                                      "usd_per_mtok_output": given[1] if given else 0.0,
                                      "price_source": "not in the price sheets: enter a price"}
            inp = w.BoundedFloatText(value=t["usd_per_mtok_input"], min=0, max=1e4, step=0.01,
                                     layout=w.Layout(width="110px"))
            out = w.BoundedFloatText(value=t["usd_per_mtok_output"], min=0, max=1e4, step=0.01,
                                     layout=w.Layout(width="110px"))

            def push(_=None, model=model, inp=inp, out=out) -> None:
                prices = dict(self.state.prices)
                prices[model] = [float(inp.value), float(out.value)]
                self.state.prices = prices
            inp.observe(push, "value")
            out.observe(push, "value")
            src = ("override" if t["price_source"].startswith("override") else "price sheet" if model in priced
                   else "no price: enter one")
            rows.append(w.HBox([w.HTML(f"<span class='wb-param-label'>{escape(model)}</span>",
                                       layout=w.Layout(width="320px")),
                                w.HTML("$ in"), inp, w.HTML("$ out / 1M"), out,
                                w.HTML(f"<span class='wb-sub' title='{escape(t['price_source'], quote=True)}'>"
                                       f"{src}</span>")], layout=w.Layout(align_items="center")))
        self.price_box.children = rows

    def _point(self, _=None) -> None:
        s, r, p = self.state, self.state.result, self.state.point
        if self.slider.value != s.index and 0 <= s.index <= self.slider.max:
            self._sync = True
            self.slider.value = s.index
            self._sync = False
        if p:
            self.slider_label.value = (
                f"<span class='wb-stats wb-threshold-readout' data-index='{p['index']}'>threshold <b data-testid='threshold'>{p['threshold']:.4g}"
                f"</b> · escalated <b data-testid='escalation'>{_pct(p['escalation_rate'])}</b> · quality "
                f"<b data-testid='quality'>{_pct(p['quality'])}</b> · <b data-testid='usd'>{_usd(p['usd'])}</b> "
                f"for {p['n']:,} requests</span>")
        if r is not self._charted:
            self._charted = r
            self.chart.chart = frontier_chart(r, p)
        elif p:
            with self.chart.hold_sync():
                self.chart.params.px = float(p["usd"])
                self.chart.params.py = float(p["quality"])
        self.table.value = table_html(r, p)
        self.projection.value = projection_html(r, p)
        self.routes.value = routes_html(r, p)
        self.examples.value = examples_html(r, p)
        self.traffic.value = traffic_html(s.traffic, list(s.traffic_tiers))
        self.notes.value = notes_html(r) + prices_as_of_html(self.state._book_or_load(), [t["model"] for t in (r or {}).get("tiers", [])], self.state._day)

    def _traffic(self, _=None) -> None:
        self.traffic.value = traffic_html(self.state.traffic, list(self.state.traffic_tiers))

    def _errors(self, _=None) -> None:
        errs = "".join(_html.error(m, f) for f, m in self.state.errors.items())
        status = f"<p class='wb-sub wb-status'>{escape(self.state.status)}</p>" if self.state.status else ""
        self.message.value = errs + status


def make_cascade_simulator(prices=None, *, query: str | None = None, embed=None, day=None,
                           bootstrap: int = 100, traffic_log=None) -> CascadeSimulator:
    """The cascade simulator app. ``query`` defaults to Voila's ``QUERY_STRING``; ``.state`` holds it.
    ``traffic_log``: a canonical request frame to project onto (default: the sample week)."""
    state = CascadeSimulatorState(prices, embed=embed, day=day, bootstrap=bootstrap, traffic_log=traffic_log)
    state.apply_query(os.environ.get("QUERY_STRING", "") if query is None else query)
    return CascadeSimulator(state)     # drawn once, from the final state (chart, tables, controls)
