"""The embedder interface, its registry, and ``embed_texts`` (batching + the on-disk cache)."""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

import numpy as np


class EmbeddingError(RuntimeError):
    """An embedding backend cannot run (model missing, bad input, server error)."""


class Embedder:
    """A backend that turns texts into unit-length float32 vectors.

    Subclasses set ``name``, ``model_id`` (the vector space: vectors of different ids are never
    compared or cached together) and ``dim``, and implement :meth:`_embed_batch`.
    """

    name = ""
    model_id = ""
    dim = 0
    #: texts per backend call
    batch_size = 32

    def _embed_batch(self, texts: list[str]) -> np.ndarray:  # pragma: no cover - interface
        raise NotImplementedError

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Embed ``texts`` without the cache: an ``(n, dim)`` float32 array of unit rows."""
        texts = _check_texts(texts)
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        # Similar lengths batch together, so padding costs little; results go back in input order.
        order = np.argsort(np.fromiter((len(t) for t in texts), dtype=np.int64, count=len(texts)),
                           kind="stable")
        for start in range(0, len(texts), self.batch_size):
            idx = order[start:start + self.batch_size]
            vecs = np.asarray(self._embed_batch([texts[i] for i in idx]), dtype=np.float32)
            if vecs.shape != (len(idx), self.dim):
                raise EmbeddingError(f"{self.name}: backend returned shape {vecs.shape}, "
                                     f"expected ({len(idx)}, {self.dim})")
            out[idx] = vecs
        return normalize(out)


def normalize(vecs: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vecs, axis=1, keepdims=True)
    return (vecs / np.clip(norms, 1e-12, None)).astype(np.float32, copy=False)


def _check_texts(texts: Sequence[str]) -> list[str]:
    if isinstance(texts, str):
        raise EmbeddingError("embed a list of texts, not one string")
    out = list(texts)
    for i, t in enumerate(out):
        if not isinstance(t, str):
            raise EmbeddingError(f"text {i} is {type(t).__name__}, not str")
    return out


_REGISTRY: dict[str, Callable[..., Embedder]] = {}


def register_embedder(name: str):
    """Register a backend factory under ``name`` (a duplicate name is an error)."""
    def deco(factory):
        if name in _REGISTRY:
            raise ValueError(f"embedder {name!r} is already registered")
        _REGISTRY[name] = factory
        return factory
    return deco


def list_embedders() -> list[str]:
    return sorted(_REGISTRY)


def get_embedder(name: str = "minilm", **options) -> Embedder:
    """A backend by name (``minilm`` offline, ``openai`` with a key); unknown names list the valid ones."""
    factory = _REGISTRY.get(name)
    if factory is None:
        raise EmbeddingError(f"unknown embedder {name!r}; known: {', '.join(list_embedders())}")
    return factory(**options)


def embed_texts(texts: Sequence[str], *, embedder: Embedder | str = "minilm",
                cache_dir: str | Path | None = None, use_cache: bool = True) -> np.ndarray:
    """Embed ``texts`` (an ``(n, dim)`` float32 array of unit rows, in input order).

    Each distinct text is computed once: duplicates in ``texts`` share a vector, and vectors already
    in the on-disk cache (``cache_dir``, default the user cache) are read, not recomputed.
    """
    from workbench.embeddings.store import EmbeddingStore

    emb = get_embedder(embedder) if isinstance(embedder, str) else embedder
    texts = _check_texts(texts)
    uniq, inverse = np.unique(np.asarray(texts, dtype=object), return_inverse=True) if texts else ([], [])
    uniq = list(uniq)
    if not use_cache:
        return emb.embed(uniq)[inverse] if uniq else np.empty((0, emb.dim), np.float32)
    store = EmbeddingStore(emb.model_id, emb.dim, cache_dir)
    try:
        found = store.get_many(uniq)
        missing = [i for i, v in enumerate(found) if v is None]
        if missing:
            fresh = emb.embed([uniq[i] for i in missing])
            store.put_many([uniq[i] for i in missing], fresh)
            for k, i in enumerate(missing):
                found[i] = fresh[k]
    finally:
        store.close()
    if not uniq:
        return np.empty((0, emb.dim), np.float32)
    return np.stack(found).astype(np.float32, copy=False)[inverse]
