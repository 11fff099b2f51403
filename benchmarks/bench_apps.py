"""Benchmark the Voila apps in headless Chromium: first render, and control -> numbers round trip.

Run: ``python benchmarks/bench_apps.py [--repeat 3] [--round-trips 10] [--apps a,b]``

1. ``workbench app`` is started on a free 127.0.0.1 port (time until it answers HTTP). It keeps one
   pre-heated kernel per app (started, the app built before any page asks); a page takes it and
   the server starts its replacement ``FILL_DELAY_S`` later, in the background.
2. First render = ``page.goto`` to the app's main widget visible, in a fresh tab, closed with its
   tab-close beacon afterwards (the server stops its kernel). Three ways, reported apart:
   - **first after start**: the first app opened as soon as the server answers HTTP (its kernels
     are still being pre-heated: the worst a user waits);
   - **warm pool** (``--repeat`` per app): each load once the pool has refilled and the machine is
     quiet (server and kernels idle for ``QUIET_S``): a user arriving at a running server;
   - **back to back** (``--repeat`` per app, 0.5 s apart): the pool drained, so after the first
     load Voila starts a kernel for the page while the replacement warms up beside it.
3. For apps with a probe in :data:`ROUND_TRIPS`, a control is changed from JavaScript and the time
   until the page shows the recomputed numbers is measured in the page (``performance.now``),
   ``--round-trips`` times, 400 ms apart (so each change is a fresh edit, not a debounced burst).

4. ``--kernel`` (no browser): each app built in this process (its first render's Python part) and
   the recompute after a control change, timed in the kernel; the spend explorer also on a
   100k-row log, its recompute beside the strongest simple peer (the same filter and tables in
   plain pandas: boolean mask, ``groupby().agg`` sums and quantiles), and its replay apart.

Every app has a probe (issue 13): token counter (text), cost preview (requests/day), spend explorer
(feature filter: tables, charts and the policy replay), local vs hosted (hardware $/hour), cascade
simulator (requests/day), cache replay (TTL: the cache is replayed). ``--kernel`` times the same
changes in-process, with the spend explorer's first and repeated visits of a view apart.

Targets (issue 3, 13): first render <= 5 s, round trip / recompute <= 200 ms; the ratio column is
measured/target (<= 1 meets the target). Results are also written to ``benchmarks/results/bench_apps.json``.
Other apps add a probe to :data:`ROUND_TRIPS` (JS returning milliseconds, given the round index)
and, optionally, a readiness selector to :data:`READY`.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "browser"))
# the cascade simulator reads RouteLLM's labelled data: from the public-data mirror beside the
# repository when there is one (the app downloads it otherwise; a benchmark does not time that)
if (ROOT.parent / "shared" / "data").is_dir():
    os.environ.setdefault("WORKBENCH_DATA_MIRROR", str(ROOT.parent / "shared" / "data"))

from voila_harness import (  # noqa: E402
    VoilaServer,
    app_names,
    chromium_missing_message,
    launch_chromium,
    wait_rendered,
)

TARGET_RENDER_S = 5.0
#: The pool counts as refilled once the server and its kernels used under 10 % CPU for this long.
QUIET_S = 2.0
TARGET_ROUND_TRIP_MS = 200.0

#: App -> CSS selector that means "rendered": the app's main widget (default: any widget view).
READY = {"index": ".wb-index", "token_counter": ".wb-token-counter", "cost_preview": ".wb-cost-preview",
         "spend_explorer": ".wb-spend-explorer", "local_vs_hosted": ".wb-local-vs-hosted",
         "cascade_simulator": ".wb-cascade-slider", "cache_replay": ".wb-cache-replay"}

#: JS waiting (MutationObserver) until ``selector``'s text equals ``want``; resolves to ms since t0.
_WAIT_JS = """
(selector, want, t0) => new Promise((resolve, reject) => {
  const done = () => {
    const el = document.querySelector(selector);
    if (el && el.textContent.trim() === want) { obs.disconnect(); resolve(performance.now() - t0); return true; }
    return false;
  };
  const obs = new MutationObserver(done);
  obs.observe(document.body, {subtree: true, childList: true, characterData: true});
  if (!done()) setTimeout(() => { obs.disconnect(); reject(new Error('no update of ' + selector)); }, 10000);
})"""


def _token_counter_probe(page, i: int) -> float:
    """Type a new text (one input event) and wait for the exact o200k count to show it."""
    from workbench.core.tokens import count_tokens

    text = f"round trip {i}: " + "the price of a token is not the price of a word. " * (5 + i % 7)
    want = f"{count_tokens(text).tokens:,}"
    return page.evaluate(
        """async ([text, want, waitSrc]) => {
          const wait = eval(waitSrc);
          const box = document.querySelector('.wb-text textarea');
          const t0 = performance.now();
          box.value = text;
          box.dispatchEvent(new Event('input', {bubbles: true}));
          return await wait('[data-testid="family-o200k_base"] [data-testid="tokens"]', want, t0);
        }""",
        [text, want, _WAIT_JS],
    )


def _cost_preview_probe(page, i: int) -> float:
    """Change requests/day (one change event) and wait for GPT-4o-mini's $/day to show the new figure."""
    from workbench.core.preview import usd
    from workbench.io.pricesheets import load_prices

    volume = 20_000 + 1_000 * (i + 1)
    rec = load_prices().price_on("gpt-4o-mini")
    want = usd((3_500 * rec.rate("input", 3_500) + 350 * rec.rate("output", 3_500)) / 1e6 * volume)
    return page.evaluate(
        """async ([volume, want, waitSrc]) => {
          const wait = eval(waitSrc);
          const box = document.querySelector('.wb-in-requests_per_day input');
          const t0 = performance.now();
          box.value = String(volume);
          box.dispatchEvent(new Event('change', {bubbles: true}));
          return await wait("[data-testid='row-gpt-4o-mini'] [data-testid='usd-per-day']", want, t0);
        }""",
        [volume, want, _WAIT_JS],
    )


#: JS: set a control (``kind``: 'select' picks option ``value`` of a <select>, 'input' types it into an
#: <input> and sends change), then wait (MutationObserver) until ``watch``'s text differs from before;
#: resolves to ms since the control changed.
_CHANGE_JS = """
async ([control, kind, value, watch]) => {
  const el = document.querySelector(control), target = () => document.querySelector(watch);
  if (!el || !target()) throw new Error('missing ' + (el ? watch : control));
  const before = target().textContent;
  const t0 = performance.now();
  if (kind === 'select') { el.value = el.options[value].value; }
  else { el.value = String(value); }
  el.dispatchEvent(new Event('change', {bubbles: true}));
  return await new Promise((resolve, reject) => {
    const done = () => { const now = target(); if (now && now.textContent !== before) {
      obs.disconnect(); resolve(performance.now() - t0); return true; } return false; };
    const obs = new MutationObserver(done);
    obs.observe(document.body, {subtree: true, childList: true, characterData: true});
    if (!done()) setTimeout(() => { obs.disconnect(); reject(new Error('no update of ' + watch)); }, 20000);
  });
}"""


def _change_probe(control: str, kind: str, values, watch: str):
    """A probe setting ``control`` to ``values[i % len]`` (a <select> option index, or an input's
    text) and timing until ``watch`` shows new text. Consecutive values differ, so each is a change."""
    def probe(page, i: int) -> float:
        return page.evaluate(_CHANGE_JS, [control, kind, values[(i + 1) % len(values)], watch])
    return probe


#: App -> function(page, round index) -> milliseconds from control change to updated numbers.
ROUND_TRIPS = {
    "token_counter": _token_counter_probe,
    "cost_preview": _cost_preview_probe,
    # the feature filter: KPIs, charts, tables and the policy replay are recomputed; the probe
    # waits for the replay's summary (the last thing the kernel sends)
    "spend_explorer": _change_probe(".wb-feature select", "select", [1, 2, 3, 0], ".wb-policies"),
    "local_vs_hosted": _change_probe(".wb-in-usd_per_hour input", "input", [0.8, 1.6, 2.4, 3.2], ".wb-lvh-cost"),
    "cascade_simulator": _change_probe(".wb-cascade-rpd input", "input", [20_000, 30_000, 40_000],
                                       ".wb-projection"),
    # the hit count (it differs for every pair of these TTLs on the sample week); the prefix what-if,
    # which arrives after the first screen, changes other text of the page
    "cache_replay": _change_probe(".wb-in-ttl input", "input", [600, 1800, 7200, 86400],
                                  "[data-testid='hits']"),
}


def big_log(rows: int = 100_000):
    """The sample week repeated to ``rows`` calls (new ids, timestamps nudged), priced as a user's log."""
    import numpy as np
    import pandas as pd

    base = pd.read_parquet(ROOT / "sample_data" / "requests.parquet")
    parts = []
    for k in range(-(-rows // len(base))):
        part = base.copy()
        part["request_id"] = part["request_id"].astype(str) + f"-{k}"
        part["ts"] = part["ts"] + pd.to_timedelta((np.arange(len(part)) * 7 + k) % 997, unit="ms")
        parts.append(part)
    return pd.concat(parts).head(rows).sort_values(["ts", "request_id"]).reset_index(drop=True)


def _timed(fn, repeat: int) -> list[float]:
    out = []
    for i in range(repeat):
        t = time.perf_counter()
        fn(i)
        out.append((time.perf_counter() - t) * 1000)
    return out


def _pandas_peer(log, feature: str, tenant: str):
    """What a user would write by hand for the explorer's tables: one mask, then grouped sums and
    token percentiles per feature, tenant and model, and the totals."""
    m = (log["feature"] == feature) if feature else None
    if tenant:
        m = (log["tenant"] == tenant) if m is None else m & (log["tenant"] == tenant)
    view = log[m] if m is not None else log
    out = {"total": view["cost_usd"].sum()}
    for key in ("feature", "tenant", "model"):
        g = view.groupby(key, observed=True)
        out[key] = g.agg(spend=("cost_usd", "sum"), calls=("cost_usd", "size"), tin=("input_tokens", "sum"),
                         tout=("output_tokens", "sum"))
        out[key + "_q"] = g["input_tokens"].quantile([0.5, 0.95]).unstack()
    return out


#: The apps the kernel side times (every app of notebooks/apps but the index).
KERNEL_APPS = ("token_counter", "cost_preview", "local_vs_hosted", "spend_explorer", "cascade_simulator",
               "cache_replay")


def kernel_measure(rows: int, repeat: int, apps: list[str] | None = None) -> dict:
    """First build and recompute of every app (or of ``apps``) in this process (see the module
    docstring, 4)."""
    import datetime as dt

    from workbench.io.pricesheets import load_prices

    t = time.perf_counter()
    book = load_prices()
    out: dict = {"load_prices_s": time.perf_counter() - t}

    def app_entry(name, build, change):
        if apps is not None and name not in apps:
            return None
        t = time.perf_counter()
        app = build()
        first = time.perf_counter() - t
        change(app, -1)  # warm-up: the first change may import what the build did not need
        out[name] = {"build_s": first, "recompute_ms": _timed(lambda i: change(app, i), repeat)}
        return app

    def build(module, fn, *args, **kwargs):
        import importlib

        return lambda: getattr(importlib.import_module(f"workbench.widgets.{module}"), fn)(*args, **kwargs)

    app_entry("token_counter", build("token_counter", "make_token_counter", book, query="", day=dt.date(2025, 6, 1)),
              lambda app, i: setattr(app.state, "text", "Hello world " * (i + 2)))
    app_entry("cost_preview", build("cost_preview", "make_cost_preview", book, query="", today=dt.date(2025, 6, 1)),
              lambda app, i: app.state.apply_query(f"requests_per_day={21_000 + 1_000 * i}"))
    app_entry("local_vs_hosted", build("local_vs_hosted", "make_local_vs_hosted_app", query=""),
              lambda app, i: setattr(app.state, "usd_per_hour", 0.6 + 0.1 * i))
    app_entry("cascade_simulator", build("cascade", "make_cascade_simulator", book, query=""),
              lambda app, i: setattr(app.state, "index", (app.state.index + 7) % max(len(app.state.grid), 1)))
    app_entry("cache_replay", build("cache_replay", "make_cache_replay", book=book, query=""),
              lambda app, i: setattr(app.state, "ttl_s", [600.0, 1800.0, 7200.0, 86400.0][i % 4]))

    # the spend explorer: a filter change through the app (state, views, charts and the policy
    # replay), on the sample week and on a 100k-row log; "cold" is a view not seen before (its
    # replay and anomaly scans not cached), "warm" one seen before
    se = app_entry("spend_explorer", build("spend_explorer", "make_spend_explorer", book, query=""),
                   lambda app, i: setattr(app.state, "feature", ["rag_answer", "support_chat", ""][(i + 1) % 3]))
    if se is None:
        return out
    s = se.state
    out["spend_explorer"].update(_explorer_changes(s, repeat))
    from workbench.core.frame_cost import price_frame

    log = price_frame(big_log(rows), book)
    t = time.perf_counter()
    s.set_log(log.drop(columns=["input_usd", "cached_input_usd", "cache_write_usd", "output_usd", "cost_usd"]),
              f"{rows:,} calls")
    load_s = time.perf_counter() - t
    tenants = s.tenants_available[:3] + [""]
    features = ["rag_answer", "support_chat", ""]
    big = {"rows": rows, "load_s": load_s, **_explorer_changes(s, repeat)}
    peer = _timed(lambda i: _pandas_peer(log, features[i % 3], tenants[i % len(tenants)]), repeat)
    big["pandas_peer_ms"] = peer
    out["spend_explorer_100k"] = big
    return out


#: What the explorer keeps per view seen (results, anomaly scans, replays): emptied for a first visit.
COLD_CACHES = ("_result_cache", "_replay_cache", "_flag_cache")


def _set_tenant(s, combos, i: int) -> str:
    """Set the tenant of view ``i`` (the next one if that view is showing) without recomputing;
    returns the feature whose assignment then times the change."""
    f, t_ = combos[i % len(combos)]
    if (s.feature, s.tenant) == (f, t_):
        f, t_ = combos[(i + 1) % len(combos)]
    s._ready = False
    s.tenant = t_
    s._ready = True
    return f


def _explorer_changes(s, repeat: int) -> dict:
    """Filter changes of the explorer ``s`` (feature x tenant), each timed through the app; cold:
    every per-view cache emptied first (:data:`COLD_CACHES`); also the recompute and the replay
    apart (cold)."""
    features = ["rag_answer", "support_chat", ""]
    tenants = s.tenants_available[:3] + [""]
    combos = [(f, t) for t in tenants for f in features]
    cold, warm, rec, rep = [], [], [], []
    for i in range(repeat):
        f = _set_tenant(s, combos, i)
        for cache in COLD_CACHES:
            getattr(s, cache, {}).clear()
        t = time.perf_counter()
        s.feature = f  # the observers recompute, replay and redraw
        cold.append((time.perf_counter() - t) * 1000)
        for cache in COLD_CACHES:
            getattr(s, cache, {}).clear()
        t = time.perf_counter()
        s.recompute()
        rec.append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        s.run_replay()
        rep.append((time.perf_counter() - t) * 1000)
    for timed in (False, True):  # the same views twice: the second time each is a view seen before
        for i in range(repeat):
            f = _set_tenant(s, combos, i)
            t = time.perf_counter()
            s.feature = f
            if timed:
                warm.append((time.perf_counter() - t) * 1000)
    return {"filter_change_cold_ms": cold, "filter_change_warm_ms": warm, "recompute_ms": rec, "replay_ms": rep}


def kernel_report(k: dict) -> None:
    med = statistics.median
    print(f"\nkernel side (this process), median of the recomputes; target {TARGET_ROUND_TRIP_MS:.0f} ms "
          f"(price sheets loaded once: {k['load_prices_s']:.2f} s)")
    print(f"{'app':<20} {'build (s)':>10} {'recompute (ms)':>15} {'ratio':>6}   what changes")
    what = {"token_counter": "the text", "cost_preview": "requests/day", "local_vs_hosted": "hardware $/hour",
            "spend_explorer": "feature filter (cold, incl. replay and charts)",
            "cascade_simulator": "threshold slider", "cache_replay": "TTL (replays the cache)"}
    for name in KERNEL_APPS:
        if name not in k:
            continue
        e = k[name]
        m = med(e.get("filter_change_cold_ms", e["recompute_ms"]))
        print(f"{name:<20} {e['build_s']:>10.2f} {m:>15.1f} {m / TARGET_ROUND_TRIP_MS:>6.2f}   {what[name]}")
    if "spend_explorer_100k" not in k:
        return
    for label, b in (("sample week", k["spend_explorer"]), (f"{k['spend_explorer_100k']['rows']:,}-row log",
                                                             k["spend_explorer_100k"])):
        cold, warm = med(b["filter_change_cold_ms"]), med(b["filter_change_warm_ms"])
        line = (f"spend explorer, {label}: filter change {cold:.0f} ms first time (recompute {med(b['recompute_ms']):.0f}"
                f" + replay {med(b['replay_ms']):.0f}, the rest views/charts), {warm:.0f} ms for a view seen before; "
                f"ratio to target {cold / TARGET_ROUND_TRIP_MS:.2f}")
        if "pandas_peer_ms" in b:
            peer = med(b["pandas_peer_ms"])
            line += (f"; load + first compute {b['load_s']:.2f} s; plain-pandas peer of the tables {peer:.0f} ms "
                     f"(our recompute / peer {med(b['recompute_ms']) / peer:.2f})")
        print(line)


def _stats(values: list[float]) -> dict:
    s = sorted(values)
    return {"n": len(s), "min": s[0], "median": statistics.median(s),
            "p90": s[min(len(s) - 1, int(round(0.9 * (len(s) - 1))))], "max": s[-1]}


def _kernel_procs(server: VoilaServer) -> list:
    import psutil

    out = []
    for p in psutil.Process(server.proc.pid).children(recursive=True):
        try:
            if "ipykernel" in " ".join(p.cmdline()):
                out.append(p)
        except psutil.NoSuchProcess:
            pass
    return out


def settle(server: VoilaServer, kernels: int, timeout_s: float = 180.0) -> float:
    """Wait until ``kernels`` kernels run and they and the server were idle (< 10 % of a core
    together) for :data:`QUIET_S`: the pool is refilled. Returns the seconds waited."""
    import psutil

    t0 = time.perf_counter()
    quiet_since = None
    last = None
    while time.perf_counter() - t0 < timeout_s:
        procs = [psutil.Process(server.proc.pid), *_kernel_procs(server)]
        try:
            cpu = sum(sum(p.cpu_times()[:2]) for p in procs)
        except psutil.NoSuchProcess:
            cpu = None
        now = time.perf_counter()
        pids = tuple(sorted(p.pid for p in procs))
        if cpu is not None and last is not None and last[0] == pids and len(pids) - 1 == kernels \
                and (cpu - last[1]) < 0.1 * (now - last[2]):
            quiet_since = quiet_since or last[2]
            if now - quiet_since >= QUIET_S:
                return now - t0
        else:
            quiet_since = None
        last = (pids, cpu, now)
        time.sleep(0.5)
    raise RuntimeError(f"the server did not settle with {kernels} idle kernels within {timeout_s:.0f} s")


def _load(context, server: VoilaServer, app: str) -> float:
    """Seconds from ``goto`` to the app's main widget; the tab is then closed with its beacon."""
    page = context.new_page()
    start = time.perf_counter()
    page.goto(server.app_url(app), wait_until="commit")
    wait_rendered(page, READY.get(app, ".jupyter-widgets"), timeout_ms=120_000)
    took = time.perf_counter() - start
    page.close(run_before_unload=True)  # Voila's tab-close beacon: the server stops the kernel
    return took


def measure(apps: list[str], repeat: int, round_trips: int) -> dict:
    from playwright.sync_api import sync_playwright

    from workbench.cli.app import FILL_DELAY_S, POOL_SIZE

    results: dict = {"apps": {}, "targets": {"render_s": TARGET_RENDER_S, "round_trip_ms": TARGET_ROUND_TRIP_MS},
                     "pool_size": POOL_SIZE, "fill_delay_s": FILL_DELAY_S}
    pooled = POOL_SIZE * len(app_names())  # kernels kept ready when no page is open
    server = VoilaServer(log_path=Path(tempfile.mkdtemp()) / "voila.log", preheat=True)
    t0 = time.perf_counter()
    server.start(timeout=120)
    results["server_ready_s"] = time.perf_counter() - t0
    try:
        with sync_playwright() as p:
            context = launch_chromium(p, Path(tempfile.mkdtemp(prefix="bench-chromium-")))
            try:
                results["first_after_start"] = {"app": apps[0], "render_s": _load(context, server, apps[0])}
                results["pool_filled_s"] = time.perf_counter() - t0 - results["server_ready_s"] \
                    + settle(server, pooled)
                for app in apps:
                    selector = READY.get(app, ".jupyter-widgets")
                    warm, refill = [], []
                    for _ in range(repeat):
                        refill.append(settle(server, pooled))
                        warm.append(_load(context, server, app))
                    drained = []
                    for _ in range(repeat):
                        drained.append(_load(context, server, app))
                        time.sleep(0.5)
                    entry = {"render_s": warm, "warm_pool_s": warm, "back_to_back_s": drained,
                             "refill_wait_s": refill[1:]}
                    probe = ROUND_TRIPS.get(app)
                    if probe and round_trips:
                        settle(server, pooled)
                        page = context.new_page()
                        page.goto(server.app_url(app), wait_until="commit")
                        wait_rendered(page, selector, timeout_ms=120_000)
                        try:
                            probe(page, -1)  # warm-up
                            trips = []
                            for i in range(round_trips):
                                time.sleep(0.4)
                                trips.append(probe(page, i))
                            entry["round_trip_ms"] = trips
                        except Exception as e:  # an app without the probe's controls (an older tree)
                            entry["round_trip_error"] = str(e).splitlines()[0][:200]
                        page.close(run_before_unload=True)
                    results["apps"][app] = entry
            finally:
                context.close()
    finally:
        server.stop()
    return results


def report(results: dict) -> None:
    print(f"machine: {platform.machine()}, {platform.system()}, python {platform.python_version()}")
    print(f"server ready after {results['server_ready_s']:.2f} s (workbench app -> HTTP 200); "
          f"{results.get('pool_size', 0)} pre-heated kernel(s) per app, all ready "
          f"{results.get('pool_filled_s', float('nan')):.1f} s after that")
    first = results.get("first_after_start")
    if first:
        print(f"first page right after start ({first['app']}, kernels still warming): {first['render_s']:.2f} s, "
              f"ratio {first['render_s'] / TARGET_RENDER_S:.2f}\n")
    print(f"{'app':<18} {'measure':<28} {'min':>8} {'median':>8} {'max':>8} {'target':>8} {'ratio':>6}")
    for app, e in results["apps"].items():
        for key, label in (("warm_pool_s", "first render, pool ready (s)"), ("back_to_back_s", "first render, back to back")):
            if key not in e:
                continue
            r = _stats(e[key])
            print(f"{app if key == 'warm_pool_s' else '':<18} {label:<28} {r['min']:>8.2f} {r['median']:>8.2f} "
                  f"{r['max']:>8.2f} {TARGET_RENDER_S:>8.2f} {r['max'] / TARGET_RENDER_S:>6.2f}")
        if "round_trip_ms" in e:
            t = _stats(e["round_trip_ms"])
            print(f"{'':<18} {'round trip (ms), n=' + str(t['n']):<28} {t['min']:>8.1f} "
                  f"{t['median']:>8.1f} {t['max']:>8.1f} {TARGET_ROUND_TRIP_MS:>8.0f} "
                  f"{t['median'] / TARGET_ROUND_TRIP_MS:>6.2f}")
        else:
            print(f"{'':<18} {'round trip':<28} {e.get('round_trip_error', '(no probe for this app)'):>34}")
    print("\nratio = worst render / 5 s, and median round trip / 200 ms (<= 1 meets the target); "
          "pool ready: the page found its app's kernel pre-heated (the usual case); back to back: "
          "loads 0.5 s apart, so after the first Voila starts a kernel for the page")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=3, help="page loads per app")
    ap.add_argument("--round-trips", type=int, default=10, help="control changes per app with a probe")
    ap.add_argument("--apps", help="comma-separated app names (default: all in notebooks/apps; --kernel: all but the index)")
    ap.add_argument("--kernel", action="store_true", help="also time each app's build and recompute in-process")
    ap.add_argument("--kernel-only", action="store_true", help="only the in-process timings (no browser)")
    ap.add_argument("--rows", type=int, default=100_000, help="rows of the large spend-explorer log")
    ap.add_argument("--out", help="JSON results file (default benchmarks/results/bench_apps.json)")
    args = ap.parse_args(argv)
    if args.kernel or args.kernel_only:
        kernel = kernel_measure(args.rows, max(3, args.round_trips), args.apps.split(",") if args.apps else None)
        kernel_report(kernel)
        if args.kernel_only:
            out = Path(args.out) if args.out else ROOT / "benchmarks" / "results" / "bench_apps_kernel.json"
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(json.dumps(kernel, indent=2))
            return 0
    missing = chromium_missing_message()
    if missing:
        print(f"error: {missing}", file=sys.stderr)
        return 2
    apps = args.apps.split(",") if args.apps else app_names()
    results = measure(apps, args.repeat, args.round_trips)
    if args.kernel:
        results["kernel"] = kernel
    report(results)
    out = Path(args.out) if args.out else ROOT / "benchmarks" / "results" / "bench_apps.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
