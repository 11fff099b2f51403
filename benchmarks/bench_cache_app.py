"""Benchmark the cache replay app's controls while the prefix what-if is being computed.

Run: ``python benchmarks/bench_cache_app.py [--delays 0.2,0.5,1,2,3] [--repeat 2] [--browser]``

In a kernel the app draws its first screen, then (once the page reports it has drawn the app)
computes the provider prefix what-if; it appears by itself some seconds later. A control changed in
that window must answer as fast as one changed later.

1. Kernel side (default): the app is built on the sample week in this process as in a kernel (an
   asyncio loop stands for the kernel's), with the tokenizer unloaded as in a fresh kernel; the page's
   "drawn" signal is sent, and ``d`` seconds later (``--delays``) a TTL change arrives as a callback
   on the loop, as a widget message would. Reported: from the moment it arrives to the moment the
   state has replayed (waiting for the loop included), beside the same change once the what-if is
   done ("idle"), and the time until the what-if appears.
2. ``--browser``: the same in Voila and headless Chromium: ``d`` seconds after the app is visible the
   TTL box is changed and the time until the hit count shows the new figure is measured in the page;
   also the first screen (page opened -> app visible).

Target: a change in the window answers within 200 ms (ratio = window / target).
"""
from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET_MS = 200.0
TTLS = [600.0, 1800.0, 7200.0, 86400.0]


def _unload_tokenizer() -> None:
    """As in a fresh kernel: the o200k tokenizer not yet loaded."""
    import tiktoken.registry

    from workbench.core.tokens import get_encoding

    get_encoding.cache_clear()
    tiktoken.registry.ENCODINGS.clear()


async def _one(delay: float, book) -> dict:
    from workbench.widgets import cache_replay

    loop = asyncio.get_running_loop()
    cache_replay._kernel_loop = lambda: loop
    _unload_tokenizer()
    app = cache_replay.make_cache_replay(book=book, query="")
    s = app.state
    signal = app.children[-1]
    t_paint = time.perf_counter()
    signal.painted = True                         # what the page sends once it shows the app
    done = loop.create_future()

    def change(ttl: float, due: float) -> None:   # a widget message handled on the kernel's loop
        app.ttl.value = ttl
        done.set_result(((time.perf_counter() - due) * 1e3, bool(s.prefix)))

    due = t_paint + delay
    loop.call_at(loop.time() + delay, change, TTLS[0], due)
    window_ms, prefix_ready = await done
    while not s.prefix:
        await asyncio.sleep(0.01)
    appeared_s = time.perf_counter() - t_paint
    idle = []
    for ttl in TTLS[1:]:                          # the same change, nothing else running
        t = time.perf_counter()
        app.ttl.value = ttl
        idle.append((time.perf_counter() - t) * 1e3)
    return {"delay_s": delay, "window_ms": window_ms, "prefix_ready_at_change": prefix_ready,
            "idle_ms": statistics.median(idle), "what_if_s": appeared_s}


def kernel_side(delays: list[float], repeat: int) -> list[dict]:
    from workbench.io.pricesheets import load_prices

    book = load_prices()
    out = []
    for _ in range(repeat):
        for d in delays:
            out.append(asyncio.run(_one(d, book)))
    return out


_CHANGE_JS = """
async ([value]) => {
  const box = document.querySelector('.wb-in-ttl input'), hits = () => document.querySelector("[data-testid='hits']");
  const before = hits().textContent, t0 = performance.now();
  box.value = String(value);
  box.dispatchEvent(new Event('change', {bubbles: true}));
  return await new Promise((resolve, reject) => {
    const done = () => { if (hits() && hits().textContent !== before) { obs.disconnect();
      resolve([performance.now() - t0, !document.querySelector("[data-testid='prefix-pending']")]); } };
    const obs = new MutationObserver(done);
    obs.observe(document.body, {subtree: true, childList: true, characterData: true});
    setTimeout(() => { obs.disconnect(); reject(new Error('no new hit count')); }, 30000);
  });
}"""


def browser_side(delays: list[float], repeat: int) -> list[dict]:
    from playwright.sync_api import sync_playwright

    sys.path.insert(0, str(ROOT / "tests" / "browser"))
    from voila_harness import VoilaServer, launch_chromium, wait_rendered

    server = VoilaServer("cache_replay", log_path=Path(tempfile.mkdtemp()) / "voila.log").start(timeout=120)
    out = []
    try:
        with sync_playwright() as p:
            context = launch_chromium(p, Path(tempfile.mkdtemp(prefix="bench-chromium-")))
            try:
                for _ in range(repeat):
                    for d in delays:
                        page = context.new_page()
                        t_open = time.perf_counter()
                        page.goto(server.app_url("cache_replay"), wait_until="commit")
                        wait_rendered(page, ".wb-cache-replay", timeout_ms=120_000)
                        t_shown = time.perf_counter()
                        page.wait_for_timeout(d * 1000)
                        window, ready = page.evaluate(_CHANGE_JS, [TTLS[0]])
                        page.wait_for_selector("[data-testid='prefix-logged']", state="attached", timeout=120_000)
                        appeared = time.perf_counter() - t_shown
                        idle = [page.evaluate(_CHANGE_JS, [ttl])[0] for ttl in TTLS[1:]]
                        out.append({"delay_s": d, "window_ms": window, "prefix_ready_at_change": ready,
                                    "idle_ms": statistics.median(idle), "what_if_s": appeared,
                                    "render_s": t_shown - t_open})
                        page.close()
                        time.sleep(0.5)
            finally:
                context.close()
    finally:
        server.stop()
    return out


def report(rows: list[dict], where: str) -> None:
    print(f"\n{where}: TTL change d seconds after the page was drawn (target {TARGET_MS:.0f} ms)")
    print(f"{'d (s)':>6} {'window ms':>10} {'ratio':>6} {'idle ms':>8} {'window/idle':>11} {'what-if ready':>13} "
          f"{'what-if appears (s)':>19}")
    for r in rows:
        print(f"{r['delay_s']:>6.1f} {r['window_ms']:>10.0f} {r['window_ms'] / TARGET_MS:>6.2f} {r['idle_ms']:>8.0f} "
              f"{r['window_ms'] / r['idle_ms']:>11.2f} {'yes' if r['prefix_ready_at_change'] else 'no':>13} "
              f"{r['what_if_s']:>19.2f}")
    if "render_s" in rows[0]:
        print(f"first screen (page opened -> app visible): median {statistics.median(r['render_s'] for r in rows):.2f} s")
    inside = [r["window_ms"] for r in rows if not r["prefix_ready_at_change"]]
    if inside:
        print(f"changes inside the window: median {statistics.median(inside):.0f} ms, max {max(inside):.0f} ms "
              f"(max / target {max(inside) / TARGET_MS:.2f})")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--delays", default="0.2,0.5,1,2,3", help="seconds after the page is drawn, comma separated")
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--browser", action="store_true", help="in Voila and headless Chromium")
    a = ap.parse_args(argv)
    delays = [float(x) for x in a.delays.split(",") if x]
    if a.browser:
        report(browser_side(delays, a.repeat), "Voila + Chromium")
    else:
        report(kernel_side(delays, a.repeat), "kernel side (this process, an asyncio loop as the kernel's)")


if __name__ == "__main__":
    main()
