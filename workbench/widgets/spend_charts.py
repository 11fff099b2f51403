"""The spend explorer's charts: pure functions of the state's results (Altair specs)."""
from __future__ import annotations

from typing import Any, Mapping

import altair as alt
import pandas as pd

from workbench.widgets.charts import PALETTE as _PALETTE, day_label as _day_label, usd_axis as _usd_axis

_PLAN_COLORS = {"enterprise": "#0969da", "pro": "#8250df", "free": "#9a6700", "(unknown)": "#8c959f"}

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
