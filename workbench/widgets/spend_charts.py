"""The spend explorer's charts: pure functions of the state's results (Altair specs)."""
from __future__ import annotations

from typing import Any, Mapping

import altair as alt
import numpy as np
import pandas as pd

from workbench.widgets.charts import PALETTE as _PALETTE, day_label as _day_label, usd_axis as _usd_axis

#: Full-width charts fit a 1024 px window (the page's 992 px column, axes and legend included).
CHART_WIDTH = 880
_PLAN_COLORS = {"enterprise": "#0969da", "pro": "#8250df", "free": "#9a6700", "(unknown)": "#8c959f"}

def spend_by_day_chart(by_day: pd.DataFrame) -> alt.TopLevelMixin:
    """Stacked bars of spend per feature and day; flagged days marked with their ratio."""
    df = by_day.copy() if by_day is not None else pd.DataFrame(columns=["feature", "day", "spend_usd"])
    if df.empty:
        return alt.Chart(pd.DataFrame({"x": []})).mark_text().properties(width=CHART_WIDTH, height=260)
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
    return alt.layer(*layers).properties(width=CHART_WIDTH, height=260)


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


def _waterfall_rows(replay: Mapping[str, Any]) -> tuple[pd.DataFrame, list, float, float] | None:
    """The waterfall's bars (logged spend, each step's saving, spend with the policies), their
    order and the zoomed y range; ``None`` before a replay."""
    steps = replay.get("waterfall") or []
    base, after = replay.get("baseline_usd"), replay.get("replayed_usd")
    if base is None:
        return None
    rows = [{"name": "Logged spend", "lo": 0.0, "hi": base, "kind": "total", "value": base}]
    for s in steps:
        rows.append({"name": f"{s['step']}. {s['label']}", "lo": min(s["before_usd"], s["after_usd"]),
                     "hi": max(s["before_usd"], s["after_usd"]),
                     "kind": "saving" if s["savings_usd"] >= 0 else "extra cost", "value": -s["savings_usd"]})
    rows.append({"name": "With policies", "lo": 0.0, "hi": after, "kind": "total", "value": after})
    df = pd.DataFrame(rows)
    df["text"] = [f"${v:,.2f}" if k == "total" else f"{'−' if v <= 0 else '+'}${abs(v):,.2f}"
                  for v, k in zip(df["value"], df["kind"])]
    low = float(min(base, after, *(s["after_usd"] for s in steps)) if steps else min(base, after))
    top = float(max(base, after, *(s["before_usd"] for s in steps)) if steps else max(base, after)) * 1.06
    floor = max(0.0, low - 0.35 * max(top - low, 0.05 * top))  # zoom in so small savings stay visible
    return df, list(df["name"]), floor, top


def waterfall_chart(replay: Mapping[str, Any]) -> alt.TopLevelMixin:
    """Logged spend, each policy's saving as a floating bar, and the spend with the policies."""
    w = _waterfall_rows(replay)
    if w is None:
        return alt.Chart(pd.DataFrame({"x": []})).mark_text().properties(width=CHART_WIDTH, height=240)
    df, order, floor, top = w
    scale = alt.Scale(domain=["total", "saving", "extra cost"], range=["#57606a", "#1a7f37", "#cf222e"])
    bars = alt.Chart(df).mark_bar(size=44).encode(
        x=alt.X("name:N", sort=order, title=None, axis=alt.Axis(labelAngle=0, labelFontSize=12, labelLimit=180)),
        y=alt.Y("lo:Q", title="Spend (USD), zoomed in", axis=alt.Axis(format=_usd_axis(top)),
                scale=alt.Scale(zero=False, domain=[floor, top], clamp=True)), y2="hi:Q",
        color=alt.Color("kind:N", scale=scale, title=None, legend=alt.Legend(orient="top")),
        tooltip=[alt.Tooltip("name:N", title="Step"), alt.Tooltip("text:N", title="Amount")])
    text = alt.Chart(df).mark_text(dy=-8, fontSize=12, color="#1f2328").encode(
        x=alt.X("name:N", sort=order), y="hi:Q", text="text:N")
    return alt.layer(bars, text).properties(width=CHART_WIDTH, height=260)


def timeline_chart(replay: Mapping[str, Any]) -> alt.TopLevelMixin:
    """Spend so far each day, hour by hour, logged vs with policies; the daily cap or budget pace."""
    tl = pd.DataFrame(replay.get("timeline") or [])
    if tl.empty:
        return alt.Chart(pd.DataFrame({"x": []})).mark_text().properties(width=CHART_WIDTH, height=240)
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
    return alt.layer(*layers).resolve_scale(color="independent").properties(width=CHART_WIDTH, height=240)


# ---------------------------------------------------------------------------------------------
# The same charts as Vega-Lite dicts, for the widgets' updates. Building a chart through Altair's
# object model costs ~30 ms (channel classes resolved from the schema, data copied per layer);
# the explorer redraws five charts per filter change. These build the very spec Altair's
# ``to_dict()`` gives for the functions above (a test compares them), in about a millisecond.
# ---------------------------------------------------------------------------------------------

def _named(df: pd.DataFrame, datasets: dict) -> dict:
    """Altair's named dataset for ``df`` (same values, same content-hash name), added to ``datasets``."""
    from altair.vegalite.v6.api import _dataset_name

    values = vega_values(df)
    name = _dataset_name(values)
    datasets[name] = values
    return {"name": name}


def vega_values(df: pd.DataFrame) -> list[dict]:
    """The records Altair's default data transformer makes of ``df`` (``sanitize_pandas_dataframe``
    then ``to_dict("records")``), built column by column from numpy: a tenth of the time."""
    if len(df) > 5000:  # Altair's row limit, same error
        return alt.data_transformers.get()(df)["values"]
    names, columns = [], []
    for name, col in df.items():
        if not isinstance(name, str):
            raise ValueError(f"Dataframe contains invalid column name: {name!r}. Column names must be strings")
        names.append(name)
        columns.append(_json_column(col))
    return [dict(zip(names, row)) for row in zip(*columns)] if names else [{} for _ in range(len(df))]


def _json_column(col: pd.Series) -> list:
    kind = str(col.dtype)
    if kind.startswith(("datetime", "timestamp")):
        return ["" if v is pd.NaT else v.isoformat() for v in col]
    if kind.startswith("timedelta"):
        raise ValueError(f"Field {col.name!r} has type {kind!r} which is not supported by Altair")
    numpy = isinstance(col.dtype, np.dtype)
    if numpy and col.dtype.kind in "biu":  # numpy bool / int: Python values
        return col.to_numpy().tolist()
    if numpy and col.dtype.kind == "f":  # numpy float: NaN and inf -> None
        values = col.to_numpy()
        out = values.tolist()
        bad = ~np.isfinite(values)
        if bad.any():
            for i in np.flatnonzero(bad):
                out[i] = None
        return out
    values = col.astype(object)  # strings, categories, nullable dtypes, objects: missing -> None
    missing = values.isna().to_numpy()
    out = values.tolist()
    if missing.any():
        for i in np.flatnonzero(missing):
            out[i] = None
    if kind == "object":
        out = [v.tolist() if isinstance(v, np.ndarray) else v for v in out]
    return out


def _top(datasets: dict, width: int, height: int, **spec) -> dict:
    return {"config": {"view": {"continuousWidth": 300, "continuousHeight": 300}}, **spec, "height": height,
            "width": width, "$schema": alt.SCHEMA_URL, "datasets": datasets}


def _empty_spec(width: int, height: int) -> dict:
    datasets: dict = {}
    data = _named(pd.DataFrame({"x": []}), datasets)
    return _top(datasets, width, height, data=data, mark={"type": "text"})


def _field(name: str, type_: str, **kw) -> dict:
    return {"field": name, "type": type_, **kw}


def spend_by_day_spec(by_day: pd.DataFrame) -> dict:
    """:func:`spend_by_day_chart` as a dict."""
    df = by_day.copy() if by_day is not None else pd.DataFrame(columns=["feature", "day", "spend_usd"])
    if df.empty:
        return _empty_spec(CHART_WIDTH, 260)
    df["label"] = _day_label(df["day"])
    order = list(dict.fromkeys(df.sort_values("day")["label"]))
    datasets: dict = {}
    bars = {"data": _named(df, datasets), "mark": {"type": "bar"}, "encoding": {
        "color": _field("feature", "nominal", legend={"labelFontSize": 12, "orient": "top"},
                        scale={"range": list(_PALETTE)}, title="Feature"),
        "order": _field("feature", "nominal"),
        "tooltip": [_field("label", "nominal", title="Day"), _field("feature", "nominal", title="Feature"),
                    _field("spend_usd", "quantitative", format="$,.2f", title="Spend")],
        "x": _field("label", "ordinal", axis={"labelAngle": 0, "labelFontSize": 12}, sort=order, title=None),
        "y": {"aggregate": "sum", "axis": {"format": _usd_axis(df.groupby("label")["spend_usd"].sum().max())},
              "field": "spend_usd", "title": "Spend (USD)", "type": "quantitative"}}}
    totals = df.groupby("label", sort=False)["spend_usd"].sum().rename("total")
    hot = df[df["anomaly"].astype(bool)].join(totals, on="label")
    layers = [bars]
    if len(hot):
        hot = hot.assign(text=[f"▲ {f} {r:.1f}×" for f, r in zip(hot["feature"], hot["ratio"])])
        layers.append({"data": _named(hot, datasets), "mark": {"type": "text", "color": "#cf222e", "dy": -10,
                                                               "fontSize": 12, "fontWeight": "bold"},
                       "encoding": {"text": _field("text", "nominal"), "x": _field("label", "ordinal", sort=order),
                                    "y": _field("total", "quantitative")}})
    if len(layers) == 1:  # Altair moves a lone layer's data to the top
        data = layers[0].pop("data")
        return _top(datasets, CHART_WIDTH, 260, layer=layers, data=data)
    return _top(datasets, CHART_WIDTH, 260, layer=layers)


def bar_spec(df: pd.DataFrame, key: str, title: str, color: str | None = None, width: int = 440) -> dict:
    """:func:`bar_chart` as a dict."""
    if df is None or df.empty:
        return _empty_spec(width, 60)
    d = df[[key, "spend_usd", "share", "requests"] + ([color] if color else [])].copy()
    d["text"] = [f"${v:,.2f}" for v in d["spend_usd"]]
    order = list(d.sort_values("spend_usd", ascending=False)[key])
    enc = {"y": _field(key, "nominal", axis={"labelFontSize": 12, "labelLimit": 220}, sort=order, title=None),
           "x": _field("spend_usd", "quantitative", axis={"format": _usd_axis(d["spend_usd"].max()), "tickCount": 5},
                       scale={"domain": [0, float(d["spend_usd"].max()) * 1.22 or 1.0], "nice": False}, title=title),
           "tooltip": [_field(key, "nominal"), _field("spend_usd", "quantitative", format="$,.2f", title="Spend"),
                       _field("share", "quantitative", format=".1%", title="Share"),
                       _field("requests", "quantitative", format=",", title="Calls")]}
    if color:
        domain = [k for k in _PLAN_COLORS if k in set(d[color])]
        enc["color"] = _field(color, "nominal", legend={"orient": "top"},
                              scale={"domain": domain, "range": [_PLAN_COLORS[k] for k in domain]}, title="Plan")
    datasets: dict = {}
    data = _named(d, datasets)
    layers = [{"mark": {"type": "bar", "color": _PALETTE[0]}, "encoding": enc},
              {"mark": {"type": "text", "align": "left", "color": "#1f2328", "dx": 4, "fontSize": 11},
               "encoding": {"text": _field("text", "nominal"), "x": _field("spend_usd", "quantitative"),
                            "y": _field(key, "nominal", sort=order)}}]
    return _top(datasets, width, max(60, 24 * len(d)), layer=layers, data=data)


def waterfall_spec(replay: Mapping[str, Any]) -> dict:
    """:func:`waterfall_chart` as a dict."""
    w = _waterfall_rows(replay)
    if w is None:
        return _empty_spec(CHART_WIDTH, 240)
    df, order, floor, top = w
    datasets: dict = {}
    data = _named(df, datasets)
    bars = {"mark": {"type": "bar", "size": 44}, "encoding": {
        "color": _field("kind", "nominal", legend={"orient": "top"},
                        scale={"domain": ["total", "saving", "extra cost"], "range": ["#57606a", "#1a7f37", "#cf222e"]},
                        title=None),
        "tooltip": [_field("name", "nominal", title="Step"), _field("text", "nominal", title="Amount")],
        "x": _field("name", "nominal", axis={"labelAngle": 0, "labelFontSize": 12, "labelLimit": 180}, sort=order,
                    title=None),
        "y": _field("lo", "quantitative", axis={"format": _usd_axis(top)},
                    scale={"clamp": True, "domain": [floor, top], "zero": False}, title="Spend (USD), zoomed in"),
        "y2": {"field": "hi"}}}
    text = {"mark": {"type": "text", "color": "#1f2328", "dy": -8, "fontSize": 12},
            "encoding": {"text": _field("text", "nominal"), "x": _field("name", "nominal", sort=order),
                         "y": _field("hi", "quantitative")}}
    return _top(datasets, CHART_WIDTH, 260, layer=[bars, text], data=data)


def timeline_spec(replay: Mapping[str, Any]) -> dict:
    """:func:`timeline_chart` as a dict."""
    tl = pd.DataFrame(replay.get("timeline") or [])
    if tl.empty:
        return _empty_spec(CHART_WIDTH, 240)
    tl["hour"] = pd.to_datetime(tl["hour"])
    datasets: dict = {}
    layers = [{"data": _named(tl, datasets), "mark": {"type": "line", "interpolate": "step-after", "strokeWidth": 2},
               "encoding": {
                   "color": _field("series", "nominal", legend={"orient": "top"},
                                   scale={"domain": ["Logged", "With policies"], "range": ["#8c959f", "#0969da"]},
                                   title=None),
                   "tooltip": [_field("hour", "temporal", format="%a %d %b %H:00"), _field("series", "nominal"),
                               _field("usd", "quantitative", format="$,.2f")],
                   "x": _field("hour", "temporal", axis={"format": "%a %d %b", "labelFontSize": 12, "tickCount": "day"},
                               title=None),
                   "y": _field("usd", "quantitative", axis={"format": _usd_axis(tl["usd"].max())},
                               title="Spend so far that day (USD)")}}]
    for value, label, color in ((replay.get("daily_cap"), "daily cap", "#cf222e"),
                                (replay.get("budget_pace"), "budget pace (monthly budgets / 30)", "#9a6700")):
        if value:
            rule = _named(pd.DataFrame({"usd": [value], "label": [f"{label} ${value:,.2f}"]}), datasets)
            layers.append({"data": rule, "mark": {"type": "rule", "color": color, "strokeDash": [6, 4]},
                           "encoding": {"y": _field("usd", "quantitative")}})
            layers.append({"data": rule, "mark": {"type": "text", "align": "left", "color": color, "dx": 4, "dy": -7,
                                                  "fontSize": 11},
                           "encoding": {"text": _field("label", "nominal"), "x": {"value": 0},
                                        "y": _field("usd", "quantitative")}})
    events = pd.DataFrame([e for e in replay.get("events") or [] if e.get("scope") == "org"])
    if len(events):
        events["hour"] = pd.to_datetime(events["ts"], utc=True).dt.tz_localize(None)
        layers.append({"data": _named(events, datasets),
                       "mark": {"type": "point", "filled": True, "shape": "triangle-down", "size": 70},
                       "encoding": {"color": _field("event", "nominal", legend={"orient": "top"}, title="Budget event"),
                                    "tooltip": [_field("hour", "temporal", format="%a %d %b %H:%M"),
                                                _field("event", "nominal"),
                                                _field("spend", "quantitative", format="$,.2f")],
                                    "x": _field("hour", "temporal"), "y": _field("spend", "quantitative")}})
    if len(layers) == 1:
        data = layers[0].pop("data")
        return _top(datasets, CHART_WIDTH, 240, layer=layers, data=data, resolve={"scale": {"color": "independent"}})
    return _top(datasets, CHART_WIDTH, 240, layer=layers, resolve={"scale": {"color": "independent"}})
