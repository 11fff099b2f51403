"""Cache replay app: what a response cache (exact, normalised, semantic) and provider prefix caching
would have saved on a traffic log — and which answers it would have served wrongly.

State (:class:`CacheReplayState`, traitlets) holds the settings and calls
:class:`workbench.core.cache.CacheReplayer` (what a setting does not change is computed once per
log) and :func:`~workbench.core.cache.prefix_replay`; the view only shows what the state computed.
Settings come from the URL and the address bar follows them
(``?kind=semantic&threshold=0.9&ttl=3600&namespaces=tenant,model&share=1&context=last_message&sample=1000&provider=anthropic``;
:meth:`CacheReplayState.query` writes only what differs from the defaults).
A semantic replay embeds prompts offline, so it runs on the first ``sample`` requests (time order).
In a kernel, the provider prefix what-if (every prompt tokenised) is computed once the page is
shown, in short steps on the kernel's event loop (a control change is served between two steps), and
appears without user action.
The log is the sample week or one the engineer uploads (:mod:`workbench.widgets.log_source`); a
log must record prompt texts, since every kind of cache compares them.
"""
from __future__ import annotations

import asyncio
import json
import os
import time
from html import escape
from pathlib import Path
from urllib.parse import parse_qs, urlencode

import altair as alt
import ipywidgets as w
import pandas as pd
from traitlets import Bool, Dict, Float, HasTraits, Int, List, Unicode

from workbench.core.cache import CacheConfig, CacheReplayer
from workbench.core.cache.prefix import _encoder, finish, prefix_replay_steps
from workbench.core.cache.keys import NAMESPACE_COLUMNS
from workbench.widgets import _html
from workbench.widgets._state import one_line
from workbench.widgets.address import follow, url_number
from workbench.widgets.charts import AFTER, PALETTE, chart_widget, empty_chart
from workbench.widgets.log_source import LogSource, LogSourceView, sample_label
from workbench.widgets.painted import after_paint
from workbench.widgets.prices_asof import prices_as_of_frame_html

KINDS = ("exact", "normalized", "semantic")
CONTEXTS = ("conversation", "last_message")
PROVIDERS = ("openai", "anthropic")
THRESHOLD = (0.5, 1.0)          # the slider's range; a URL value outside it is brought inside
TTL_S = (1.0, 30 * 86400.0)
SAMPLE = (10, 1_000_000)
#: in a kernel, the prefix what-if yields to the event loop after about this many seconds of work
STEP_S = 0.02
#: settings that replay the response cache (the provider only changes the prefix what-if)
REPLAY_SETTINGS = ["kind", "threshold", "ttl_s", "namespaces", "share_tenants", "context", "sample"]
SAMPLE_DIR = Path(__file__).resolve().parents[2] / "sample_data"
#: What an uploaded log must have for this app, and why.
NEEDS = {"prompt": "the cache replay compares prompt texts, and the log records none"}


def sample_week() -> tuple[pd.DataFrame, dict[str, int]]:
    """The bundled sample week and its system prompts' lengths (hash -> tokens; the texts are not logged)."""
    sp = pd.read_csv(SAMPLE_DIR / "system_prompts.csv")
    return pd.read_parquet(SAMPLE_DIR / "requests.parquet"), dict(zip(sp["system_prompt_hash"], sp["tokens"]))


def _intent(tags) -> str | None:
    if not isinstance(tags, str) or not tags.startswith("{"):
        return None
    try:
        v = json.loads(tags).get("intent")
    except (ValueError, AttributeError):
        return None
    return None if v is None else str(v)


_STR = r'"[^"\\\x00-\x1f]*"'          # a JSON string without escapes or control characters
_FLAT = (rf'^\{{{_STR}:(?:{_STR}|-?(?:0|[1-9][0-9]*)|true|false|null)'
         rf'(?:,{_STR}:(?:{_STR}|-?(?:0|[1-9][0-9]*)|true|false|null))*\}}$')


def intents(tags: pd.Series) -> pd.Series:
    """:func:`_intent` of every row. Flat JSON objects without spaces, escapes or nesting (how logs
    write tags) are read by vectorised patterns, where the text between the quotes after
    ``"intent":`` is the value itself; any other row goes through ``json``."""
    import polars as pl

    from workbench.core.cache.keys import _as_polars_strings

    s = _as_polars_strings(tags)
    if s is None:
        return tags.map(_intent)
    frame = pl.DataFrame({"t": s}).select(
        flat=pl.col("t").str.contains(_FLAT).fill_null(False),
        keys=pl.col("t").str.count_matches('"intent":').fill_null(0),
        value=pl.col("t").str.extract(r'"intent":"([^"]*)"', 1))
    flat, keys = frame["flat"].to_numpy(), frame["keys"].to_numpy()
    value = frame["value"].to_numpy().astype(object)
    out = pd.Series(value, index=tags.index, dtype=object)
    out[flat & (keys == 0)] = None
    other = ~(flat & ((keys == 0) | ((keys == 1) & frame["value"].is_not_null().to_numpy())))
    if other.any():                                   # nested, spaced, escaped, repeated or not a string
        out[other] = tags[other].map(_intent).to_numpy()
    out = pd.Series(out.tolist(), index=tags.index, name=tags.name)    # as map(_intent) gives it
    return out.astype(tags.dtype) if isinstance(tags.dtype, pd.StringDtype) else out


def prepared(log: pd.DataFrame) -> pd.DataFrame:
    """The log as the app replays it: in time order, each request's intent read from its tags."""
    log = log.sort_values(["ts", "request_id"], kind="stable").reset_index(drop=True)
    if "tags" in log and "intent" not in log:
        log["intent"] = intents(log["tags"])
    return log


def _clamp(x, bounds):
    return min(bounds[1], max(bounds[0], x))


class CacheReplayState(HasTraits):
    kind = Unicode("exact")
    threshold = Float(0.9)
    ttl_s = Float(3600.0)
    namespaces = List(list(NAMESPACE_COLUMNS))
    share_tenants = Bool(False)
    context = Unicode("conversation")
    sample = Int(1000)
    provider = Unicode("openai")
    summary = Dict()
    prefix = Dict()
    error = Unicode("")
    query_error = Unicode("", help="URL settings that could not be used (shown until the next query)")
    version = Int(0)

    def __init__(self, log: pd.DataFrame, book, query: str = "", embed=None, system_prompts=None,
                 prefix_later: bool = False, **kw):
        """``prefix_later``: leave the prefix what-if to :meth:`run_prefix` (the app calls it once
        the page is shown); else it is computed here."""
        super().__init__(**kw)
        self.book, self.embed, self.system_prompts = book, embed, system_prompts
        self.log = prepared(log)
        self.result = None
        self._replayers: dict = {}      # sample size (None: the whole log) -> CacheReplayer
        self._prefix_cache: dict = {}
        self._prefix_memo: dict = {}    # parts, tokens and boundaries, shared by the layouts and providers
        self._loop = self._prefix_task = None      # see run_prefix_on
        self.apply_query(query)
        self.observe(lambda _: self.run(), REPLAY_SETTINGS)
        self.observe(lambda _: self.run_prefix(), ["provider"])
        self.run()
        if not prefix_later:
            self.run_prefix()
        self.log_source = LogSource(self.set_log, book=book, sample=self.load_sample, required=NEEDS)

    def set_log(self, frame: pd.DataFrame, source: str, system_prompts=None) -> None:
        """Replay on ``frame`` (canonical columns) from now on; if the replay fails on it, the
        previous log stays and the error is raised (``source`` is the log source's label)."""
        log = prepared(frame)
        before = (self.log, self.system_prompts, self._prefix_cache, self._prefix_memo, self._replayers, self.result)
        (self.log, self.system_prompts, self._prefix_cache, self._prefix_memo, self._replayers,
         self.result) = log, system_prompts, {}, {}, {}, None
        self.run()
        if self.result is None:
            (self.log, self.system_prompts, self._prefix_cache, self._prefix_memo, self._replayers,
             self.result) = before
            error, self.error = self.error, ""
            self.version += 1
            raise ValueError(f"{error}; nothing changed")
        self.run_prefix()

    def load_sample(self) -> str:
        """Back to the bundled sample week; returns its label."""
        log, system_prompts = sample_week()
        self.set_log(log, sample_label(log), system_prompts)
        return sample_label(log)

    def apply_query(self, query: str) -> None:
        """Settings from a URL query (the inverse of :meth:`query`); a bad value is named in
        ``query_error`` and the other settings still apply."""
        q = {k: v[-1] for k, v in parse_qs(query or "", keep_blank_values=True).items()}
        problems = []
        with self.hold_trait_notifications():
            for name, apply in (
                    ("kind", lambda v: setattr(self, "kind", v) if v in KINDS else None),
                    ("threshold", lambda v: setattr(self, "threshold", _clamp(float(v), THRESHOLD))),
                    ("ttl", lambda v: setattr(self, "ttl_s", _clamp(float(v), TTL_S))),
                    ("namespaces", lambda v: setattr(self, "namespaces",
                                                     [n for n in v.split(",") if n in NAMESPACE_COLUMNS])),
                    ("share", lambda v: setattr(self, "share_tenants", v in ("1", "true", "yes"))),
                    ("context", lambda v: setattr(self, "context", v) if v in CONTEXTS else None),
                    ("sample", lambda v: setattr(self, "sample", _clamp(int(v), SAMPLE))),
                    ("provider", lambda v: setattr(self, "provider", v) if v in PROVIDERS else None)):
                if name in q and (q[name] or name == "namespaces"):   # namespaces= is "none"
                    try:
                        apply(q[name])
                    except ValueError as e:
                        problems.append(f"{name}: {one_line(e)}")
        self.query_error = "URL setting ignored: " + "; ".join(problems) if problems else ""

    def query(self) -> str:
        """The URL query that reproduces these settings (the defaults left out)."""
        d = {t: self.trait_defaults(t) for t in ("kind", "threshold", "ttl_s", "namespaces", "share_tenants",
                                                   "context", "sample", "provider")}
        q: dict[str, str] = {}
        for key, name, text in (("kind", "kind", str), ("threshold", "threshold", url_number),
                                ("ttl", "ttl_s", url_number),
                                ("namespaces", "namespaces", ",".join),
                                ("share", "share_tenants", lambda v: "1" if v else "0"),
                                ("context", "context", str), ("sample", "sample", str),
                                ("provider", "provider", str)):
            value = getattr(self, name)
            if value != d[name]:
                q[key] = text(value)
        return urlencode(q, safe=",")

    @property
    def config(self) -> CacheConfig:
        return CacheConfig(kind=self.kind, ttl_s=self.ttl_s, threshold=self.threshold,
                           namespaces=tuple(self.namespaces), share_tenants=self.share_tenants, context=self.context)

    def frame_for_run(self) -> pd.DataFrame:
        return self.log.head(self.sample) if self.kind == "semantic" else self.log

    def replayer(self) -> CacheReplayer:
        """The log's :class:`CacheReplayer` (a semantic replay: the sample's), kept across changes so
        a new TTL or threshold only reruns the scan."""
        at = self.sample if self.kind == "semantic" else None
        if at not in self._replayers:
            if len(self._replayers) > 4:          # a few sample sizes at most
                self._replayers.pop(next(k for k in self._replayers if k is not None))
            label = "intent" if "intent" in self.log else None
            self._replayers[at] = CacheReplayer(self.frame_for_run(), self.book, embed=self.embed, label=label)
        return self._replayers[at]

    def run(self) -> None:
        try:
            cfg = self.config
            self.result = self.replayer().replay(cfg)
            self.error = ""
            self.summary = dict(self.result.summary, sampled=self.kind == "semantic")
        except Exception as e:  # shown inline, the last good result stays
            self.error = one_line(e)
        self.version += 1

    def prefix_summaries(self, provider: str) -> dict:
        """The prefix what-if of ``provider`` (as logged, static content first), computed once."""
        if provider not in self._prefix_cache:
            self._prefix_cache[provider] = finish(self._prefix_steps(provider))
        return self._prefix_cache[provider]

    def _prefix_steps(self, provider: str):
        """:meth:`prefix_summaries` in steps (see :func:`~workbench.core.cache.prefix.prefix_replay_steps`)."""
        kw = {"system_prompts": self.system_prompts, "memo": self._prefix_memo}
        logged = yield from prefix_replay_steps(self.log, provider, self.book, **kw)
        static = yield from prefix_replay_steps(self.log, provider, self.book, static_first=True, **kw)
        return {"as_logged": logged.summary, "static_first": static.summary}

    def run_prefix(self) -> None:
        """Show the prefix what-if of the current provider: at once, or, once :meth:`run_prefix_on`
        has handed it a loop, from that loop when it is computed."""
        if self._loop is not None and self.provider not in self._prefix_cache:
            self.prefix = {}                       # "in a few seconds"
            if self._prefix_task is None or self._prefix_task.done():
                self._prefix_task = self._loop.create_task(self._prefix_in_steps())
            return
        try:
            self.prefix = self.prefix_summaries(self.provider)
        except Exception as e:
            self.error = f"prefix cache: {one_line(e)}"

    def run_prefix_on(self, loop: asyncio.AbstractEventLoop) -> asyncio.Task:
        """From now on compute the prefix what-if on ``loop`` (the kernel's) in steps of about
        :data:`STEP_S`, serving whatever else is waiting (a control change) between steps, so the
        controls answer as fast while it runs; it then appears by itself. Returns the task."""
        self._loop = loop
        self.run_prefix()
        return self._prefix_task

    async def _prefix_in_steps(self) -> None:
        # the tokenizer (a one-off load) on a thread; the rest in steps on the loop. Steps on a log
        # or provider replaced meanwhile are dropped and the current one is computed.
        try:
            await self._loop.run_in_executor(None, _encoder)
            while (provider := self.provider) not in (cache := self._prefix_cache):
                steps, t = self._prefix_steps(provider), time.perf_counter()
                try:
                    while cache is self._prefix_cache and provider == self.provider:
                        next(steps)
                        if time.perf_counter() - t > STEP_S:
                            await asyncio.sleep(0.001)
                            t = time.perf_counter()
                except StopIteration as done:
                    cache[provider] = done.value
        except Exception as e:
            self.error = f"prefix cache: {one_line(e)}"
            self.version += 1
            return
        self.prefix = cache[provider]


def _kernel_loop():
    """The running kernel's event loop, or ``None`` outside a kernel."""
    try:
        from IPython import get_ipython
        if getattr(get_ipython(), "kernel", None) is None:
            return None
        return asyncio.get_running_loop()
    except (ImportError, RuntimeError):
        return None


#: The apps' shared stylesheet (``.wb-app``: header, tables, errors) and this app's KPIs and prompt pairs.
STYLE = _html.STYLE + """<style>
.wb-cache-replay .kpi{display:inline-block;margin:4px 18px 4px 0}.wb-cache-replay .kpi b{font-size:20px;display:block}
.wb-cache-replay .pair{max-width:420px;white-space:pre-wrap;word-break:break-word}</style>"""


class CacheReplayApp(w.VBox):
    def __init__(self, state: CacheReplayState):
        self.state = state
        s = state
        self.kind = w.Dropdown(options=KINDS, value=s.kind, description="cache")
        self.threshold = w.FloatSlider(value=s.threshold, min=THRESHOLD[0], max=THRESHOLD[1], step=0.01,
                                       description="threshold", continuous_update=False)
        self.ttl = w.BoundedFloatText(value=s.ttl_s, min=TTL_S[0], max=TTL_S[1], description="TTL (s)")
        self.ns = w.SelectMultiple(options=list(NAMESPACE_COLUMNS), value=tuple(s.namespaces), description="namespaces",
                                   rows=3)
        self.share = w.Checkbox(value=s.share_tenants, description="share across tenants", indent=False)
        self.context = w.Dropdown(options=CONTEXTS, value=s.context, description="context")
        self.sample = w.BoundedIntText(value=s.sample, min=SAMPLE[0], max=SAMPLE[1], description="semantic sample")
        self.provider = w.Dropdown(options=PROVIDERS, value=s.provider, description="provider")
        for ctrl in (self.kind, self.threshold, self.ttl, self.ns, self.share, self.context, self.sample,
                     self.provider):
            ctrl.add_class("wb-in-" + ctrl.description.split()[0].replace("(", "").lower())
        self.kind.observe(lambda c: self._set(kind=c["new"]), "value")
        self.threshold.observe(lambda c: self._set(threshold=c["new"]), "value")
        self.ttl.observe(lambda c: self._set(ttl_s=c["new"]), "value")
        self.ns.observe(lambda c: self._set(namespaces=list(c["new"])), "value")
        self.share.observe(lambda c: self._set(share_tenants=c["new"]), "value")
        self.context.observe(lambda c: self._set(context=c["new"]), "value")
        self.sample.observe(lambda c: self._set(sample=c["new"]), "value")
        self.provider.observe(lambda c: self._set(provider=c["new"]), "value")
        self.head = w.HTML()
        self.kpis = w.HTML()
        self.chart = chart_widget(empty_chart(), "wb-chart-hits")
        self.tenants = w.HTML()
        self.pairs = w.HTML()
        self.prefix = w.HTML()
        self.err = w.HTML()
        self.log_view = LogSourceView(s.log_source)
        # the address bar shows the current settings, so the page can be shared
        self.address_bar = follow(s, [*REPLAY_SETTINGS, "provider"], s.query)
        controls = w.VBox([w.HBox([self.kind, self.threshold, self.ttl]),
                           w.HBox([self.ns, w.VBox([self.share, self.context, self.sample])])])
        super().__init__([self.head, self.address_bar, self.log_view, controls, self.err, self.kpis, self.chart, self.tenants, self.pairs,
                          w.HTML(_html.section("Provider prefix caching (what-if)")), self.provider, self.prefix])
        self.add_class("wb-app")
        self.add_class("wb-cache-replay")
        s.observe(lambda _: self.render(), ["version"])
        s.observe(lambda _: self.render_prefix(), ["prefix"])
        self.render()
        self.render_prefix()

    def _set(self, **kw):
        try:
            with self.state.hold_trait_notifications():
                for k, v in kw.items():
                    setattr(self.state, k, v)
        except Exception as e:
            self.err.value = _html.error(one_line(e))

    def render(self) -> None:
        s, r = self.state, self.state.result
        self.head.value = STYLE + _html.header(
            "Cache replay", f"{len(s.log):,} logged requests; a response cache replayed in time order "
            "(TTL, namespaces tenant + prompt version + model by default)") + prices_as_of_frame_html(s.book, s.log)
        self.err.value = "".join(_html.error(m) for m in (s.query_error, s.error) if m)
        if r is None:
            return
        m = r.summary
        pct = 100 * m["hit_rate"]
        scope = (f"first {len(r.frame):,} requests (semantic sample)" if m.get("sampled") else f"all {len(r.frame):,} requests")
        false = m.get("false_hits")
        shared = (f"<div class='wb-warn' data-testid='shared'>answers shared across tenants: "
                  f"{m['cross_tenant_hits']:,} cross-tenant hits</div>" if m["shared_across_tenants"] else "")
        kpi = lambda label, value, key, raw: (  # noqa: E731
            f"<span class='kpi'><b data-testid='{key}' data-value='{raw}'>{value}</b>{label}</span>")
        self.kpis.value = (
            f"<div>{escape(scope)}</div>"
            + kpi("hit rate", f"{pct:.1f}%", "hit-rate", m["hit_rate"])
            + kpi("cache hits", f"{m['cache_hits']:,}", "hits", m["cache_hits"])
            + kpi("false hits (different intent)", "n/a" if false is None else f"{false:,}", "false-hits", false)
            + kpi("saved (avoided calls)", _html.usd(m["saved_usd"]), "saved", m["saved_usd"])
            + kpi("embeddings + writes", _html.usd(m["embedding_usd"] + m["write_usd"]), "overhead",
                  m["embedding_usd"] + m["write_usd"])
            + kpi("net saved", _html.usd(m["net_saved_usd"]), "net-saved", m["net_saved_usd"])
            + kpi("latency saved", "n/a" if m["latency_saved_ms"] is None  # + 0.0: never "-0.0 h"
                  else f"{round(m['latency_saved_ms'] / 3.6e6, 1) + 0.0:,.1f} h", "latency", m["latency_saved_ms"])
            + shared)
        t = r.over_time("1h" if len(r.frame) < 20_000 else "6h")
        self.chart.chart = alt.Chart(t).mark_line(color=AFTER, point=True).encode(
            x=alt.X("ts:T", title=None), y=alt.Y("hit_rate:Q", title="hit rate", axis=alt.Axis(format="%")),
            tooltip=["ts:T", "requests:Q", "hits:Q", alt.Tooltip("hit_rate:Q", format=".1%")],
        ).properties(width=900, height=200, title="hit rate over time")
        bt = r.by_tenant()
        rows = "".join(
            f"<tr data-testid='tenant-{escape(str(x.tenant))}'><td>{escape(str(x.tenant))}</td><td class='wb-num'>{x.requests:,}</td>"
            f"<td class='wb-num'>{x.hits:,}</td><td class='wb-num'>{100 * x.hit_rate:.1f}%</td>"
            f"<td class='wb-num'>{'' if 'false_hits' not in bt else f'{x.false_hits:,}'}</td>"
            f"<td class='wb-num'>{_html.usd(x.saved_usd)}</td><td class='wb-num'>{x.cross_tenant_hits:,}</td></tr>"
            for x in bt.itertuples())
        self.tenants.value = (_html.section("Per tenant") + "<table class='wb-table'><tr><th>tenant</th><th>requests</th><th>hits</th>"
                              "<th>hit rate</th><th>false hits</th><th>saved</th><th>cross-tenant</th></tr>"
                              f"{rows}</table>")
        pairs = r.hit_pairs(only_false="false_hit" in r.frame, limit=12)
        prow = "".join(
            f"<tr class='wb-false-pair'><td class='pair'>{escape(str(p.prompt))}</td>"
            f"<td class='pair'>{escape(str(p.cached_prompt))}</td><td class='wb-num'>{p.similarity:.3f}</td></tr>"
            for p in pairs.itertuples())
        title = "False hits: the request beside the cached request whose answer it got" if "false_hit" in r.frame \
            else "Hits: the request beside the cached request whose answer it got"
        self.pairs.value = (_html.section(title) + ("<table class='wb-table'><tr><th>request</th><th>served the answer to</th>"
                            f"<th>similarity</th></tr>{prow}</table>" if len(pairs) else "<div>none</div>"))

    def render_prefix(self) -> None:
        p = self.state.prefix
        if not p:
            self.prefix.value = ("<div data-testid='prefix-pending'>Replaying the provider's prompt cache on every "
                                 "request: the table appears here in a few seconds.</div>")
            return
        a, b = p["as_logged"], p["static_first"]
        row = lambda name, x, key: (  # noqa: E731
            f"<tr data-testid='prefix-{key}'><td>{name}</td><td class='wb-num'>{100 * x['cached_token_share']:.1f}%</td>"
            f"<td class='wb-num'>{_html.usd(x['gross_saved_usd'])}</td><td class='wb-num'>{_html.usd(x['write_premium_usd'])}</td>"
            f"<td class='wb-num' data-value='{x['net_saved_usd']}'>{_html.usd(x['net_saved_usd'])}</td></tr>")
        self.prefix.value = (
            "<table class='wb-table'><tr><th>prompt layout</th><th>cached-token share</th><th>gross saved</th><th>write premium</th>"
            f"<th>net saved</th></tr>{row('as logged', a, 'logged')}{row('static content first', b, 'static')}</table>"
            f"<div>{escape(a['provider'])} rules ({escape(a['ttl'])} TTL) from <code>{escape(a['source'])}</code>; "
            f"tokens: {escape(a['token_method'])}.</div>")


def make_cache_replay(log: pd.DataFrame | None = None, book=None, query: str | None = None, embed=None) -> w.Widget:
    """The cache replay app on the bundled sample week (or ``log``); settings from the URL."""
    if query is None:
        query = os.environ.get("QUERY_STRING", "")
    try:
        if book is None:
            from workbench.io.pricesheets import load_prices
            book = load_prices()
        system_prompts, source = None, "" if log is None else f"Given log: {len(log):,} requests"
        if log is None:
            log, system_prompts = sample_week()
        loop = _kernel_loop()
        state = CacheReplayState(log, book, query=query, embed=embed, system_prompts=system_prompts,
                                 prefix_later=loop is not None)
        state.log_source.source = source or sample_label(log)
    except Exception as e:
        view = w.HTML(STYLE + _html.error(f"The cache replay could not start: {one_line(e)}"))
        view.add_class("wb-app")
        view.state = None
        return view
    app = CacheReplayApp(state)
    if loop is not None:  # the what-if (tokenising every prompt) once the page has drawn the app
        app.children = (*app.children, after_paint(lambda: state.run_prefix_on(loop), loop))
    return app


__all__ = ["CacheReplayApp", "CacheReplayState", "make_cache_replay", "PALETTE"]
