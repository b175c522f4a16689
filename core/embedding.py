"""Dense embeddings with FastEmbed, loaded from the verified local model folder (never a hub)."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

import models as catalog
from core.errors import ModelError
from core.modelstore import embedding_model_dir

log = logging.getLogger(__name__)


class Embedder:
    """Lazily loads the model on first use, so the window opens before ONNX does."""

    def __init__(self, data_dir: Path, threads: int = 0) -> None:
        self.model_info = catalog.default_model("embedding")
        self.dim: int = int(self.model_info["dim"])
        self._data_dir = data_dir
        self._threads = threads or os.cpu_count() or 1
        self._model: Any = None
        self._lock = threading.Lock()

    @property
    def model_dir(self) -> Path:
        return embedding_model_dir(self._data_dir, self.model_info)

    def _load(self) -> Any:
        with self._lock:
            if self._model is None:
                folder = self.model_dir
                from fastembed import TextEmbedding

                try:
                    self._model = TextEmbedding(
                        self.model_info["fastembed_name"], specific_model_path=str(folder), threads=self._threads
                    )
                except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own types
                    raise ModelError(
                        f"the embedding model in {folder} could not be loaded ({type(exc).__name__}: {exc}); "
                        f"delete that folder and start Footnote again to rebuild it"
                    ) from None
                log.info("embedder loaded dir=%s threads=%d", folder, self._threads)
            return self._model

    def embed(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        model = self._load()
        return np.asarray(list(model.embed(list(texts), batch_size=batch_size)), dtype=np.float32)

    def embed_query(self, text: str) -> np.ndarray:
        model = self._load()
        return np.asarray(next(iter(model.query_embed(text))), dtype=np.float32)

    def tokenizer_path(self) -> str:
        return str(self.model_dir / "tokenizer.json")


class SparseEmbedder:
    """BM25 sparse vectors (FastEmbed ``Qdrant/bm25``) for Qdrant's own keyword index.

    FastEmbed would fetch the model folder from a hub; all it holds is a stop-word list, so
    Footnote writes its own (the one the FTS5 path uses) and points FastEmbed at it.
    """

    def __init__(self, data_dir: Path) -> None:
        self._folder = data_dir / "models" / "bm25"
        self._model: Any = None
        self._lock = threading.Lock()

    def _load(self) -> Any:
        with self._lock:
            if self._model is None:
                from fastembed import SparseTextEmbedding

                from core.store import STOPWORDS

                self._folder.mkdir(parents=True, exist_ok=True)
                (self._folder / "english.txt").write_text("\n".join(sorted(STOPWORDS)), encoding="utf-8")
                self._model = SparseTextEmbedding("Qdrant/bm25", specific_model_path=str(self._folder))
            return self._model

    def embed(self, texts: Sequence[str]) -> list[tuple[list[int], list[float]]]:
        return [(v.indices.tolist(), v.values.tolist()) for v in self._load().embed(list(texts))]

    def embed_query(self, text: str) -> tuple[list[int], list[float]]:
        v = next(iter(self._load().query_embed(text)))
        return v.indices.tolist(), v.values.tolist()
