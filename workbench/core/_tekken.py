"""Mistral's Tekken tokenizer, read offline from the ``mistral-common`` wheel's data files.

``mistral-common`` (Apache-2.0, Mistral AI's own library) ships ``mistral_common/data/
tekken_240911.json``: Tekken's byte-level BPE (tiktoken format, base64 token bytes with ranks)
and its pre-tokenisation pattern. Its ``Tekkenizer`` builds a ``tiktoken.Encoding`` from the
first ``vocab_size - num_special_tokens`` entries with the file's pattern and encodes text with
it, so ``len(encode_ordinary(text))`` here equals the number of text tokens mistral-common
returns (tests/test_token_families.py checks that against the real package).

The file is located with ``importlib.util.find_spec`` and read as JSON: ``mistral_common`` is
never imported (it imports ``requests``, which ``workbench.core`` must not), and nothing is
downloaded.
"""
from __future__ import annotations

import base64
import functools
import importlib.util
import json
from pathlib import Path

import tiktoken

#: Tekken vocabulary file used (Tekken v3, the 131k-entry vocabulary of Mistral NeMo's successors).
TEKKEN_FILE = "tekken_240911.json"


class TekkenError(RuntimeError):
    """The Tekken vocabulary cannot be found or read."""


def data_path(filename: str = TEKKEN_FILE) -> Path:
    """Path of a tokenizer file inside the installed ``mistral_common`` package (not imported)."""
    spec = importlib.util.find_spec("mistral_common")
    if spec is None or not spec.submodule_search_locations:
        raise TekkenError(
            "package 'mistral-common' is not installed; it ships Mistral's Tekken tokenizer "
            "(pip install mistral-common)"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / filename
    if not path.is_file():
        raise TekkenError(f"Tekken vocabulary missing: {path}")
    return path


@functools.lru_cache(maxsize=4)
def encoding(filename: str = TEKKEN_FILE) -> tiktoken.Encoding:
    """A ``tiktoken.Encoding`` equal to mistral-common's Tekkenizer for ordinary text."""
    path = data_path(filename)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        config = data["config"]
        inner = int(config["default_vocab_size"]) - int(config["default_num_special_tokens"])
        ranks = {base64.b64decode(tok["token_bytes"]): tok["rank"] for tok in data["vocab"][:inner]}
        pattern = config["pattern"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise TekkenError(f"cannot read Tekken vocabulary {path}: {exc}") from exc
    return tiktoken.Encoding(name=f"tekken:{filename}", pat_str=pattern, mergeable_ranks=ranks,
                             special_tokens={})
