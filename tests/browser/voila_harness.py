"""Plain helpers behind the browser fixtures (and benchmarks/bench_apps.py): no pytest in here.

- :class:`VoilaServer` runs ``workbench app`` in a subprocess on a free 127.0.0.1 port and stops it
  by PID.
- :func:`launch_chromium` starts Debian's ``/usr/bin/chromium`` through Playwright (never a
  downloaded browser) with a throw-away profile and background networking switched off.
- :class:`NetworkRecorder` records every request and websocket a page opens, plus any
  Content-Security-Policy violation, so a test can prove the page stayed on this machine.
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[2]
APPS_DIR = ROOT / "notebooks" / "apps"
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = os.environ.get("WORKBENCH_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]"}
#: Wait for this before a page counts as rendered: any widget view, Voila's spinner gone.
WIDGETS_SELECTOR = ".jupyter-widgets"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class VoilaServer:
    """``workbench app [name] --no-browser --port P`` in a subprocess; ``url`` is its base URL."""

    def __init__(self, name: str | None = None, *, port: int | None = None,
                 env: dict[str, str] | None = None, log_path: Path | None = None, args: tuple[str, ...] = (),
                 preheat: bool = False):
        self.name = name
        # extra `workbench app` options. Pre-heated kernels (the app's default) only where a test is
        # about them: elsewhere each page load would start a replacement kernel beside the test on
        # two cores, and pages behave the same either way (test_preheat_browser covers the pool).
        self.args = tuple(args) if preheat else ("--pool-size", "0", *args)
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, **(env or {})}
        self.log_path = log_path or ARTIFACTS / f"voila-{name or 'all'}-{self.port}.log"
        self.proc: subprocess.Popen | None = None
        self.started_at = 0.0

    def start(self, timeout: float = 60.0) -> "VoilaServer":
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "wb")
        cmd = [sys.executable, "-m", "workbench.cli", "app", *([self.name] if self.name else []),
               "--port", str(self.port), "--no-browser", *self.args]
        self.started_at = time.perf_counter()
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env=self.env, stdout=self._log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout: float) -> float:
        """Seconds until the server answers HTTP; raises RuntimeError with the log tail otherwise."""
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"`workbench app` exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(f"{self.url}/voila/static/voila.js", timeout=2) as r:
                    if r.status == 200:
                        return time.perf_counter() - self.started_at
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.1)
        raise RuntimeError(f"Voila did not answer on {self.url} within {timeout:.0f} s:\n{self.log_tail()}")

    def app_url(self, app: str, query: str = "") -> str:
        """URL of one app (folder mode) or of the single app served (``name`` mode)."""
        q = f"?{query.lstrip('?')}" if query else ""
        if self.name:
            return f"{self.url}/{q}"
        stem = app[:-6] if app.endswith(".ipynb") else app
        return f"{self.url}/voila/render/{stem}.ipynb{q}"

    def log_tail(self, n: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return "(no log)"

    def stop(self) -> None:
        """Stop the server we started (by PID; its process group holds the kernels)."""
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=5)
        finally:
            self._log.close()


def chromium_missing_message() -> str | None:
    if Path(CHROMIUM).is_file() and os.access(CHROMIUM, os.X_OK):
        return None
    return (f"Chromium not found at {CHROMIUM}: the browser tests need Debian's chromium "
            "(`sudo apt-get install chromium`, done by `./run.sh setup`). Never `playwright install`.")


def launch_chromium(playwright, profile_dir: Path):
    """A persistent headless Chromium context using the system browser."""
    return playwright.chromium.launch_persistent_context(
        str(profile_dir), executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS,
        viewport={"width": 1280, "height": 900}, device_scale_factor=1,
    )


_CSP_SCRIPT = """
window.__wbCsp = [];
document.addEventListener('securitypolicyviolation',
  e => window.__wbCsp.push(e.violatedDirective + ' ' + e.blockedURI));
"""


class NetworkRecorder:
    """Every request and websocket of one page, and the page's CSP violations."""

    def __init__(self, page):
        self.page = page
        self.requests: list[str] = []
        self.console_errors: list[str] = []
        page.on("request", lambda r: self.requests.append(r.url))
        page.on("websocket", lambda ws: self.requests.append(ws.url))
        page.on("console", lambda m: self.console_errors.append(m.type + ": " + m.text))
        page.add_init_script(_CSP_SCRIPT)

    def external(self) -> list[str]:
        """Requests that left this machine (anything but 127.0.0.1/localhost, data: and blob:)."""
        out = []
        for url in self.requests:
            parts = urlsplit(url)
            if parts.scheme in ("data", "blob", "about", "chrome-extension"):
                continue
            if parts.hostname not in LOCAL_HOSTS:
                out.append(url)
        return out

    def csp_violations(self) -> list[str]:
        try:
            return list(self.page.evaluate("window.__wbCsp || []"))
        except Exception:  # page closed or navigating
            return []

    def assert_offline(self) -> None:
        ext = self.external()
        assert not ext, f"the page made {len(ext)} request(s) off 127.0.0.1: {ext[:10]}"
        blocked = self.csp_violations()
        assert not blocked, f"the page tried to load from elsewhere (blocked by CSP): {blocked[:10]}"


def wait_rendered(page, selector: str = WIDGETS_SELECTOR, timeout_ms: float = 60_000) -> None:
    """Wait until Voila has executed the notebook and ``selector`` is visible."""
    page.wait_for_selector(selector, state="visible", timeout=timeout_ms)


def upload(page, button_selector: str, files) -> None:
    """Upload through an ipywidgets ``FileUpload``: it has no ``<input type=file>`` in the page
    until clicked, so click it and answer the file chooser. ``files``: path(s), or dicts
    ``{"name", "mimeType", "buffer"}`` as Playwright's ``set_files`` takes them."""
    with page.expect_file_chooser() as chooser:
        page.locator(button_selector).click()
    chooser.value.set_files(files)


def screenshot(page, name: str, full_page: bool = True) -> Path:
    """Save ``test-artifacts/screenshots/<name>.png`` and return its path."""
    path = ARTIFACTS / "screenshots" / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    size = page.viewport_size
    if full_page and size:  # Voila scrolls inside #rendered_cells: grow the viewport to fit it
        height = page.evaluate(_CONTENT_HEIGHT_JS)
        page.set_viewport_size({"width": size["width"], "height": max(size["height"], min(int(height), 6000))})
    try:
        page.screenshot(path=str(path), full_page=full_page)
    finally:
        if size:
            page.set_viewport_size(size)
    return path


_CONTENT_HEIGHT_JS = """() => Math.max(document.body.scrollHeight,
  ...[...document.querySelectorAll('#rendered_cells, .jp-Notebook, body > *')].map(e => e.scrollHeight)) + 24"""


def app_names() -> list[str]:
    """The apps in notebooks/apps (the index first)."""
    names = sorted(p.stem for p in APPS_DIR.glob("*.ipynb"))
    return sorted(names, key=lambda n: n != "index")


def running(server: "VoilaServer", timeout: float = 90):
    """Start ``server`` for a pytest fixture (``yield from running(...)``): fail the test with the
    server's own message if it cannot start, and stop it afterwards."""
    import pytest

    try:
        server.start(timeout=timeout)
    except RuntimeError as e:
        server.stop()
        pytest.fail(str(e), pytrace=False)
    try:
        yield server
    finally:
        server.stop()
