"""The spend explorer's HTML pieces: KPIs, yesterday, anomaly flags, attribution, replay summary."""
from __future__ import annotations

import datetime as dt
import math
from html import escape
from typing import Any, Mapping, Sequence

import pandas as pd

from workbench.widgets import _html

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
    events = [e for e in r.get("events") or [] if e.get("event") == "hard stop"]
    stops = f" · {len(events)} hard stop(s)" if events else ""
    return (f"<p data-testid='replay-summary'>Logged <b data-testid='replay-baseline'>{_html.usd(r['baseline_usd'])}</b>"
            f" → with these policies <b data-testid='replay-replayed'>{_html.usd(r['replayed_usd'])}</b>: "
            f"<span class='wb-down'>saves {_html.usd(r['savings_usd'])} ({r['savings_pct']:.1f} %)</span>"
            f"{blocked}{stops}.</p>")
