"""Load on ``workbench app``: N browser sessions opened at once, and abandoned kernels reclaimed.

Loopback only: one ``workbench app NAME`` on 127.0.0.1 and Debian's headless Chromium. Bounded: N
pages (default 10), each given ``--deadline`` seconds (default 90) to render.

1. **Alone**: one session renders (the baseline a user sees on an idle server).
2. **N at once**: N pages (separate browser contexts, like separate users) open at the same moment;
   per page the seconds until widgets render. Printed: how many rendered within 30 s, median and
   max, and the ratio of the median to the lone session.
3. **Abandoned**: the browser is killed (no unload beacon, like a crashed laptop); the server's
   kernel processes are counted until only the pre-heated one is left (the culler: ``workbench app`` culls kernels
   with no page connected after ``CULL_IDLE_S``, checking every ``CULL_INTERVAL_S``). Bounded by
   ``--reclaim-timeout`` (default 180 s).

    flock /work/wt/.heavy.lock .venv/bin/python benchmarks/bench_load.py [--sessions 10] [--app token_counter]

Memory per kernel (RSS) is printed too. Timings depend on what else the machine runs: compare
ratios within one run, not absolute seconds across runs.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "browser"))

from voila_harness import CHROMIUM, CHROMIUM_ARGS, VoilaServer, chromium_missing_message  # noqa: E402

from workbench.cli.app import POOL_SIZE  # noqa: E402  the kernels kept pre-heated for the next page


def kernel_pids(server_pid: int) -> dict[int, int]:
    """PID -> RSS bytes of the kernels under the server (``ipykernel_launcher`` descendants)."""
    import psutil

    try:
        procs = psutil.Process(server_pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return {}
    out = {}
    for p in procs:
        try:
            if "ipykernel" in " ".join(p.cmdline()):
                out[p.pid] = p.memory_info().rss
        except psutil.Error:
            pass
    return out


_RENDER_CLOCK = """
(() => {
  const done = () => document.querySelector('.jupyter-widgets') && !document.querySelector('#loading');
  const mark = () => { if (!window.__renderedAt && done()) window.__renderedAt = Date.now(); };
  new MutationObserver(mark).observe(document, {childList: true, subtree: true});
  setInterval(mark, 100);
})();
"""


def render_times(url: str, n: int, deadline_s: float, keep_browser: bool = False):
    """Open ``n`` pages at once (one context each); seconds until each rendered (None: not in time).

    Each page stamps its own render moment (``Date.now()`` when widgets are shown and Voila's spinner
    is gone), so a page is not charged for the time spent waiting on another.
    """
    from playwright.sync_api import sync_playwright

    pw = sync_playwright().start()
    browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
    pages = []
    for _ in range(n):
        ctx = browser.new_context(viewport={"width": 1280, "height": 900})
        ctx.add_init_script(_RENDER_CLOCK)
        pages.append(ctx.new_page())
    t0_ms = time.time() * 1000
    for p in pages:  # start every navigation before waiting for any
        p.evaluate(f"window.location.href = {json.dumps(url)}")
    deadline = time.perf_counter() + deadline_s
    times: list[float | None] = []
    for p in pages:
        try:
            p.wait_for_function("() => window.__renderedAt", timeout=max(deadline - time.perf_counter(), 0.1) * 1000)
            times.append((p.evaluate("window.__renderedAt") - t0_ms) / 1000)
        except Exception:  # noqa: BLE001 - not rendered in time
            times.append(None)
    if keep_browser:
        return times, (pw, browser)
    browser.close()
    pw.stop()
    return times, None


def cpu_seconds(server_pid: int) -> dict[str, float]:
    """CPU seconds so far of the Voila server process, its kernels, and our Chromium (where the
    time of N sessions goes; kernels that exited are not counted)."""
    import psutil

    def cpu(p) -> float:
        t = p.cpu_times()
        return t.user + t.system

    out = {"server": 0.0, "kernels": 0.0, "chromium": 0.0}
    try:
        server = psutil.Process(server_pid)
        out["server"] = cpu(server)
        for k in server.children(recursive=True):
            try:
                out["kernels"] += cpu(k)
            except psutil.Error:
                pass
    except psutil.Error:
        pass
    for p in psutil.Process().children(recursive=True):
        try:
            if "chrom" in p.name():
                out["chromium"] += cpu(p)
        except psutil.Error:
            pass
    return out


def _kill_browser(browser) -> None:
    """SIGKILL the Chromium we launched (its PID, from the driver's process tree)."""
    import psutil

    driver = psutil.Process()
    for p in driver.children(recursive=True):
        try:
            if p.exe() == CHROMIUM or "chrom" in p.name():
                if p.parent() and "chrom" not in p.parent().name():  # the browser, not its children
                    p.send_signal(signal.SIGKILL)
        except psutil.Error:
            pass


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sessions", type=int, default=10)
    ap.add_argument("--app", default="token_counter")
    ap.add_argument("--deadline", type=float, default=90.0)
    ap.add_argument("--reclaim-timeout", type=float, default=180.0)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    missing = chromium_missing_message()
    if missing:
        print(missing, file=sys.stderr)
        return 2
    server = VoilaServer(args.app, preheat=True)
    server.start(timeout=120)
    out: dict = {"app": args.app, "sessions": args.sessions, "cpus": os.cpu_count()}
    try:
        url = server.app_url(args.app)
        alone, _ = render_times(url, 1, args.deadline)
        out["alone_s"] = alone[0]
        time.sleep(2)
        cpu0 = cpu_seconds(server.proc.pid)
        times, held = render_times(url, args.sessions, args.deadline, keep_browser=True)
        cpu1 = cpu_seconds(server.proc.pid)
        out["cpu_s"] = {k: round(cpu1.get(k, 0) - cpu0.get(k, 0), 1) for k in cpu1}
        ok = [t for t in times if t is not None]
        out["rendered"] = len(ok)
        out["within_30s"] = sum(1 for t in ok if t <= 30)
        out["median_s"] = statistics.median(ok) if ok else None
        out["max_s"] = max(ok) if ok else None
        kernels = kernel_pids(server.proc.pid)
        out["kernels_running"] = len(kernels)
        out["rss_mb_per_kernel"] = round(statistics.median(kernels.values()) / 2**20) if kernels else None
        # Abandon every page: kill the browser outright (no unload beacon, websockets just drop).
        pw, browser = held
        t_kill = time.perf_counter()
        _kill_browser(browser)
        try:
            pw.stop()
        except Exception:  # noqa: BLE001 - the browser is gone already
            pass
        reclaimed = None
        while time.perf_counter() - t_kill < args.reclaim_timeout:
            if len(kernel_pids(server.proc.pid)) <= POOL_SIZE:  # only the pre-heated one(s) left
                reclaimed = time.perf_counter() - t_kill
                break
            time.sleep(2)
        out["reclaimed_s"] = reclaimed
    finally:
        server.stop()
    if out.get("alone_s") and out.get("median_s"):
        out["median_over_alone"] = out["median_s"] / out["alone_s"]
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        print(f"app {out['app']}, {out['sessions']} sessions at once on {out['cpus']} CPUs")
        print(f"  alone: {out['alone_s'] and round(out['alone_s'], 1)} s")
        print(f"  at once: {out['rendered']}/{out['sessions']} rendered, {out['within_30s']} within 30 s; "
              f"median {out['median_s'] and round(out['median_s'], 1)} s, max {out['max_s'] and round(out['max_s'], 1)} s"
              + (f"  ({out['median_over_alone']:.1f}x the lone session)" if out.get("median_over_alone") else ""))
        print(f"  kernels: {out['kernels_running']} running, ~{out['rss_mb_per_kernel']} MB RSS each")
        c = out.get("cpu_s", {})
        print(f"  CPU seconds while the {out['sessions']} rendered: server {c.get('server')}, kernels "
              f"{c.get('kernels')}, Chromium {c.get('chromium')} (machine: {out['cpus']} CPUs)")
        print(f"  abandoned kernels reclaimed after: "
              f"{'not within %.0f s' % args.reclaim_timeout if out['reclaimed_s'] is None else '%.0f s' % out['reclaimed_s']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
