"""PM cost preview app: what a feature will cost per request, day and month, on several models.

:class:`CostPreviewState` holds one raw trait per declared parameter (:data:`workbench.core.preview.PARAMS`:
text as typed for text fields, numbers for sliders). Any change re-validates the whole scenario;
a bad value puts a message in ``errors[param]`` and leaves ``result`` at the last good one. A
good scenario is priced by :func:`workbench.core.preview.price_scenario` and published in
``result``, ``share_url``, ``markdown`` and ``csv``. :func:`make_cost_preview` builds the view,
which only displays the state and forwards control changes to it.
"""
from __future__ import annotations

import datetime as dt
import os
from html import escape
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import altair as alt
import anywidget
import ipywidgets as w
import pandas as pd
import traitlets
from traitlets import Bool, Dict, Float, HasTraits, Instance, Int, List, Unicode

from workbench.widgets._state import one_line as _one_line
from workbench.core import preview as core
from workbench.core.preview import PARAM_BY_NAME, PARAMS, ParamError, PreviewResult, usd
from workbench.core.prices import PriceBook
from workbench.core.tokens import count_tokens
from workbench.widgets import _html
from workbench.widgets.charts import offline_chart
from workbench.widgets.prices_asof import prices_as_of_html

APP_FILE = "cost_preview.ipynb"
_EMBED = {"actions": False}  # no "open in Vega editor" links off this machine
from workbench.widgets.address import AddressBar  # noqa: E402
from workbench.widgets.charts import PALETTE as _PALETTE  # noqa: E402  (one palette for all apps)


def _raw_trait(p: core.Param) -> traitlets.TraitType:
    if p.control == "checkbox":
        return Bool(p.default, help=p.description)
    if p.control == "slider":
        return (Int if p.kind == "integer" else Float)(p.default, help=p.description)
    return Unicode(p.display(p.default) if p.kind != "date" else "", help=p.description)


#: One raw input trait per declared parameter (text for text fields, numbers for sliders).
_RawInputs = type("_RawInputs", (HasTraits,), {p.name: _raw_trait(p) for p in PARAMS})




def _default_models(book: PriceBook, day: dt.date) -> tuple[str, ...]:
    wanted = [book.resolve(m) for m in PARAM_BY_NAME["models"].default if m in book]
    if wanted:
        return tuple(wanted)
    priced = []
    for info in book.models():
        try:
            book.price_on(info.id, day)
        except Exception:
            continue
        priced.append(info.id)
    return tuple(priced[:2])


class CostPreviewState(_RawInputs):
    """Inputs and results of the cost preview. No widgets in here.

    Set an input trait (``state.requests_per_day = "50,000"``, ``state.cache_hit_pct = 50``);
    read ``result`` (a :class:`~workbench.core.preview.PreviewResult`), ``errors``, ``share_url``.
    """

    scenario = Instance(core.Scenario, allow_none=True, help="the last valid scenario")
    result = Instance(PreviewResult, allow_none=True, help="the last good result")
    errors = Dict(help="parameter name -> message shown next to its field; result not updated")
    field_notes = Dict(help="parameter name -> note about the current result (e.g. no cached price)")
    link_notes = List(Unicode(), help="what was wrong with the link the app was opened with")
    token_note = Unicode(help="how the pasted prompt was counted")
    share_query = Unicode()
    share_url = Unicode(help="the app's URL with the current scenario in its query string")
    markdown = Unicode(help="the cost-preview block for a feature spec")
    csv = Unicode()

    def __init__(self, book: PriceBook, query: str = "", base_url: str = APP_FILE,
                 today: dt.date | None = None, **inputs: Any):
        self.book = book
        self.base_url = base_url
        self.today = today or dt.date.today()
        self._ready = False
        super().__init__()
        self.price_date = self.today.isoformat()  # a shared link pins the prices of today
        self.models = PARAM_BY_NAME["models"].display(_default_models(book, self.today))
        self.apply_query(query)
        for name, value in inputs.items():
            setattr(self, name, value)
        self._ready = True
        self.observe(self._changed, names=[p.name for p in PARAMS])
        self.recompute()

    # -- inputs ------------------------------------------------------------------------------
    def raw_inputs(self) -> dict[str, Any]:
        return {p.name: getattr(self, p.name) for p in PARAMS}

    def set_input(self, name: str, value: Any) -> None:
        """Set a parameter from a parsed value (shown as a field would show it)."""
        p = PARAM_BY_NAME[name]
        setattr(self, name, value if p.control in ("slider", "checkbox") else p.display(value))

    def apply_query(self, query: str) -> None:
        """Restore the scenario of a shared link; bad values keep their default and are reported."""
        raw, notes = core.decode_query(query or "")
        with self.hold_trait_notifications():
            for name, text in raw.items():
                p = PARAM_BY_NAME[name]
                try:
                    self.set_input(name, p.parse(text, self.book))
                except ParamError as e:
                    notes.append(f"{p.label}: the link's value {text!r} was not used ({e})")
        self.link_notes = notes
        if self._ready:
            self.recompute()

    def count_prompt(self, text: str) -> None:
        """Count an example prompt with each chosen model's tokenizer; use the largest count."""
        try:
            if not text.strip():
                raise ValueError("paste an example prompt first")
            models = self.scenario.models if self.scenario else ()
            counts = []
            for mid in models or ("gpt-4o",):
                info = self.book.model(mid) if mid in self.book else None
                tc = count_tokens(text, tokenizer=info.tokenizer) if info else count_tokens(text)
                counts.append((mid, tc))
            best = max(c.tokens for _, c in counts)
            target = "system_tokens" if self.chat else "input_tokens"
            self.set_input(target, float(best))
            parts = ", ".join(f"{m}: {c.tokens:,} ({c.method})" for m, c in counts)
            label = PARAM_BY_NAME[target].label.lower()
            self.token_note = f"{best:,} tokens set as {label}. Per model: {parts}."
        except Exception as e:  # shown next to the prompt box, never as a traceback
            self.token_note = f"Could not count: {_one_line(e)}"

    # -- results -----------------------------------------------------------------------------
    def _changed(self, change) -> None:
        self.recompute()

    def recompute(self) -> None:
        try:
            scenario, errors = core.parse_scenario(self.raw_inputs(), self.book)
            if errors:
                self.errors = errors
                return
            result = core.price_scenario(self.book, scenario, today=self.today)
            query = core.encode_query(scenario)
            url = f"{self.base_url}?{query}" if query else self.base_url
            markdown = core.to_markdown(result, link=url)
            csv = core.to_csv(result)
        except Exception as e:  # an unexpected failure: one line, last good result kept
            self.errors = {"_": f"Could not compute the preview: {_one_line(e)}"}
            return
        notes: dict[str, list[str]] = {}
        for r in result.rows:
            if r.error:
                notes.setdefault(r.error_field or "models", []).append(r.error)
            for n in r.notes:
                notes.setdefault("cache_hit_pct", []).append(n)
        with self.hold_trait_notifications():
            self.errors = {}
            self.field_notes = {k: " ".join(v) for k, v in notes.items()}
            self.scenario, self.result = scenario, result
            self.share_query, self.share_url = query, url
            self.markdown, self.csv = markdown, csv

    def to_markdown(self) -> str:
        return self.markdown

    def to_csv(self) -> str:
        return self.csv


# =============================================================================================
# Charts (Altair, rendered offline by JupyterChart)
# =============================================================================================

def _colors(result: PreviewResult) -> alt.Scale:
    names = [r.model for r in result.rows]
    return alt.Scale(domain=names, range=_PALETTE[:len(names)] or _PALETTE[:1])


def daily_chart(result: PreviewResult) -> alt.TopLevelMixin:
    rows = [{"model": r.model, "usd_per_day": r.usd_per_day, "per_day": usd(r.usd_per_day),
             "per_request": usd(r.usd_per_request), "per_month": usd(r.usd_per_month)}
            for r in result.ok_rows]
    t = result.scenario.threshold_usd_per_day
    df = pd.DataFrame(rows, columns=["model", "usd_per_day", "per_day", "per_request", "per_month"])
    bars = alt.Chart(df).mark_bar(cornerRadiusEnd=3, height=22).encode(
        y=alt.Y("model:N", sort=None, title=None, axis=alt.Axis(labelLimit=220)),
        x=alt.X("usd_per_day:Q", title="$ per day", axis=alt.Axis(format="$,.2~f")),
        color=alt.Color("model:N", scale=_colors(result), legend=None),
        tooltip=[alt.Tooltip("model:N", title="Model"), alt.Tooltip("per_request:N", title="$/request"),
                 alt.Tooltip("per_day:N", title="$/day"), alt.Tooltip("per_month:N", title="$/month")],
    )
    labels = bars.mark_text(align="left", dx=4, color="#1f2328").encode(text="per_day:N")
    rule = alt.Chart(pd.DataFrame({"t": [t], "label": [f"threshold ${t:,.0f}/day"]})).mark_rule(
        color="#cf222e", strokeDash=[5, 3], strokeWidth=2).encode(x="t:Q")
    rule_label = rule.mark_text(align="left", dx=4, dy=-6, color="#cf222e", fontSize=11).encode(
        text="label:N", y=alt.value(0))
    return (bars + labels + rule + rule_label).properties(
        width=520, height=max(60, 34 * len(rows)), title="Cost per day at launch volume")


def projection_chart(result: PreviewResult) -> alt.TopLevelMixin:
    s = result.scenario
    rows = [{"model": r.model, "month": m + 1, "usd": v, "label": usd(v)}
            for r in result.ok_rows for m, v in enumerate(r.projection())]
    df = pd.DataFrame(rows, columns=["model", "month", "usd", "label"])
    lines = alt.Chart(df).mark_line(point=True, strokeWidth=2.5).encode(
        x=alt.X("month:O", title="Month", axis=alt.Axis(labelAngle=0)),
        y=alt.Y("usd:Q", title="$ per month", axis=alt.Axis(format="$,.0f")),
        color=alt.Color("model:N", scale=_colors(result), title="Model"),
        tooltip=[alt.Tooltip("model:N", title="Model"), alt.Tooltip("month:O", title="Month"),
                 alt.Tooltip("label:N", title="$ this month")],
    )
    limit = s.threshold_usd_per_day * core.DAYS_PER_MONTH
    rule = alt.Chart(pd.DataFrame({"t": [limit], "label": [f"threshold (${limit:,.0f}/month)"]})).mark_rule(
        color="#cf222e", strokeDash=[5, 3], strokeWidth=2).encode(y="t:Q")
    rule_label = rule.mark_text(align="left", x=4, dy=-7, color="#cf222e", fontSize=11).encode(text="label:N")
    layers = lines + rule + rule_label
    changes = pd.DataFrame([{"month": m, "label": f"price change ({r.model})", "detail": text}
                            for r in result.ok_rows for m, text in r.change_months().items()],
                           columns=["month", "label", "detail"])
    if len(changes):  # mark the month where a scheduled price takes effect
        mark = alt.Chart(changes).mark_rule(color="#9a6700", strokeDash=[2, 2], strokeWidth=2).encode(
            x="month:O", tooltip=[alt.Tooltip("label:N", title="Month"), alt.Tooltip("detail:N", title="Change")])
        text = alt.Chart(changes).mark_text(align="left", dx=3, y=8, color="#9a6700", fontSize=11).encode(
            x="month:O", text="label:N")
        layers = layers + mark + text
    return layers.properties(
        width=520, height=260, title=f"12-month projection at {s.growth_pct:g}% growth per month"
                                     + (", each month on its own prices" if len(changes) else ""))


def conversation_chart(result: PreviewResult) -> alt.TopLevelMixin:
    rows = []
    for r in result.ok_rows:
        convo = r.conversation_usd()
        for n, v in enumerate(convo, start=1):
            rows.append({"model": r.model, "turns": n, "usd": v, "kind": "history resent (real)",
                         "label": usd(v)})
            rows.append({"model": r.model, "turns": n, "usd": n * r.turn_usd[0],
                         "kind": "if every turn cost like the first", "label": usd(n * r.turn_usd[0])})
    df = pd.DataFrame(rows, columns=["model", "turns", "usd", "kind", "label"])
    return alt.Chart(df).mark_line(strokeWidth=2.5).encode(
        x=alt.X("turns:Q", title="Turns in the conversation", axis=alt.Axis(tickMinStep=1)),
        y=alt.Y("usd:Q", title="$ per conversation", axis=alt.Axis(format="$,.3~f")),
        color=alt.Color("model:N", scale=_colors(result), title="Model"),
        strokeDash=alt.StrokeDash("kind:N", title=None, scale=alt.Scale(
            domain=["history resent (real)", "if every turn cost like the first"], range=[[1, 0], [5, 4]])),
        tooltip=[alt.Tooltip("model:N", title="Model"), alt.Tooltip("turns:Q", title="Turns"),
                 alt.Tooltip("label:N", title="$ per conversation"), alt.Tooltip("kind:N", title="")],
    ).properties(width=520, height=240, title="Cost of one conversation vs. its length")


# =============================================================================================
# HTML pieces
# =============================================================================================

_CSS = """<style>
.wb-cost-preview .wb-field-error { color: #cf222e; font-size: 12px; margin: 0 0 6px 0; line-height: 1.3; }
.wb-cost-preview .wb-field-note { color: #7d4e00; font-size: 12px; margin: 0 0 6px 0; line-height: 1.3; }
.wb-cost-preview .wb-help { color: #6e7781; font-size: 12px; margin: 0 0 6px 0; line-height: 1.35; }
.wb-cost-preview .wb-inputs { background: #f6f8fa; border: 1px solid #d8dee4; border-radius: 8px;
  padding: 8px 12px 12px 12px; }
.wb-cost-preview .wb-verdict { border-radius: 8px; padding: 10px 14px; margin: 10px 0 4px 0;
  font-size: 14px; line-height: 1.45; }
.wb-cost-preview .wb-verdict.wb-over { background: #ffebe9; border: 1px solid #ff8182; color: #82071e; }
.wb-cost-preview .wb-verdict.wb-ok { background: #dafbe1; border: 1px solid #4ac26b; color: #116329; }
.wb-cost-preview .wb-verdict b { font-weight: 700; }
.wb-cost-preview td.wb-over-cell { color: #cf222e; font-weight: 600; }
.wb-cost-preview .wb-share input { width: 100%; font-family: monospace; font-size: 12px; padding: 4px;
  border: 1px solid #d8dee4; border-radius: 4px; background: #fff; }
.wb-cost-preview .wb-share a { color: #0969da; font-weight: 600; }
.wb-cost-preview .wb-downloads a { display: inline-block; margin: 4px 12px 4px 0; padding: 4px 10px;
  border: 1px solid #d8dee4; border-radius: 6px; color: #0969da; text-decoration: none; }
.wb-cost-preview .widget-html-content { line-height: 1.45; }
.wb-cost-preview table.wb-table td:first-child b { white-space: nowrap; }
.wb-cost-preview .wb-sub { line-height: 1.4; }
</style>"""


def _verdict_html(result: PreviewResult) -> str:
    over = bool(result.over_threshold)
    cls, icon = ("wb-over", "⚠") if over else ("wb-ok", "✓")
    head = "Needs a routing or caching plan" if over else "Below the threshold"
    return (f"<div class='wb-verdict {cls}' data-testid='verdict' data-over='{str(over).lower()}'>"
            f"{icon} <b>{head}.</b> {escape(result.verdict())}</div>")


def _summary_html(result: PreviewResult) -> str:
    s = result.scenario
    body = []
    for r in result.rows:
        mid = escape(r.model)
        if not r.ok:
            body.append(f"<tr data-testid='row-{mid}'><td><b>{mid}</b></td>"
                        f"<td colspan='5' class='wb-field-error'>{escape(r.error)}</td></tr>")
            continue
        over = " wb-over-cell" if r.usd_per_day > s.threshold_usd_per_day else ""
        notes = "".join(f"<div class='wb-field-note'>{escape(n)}</div>" for n in r.notes)
        sub = escape(r.label) if r.label != r.model else ""
        body.append(
            f"<tr data-testid='row-{mid}'><td><b>{mid}</b><div class='wb-sub'>{sub}</div>{notes}</td>"
            f"<td class='wb-num' data-testid='usd-per-request' data-value='{r.usd_per_request!r}'>"
            f"{usd(r.usd_per_request)}</td>"
            f"<td class='wb-num{over}' data-testid='usd-per-day' data-value='{r.usd_per_day!r}'>"
            f"{usd(r.usd_per_day)}</td>"
            f"<td class='wb-num' data-testid='usd-per-month' data-value='{r.usd_per_month!r}'>"
            f"{usd(r.usd_per_month)}</td>"
            f"<td class='wb-num wb-sub' data-testid='list-usd-per-day'>{usd(r.list_usd_per_day)}</td>"
            f"<td class='wb-num' data-testid='month-12'>{usd(r.projection()[-1])}</td></tr>")
    head = ("<tr><th>Model</th><th class='wb-num'>$ / request</th><th class='wb-num'>$ / day</th>"
            "<th class='wb-num'>$ / month</th><th class='wb-num' title='list prices, no batch, cache, "
            "escalation or retries'>list $ / day</th><th class='wb-num'>$ in month 12</th></tr>")
    return (f"<table class='wb-table' data-testid='summary-table'><thead>{head}</thead>"
            f"<tbody>{''.join(body)}</tbody></table>"
            f"<div class='wb-sub'>{_volume_line(result)}</div>")


def _volume_line(result: PreviewResult) -> str:
    s = result.scenario
    text = (f"{s.requests_per_day:,.0f} requests/day, month = {core.DAYS_PER_MONTH} days, prices of "
            f"{result.day.isoformat()}. “list $/day” is the list price before batch, cache, "
            f"escalation and retries.")
    if s.chat and result.ok_rows:
        text += (f" Chat: {s.turns} turns per conversation, so {s.requests_per_day / s.turns:,.0f} "
                 f"conversations/day; average input {result.ok_rows[0].input_tokens:,.0f} tokens per turn.")
    return escape(text)


def _steps_html(result: PreviewResult) -> str:
    rows = result.ok_rows
    if not rows:
        return ""
    steps = {r.model: r.steps(result.scenario) for r in rows}
    first = steps[rows[0].model]
    head = "<tr><th>Step</th><th>Assumption</th>" + "".join(
        f"<th class='wb-num'>{escape(r.model)}<div class='wb-sub'>$ / day</div></th>" for r in rows) + \
        "<th>Comes from</th></tr>"
    body = []
    for i, st in enumerate(first):
        cells = []
        for r in rows:
            x = steps[r.model][i]
            delta = "" if i == 0 else (
                f"<div class='wb-sub'>{'+' if x['delta_usd_per_day'] >= 0 else '−'}"
                f"{usd(abs(x['delta_usd_per_day']))}</div>")
            cells.append(f"<td class='wb-num' data-testid='step-{st['step']}'>{usd(x['usd_per_day'])}{delta}</td>")
        body.append(f"<tr><td><b>{escape(st['step'])}</b></td><td class='wb-sub'>{escape(st['detail'])}</td>"
                    f"{''.join(cells)}<td class='wb-sub'>{escape(st['source'])}</td></tr>")
    return (f"<table class='wb-table' data-testid='steps-table'><thead>{head}</thead>"
            f"<tbody>{''.join(body)}</tbody></table>"
            "<div class='wb-note'>Batch and cache are priced from the sheets’ batch and cached-input "
            "rates; the cache saving then enters the seeds’ formula as <code>cache_savings</code> "
            "(counted once). Escalation and retries are the formula’s multipliers: "
            "base × (1 − cache_savings) × (1 + escalation × tier multiplier) × retry factor.</div>")


def _turn_picks(n: int) -> list[int]:
    if n <= 12:
        return list(range(1, n + 1))
    return sorted({1, 2, 3, 5, 10, 15, 20, 30, 50, 75, 100, 150, 200, n} & set(range(1, n + 1)))


def _turns_html(result: PreviewResult) -> str:
    s, rows = result.scenario, result.ok_rows
    if not s.chat or not rows:
        return ""
    tokens = core.turn_tokens(s.system_tokens, s.user_tokens, s.output_tokens, s.turns)
    head = "<tr><th class='wb-num'>Turn</th><th class='wb-num'>Input tokens</th>" + "".join(
        f"<th class='wb-num'>{escape(r.model)}</th>" for r in rows) + "</tr>"
    body = []
    for k in _turn_picks(s.turns):
        cells = "".join(f"<td class='wb-num'>{usd(r.turn_usd[k - 1])}</td>" for r in rows)
        body.append(f"<tr data-testid='turn-{k}'><td class='wb-num'>{k}</td>"
                    f"<td class='wb-num'>{tokens[k - 1][0]:,.0f}</td>{cells}</tr>")
    total_in = core.conversation_input_tokens(s.system_tokens, s.user_tokens, s.output_tokens, s.turns)
    body.append(f"<tr data-testid='turns-total'><td class='wb-num'><b>all {s.turns}</b></td>"
                f"<td class='wb-num'><b>{total_in:,.0f}</b></td>" + "".join(
                    f"<td class='wb-num'><b>{usd(r.conversation_usd()[-1])}</b></td>" for r in rows) + "</tr>")
    body.append("<tr class='wb-sub'><td colspan='2' class='wb-num'>if every turn cost like turn 1</td>"
                + "".join(f"<td class='wb-num'>{usd(s.turns * r.turn_usd[0])}</td>" for r in rows) + "</tr>")
    r0 = rows[0]
    ratio = r0.conversation_usd()[-1] / (s.turns * r0.turn_usd[0]) if r0.turn_usd[0] else float("nan")
    note = (f"$ per turn (one request each). Turn k sends system + k × user + (k − 1) × output tokens "
            f"= {s.system_tokens:,.0f} + k × {s.user_tokens:,.0f} + (k − 1) × {s.output_tokens:,.0f}. "
            f"A {s.turns}-turn conversation on {r0.model} costs {ratio:.1f}× what {s.turns} turns "
            f"without history would.")
    return (f"<div style='overflow-x:auto'><table class='wb-table' data-testid='turns-table'>"
            f"<thead>{head}</thead><tbody>{''.join(body)}</tbody></table></div>"
            f"<div class='wb-note'>{escape(note)}</div>")


def _prices_html(result: PreviewResult) -> str:
    body = []
    for r in result.rows:
        rec = r.record
        if rec is None:
            body.append(f"<tr><td><b>{escape(r.model)}</b></td><td colspan='5' class='wb-sub'>"
                        f"{escape(r.error)}</td></tr>")
            continue
        src = escape(rec.source)
        if rec.source.startswith(("http://", "https://")):
            src = f"<a href='{escape(rec.source, quote=True)}' target='_blank' rel='noopener'>{src}</a>"
        until = f" to {rec.until}" if rec.until else ""
        batch = (f"{core.rate_text(rec.batch_input)} / {core.rate_text(rec.batch_output)}"
                 if rec.batch_input is not None else "—")
        body.append(f"<tr data-testid='price-{escape(r.model)}'><td><b>{escape(r.model)}</b></td>"
                    f"<td class='wb-num'>{core.rate_text(rec.input)}</td><td class='wb-num'>{core.rate_text(rec.output)}</td>"
                    f"<td class='wb-num'>{core.rate_text(rec.cached_input)}</td><td class='wb-num'>{batch}</td>"
                    f"<td>{rec.effective}{until}<div class='wb-sub'>{src}</div></td></tr>")
    head = ("<tr><th>Model</th><th class='wb-num'>Input</th><th class='wb-num'>Output</th>"
            "<th class='wb-num'>Cached input</th><th class='wb-num'>Batch in / out</th>"
            "<th>In force · source</th></tr>")
    return (f"<table class='wb-table' data-testid='prices-table'><thead>{head}</thead>"
            f"<tbody>{''.join(body)}</tbody></table>"
            f"<div class='wb-sub'>USD per 1M tokens, the records in force on {result.day.isoformat()} "
            "in the reviewed price sheets.</div>")


def _downloads_html(state: CostPreviewState) -> str:
    name = "".join(c if c.isalnum() else "_" for c in (state.scenario.feature if state.scenario else ""))
    name = name.strip("_").lower() or "feature"
    md = "data:text/markdown;charset=utf-8," + quote(state.markdown)
    csv = "data:text/csv;charset=utf-8," + quote(state.csv)
    return (f"<div class='wb-downloads'><a download='cost_preview_{name}.md' href='{md}' "
            f"data-testid='download-md'>⬇ Markdown</a><a download='cost_preview_{name}.csv' "
            f"href='{csv}' data-testid='download-csv'>⬇ CSV</a></div>")


def _share_html(url: str) -> str:
    u = escape(url, quote=True)
    return (f"<div class='wb-share'><a href='{u}' data-testid='share-link' target='_blank'>"
            f"Open this scenario in a new tab</a><input readonly data-testid='share-url' value='{u}' "
            "onclick='this.select()'/></div>")


_AddressBar = AddressBar  # shared with the other apps (workbench.widgets.address)


# =============================================================================================
# View
# =============================================================================================

class CostPreview(w.VBox):
    """The cost preview's view: controls built from :data:`PARAMS`, forwarding to ``state``."""

    def __init__(self, state: CostPreviewState, *, address_bar: bool = True):
        self.state = state
        label_w = "150px"
        self.controls: dict[str, w.Widget] = {}
        self.messages: dict[str, w.HTML] = {}
        for p in PARAMS:
            self.controls[p.name] = self._control(p, label_w)
            self.messages[p.name] = w.HTML(layout=w.Layout(margin="0 0 0 8px"))
            self.messages[p.name].add_class(f"wb-msg-{p.name}")
        self.add_model = w.Dropdown(options=[("+ add a model…", "")] + [(m.id, m.id) for m in state.book.models()],
                                    value="", layout=w.Layout(width="100%"))
        self.add_model.add_class("wb-add-model")
        self.prompt = w.Textarea(placeholder="Paste an example prompt (system prompt, context, question)…",
                                 layout=w.Layout(width="100%", height="90px"))
        self.prompt.add_class("wb-prompt")
        self.count_button = w.Button(description="Count tokens", icon="calculator",
                                     layout=w.Layout(width="140px"))
        self.count_button.add_class("wb-count")
        self.token_note = w.HTML()
        self.token_note.add_class("wb-token-note")
        self.general_error = w.HTML()
        self.link_notes = w.HTML()

        self.title = w.HTML()
        self.verdict = w.HTML()
        self.verdict.add_class("wb-verdict-box")
        self.summary = w.HTML()
        self.summary.add_class("wb-summary")
        self.steps = w.HTML()
        self.turns_table = w.HTML()
        self.prices = w.HTML()
        self.share = w.HTML()
        self.share.add_class("wb-share-box")
        self.markdown = w.Textarea(layout=w.Layout(width="100%", height="220px"))
        self.markdown.add_class("wb-markdown")
        self.downloads = w.HTML()
        result = state.result
        self.daily = offline_chart(daily_chart(result), embed_options=_EMBED)
        self.daily.add_class("wb-chart-daily")
        self.projection = offline_chart(projection_chart(result), embed_options=_EMBED)
        self.projection.add_class("wb-chart-projection")
        self.conversation = offline_chart(conversation_chart(result), embed_options=_EMBED)
        self.conversation.add_class("wb-chart-conversation")
        self.address_bar = _AddressBar(query=state.share_query) if address_bar else None
        self.chat_box = w.VBox([w.HTML(_html.section("Multi-turn chat: cost grows with history")),
                                self.conversation, self.turns_table])

        inputs = w.VBox(self._input_rows(), layout=w.Layout(width="410px", min_width="410px"))
        inputs.add_class("wb-inputs")
        outputs = w.VBox([
            self.verdict, self.summary, self.daily,
            w.HTML(_html.section("12-month projection")), self.projection,
            w.HTML(_html.section("From list price to effective cost")), self.steps,
            self.chat_box,
            w.HTML(_html.section("Prices used")), self.prices,
            w.HTML(_html.section("Share and export")),
            w.HTML("<div class='wb-help'>This link reopens the app with this scenario:</div>"), self.share,
            w.HTML("<div class='wb-help'>Paste this block into the feature spec, or download it:</div>"),
            self.markdown, self.downloads,
        ], layout=w.Layout(flex="1 1 0", min_width="600px", padding="0 0 0 20px"))  # wraps below 1030 px
        children = [
            w.HTML(_html.STYLE + _CSS), self.title, self.link_notes, self.general_error,
            w.HBox([inputs, outputs], layout=w.Layout(align_items="flex-start", width="100%", flex_flow="row wrap")),
        ]
        if self.address_bar is not None:
            children.append(self.address_bar)
        super().__init__(children, layout=w.Layout(max_width="1280px", padding="0 16px 24px 16px"))
        self.add_class("wb-app")
        self.add_class("wb-cost-preview")

        for p in PARAMS:
            self._link(p)
        self.add_model.observe(self._added_model, "value")
        self.count_button.on_click(lambda _: state.count_prompt(self.prompt.value))
        state.observe(self._guarded(self._show_result), ["result", "share_url", "markdown"])
        state.observe(self._guarded(self._show_messages),
                      ["errors", "field_notes", "link_notes", "token_note", "chat"])
        self._show_result()
        self._show_messages()

    # -- building ----------------------------------------------------------------------------
    def _control(self, p: core.Param, label_w: str) -> w.Widget:
        style = {"description_width": label_w}
        common = dict(description=p.label, tooltip=p.description, style=style,
                      layout=w.Layout(width="390px"))
        if p.control == "checkbox":
            ctrl = w.Checkbox(value=getattr(self.state, p.name), indent=False,
                              description=p.label, tooltip=p.description)
        elif p.control == "slider":
            cls = w.IntSlider if p.kind == "integer" else w.FloatSlider
            extra = {} if p.kind == "integer" else {"readout_format": ".2f" if p.step < 1 else ".0f"}
            ctrl = cls(value=getattr(self.state, p.name), min=p.min, max=p.max, step=p.step,
                       continuous_update=False, **extra, **common)
        elif p.control == "date":
            ctrl = w.DatePicker(value=_as_date(self.state.price_date), **common)
        else:
            placeholder = "model ids, comma-separated" if p.kind == "models" else (
                f"{p.min:,.0f} – {p.max:,.0f}" if p.min is not None else "")
            ctrl = w.Text(value=getattr(self.state, p.name), placeholder=placeholder,
                          continuous_update=False, **common)
        ctrl.add_class(f"wb-in-{p.name}")
        return ctrl

    def _input_rows(self) -> list[w.Widget]:
        groups = {"basics": [], "effective": [], "chat": []}
        for p in PARAMS:
            row = [self.controls[p.name], self.messages[p.name]]
            if p.name == "models":
                row.insert(1, w.HBox([w.HTML(layout=w.Layout(width="154px")), self.add_model],
                                     layout=w.Layout(width="390px")))
            if p.name == "input_tokens":
                row += [self.prompt_box()]
            groups[p.group] += row
        return [
            w.HTML(_html.section("The feature")), *groups["basics"],
            w.HTML(_html.section("Effective cost")),
            w.HTML("<div class='wb-help'><b>Cache hits</b>: share of input tokens read from the "
                   "prompt cache, billed at each model’s cached-input price (cache-write premiums "
                   "not included). <b>Batch share</b>: share of requests sent at the model’s batch "
                   "prices. Both come from the price sheets; <b>escalation</b> and <b>retries</b> "
                   "are the seeds’ multipliers.</div>"),
            *groups["effective"],
            w.HTML(_html.section("Conversation length")),
            w.HTML("<div class='wb-help'>For chats: each turn resends the whole history, "
                   "so cost grows faster than the number of turns.</div>"),
            *groups["chat"],
        ]

    def prompt_box(self) -> w.Widget:
        box = w.VBox([self.prompt, w.HBox([self.count_button]), self.token_note])
        acc = w.Accordion(children=[box], layout=w.Layout(width="390px", margin="0 0 8px 0"))
        acc.set_title(0, "Count tokens from an example prompt")
        acc.selected_index = None
        acc.add_class("wb-prompt-box")
        return acc

    def _link(self, p: core.Param) -> None:
        ctrl, state = self.controls[p.name], self.state
        if p.control == "date":
            ctrl.observe(lambda c: setattr(state, "price_date", c["new"].isoformat() if c["new"] else ""), "value")
            state.observe(lambda c: setattr(ctrl, "value", _as_date(c["new"])), "price_date")
        else:
            traitlets.link((ctrl, "value"), (state, p.name))

    def _added_model(self, change) -> None:
        if change["new"]:
            current = [m.strip() for m in self.state.models.split(",") if m.strip()]
            if change["new"] not in current:
                self.state.models = ", ".join([*current, change["new"]])
            self.add_model.value = ""

    # -- state -> view -----------------------------------------------------------------------
    def _guarded(self, fn):
        def run(change=None):
            try:
                fn(change)
            except Exception as e:  # never a traceback in the page
                self.general_error.value = _html.error(f"Could not show the result: {_one_line(e)}", "view")
        return run

    def _show_result(self, change=None) -> None:
        s, result = self.state, self.state.result
        if result is None:
            return
        with self.hold_sync():
            self.title.value = _html.header(
                f"Cost preview: {result.scenario.feature}",
                "What this feature costs per request, per day and per month on each model, "
                "and whether the spec needs a routing or caching plan.")
            self.verdict.value = _verdict_html(result)
            self.summary.value = _summary_html(result)
            self.steps.value = _steps_html(result)
            self.turns_table.value = _turns_html(result)
            self.prices.value = _prices_html(result) + prices_as_of_html(s.book, [r.model for r in result.rows], result.day)
            self.share.value = _share_html(s.share_url)
            self.markdown.value = s.markdown
            self.downloads.value = _downloads_html(s)
            self.daily.chart = daily_chart(result)
            self.projection.chart = projection_chart(result)
            if result.scenario.chat:
                self.conversation.chart = conversation_chart(result)
            self.chat_box.layout.display = None if result.scenario.chat else "none"
            if self.address_bar is not None:
                self.address_bar.query = s.share_query

    def _show_messages(self, change=None) -> None:
        s = self.state
        with self.hold_sync():
            for name, box in self.messages.items():
                err, note = s.errors.get(name, ""), s.field_notes.get(name, "")
                if err:
                    box.value = f"<div class='wb-field-error' data-testid='error-{name}'>⚠ {escape(err)}</div>"
                elif note:
                    box.value = f"<div class='wb-field-note' data-testid='note-{name}'>{escape(note)}</div>"
                elif name == "input_tokens" and s.chat:
                    box.value = ("<div class='wb-help'>Chat mode: the input of each turn comes from "
                                 "the conversation settings below.</div>")
                else:
                    box.value = ""
            general = s.errors.get("_", "")
            stale = " Showing the last good result." if s.errors else ""
            self.general_error.value = (_html.error(general + stale, "general") if general else (
                "<div class='wb-field-error' data-testid='stale'>Fix the highlighted field; showing the "
                "last good result.</div>" if s.errors else ""))
            self.link_notes.value = (
                "<div class='wb-error' data-testid='error-link'><b>Some values in the link were not "
                "used:</b><ul style='margin:2px 0 0 0'>"
                + "".join(f"<li>{escape(n)}</li>" for n in s.link_notes) + "</ul></div>"
            ) if s.link_notes else ""
            self.token_note.value = f"<div class='wb-help'>{escape(s.token_note)}</div>" if s.token_note else ""
            for name in ("system_tokens", "user_tokens", "turns"):
                self.controls[name].disabled = not s.chat
            self.controls["input_tokens"].disabled = bool(s.chat)


def _as_date(text: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(text) if text else None
    except ValueError:
        return None


def make_cost_preview(book: PriceBook | None = None, query: str | None = None,
                      base_url: str | None = None, today: dt.date | None = None,
                      address_bar: bool = True) -> w.Widget:
    """The cost preview app. ``query`` defaults to Voila's ``QUERY_STRING``; the view has ``.state``."""
    if query is None:
        query = os.environ.get("QUERY_STRING", "")
    if base_url is None:
        base_url = _app_url()
    try:
        if book is None:
            from workbench.io.pricesheets import load_prices
            book = load_prices()
        state = CostPreviewState(book, query=query, base_url=base_url, today=today)
    except Exception as e:  # e.g. a broken price sheet: say so instead of a traceback
        view = w.HTML(_html.STYLE + "<div class='wb-app'>" + _html.error(
            f"The cost preview could not start: {_one_line(e)}", "startup") + "</div>")
        view.state = None
        return view
    return CostPreview(state, address_bar=address_bar)


def _app_url() -> str:
    """The page's URL without its query (Voila), else the app's file name."""
    full = os.environ.get("VOILA_REQUEST_URL", "")
    if full:
        parts = urlsplit(full)
        return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
    return os.environ.get("SCRIPT_NAME", "") or APP_FILE
