"""``workbench app [NAME]``: serve the Voila apps on 127.0.0.1, offline, with no token.

With no NAME, every notebook in ``notebooks/apps`` is served and ``/`` redirects to the index
app (``index.ipynb``), which lists the others; with NAME, that app alone is served at ``/``.
Voila serves its JavaScript from the installed package; the ``workbench`` template (in
``voila_data/``) removes the lab template's CDN links and adds a same-origin Content-Security-Policy,
so the page fetches nothing from the internet.
"""
from __future__ import annotations

import argparse
import errno
import os
import socket
import sys
from pathlib import Path

from workbench.bench.keys import DEFAULT_KEY_HOSTS, KEYS_ENV, encode_key_hosts, parse_key_spec
from workbench.cli import CliError
from workbench.cli.host_guard import normalise_host, refusal

DEFAULT_PORT = 8866
#: Abandoned kernels (no page connected) are culled after this many idle seconds...
CULL_IDLE_S = 60
#: ...checked this often.
CULL_INTERVAL_S = 15
HOST = "127.0.0.1"
#: The workbench's Voila template ("lab" without CDN links, with a same-origin-only CSP).
TEMPLATE = "workbench"
#: A Jupyter data folder holding ``voila/templates/workbench``; put first on ``JUPYTER_PATH``.
JUPYTER_DATA = Path(__file__).resolve().parent / "voila_data"
#: Pre-heated kernels kept per app notebook: started, the notebook run up to the page's request
#: (``workbench.serve_app``), so a page opens without a kernel start, imports or data loading.
POOL_SIZE = 1
#: After a page takes an app's pooled kernel, wait this long before starting its replacement, so
#: the page's own build and first paint have the CPU first.
FILL_DELAY_S = 3


def add_parser(sub) -> None:
    p = sub.add_parser(
        "app", help="serve the interactive apps (Voila) on 127.0.0.1",
        description="Serve the Voila apps in notebooks/apps on http://127.0.0.1:PORT, offline and "
                    "without a token. With no NAME, all apps with an index page.")
    p.add_argument("name", nargs="?", metavar="NAME",
                   help="one app to serve, e.g. token_counter, or a notebook path such as "
                        "notebooks/teaching/estimates.ipynb (default: all apps, with an index)")
    p.add_argument("--port", type=_port, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT})")
    p.add_argument("--no-browser", action="store_true", help="do not open a web browser")
    p.add_argument("--cull-idle", type=_seconds, default=CULL_IDLE_S, metavar="SECONDS",
                   help=f"stop a page's kernel once idle this long with no page connected (a tab that "
                        f"vanished without closing; default {CULL_IDLE_S}). The kernels kept ready for "
                        f"the next page are never stopped")
    p.add_argument("--pool-size", type=_pool_size, default=POOL_SIZE, metavar="N",
                   help=f"pre-heated kernels kept ready per app (default {POOL_SIZE}; each holds "
                        f"50-450 MB; 0: none, every page starts its own kernel and waits for it)")
    p.add_argument("--allow-host", action="append", default=[], metavar="NAME", type=_host_arg,
                   help="also answer requests addressed to this host name (e.g. an SSH tunnel's or a "
                        "reverse proxy's); by default only loopback names (127.0.0.1, localhost, ::1)")
    p.add_argument("--key-env", action="append", default=[], metavar="NAME[=HOST]", type=_key_arg,
                   help="an environment variable the apps may send as an API key, and the host it is "
                        "for (repeatable; default: " + ", ".join(f"{k}={v}" for k, v in
                                                               DEFAULT_KEY_HOSTS.items())
                        + "). Sending a key to any other host needs a confirmation in the page")
    p.set_defaults(func=run)


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 < port < 65536:
        raise argparse.ArgumentTypeError(f"port must be 1-65535, got {port}")
    return port


def _seconds(text: str) -> int:
    try:
        seconds = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number of seconds: {text!r}") from None
    if seconds < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1 second, got {seconds}")
    return seconds


def _pool_size(text: str) -> int:
    try:
        size = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if not 0 <= size <= 8:
        raise argparse.ArgumentTypeError(f"must be 0-8, got {size}")
    return size


def _host_arg(text: str) -> str:
    try:
        return normalise_host(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _key_arg(text: str) -> tuple[str, str | None]:
    try:
        return parse_key_spec(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def app_names(apps_dir: Path | None = None) -> list[str]:
    from workbench.widgets.app_index import discover_apps

    return [a.name for a in discover_apps(apps_dir)]


def resolve_app(name: str, apps_dir: Path) -> Path:
    """The notebook of app ``name`` (``token_counter`` or ``token_counter.ipynb``), or a notebook
    path outside the apps (``notebooks/teaching/estimates.ipynb``: served read-only the same way)."""
    path = Path(name)
    if path.suffix == ".ipynb" and len(path.parts) > 1:
        if not path.is_file():
            raise CliError(f"notebook not found: {name}")
        return path.resolve()
    stem = name[:-6] if name.endswith(".ipynb") else name
    names = app_names(apps_dir)
    if stem not in names:
        raise CliError(f"unknown app {name!r}; valid apps: {', '.join(names) or '(none)'}")
    return apps_dir / f"{stem}.ipynb"


def voila_argv(target: Path, apps_dir: Path, port: int, open_browser: bool,
               cull_idle_s: int = CULL_IDLE_S, pool_size: int = POOL_SIZE) -> list[str]:
    """Voila's command line: localhost only, no token, light theme, no tracebacks to the page,
    one pre-heated kernel per app."""
    return [
        str(target),
        f"--Voila.root_dir={apps_dir}",
        f"--Voila.ip={HOST}",
        f"--Voila.port={port}",
        "--Voila.port_retries=0",
        "--Voila.token=",
        f"--Voila.open_browser={open_browser}",
        "--VoilaConfiguration.theme=light",
        "--VoilaConfiguration.show_tracebacks=False",
        f"--VoilaConfiguration.template={TEMPLATE}",
        "--Voila.log_level=WARN",
        # Kernels of tabs that vanished without their close beacon (crash, kill): culled once idle
        # for CULL_IDLE_S with no page connected, checked every CULL_INTERVAL_S (reclaimed within
        # ~75 s; benchmarks/bench_load.py measures it). A connected page's kernel is never culled.
        f"--MappingKernelManager.cull_idle_timeout={cull_idle_s}",
        f"--MappingKernelManager.cull_interval={max(1, min(CULL_INTERVAL_S, cull_idle_s // 4))}",
        "--MappingKernelManager.cull_connected=False",
        # One kernel per app kept started and run up to the page's request (notebooks call
        # workbench.serve_app, which reads the page's URL query once Voila hands the kernel over);
        # refilled FILL_DELAY_S after a page takes it. Pooled kernels are never culled (Voila).
        f"--VoilaConfiguration.preheat_kernel={pool_size > 0}",
        f"--VoilaConfiguration.default_pool_size={pool_size}",
        f"--VoilaKernelManager.fill_delay={FILL_DELAY_S}",
        # Under load (ten pages at once on two cores) a busy kernel's output can arrive after nbclient's
        # default 4 s: the output (the app's widgets) was dropped and the page never rendered.
        "--VoilaExecutor.iopub_timeout=60",
    ]


def _check_port_free(port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((HOST, port))
        except OSError as e:
            if e.errno == errno.EADDRINUSE:
                raise CliError(f"port {port} on {HOST} is already in use; pass --port") from None
            raise


def run(args: argparse.Namespace) -> int:
    from workbench.widgets.app_index import APPS_DIR, INDEX

    apps_dir = APPS_DIR
    if not apps_dir.is_dir():
        raise CliError(f"apps folder not found: {apps_dir}")
    target = resolve_app(args.name, apps_dir) if args.name else apps_dir
    _check_port_free(args.port)
    index = None if args.name or not (apps_dir / f"{INDEX}.ipynb").is_file() else f"{INDEX}.ipynb"
    url = f"http://{HOST}:{args.port}/"
    n = len(app_names(apps_dir))
    what = f"app {args.name!r}" if args.name else f"{n} app{'s' if n != 1 else ''} and an index"
    os.environ["JUPYTER_PATH"] = os.pathsep.join(
        p for p in (str(JUPYTER_DATA), os.environ.get("JUPYTER_PATH", "")) if p)
    # The kernels inherit this: the only variables the pages may send as API keys, and where to.
    os.environ[KEYS_ENV] = encode_key_hosts(dict(args.key_env) if args.key_env else DEFAULT_KEY_HOSTS)
    print(f"workbench: serving {what} at {url}  (Ctrl-C to stop)", file=sys.stderr, flush=True)
    app_class = _voila_class(index, frozenset(args.allow_host))
    app_class.launch_instance(voila_argv(target, target.parent if args.name else apps_dir, args.port,
                                         not args.no_browser, args.cull_idle, args.pool_size))
    return 0


def _voila_class(index: str | None, allowed_hosts: frozenset[str] = frozenset()):
    """Voila, with ``/`` redirecting to the index app, tab-close kernel shutdown that works, and
    every request refused (403) unless its Host and Origin are this server's (:mod:`host_guard`)."""
    import logging
    from types import MethodType
    from urllib.parse import urlsplit

    from tornado.web import ErrorHandler, HTTPError, RedirectHandler, RequestHandler
    from voila.app import Voila
    from voila.shutdown_kernel_handler import VoilaShutdownKernelHandler

    from workbench.widgets.chart_bundle import BUNDLE_ENV, BUNDLE_NAME, cache_dir

    class ChartBundleHandler(RequestHandler):
        """The offline chart bundle, once per page for all its charts (see chart_bundle)."""

        def get(self, name: str) -> None:
            path = cache_dir() / name
            if not BUNDLE_NAME.fullmatch(name) or not path.is_file():
                raise HTTPError(404)
            self.set_header("Content-Type", "text/javascript; charset=utf-8")
            self.set_header("Cache-Control", "public, max-age=31536000, immutable")  # the name is the version
            self.finish(path.read_bytes())

    class SameOriginShutdownHandler(VoilaShutdownKernelHandler):
        """Voila's tab-close beacon carries no ``_xsrf`` token (voila#1458), so every closed tab
        would leave its kernel running. Accept the beacon when it comes from this server's pages."""

        def check_xsrf_cookie(self):
            source = self.request.headers.get("Origin") or self.request.headers.get("Referer") or ""
            if urlsplit(source).netloc != self.request.host:
                raise HTTPError(403, "kernel shutdown must come from this server's own page")

    log = logging.getLogger("workbench.app")

    def find_handler(app, request, **kwargs):
        why = refusal(request.headers.get("Host"), request.headers.get("Origin"), allowed_hosts)
        if why is not None:
            log.warning("refused %s %s: %s", request.method, request.path[:200], why)
            return app.get_handler_delegate(request, ErrorHandler, {"status_code": 403})
        return type(app).find_handler(app, request, **kwargs)

    class WorkbenchVoila(Voila):
        def init_settings(self):
            # the pooled kernels' environment is copied when the kernel manager is made, here
            root = (self.server_url or self.base_url).rstrip("/")
            os.environ[BUNDLE_ENV] = f"{root}/workbench/static/"
            return super().init_settings()

        def listen(self):
            # Voila builds its tornado Application in start() and then listens: guard it first.
            self.app.find_handler = MethodType(find_handler, self.app)
            return super().listen()

        def init_handlers(self):
            handlers = [
                (h[0], SameOriginShutdownHandler, *h[2:]) if h[1] is VoilaShutdownKernelHandler else h
                for h in super().init_handlers()
            ]
            root = self.server_url.rstrip("/")
            if index and not self.notebook_path:
                handlers.insert(0, (f"{root}/", RedirectHandler,
                                    {"url": f"{root}/voila/render/{index}"}))
            handlers.insert(0, (rf"{root}/workbench/static/([^/]+)", ChartBundleHandler))
            return handlers

    return WorkbenchVoila
