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


def punctuation_chars(folder: Path) -> set[str]:
    """Every Unicode punctuation character, which FastEmbed's BM25 computes on each load by testing
    all 1.1 million code points (``fastembed.common.utils.get_all_punctuation``: about 0.5 s, the
    largest part of a fresh ``footnote search``). The same set, computed once per Unicode version
    and kept in ``folder``."""
    import sys
    import unicodedata

    cache = folder / f"punctuation-{unicodedata.unidata_version}.txt"
    try:
        return set(cache.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError):
        pass
    chars = {chr(i) for i in range(sys.maxunicode) if unicodedata.category(chr(i)).startswith("P")}
    try:
        tmp = cache.with_suffix(".tmp")
        tmp.write_text("".join(sorted(chars)), encoding="utf-8")
        tmp.replace(cache)
    except OSError as exc:
        log.warning("cannot keep the punctuation table path=%s error=%s", cache, exc)
    return chars


class SparseEmbedder:
    """BM25 sparse vectors (FastEmbed ``Qdrant/bm25``) for Qdrant's own keyword index.

    FastEmbed would fetch the model folder from a hub; all it holds is a stop-word list, so
    Footnote writes its own (the one the FTS5 path uses) and points FastEmbed at it. Its
    punctuation table comes from ``punctuation_chars`` instead of being rebuilt on every load.
    """

    def __init__(self, data_dir: Path) -> None:
        self._folder = data_dir / "models" / "bm25"
        self._model: Any = None
        self._lock = threading.Lock()

    def _load(self) -> Any:
        with self._lock:
            if self._model is None:
                import fastembed.sparse.bm25 as fastembed_bm25
                from fastembed import SparseTextEmbedding

                from core.store import STOPWORDS

                self._folder.mkdir(parents=True, exist_ok=True)
                stopwords = "\n".join(sorted(STOPWORDS))
                path = self._folder / "english.txt"
                if not path.is_file() or path.read_text(encoding="utf-8") != stopwords:
                    path.write_text(stopwords, encoding="utf-8")
                table = punctuation_chars(self._folder)
                fastembed_bm25.get_all_punctuation = lambda: table  # type: ignore[attr-defined]
                self._model = SparseTextEmbedding("Qdrant/bm25", specific_model_path=str(self._folder))
            return self._model

    def embed(self, texts: Sequence[str]) -> list[tuple[list[int], list[float]]]:
        return [(v.indices.tolist(), v.values.tolist()) for v in self._load().embed(list(texts))]

    def embed_query(self, text: str) -> tuple[list[int], list[float]]:
        v = next(iter(self._load().query_embed(text)))
        return v.indices.tolist(), v.values.tolist()
