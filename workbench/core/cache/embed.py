"""Embeddings for the semantic cache, computed once and attached by request id.

The default embedding function is ``workbench.embeddings.embed_texts`` (offline all-MiniLM-L6-v2,
int8 ONNX, unit rows, cached on disk by content hash). It is imported only when called, so
``workbench.core`` stays free of it; any ``texts -> (n, d)`` function with L2-normalised rows can be
passed instead.

"Score once, decide cheaply": :func:`attach_embeddings` embeds each distinct cache text of a log
once and returns ``{"embedding": AttachedArray(request_ids, matrix)}`` for
``replay(log, [{policy: semantic_cache, embeddings: embedding, ...}], attach=...)``; the policy's
kernel then only looks rows up in the index. Without an attached array the policy does the same
itself, once per replay, before its scan.
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

Embed = Callable[[list[str]], np.ndarray]


def default_embed() -> Embed:
    from workbench.embeddings import embed_texts
    return embed_texts


def embed_distinct(texts: Sequence[str | None], embed: Embed | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(rows, matrix)``: each text's row in ``matrix`` (-1 for ``None``); each distinct text is
    embedded once (float32, one unit row per distinct text)."""
    from workbench.core.cache.keys import fast_codes
    codes, firsts = fast_codes(list(texts))
    if not len(firsts):
        return codes, np.zeros((0, 384), dtype=np.float32)
    uniq = [texts[i] for i in firsts]
    matrix = np.asarray((embed or default_embed())(uniq), dtype=np.float32)
    if matrix.shape[0] != len(uniq):
        raise ValueError(f"the embedding function returned {matrix.shape[0]} rows for {len(uniq)} texts")
    return codes, matrix


def attach_embeddings(log, context: str = "conversation", embed: Embed | None = None,
                      name: str = "embedding") -> dict:
    """``{name: AttachedArray(request_ids, matrix)}``: the embedding of each request's cache text
    (whole conversation by default, as the semantic cache compares it), one row per request with a
    prompt; duplicates share one computation. Pass it as ``replay(..., attach=...)`` with the
    policy parameter ``embeddings: <name>``."""
    import pandas as pd

    from workbench.core.cache.keys import cache_text
    from workbench.core.replay.inputs import AttachedArray
    frame = log if isinstance(log, pd.DataFrame) else pd.DataFrame(log)
    prompts = [None if p is None or p is pd.NA or (isinstance(p, float) and np.isnan(p)) else str(p)
               for p in frame["prompt"].astype("object")]
    rows, matrix = embed_distinct(cache_text(prompts, context), embed)
    keep = rows >= 0
    ids = frame["request_id"].astype(str).to_numpy()[keep]
    return {name: AttachedArray(ids, matrix[rows[keep]])}
