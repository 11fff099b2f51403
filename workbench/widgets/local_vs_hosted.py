"""Local vs hosted: benchmark a model server, or load saved results, and compare its cost with hosted APIs.

Two layers, so everything can be tested without a browser:

* :class:`LocalVsHostedState` — a ``traitlets.HasTraits`` object holding the inputs (endpoint, load,
  hardware price, utilisation, hosted models) and the derived outputs (the run, the cost per 1M tokens,
  the break-even volumes, the charts). Set a trait, read the result.
* :func:`make_local_vs_hosted_app` — the ipywidgets view bound to a state: controls, a run button with a
  progress bar, live-updating charts (latency percentiles and throughput per concurrency level) and the
  cost-per-day-vs-volume chart. Charts are offline ``alt.JupyterChart`` widgets (no CDN), so the app
  works in Voila without network access.

By default the app shows the recorded sample run shipped in ``sample_data/bench`` (a real run of
SmolLM2-135M on llama.cpp, on the project's 2-core CPU machine), so it shows real figures without a
server. Defaults for the endpoint can be set with ``WORKBENCH_BENCH_BACKEND``, ``WORKBENCH_BENCH_BASE_URL``
and ``WORKBENCH_BENCH_MODEL``. API keys are read from the environment variable named in the form and
never shown or stored; only variables ``workbench app`` allows, sent only to their configured host unless
the page confirms another (:mod:`workbench.bench.keys`).
"""

from __future__ import annotations

import html
import os
import threading
import time
from pathlib import Path
from typing import Any

import traitlets

from workbench.bench.aggregate import SLO, summarize
from workbench.bench.cost import (
    QUALITY_WARNING,
    HostedPrice,
    LocalCost,
    break_even,
    cost_vs_volume_chart,
    hardware_presets,
    hosted_prices,
    local_cost_from_summary,
)
from workbench.bench.records import RequestResult
from workbench.bench.results import BenchRun, compare_runs, load_run, sample_data_dir

CUSTOM_HARDWARE = "custom"
DEFAULT_USD_PER_HOUR = 0.10
#: Friendly names of the summary table's columns (raw names stay in the saved JSON/CSV).
SUMMARY_COLUMNS = {
    "level": "Level", "requests": "Requests", "errors": "Errors",
    "ttft_p50_ms": "Time to first token p50 (ms)", "ttft_p90_ms": "TTFT p90 (ms)", "ttft_p99_ms": "TTFT p99 (ms)",
    "itl_p50_ms": "Between tokens p50 (ms)", "itl_p90_ms": "ITL p90 (ms)", "itl_p99_ms": "ITL p99 (ms)",
    "output_tokens_per_s": "Output tokens / s", "goodput_fraction": "Within SLO",
}
QUERY_KEYS = ("dataset", "concurrency", "requests", "max_output_tokens", "hardware", "usd_per_hour",
              "utilisation", "level", "hosted")


def available_datasets() -> list[str]:
    """Prompt sets this installation can run: ``synthetic`` (generated, always) and the public sets
    whose files are present (they live outside the repository, see ``WORKBENCH_DATA_DIR``)."""
    from workbench.bench.prompts import DATASETS, load_texts

    out = ["synthetic"]
    for name in DATASETS:
        if name == "synthetic":
            continue
        try:
            if load_texts(name):
                out.append(name)
        except (OSError, ValueError):
            continue
    return out


def sample_files() -> list[Path]:
    """The recorded runs shipped with the repository, newest name last."""
    d = sample_data_dir()
    return sorted(d.glob("*.json")) if d.exists() else []


def _parse_levels(text: str) -> list[int]:
    levels = []
    for part in str(text).replace(" ", "").split(","):
        if not part:
            continue
        v = int(part)
        if v < 1:
            raise ValueError("concurrency levels must be >= 1")
        levels.append(v)
    if not levels:
        raise ValueError("give at least one concurrency level, e.g. 1,2,4")
    return levels


class LocalVsHostedState(traitlets.HasTraits):
    """Inputs and derived outputs of the local-vs-hosted app."""

    # -- endpoint and load ----------------------------------------------------------------------
    backend = traitlets.Unicode(os.environ.get("WORKBENCH_BENCH_BACKEND", "openai"))
    base_url = traitlets.Unicode(os.environ.get("WORKBENCH_BENCH_BASE_URL", "http://127.0.0.1:8080/v1"))
    model = traitlets.Unicode(os.environ.get("WORKBENCH_BENCH_MODEL", "smollm2-135m"))
    api_key_env = traitlets.Unicode("")  # the *name* of the variable; empty = backend default
    api_key = traitlets.Unicode("")  # a key typed into the page (sent only to base_url, never saved)
    confirm_key = traitlets.Bool(False)  # "send the configured key to this other host" (workbench.bench.keys)
    concurrency = traitlets.Unicode("1,2")
    requests = traitlets.Int(4)
    max_output_tokens = traitlets.Int(16)
    dataset = traitlets.Unicode("synthetic")
    request_timeout_s = traitlets.Float(60.0)
    slo_ttft_ms = traitlets.Float(0.0)  # 0 = no limit
    slo_tpot_ms = traitlets.Float(0.0)

    server_models = traitlets.List(traitlets.Unicode())  # what the endpoint lists (fetch_models)

    # -- run state ------------------------------------------------------------------------------
    running = traitlets.Bool(False)
    progress = traitlets.Float(0.0)  # 0..1 over the measured requests
    status = traitlets.Unicode("")
    error = traitlets.Unicode("")
    run = traitlets.Any(None)  # BenchRun
    source = traitlets.Unicode("")
    live_levels = traitlets.List()  # [{"label", "concurrency", "summary"}] while running and after

    # -- cost -----------------------------------------------------------------------------------
    hardware = traitlets.Unicode(CUSTOM_HARDWARE)
    usd_per_hour = traitlets.Float(DEFAULT_USD_PER_HOUR)
    utilisation = traitlets.Float(1.0)
    level = traitlets.Unicode("")  # which level prices the local throughput; "" = highest throughput
    input_per_output = traitlets.Float(-1.0)  # < 0 = as measured
    hosted_models = traitlets.List(traitlets.Unicode())
    custom_hosted_input = traitlets.Float(0.0)  # USD / 1M; both 0 = no custom hosted line
    custom_hosted_output = traitlets.Float(0.0)

    cost = traitlets.Any(None)  # LocalCost
    break_evens = traitlets.List()  # [BreakEven.to_dict()]
    hosted = traitlets.List()  # [HostedPrice]
    cost_error = traitlets.Unicode("")

    def __init__(self, load_sample: bool = True, **kwargs: Any) -> None:
        self.datasets = available_datasets()
        if "dataset" not in kwargs:  # a fresh clone runs out of the box on generated prompts
            kwargs["dataset"] = "bitext" if "bitext" in self.datasets else "synthetic"
        super().__init__(**kwargs)
        self.presets = {p.id: p for p in hardware_presets()}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._partial: dict[str, list[RequestResult]] = {}
        self._level_conc: dict[str, int] = {}
        self._last_live = 0.0
        self.available_hosted: list[str] = []
        self._book = None
        try:
            from workbench.io.pricesheets import load_prices

            self._book = load_prices()
            self.available_hosted = sorted(m.id for m in self._book.models() if m.vendor != "self-hosted")
        except Exception as exc:  # noqa: BLE001 - the app still works with custom prices
            self.cost_error = f"price sheets unavailable: {exc}"
        if not self.hosted_models and self._book is not None:
            prices, _ = hosted_prices(None, book=self._book)
            self.hosted_models = [p.model for p in prices]
        if "hardware" not in kwargs and "usd_per_hour" not in kwargs:
            cpu = [p for p in self.presets.values() if p.id.startswith("cpu")]
            if cpu:  # the sample runs were recorded on a CPU-only machine
                self.hardware = cpu[0].id
        self._link_defaults = self._link_settings()  # a link writes what differs from these
        if load_sample:
            files = sample_files()
            preferred = [f for f in files if f.name.startswith("openai-")]
            if files:
                self.load_file((preferred or files)[0])
        self.recompute()

    # -- loading ---------------------------------------------------------------------------------
    def load_file(self, path: str | Path) -> None:
        run = load_run(path)
        self._set_run(run, f"saved results: {Path(path).name}")

    def _set_run(self, run: BenchRun, source: str) -> None:
        self.live_levels = [{"label": lv.spec.label, "concurrency": lv.spec.concurrency, "summary": lv.summary}
                            for lv in run.levels]
        self.source = source
        self.run = run

    def downloads(self) -> dict[str, str]:
        """The current run as files to download: ``{file name: text}`` (JSON and CSV, secrets scrubbed),
        written by :func:`~workbench.bench.results.save_run` into a temporary folder, never the repository."""
        import tempfile

        from workbench.bench.results import save_run

        if self.run is None:
            return {}
        with tempfile.TemporaryDirectory(prefix="wb-bench-") as tmp:
            return {p.name: p.read_text(encoding="utf-8") for p in save_run(self.run, tmp)}

    def query(self) -> str:
        """The URL query of the settings a link can carry (never the endpoint or a key), those that
        differ from this installation's defaults (e.g. the prompt set: ``bitext`` where it is
        installed). :meth:`apply_query` reads any of them, so older links that wrote them all still open."""
        from urllib.parse import urlencode

        q = {k: v for k, v in self._link_settings().items()
             if v != self._link_defaults[k] and (v or k == "hosted")}   # hosted= is "none"
        return urlencode(q)

    def _link_settings(self) -> dict[str, str]:
        """The settings a link carries (:data:`QUERY_KEYS`) as its query writes them; the hourly
        price only with custom hardware (a preset sets it)."""
        return {"dataset": self.dataset, "concurrency": self.concurrency, "requests": str(self.requests),
                "max_output_tokens": str(self.max_output_tokens), "hardware": self.hardware,
                "usd_per_hour": f"{self.usd_per_hour:g}" if self.hardware == CUSTOM_HARDWARE else "",
                "utilisation": f"{self.utilisation:g}", "level": self.level, "hosted": ",".join(self.hosted_models)}

    def apply_query(self, query: str) -> None:
        """Apply a link's settings; problems become ``error`` (one line), the rest still applies."""
        from urllib.parse import parse_qs

        params = {k: v[-1] for k, v in parse_qs(query or "", keep_blank_values=True).items()}
        problems = []
        unknown = sorted(set(params) - set(QUERY_KEYS))
        if unknown:
            problems.append(f"ignored unknown parameter(s) {', '.join(unknown)}; valid: {', '.join(QUERY_KEYS)}")
        casts = {"requests": int, "max_output_tokens": int, "usd_per_hour": float, "utilisation": float}
        for key in QUERY_KEYS:
            if key not in params:
                continue
            try:
                if key == "hosted":
                    names = [n for n in params[key].split(",") if n]
                    bad = [n for n in names if n not in self.available_hosted]
                    if bad:
                        raise ValueError(f"unknown model(s) {', '.join(bad)}")
                    self.hosted_models = names
                elif key == "hardware" and params[key] not in (*self.presets, CUSTOM_HARDWARE):
                    raise ValueError(f"valid: {', '.join([CUSTOM_HARDWARE, *self.presets])}")
                else:
                    setattr(self, key, casts.get(key, str)(params[key]))
            except (ValueError, traitlets.TraitError) as e:
                problems.append(f"{key}={params[key]!r}: {' '.join(str(e).split())[:160]}")
        if problems:
            self.error = "; ".join(problems)

    def save(self, directory: str | Path) -> list[str]:
        """Write the current run as ``<run>.json`` and ``<run>.csv`` into ``directory``."""
        from workbench.bench.results import save_run

        if self.run is None:
            raise ValueError("no run to save")
        return [str(p) for p in save_run(self.run, directory)]

    # -- endpoint ---------------------------------------------------------------------------------
    @traitlets.observe("confirm_key", "base_url")
    def _confirm_for_this_host(self, change: dict) -> None:
        from workbench.bench.keys import url_host

        if change["name"] == "base_url":
            self.confirm_key = False  # a confirmation holds for the host it was given for only
        self._confirmed_host = url_host(self.base_url) if self.confirm_key else ""

    def _key_options(self) -> dict[str, Any]:
        """Which key may go to ``base_url`` (raises ``KeyRefused``, a ValueError): workbench.bench.keys."""
        from workbench.bench.keys import key_options

        return key_options(self.backend, self.base_url, self.api_key_env, typed_key=self.api_key,
                           confirmed_host=getattr(self, "_confirmed_host", ""))

    def fetch_models(self) -> list[str]:
        """Ask the endpoint which models it serves (``/v1/models`` or ``/api/tags``); errors go to ``error``."""
        from workbench.bench.backends import create_backend

        try:
            opts: dict[str, Any] = {"timeout_s": 5.0, "connect_timeout_s": 3.0, **self._key_options()}
            with create_backend(self.backend, self.base_url, self.model or "?", **opts) as backend:
                info = backend.describe()
        except ValueError as exc:
            self.error = str(exc)
            return []
        if "models_error" in info:
            self.error = f"cannot list models at {self.base_url}: {info['models_error']}"
            return []
        names = [m.get("id") or m.get("model") for m in info.get("models", [])]
        self.server_models = [n for n in names if n]
        self.error = ""
        if self.server_models and self.model not in self.server_models:
            self.model = self.server_models[0]
        return list(self.server_models)

    # -- running ----------------------------------------------------------------------------------
    def start_run(self, blocking: bool = False) -> None:
        """Benchmark the configured endpoint. Non-blocking by default (the view stays live)."""
        if self.running:
            return
        try:
            levels = _parse_levels(self.concurrency)
            if self.requests < 1 or self.max_output_tokens < 1:
                raise ValueError("requests and max output tokens must be >= 1")
            if self.dataset not in self.datasets:
                raise ValueError(f"the {self.dataset!r} prompts are not installed here (their files live outside "
                                 f"the repository); choose one of: {', '.join(self.datasets)}")
        except ValueError as exc:
            self.error = str(exc)
            return
        self.error = ""
        self._stop.clear()
        self._partial = {}
        self._level_conc = {}
        self.live_levels = []
        self.progress = 0.0
        self.running = True
        self.run = None  # the results table shows this run, not the previous one
        self.source = ""
        self.status = "starting…"
        if blocking:
            self._run(levels)
        else:
            self._thread = threading.Thread(target=self._run, args=(levels,), name="local-vs-hosted-run",
                                            daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for a background run; True when it has finished."""
        if self._thread is not None:
            self._thread.join(timeout)
            return not self._thread.is_alive()
        return True

    def _run(self, levels: list[int]) -> None:
        from workbench.bench.backends import create_backend
        from workbench.bench.harness import LoadSpec, RunConfig, run_benchmark
        from workbench.bench.prompts import make_requests

        total = self.requests * len(levels)
        done = [0]
        lock = threading.Lock()

        def on_result(r: RequestResult, k: int, n: int) -> None:  # called from the load generator's threads
            with lock:
                done[0] += 1
                self._partial.setdefault(r.level, []).append(r)
                self._level_conc[r.level] = r.concurrency
                self.progress = min(1.0, done[0] / total)
                self.status = f"level {r.level}: {k}/{n} requests"
                now = time.monotonic()
                if now - self._last_live > 0.4 or k == n:
                    self._last_live = now
                    self._refresh_live()

        try:
            opts: dict[str, Any] = {"timeout_s": self.request_timeout_s, **self._key_options()}
            backend = create_backend(self.backend, self.base_url, self.model, **opts)
            prompts = make_requests(self.dataset, max(self.requests, 2), max_output_tokens=self.max_output_tokens)
            slo = SLO(ttft_ms=self.slo_ttft_ms or None, tpot_ms=self.slo_tpot_ms or None)
            config = RunConfig(levels=tuple(LoadSpec(concurrency=c, requests=self.requests) for c in levels),
                               warmup_requests=1, request_timeout_s=self.request_timeout_s, slo=slo)
            self.status = "cold start and warm-up…"
            with backend:
                run = run_benchmark(backend, prompts, config, progress=on_result, stop=self._stop,
                                    server_settings={"source": "local-vs-hosted app"})
            self._set_run(run, "live run" + (" (stopped)" if run.stopped_early else ""))
            errs = sum(lv.summary["errors"] for lv in run.levels)
            self.status = f"done: {sum(lv.summary['requests'] for lv in run.levels)} requests, {errs} errors"
            self.progress = 1.0
        except Exception as exc:  # noqa: BLE001 - shown in the app
            from workbench.bench.results import scrub_secrets

            self.error = scrub_secrets(f"{type(exc).__name__}: {exc}")
            self.status = "failed"
        finally:
            self.running = False

    def _refresh_live(self) -> None:
        slo = SLO(ttft_ms=self.slo_ttft_ms or None, tpot_ms=self.slo_tpot_ms or None)
        self.live_levels = [{"label": label, "concurrency": self._level_conc[label],
                             "summary": summarize(results, slo=slo)}
                            for label, results in list(self._partial.items())]

    # -- cost --------------------------------------------------------------------------------------
    @traitlets.observe("hardware")
    def _on_hardware(self, change) -> None:
        preset = self.presets.get(change["new"])
        if preset is not None:
            self.usd_per_hour = preset.usd_per_hour

    @traitlets.observe("usd_per_hour")
    def _on_usd(self, change) -> None:
        preset = self.presets.get(self.hardware)
        if preset is not None and preset.usd_per_hour != change["new"]:
            self.hardware = CUSTOM_HARDWARE  # the user typed their own price

    @traitlets.observe("usd_per_hour", "utilisation", "level", "input_per_output", "hosted_models",
                       "custom_hosted_input", "custom_hosted_output", "run")
    def _on_cost_input(self, change) -> None:
        self.recompute()

    def chosen_level(self):
        """The level whose throughput prices the hardware: the named one, else the fastest."""
        if self.run is None or not self.run.levels:
            return None
        for lv in self.run.levels:
            if lv.spec.label == self.level:
                return lv
        return max(self.run.levels, key=lambda lv: lv.summary.get("output_tokens_per_s") or 0.0)

    def recompute(self) -> None:
        lv = self.chosen_level()
        self.cost_error = ""
        if lv is None:
            self.cost, self.break_evens, self.hosted = None, [], []
            return
        try:
            if not 0 < self.utilisation <= 1:
                raise ValueError("utilisation must be in (0, 1]")
            if self.usd_per_hour < 0:
                raise ValueError("hardware price must be >= 0")
            lc = local_cost_from_summary(lv.summary, self.usd_per_hour, utilisation=self.utilisation,
                                         hardware=self.hardware)
        except ValueError as exc:
            self.cost, self.break_evens, self.hosted = None, [], []
            self.cost_error = str(exc)
            return
        prices: list[HostedPrice] = []
        if self._book is not None and self.hosted_models:
            prices, _ = hosted_prices(self.hosted_models, book=self._book)
        if self.custom_hosted_input > 0 or self.custom_hosted_output > 0:
            prices.append(HostedPrice("custom hosted", self.custom_hosted_input, self.custom_hosted_output,
                                      "user input"))
        ratio = None if self.input_per_output < 0 else self.input_per_output
        self.hosted = prices
        self.cost = lc
        self.break_evens = [b.to_dict() for b in break_even(lc, prices, ratio)]

    # -- charts ----------------------------------------------------------------------------------
    def latency_chart(self):
        import altair as alt
        import pandas as pd

        rows = []
        for lv in self.live_levels:
            s = lv["summary"]
            for metric in ("ttft_ms", "itl_ms"):
                for p in ("p50", "p90", "p99"):
                    if s[metric].get(p) is not None:
                        rows.append({"concurrency": lv["concurrency"], "level": lv["label"],
                                     "metric": metric.replace("_ms", "").upper(), "percentile": p,
                                     "ms": s[metric][p]})
        frame = pd.DataFrame(rows, columns=["concurrency", "level", "metric", "percentile", "ms"])
        return alt.Chart(frame).mark_line(point=True).encode(
            x=alt.X("concurrency:O", title="concurrency"),
            y=alt.Y("ms:Q", title="milliseconds"),
            color=alt.Color("percentile:N", sort=["p50", "p90", "p99"]),
            tooltip=["level", "metric", "percentile", alt.Tooltip("ms:Q", format=".1f")],
        ).properties(width=220, height=200).facet(column=alt.Column("metric:N", title=None)).resolve_scale(
            y="independent").properties(title="Latency percentiles per level")

    def throughput_chart(self):
        import altair as alt
        import pandas as pd

        rows = [{"concurrency": lv["concurrency"], "level": lv["label"],
                 "output tokens/s": lv["summary"].get("output_tokens_per_s") or 0.0,
                 "requests": lv["summary"].get("requests")} for lv in self.live_levels]
        frame = pd.DataFrame(rows, columns=["concurrency", "level", "output tokens/s", "requests"])
        return alt.Chart(frame).mark_bar().encode(
            x=alt.X("concurrency:O"),
            y=alt.Y("output tokens/s:Q"),
            tooltip=["level", "requests", alt.Tooltip("output tokens/s:Q", format=".1f")],
        ).properties(width=260, height=200, title="Throughput vs concurrency")

    def break_even_chart(self):
        import altair as alt

        if self.cost is None:
            return alt.Chart().mark_text(text="no cost: " + (self.cost_error or "load or run a benchmark")).properties(
                width=560, height=60)
        ratio = None if self.input_per_output < 0 else self.input_per_output
        label = f"local ({self.hardware if self.hardware != CUSTOM_HARDWARE else f'${self.usd_per_hour:g}/h'})"
        return cost_vs_volume_chart(self.cost, self.hosted, input_per_output=ratio, local_label=label)

    # -- text --------------------------------------------------------------------------------------
    def cost_html(self) -> str:
        if self.cost is None:
            return f"<p><b>Cost:</b> {html.escape(self.cost_error or 'no run loaded')}</p>"
        c: LocalCost = self.cost
        lv = self.chosen_level()
        def volume(b: dict) -> str:
            v = b["break_even_output_tokens_per_day"]
            return "—" if v is None else f"{v:,.0f}"

        rows = "".join(
            f"<tr><td>{html.escape(b['model'])}</td><td>${b['hosted_usd_per_mtok_output']:.4g}</td>"
            f"<td>{volume(b)}</td><td>{html.escape(b['note'])}</td></tr>"
            for b in self.break_evens
        )
        return (
            f"<div class='lvh-cost'><p><b>Local cost</b> at {c.output_tokens_per_s:.1f} output tokens/s "
            f"(level {html.escape(lv.spec.label)}), ${c.usd_per_hour:g}/hour, utilisation {c.utilisation:.0%}: "
            f"<b class='lvh-usd-out'>${c.usd_per_mtok_output:.4g}</b> per 1M output tokens, "
            f"<b class='lvh-usd-total'>${c.usd_per_mtok_total:.4g}</b> per 1M total tokens; one machine serves up to "
            f"{c.capacity_output_tokens_per_day:,.0f} output tokens/day for ${c.usd_per_day:.2f}/day.</p>"
            "<table class='lvh-break-even'><tr><th>hosted model</th><th>$/1M output (input included)</th>"
            f"<th>break-even output tokens/day</th><th></th></tr>{rows}</table>"
            f"<p style='color:#a33'>⚠ {html.escape(QUALITY_WARNING)}</p></div>"
        )

    def summary_html(self) -> str:
        if self.run is None:
            return ("<p class='wb-sub'>Running: the table appears when the run ends (the charts follow it live).</p>"
                    if self.running else "<p class='wb-sub'>No results loaded.</p>")
        frame = compare_runs([self.run])
        cols = ["level", "requests", "errors", "ttft_p50_ms", "ttft_p90_ms", "ttft_p99_ms", "itl_p50_ms",
                "itl_p90_ms", "itl_p99_ms", "output_tokens_per_s", "goodput_fraction"]
        env = self.run.environment
        b = env.get("backend", {})
        settings = env.get("server", {}).get("settings", {})
        head = (f"<p class='lvh-source'><b>{html.escape(self.source)}</b> — {html.escape(b.get('backend', ''))} "
                f"{html.escape(b.get('base_url', ''))}, model {html.escape(Path(b.get('model', '')).name)}, "
                f"machine {html.escape(self.run.machine)}, {html.escape(self.run.created_at)}"
                + (f", server: {html.escape(', '.join(f'{k}={v}' for k, v in settings.items()))}" if settings else "")
                + "</p>")
        cold = self.run.cold_start
        if cold is not None and cold.ttft_ms is not None:
            head += f"<p>Cold start (first request, not in the percentiles): TTFT {cold.ttft_ms:.0f} ms.</p>"
        table = frame[cols].round(2).rename(columns=SUMMARY_COLUMNS)
        return head + table.to_html(index=False, classes="wb-table lvh-summary", na_rep="—", border=0)


def make_local_vs_hosted_app(state: LocalVsHostedState | None = None, *, query: str | None = None):
    """The ipywidgets view of a :class:`LocalVsHostedState` (a new one showing the sample run by default).

    Returns the app widget (its ``.state`` attribute is the state); as a notebook cell's last expression
    it displays itself.
    """
    import ipywidgets as w

    from workbench.widgets.charts import offline_chart

    from urllib.parse import quote

    from workbench.widgets import _html
    from workbench.widgets.address import follow
    from workbench.widgets.prices_asof import prices_as_of_html

    state = state or LocalVsHostedState()
    state.apply_query(os.environ.get("QUERY_STRING", "") if query is None else query)
    lay = w.Layout(width="360px")
    style = {"description_width": "140px"}

    backend = w.Dropdown(options=["openai", "ollama"], description="backend", layout=lay, style=style)
    base_url = w.Text(description="base URL", layout=w.Layout(width="420px"), style=style)
    model = w.Combobox(description="model", layout=lay, style=style, ensure_option=False)
    key_env = w.Text(description="API key env var", placeholder="e.g. OPENAI_API_KEY", layout=lay, style=style)
    typed_key = w.Password(description="or API key", placeholder="sent only to the base URL", layout=lay, style=style)
    confirm_key = w.Checkbox(description="send the key variable's key to this host", indent=False)
    concurrency = w.Text(description="concurrency levels", layout=lay, style=style)
    requests = w.BoundedIntText(min=1, max=500, description="requests / level", layout=lay, style=style)
    max_tokens = w.BoundedIntText(min=1, max=4096, description="max output tokens", layout=lay, style=style)
    from workbench.bench.prompts import DATASETS

    dataset = w.Dropdown(options=[("generated (synthetic)" if d == "synthetic" else
                                   d if d in state.datasets else f"{d} (not installed)", d)
                                  for d in ("synthetic", *(x for x in DATASETS if x != "synthetic"))],
                         description="prompts", layout=lay, style=style)
    for widget, name in ((backend, "backend"), (base_url, "base_url"), (model, "model"), (key_env, "api_key_env"),
                         (typed_key, "api_key"), (confirm_key, "confirm_key"),
                         (concurrency, "concurrency"), (requests, "requests"), (max_tokens, "max_output_tokens"),
                         (dataset, "dataset")):
        w.link((state, name), (widget, "value"))

    list_btn = w.Button(description="List models", icon="list", layout=w.Layout(width="130px"))
    list_btn.on_click(lambda _: state.fetch_models())
    state.observe(lambda ch: setattr(model, "options", tuple(ch["new"])), "server_models")
    run_btn = w.Button(description="Run benchmark", button_style="primary", icon="play")
    stop_btn = w.Button(description="Stop", icon="stop", disabled=True)
    bar = w.FloatProgress(min=0.0, max=1.0, description="progress", style=style)
    status = w.HTML()
    samples = sample_files()
    load_dd = w.Dropdown(options=[(p.name, str(p)) for p in samples], description="saved results",
                         layout=w.Layout(width="560px"), style=style)
    shown = [str(p) for p in samples if state.source.endswith(p.name)]
    if shown:  # the selector names the file the page shows
        load_dd.value = shown[0]
    load_path = w.Text(placeholder="or a path to a saved run (.json)", layout=w.Layout(width="360px"))
    load_btn = w.Button(description="Load", icon="folder-open")

    summary = w.HTML()
    latency = offline_chart(state.latency_chart())
    throughput = offline_chart(state.throughput_chart())

    hw_options = [(f"{p.name} (${p.usd_per_hour:g}/h)", p.id) for p in state.presets.values()]
    hardware = w.Dropdown(options=[("custom $/hour", CUSTOM_HARDWARE)] + hw_options, description="hardware",
                          layout=w.Layout(width="520px"), style=style)
    usd = w.BoundedFloatText(min=0.0, max=1000.0, step=0.01, description="hardware $/hour", layout=lay, style=style)
    util = w.FloatSlider(min=0.05, max=1.0, step=0.05, description="utilisation", readout_format=".0%",
                         layout=w.Layout(width="420px"), style=style)
    level_dd = w.Dropdown(description="price level", layout=lay, style=style)
    hosted = w.SelectMultiple(options=state.available_hosted, description="hosted models", rows=6,
                              layout=w.Layout(width="420px"), style=style)
    custom_in = w.BoundedFloatText(min=0.0, max=1000.0, description="custom in $/1M", layout=lay, style=style)
    custom_out = w.BoundedFloatText(min=0.0, max=1000.0, description="custom out $/1M", layout=lay, style=style)
    w.link((state, "hardware"), (hardware, "value"))
    w.link((state, "usd_per_hour"), (usd, "value"))
    w.link((state, "utilisation"), (util, "value"))
    w.link((state, "custom_hosted_input"), (custom_in, "value"))
    w.link((state, "custom_hosted_output"), (custom_out, "value"))
    hosted.value = tuple(m for m in state.hosted_models if m in state.available_hosted)
    hosted.observe(lambda ch: setattr(state, "hosted_models", list(ch["new"])), "value")
    cost_html = w.HTML()
    cost_html.add_class("wb-lvh-cost")
    usd.add_class("wb-in-usd_per_hour")
    cost_chart = offline_chart(state.break_even_chart())
    error = w.HTML()

    def refresh_levels(*_):
        labels = [lv.spec.label for lv in state.run.levels] if state.run is not None else []
        level_dd.options = [("fastest", "")] + [(lab, lab) for lab in labels]
        level_dd.value = state.level if state.level in labels else ""

    def refresh_results(*_):
        summary.value = state.summary_html()
        refresh_levels()

    def refresh_live(*_):
        latency.chart = state.latency_chart()
        throughput.chart = state.throughput_chart()

    def refresh_cost(*_):
        cost_html.value = state.cost_html() + (prices_as_of_html(state._book, state.hosted_models) if state._book else "")
        cost_chart.chart = state.break_even_chart()

    def refresh_run_state(*_):
        run_btn.disabled = state.running
        stop_btn.disabled = not state.running
        bar.value = state.progress
        status.value = f"<span class='lvh-status'>{html.escape(state.status)}</span>"
        error.value = _html.error(state.error, "run")

    level_dd.observe(lambda ch: setattr(state, "level", ch["new"] or ""), "value")
    state.observe(refresh_results, "run")
    state.observe(refresh_live, "live_levels")
    state.observe(refresh_cost, ["cost", "break_evens", "cost_error"])
    state.observe(refresh_run_state, ["running", "progress", "status", "error"])
    run_btn.on_click(lambda _: state.start_run())
    stop_btn.on_click(lambda _: state.stop())

    def do_load(_):
        path = load_path.value.strip() or load_dd.value
        if not path:
            return
        try:
            state.load_file(path)
            state.error = ""
        except (OSError, ValueError, KeyError) as exc:
            state.error = f"cannot load {path}: {exc}"

    load_btn.on_click(do_load)
    downloads = w.HTML()

    def refresh_downloads(*_):
        files = state.downloads()
        links = "".join(
            f"<a download='{html.escape(name, quote=True)}' data-testid='download-{name.rsplit('.', 1)[-1]}' "
            f"href='data:{'application/json' if name.endswith('.json') else 'text/csv'};charset=utf-8,"
            f"{quote(text)}'>⬇ {html.escape(name)}</a>"
            for name, text in files.items())
        downloads.value = f"<div class='wb-downloads'>{links}</div>" if links else ""

    state.observe(refresh_downloads, "run")
    refresh_downloads()
    refresh_results()
    refresh_cost()
    refresh_run_state()

    wrap = w.Layout(flex_flow="row wrap", align_items="center", width="100%")
    bench_box = w.VBox([
        w.HTML(_html.section("Benchmark a server")),
        w.HBox([w.VBox([backend, base_url, w.HBox([model, list_btn]), key_env, typed_key, confirm_key]),
                w.VBox([concurrency, requests, max_tokens, dataset])], layout=wrap),
        w.HBox([run_btn, stop_btn, bar, status], layout=wrap),
        error,  # right under the button the user pressed
        w.HBox([load_dd, load_path, load_btn], layout=wrap),
    ])
    results_box = w.VBox([w.HTML(_html.section("Results")), summary, w.HBox([latency, throughput], layout=wrap),
                          downloads])
    cost_box = w.VBox([
        w.HTML(_html.section("Local vs hosted cost")),
        w.HBox([w.VBox([hardware, usd, util, level_dd]), w.VBox([hosted, custom_in, custom_out])], layout=wrap),
        cost_html, cost_chart,
    ])
    header = w.HTML(_html.STYLE + _html.header(
        "Local vs hosted",
        "Benchmark a model server, turn its measured speed into $ per 1M tokens, and find the daily volume "
        "at which your own hardware beats a hosted price."))
    address_bar = follow(state, ["dataset", "concurrency", "requests", "max_output_tokens", "hardware",
                                 "usd_per_hour", "utilisation", "level", "hosted_models"], state.query)
    app = w.VBox([header, address_bar, bench_box, results_box, cost_box],
                 layout=w.Layout(max_width="1100px", padding="0 16px 24px 16px"))
    app.add_class("wb-app")
    app.add_class("wb-local-vs-hosted")
    app.state = state  # for tests and notebooks
    app.error_html, app.downloads, app.summary, app.load_dd = error, downloads, summary, load_dd
    app.dataset_dd, app.address_bar = dataset, address_bar
    return app
