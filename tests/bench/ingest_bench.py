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
        files = write_articles(root / "docs") + synthetic_docs(root / "docs" / "gen", 70, 40)
        engine = Engine(root / "data")
        engine.warm_up()
        from core.documents import document_id_for
        from core.ingest.loaders import load_path

        model = engine.embedder._load()
        # Interleave raw and pipeline in rounds, so load from other processes on a shared machine
        # hits both alike. Raw FastEmbed embeds exactly the chunk texts the pipeline will embed.
        raw_s = pipeline_s = 0.0
        chunks = 0
        texts: list[str] = []
        rounds = 6
        for r in range(rounds):
            group = files[r::rounds]
            group_texts = [c.text for f in group for c in engine.chunker.chunk(load_path(f), document_id_for(str(f)))]
            texts += group_texts
            t0 = time.perf_counter()
            for _ in model.embed(group_texts, batch_size=EMBED_BATCH):
                pass
            raw_s += time.perf_counter() - t0
            t0 = time.perf_counter()
            for ev in engine.ingest([str(f) for f in group]):
                if ev.kind == "done":
                    chunks += ev.total
            pipeline_s += time.perf_counter() - t0
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
