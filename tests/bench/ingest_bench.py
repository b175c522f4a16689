"""End-to-end import speed against raw FastEmbed on the same chunk texts, in the same run.

Pipeline = read files + chunk + embed + store (Qdrant + SQLite/FTS5). Target: >= 0.8x raw.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from devset import peak_rss_mb, synthetic_docs, write_articles  # noqa: E402

from core.engine import EMBED_BATCH, Engine  # noqa: E402


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        files = write_articles(root / "docs") + synthetic_docs(root / "docs" / "gen", 90, 40)
        engine = Engine(root / "data")
        engine.warm_up()
        t0 = time.perf_counter()
        chunks = 0
        for ev in engine.ingest([str(f) for f in files]):
            if ev.kind == "done":
                chunks += ev.total
        pipeline_s = time.perf_counter() - t0
        texts = [r[0] for r in engine.index._db.execute("SELECT text FROM chunks ORDER BY rowid")]
        model = engine.embedder._load()
        t0 = time.perf_counter()
        for _ in model.embed(texts, batch_size=EMBED_BATCH):
            pass
        raw_s = time.perf_counter() - t0
        engine.close()
        pipe_rate, raw_rate = chunks / pipeline_s, len(texts) / raw_s
        print(json.dumps({
            "benchmark": "ingest",
            "documents": len(files),
            "chunks": chunks,
            "mean_chunk_chars": round(sum(map(len, texts)) / len(texts)),
            "pipeline_s": round(pipeline_s, 2),
            "pipeline_chunks_per_s": round(pipe_rate, 1),
            "raw_fastembed_chunks_per_s": round(raw_rate, 1),
            "ratio": round(pipe_rate / raw_rate, 3),
            "target_ratio": 0.8,
            "peak_rss_mb": round(peak_rss_mb()),
        }))


if __name__ == "__main__":
    main()
