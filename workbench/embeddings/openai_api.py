"""OpenAI embeddings (``/v1/embeddings``) for users with a key, through the real ``openai`` client.

The key is read from the environment variable named by ``api_key_env`` (default
``OPENAI_API_KEY``) and sent only to ``base_url`` (default OpenAI's API); it is never stored.
Any server speaking the same protocol (a local proxy, vLLM, llama.cpp with ``--embedding``) works.
"""
from __future__ import annotations

import os

import numpy as np

from workbench.embeddings.base import Embedder, EmbeddingError, register_embedder

#: Output sizes of OpenAI's embedding models (their docs), used when ``dimensions`` is not given.
KNOWN_DIMS = {"text-embedding-3-small": 1536, "text-embedding-3-large": 3072, "text-embedding-ada-002": 1536}


class OpenAIEmbedder(Embedder):
    name = "openai"
    batch_size = 256

    def __init__(self, model: str = "text-embedding-3-small", *, base_url: str | None = None,
                 api_key_env: str = "OPENAI_API_KEY", dimensions: int | None = None,
                 timeout_s: float = 60.0):
        dim = dimensions or KNOWN_DIMS.get(model)
        if not dim:
            raise EmbeddingError(f"unknown output size for {model!r}: pass dimensions=")
        self.model, self.dim, self.dimensions = model, int(dim), dimensions
        self.base_url, self.api_key_env, self.timeout_s = base_url, api_key_env, timeout_s
        self.model_id = f"openai:{model}:{self.dim}"
        self._client = None

    def _client_or_raise(self):
        if self._client is None:
            key = os.environ.get(self.api_key_env)
            if not key:
                raise EmbeddingError(f"OpenAI embeddings need an API key in ${self.api_key_env}")
            from openai import OpenAI

            self._client = OpenAI(api_key=key, base_url=self.base_url, timeout=self.timeout_s, max_retries=2)
        return self._client

    def _embed_batch(self, texts: list[str]) -> np.ndarray:
        extra = {"dimensions": self.dimensions} if self.dimensions else {}
        try:
            resp = self._client_or_raise().embeddings.create(model=self.model, input=texts, **extra)
        except EmbeddingError:
            raise
        except Exception as e:  # the client's own errors name the status and the server's message
            raise EmbeddingError(f"embeddings request to {self.base_url or 'api.openai.com'} failed: {e}") from e
        data = sorted(resp.data, key=lambda d: d.index)
        if len(data) != len(texts):
            raise EmbeddingError(f"server returned {len(data)} embeddings for {len(texts)} texts")
        return np.asarray([d.embedding for d in data], dtype=np.float32)


@register_embedder("openai")
def _openai(**options) -> OpenAIEmbedder:
    return OpenAIEmbedder(**options)
