"""Spend & budget explorer: "what did we spend yesterday, by feature and tenant?" and "what if?".

The app is :class:`~workbench.widgets.spend_state.SpendExplorerState` (log, filters, results) and
:class:`SpendExplorer`, a thin view over it built from the shared pieces: the log source (upload,
sample week, column mapping: :mod:`workbench.widgets.log_source`), the policy cards
(:mod:`workbench.widgets.params`) and the offline charts (:mod:`workbench.widgets.charts`). Charts and HTML come from
:mod:`~workbench.widgets.spend_charts` and :mod:`~workbench.widgets.spend_html`.
"""
from __future__ import annotations

import os
import time
from html import escape
from typing import Any

import ipywidgets as w
import pandas as pd

from workbench.core.prices import PriceBook
from workbench.widgets import _html
from workbench.widgets._state import after_this_cell, one_line as _one_line
from workbench.widgets.address import follow
from workbench.widgets.charts import EMBED as _EMBED, offline_chart
from workbench.widgets.params import StackEditor
from workbench.widgets.prices_asof import prices_as_of_frame_html
from workbench.widgets.log_source import LogSourceView
from workbench.widgets.spend_charts import (
    bar_chart, bar_spec, spend_by_day_chart, spend_by_day_spec, timeline_chart, timeline_spec, waterfall_chart,
    waterfall_spec)
from workbench.widgets.spend_html import (  # noqa: F401 (re-exported)
    _STYLE, attribution_html, flags_html, kpis_html, replay_summary_html, yesterday_html)
from workbench.widgets.spend_state import (  # noqa: F401  (re-exported: the app's public names)
    BREAKDOWN_LABELS, BREAKDOWNS, MAX_UPLOAD_BYTES, QUERY_KEYS, SAMPLE_LOG, SAMPLE_POLICIES, SAMPLE_TENANTS,
    SpendExplorerState, conform, replay_available)

class SpendExplorer(w.VBox):
    """The explorer's view: filters, attribution dashboard and policy stack over ``state``."""

    def __init__(self, state: SpendExplorerState, *, debounce_ms: float = 300):
        self.state = state
        self._debounce_ms = debounce_ms
        self._building = False
        self._specs: dict = {}  # (chart, id of its result) -> (result, spec), see _spec
        self._progress_since: float | None = None  # when the work now reporting progress began
        self.header = w.HTML(_html.STYLE + _STYLE + _html.header(
            "Spend & budget explorer",
            "What did we spend, on which feature, tenant and model? Filter the log, read yesterday's "
            "spend against the previous week, and stack policies to see what they would have saved."))
        self.source = w.HTML()
        self.source.add_class("wb-source-line")
        self.log_view = LogSourceView(state.log_source, label=self.source)
        lv = self.log_view
        self.upload, self.sample_button, self.mapping_box, self.progress_row = (
            lv.upload, lv.sample_button, lv.mapping_box, lv.progress_row)
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
        # charts start empty (a cheap, schema-validated spec); _show_results draws the data once
        self.day_chart = offline_chart(spend_by_day_chart(None), embed_options=_EMBED)
        self.day_chart.add_class("wb-chart-days")
        self.top_chart = offline_chart(bar_chart(None, "tenant", "Spend (USD)", width=370), embed_options=_EMBED)
        self.top_chart.add_class("wb-chart-tenants")
        self.model_chart = offline_chart(bar_chart(None, "model", "Spend (USD)", width=260),
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

        charts_row = w.HBox([
            w.VBox([w.HTML(_html.section("Top spenders (tenant)")), self.top_chart], layout=w.Layout(width="50%")),
            w.VBox([w.HTML(_html.section("Spend by model")), self.model_chart], layout=w.Layout(width="50%")),
        ], layout=w.Layout(width="100%"))
        self.address_bar = follow(state, ["revision", "replay_revision", "policies", "breakdown"], state.query)
        super().__init__([
            self.header, self.address_bar,
            self.log_view, self.load_error,
            w.HBox([self.range, self.feature_dd, self.tenant_dd],
                   layout=w.Layout(align_items="center", flex_flow="row wrap")),
            self.filter_error, self.kpis,
            w.HTML(_html.section("Yesterday")), self.yesterday,
            w.HTML(_html.section("Spend by feature per day")), self.day_chart,
            charts_row,
            w.HTML(_html.section("Anomalies")), self.flags,
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

    #: a replay's progress bar appears once it has run this long: a quick one (most take ~0.1 s)
    #: sends no progress messages to the page at all
    PROGRESS_AFTER_S = 0.3

    def _show_progress(self, change=None) -> None:
        p = self.state.progress
        if p:
            now = time.monotonic()
            if self._progress_since is None:
                self._progress_since = now
            if now - self._progress_since >= self.PROGRESS_AFTER_S:
                self.progress_row.show(p.get("value", 0.0), p.get("label", ""))
        else:
            self._progress_since = None
            if not self.upload.busy:
                self.progress_row.hide()

    @property
    def _map_controls(self) -> dict:
        """The mapping form's dropdowns (canonical column -> its dropdown)."""
        return self.log_view.map_controls

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

    # -- state -> view -----------------------------------------------------------------------
    def _show_options(self, change=None) -> None:
        s = self.state
        self._building = True
        try:
            with self.hold_sync():
                self.source.value = f"<div class='wb-source' data-testid='source'>{escape(s.source)}</div>" + prices_as_of_frame_html(s.prices, s.log)
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
            self.flags.value = flags_html(s.flags, s.anomaly_check)
            self.table.value = attribution_html(s.table, BREAKDOWNS[s.breakdown])
            # the same specs as the Altair charts above, built directly (a filter change redraws five)
            self.day_chart.show(self._spec(spend_by_day_spec, s.by_day))
            self.top_chart.show(self._spec(lambda top: bar_spec(
                top, "tenant", "Spend (USD)", width=370, color="plan" if top is not None and "plan" in top else None),
                s.top, "top"))
            self.model_chart.show(self._spec(lambda m: bar_spec(m, "model", "Spend (USD)", width=260), s.by_model,
                                             "model"))

    def _spec(self, build, result, name: str = "") -> dict:
        """``build(result)``, once per result object: the state hands back the very objects of a
        view seen before (its caches), so going back to a view rebuilds no chart. The results are
        kept with their specs (an id is not reused while its object lives)."""
        key = (name or build.__name__, id(result))
        hit = self._specs.pop(key, None)
        if hit is None or hit[0] is not result:
            hit = (result, build(result))
        self._specs[key] = hit
        while len(self._specs) > 5 * 32:  # five charts, as many views as the state keeps
            self._specs.pop(next(iter(self._specs)))
        return hit[1]

    def _show_errors(self, change=None) -> None:
        e = self.state.errors
        # an upload's error is on the log source's own line
        self.load_error.value = _html.error("  ".join(m for m in (e.get("load", ""), e.get("query", "")) if m),
                                            "load")
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
        self.stack = StackEditor(self.state, self._schemas, options_for=self.state.options_for,
                                 new_config=self.state.new_policy, debounce_ms=self._debounce_ms)
        self.add_dd, self.add_button, self.cards = self.stack.add_dd, self.stack.add_button, self.stack.cards
        # the data's values (features, tenants, models) change with the log: rebuild the cards
        self.state.observe(lambda c: self.stack.refresh(), ["features_available", "tenants_available", "source"])
        self.policy_error = w.HTML()
        self.replay_summary = w.HTML()
        self.waterfall = offline_chart(waterfall_chart({}), embed_options=_EMBED)
        self.waterfall.add_class("wb-chart-waterfall")
        self.timeline = offline_chart(timeline_chart({}), embed_options=_EMBED)
        self.timeline.add_class("wb-chart-timeline")
        self.policy_box.children = (
            title, w.HTML("<p class='wb-sub'>Policies apply top to bottom to the calls selected above "
                          "(replayed with <code>workbench.core.replay</code>). Controls come from each "
                          "policy's declared parameters.</p>"),
            self.stack, self.policy_error, self.replay_summary,
            w.HTML(_html.section("Savings waterfall")), self.waterfall,
            w.HTML(_html.section("Budget timeline")), self.timeline,
        )
        self.state.observe(self._show_replay, "replay_revision")
        self._show_replay()

    def _show_replay(self, change=None) -> None:
        r = self.state.replay
        with self.hold_sync():
            self.replay_summary.value = replay_summary_html(r)
            self.waterfall.show(self._spec(waterfall_spec, r))
            self.timeline.show(self._spec(timeline_spec, r))


def make_spend_explorer(prices: PriceBook | None = None, *, query: str | None = None,
                        log: pd.DataFrame | None = None, debounce_ms: float = 300) -> w.Widget:
    """The spend explorer app on the sample week (or ``log``). ``query`` defaults to Voila's
    ``QUERY_STRING``; the view has ``.state``."""
    try:
        if prices is None:
            from workbench.io.pricesheets import load_prices

            prices = load_prices()
        state = SpendExplorerState(prices)
        state.hold_replay()  # first render: the attribution at once, the policy replay right after
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
    view = SpendExplorer(state, debounce_ms=debounce_ms)
    after_this_cell(state.release_replay)
    return view

