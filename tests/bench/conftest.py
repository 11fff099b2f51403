"""Fixtures for the benchmark tests: a real llama.cpp server, the Ollama bridge, and fault servers.

The llama.cpp server (llama-cpp-python, SmolLM2-135M) is REQUIRED: if it is not installed these
fixtures fail with a clear message (run scripts/install_llama_server.sh) rather than skip, so CI
cannot go green without it. Every server listens on 127.0.0.1 only and is stopped by its PID.
"""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))  # fault_server, ollama_bridge

from fault_server import FaultServer  # noqa: E402

from workbench.bench.local_server import (  # noqa: E402
    LlamaServer,
    ServerUnavailable,
    free_port,
    stop_process,
    wait_http_ok,
)

OLLAMA_MODEL = "smollm2:135m"


@pytest.fixture(scope="session")
def llama_server():
    """A real llama.cpp server with SmolLM2-135M on a free loopback port, for the whole session."""
    try:
        srv = LlamaServer(startup_timeout_s=120, log_path=None)
        srv.start()
    except ServerUnavailable as exc:
        pytest.fail(f"tests/bench need the real llama.cpp server: {exc}", pytrace=False)
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="session")
def ollama_bridge(llama_server):
    """The test-only Ollama wire-protocol bridge in front of the real llama.cpp server."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "ollama_bridge.py"), "--upstream", llama_server.url,
         "--upstream-model", llama_server.alias, "--name", OLLAMA_MODEL, "--model-path",
         str(llama_server.model_path), "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        wait_http_ok(f"http://127.0.0.1:{port}/api/tags", 30, proc)
    except ServerUnavailable as exc:
        stop_process(proc)
        pytest.fail(f"Ollama bridge did not start: {exc}", pytrace=False)
    try:
        yield SimpleNamespace(url=f"http://127.0.0.1:{port}", model=OLLAMA_MODEL, pid=proc.pid)
    finally:
        stop_process(proc)


@pytest.fixture(scope="session")
def fault_server():
    srv = FaultServer().start()
    try:
        yield srv
    finally:
        srv.close()


@pytest.fixture
def closed_port() -> int:
    """A loopback port with nothing listening (bound once to get a free number, then closed)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
