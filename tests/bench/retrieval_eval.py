"""Recall@1 and recall@5 on the dev set for dense, sparse (FTS5 BM25) and hybrid search.

A question counts as found at k when any of the top-k chunks contains a gold answer text.
``--sweep`` also prints hybrid recall for a range of dense weights (how the default was chosen).
``--qdrant-fusion`` also measures the alternative the engine did not take: FastEmbed
``Qdrant/bm25`` sparse vectors (``Modifier.IDF``) in Qdrant, fused with dense by Qdrant's Query
API (RRF and DBSF over dense and sparse prefetches), on the same chunks.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from devset import questions, write_articles  # noqa: E402

from core.engine import Engine  # noqa: E402
from core.retrieval import fuse  # noqa: E402
from core.settings import Settings  # noqa: E402


def found(texts: list[str], answers: list[str]) -> bool:
    low = [t.lower() for t in texts]
    return any(a.lower() in t for a in answers for t in low)


def qdrant_fusion(engine: Engine, qs: list[tuple[str, list[str]]], tmp: Path) -> dict[str, object]:
    from fastembed import SparseTextEmbedding
    from qdrant_client import QdrantClient
    from qdrant_client import models as qm

    from core.store import STOPWORDS

    bm25_dir = tmp / "bm25"
    bm25_dir.mkdir()
    (bm25_dir / "english.txt").write_text("\n".join(sorted(STOPWORDS)), encoding="utf-8")
    bm25 = SparseTextEmbedding("Qdrant/bm25", specific_model_path=str(bm25_dir))
    rows = engine.index._db.execute("SELECT point_id, text FROM chunks").fetchall()
    texts = {pid: text for pid, text in rows}
    dense = engine.embedder.embed([t for _, t in rows])
    sparse = list(bm25.embed([t for _, t in rows]))
    client = QdrantClient(":memory:")
    client.create_collection("c", vectors_config={"dense": qm.VectorParams(size=384, distance=qm.Distance.COSINE)},
                             sparse_vectors_config={"bm25": qm.SparseVectorParams(modifier=qm.Modifier.IDF)})
    client.upsert("c", points=[qm.PointStruct(id=pid, vector={
        "dense": dense[i].tolist(),
        "bm25": qm.SparseVector(indices=sparse[i].indices.tolist(), values=sparse[i].values.tolist())})
        for i, (pid, _) in enumerate(rows)])
    hits = {m: [0, 0] for m in ("qdrant_sparse", "qdrant_rrf", "qdrant_dbsf")}
    for q, answers in qs:
        qd = engine.embedder.embed_query(q).tolist()
        qs_vec = next(iter(bm25.query_embed(q)))
        qsp = qm.SparseVector(indices=qs_vec.indices.tolist(), values=qs_vec.values.tolist())
        prefetch = [qm.Prefetch(query=qd, using="dense", limit=50), qm.Prefetch(query=qsp, using="bm25", limit=50)]
        ranked = {
            "qdrant_sparse": client.query_points("c", query=qsp, using="bm25", limit=5).points,
            "qdrant_rrf": client.query_points("c", prefetch=prefetch, query=qm.FusionQuery(fusion=qm.Fusion.RRF),
                                              limit=5).points,
            "qdrant_dbsf": client.query_points("c", prefetch=prefetch,
                                               query=qm.FusionQuery(fusion=qm.Fusion.DBSF), limit=5).points,
        }
        for name, points in ranked.items():
            found_texts = [texts[str(p.id)] for p in points]
            hits[name][0] += found(found_texts[:1], answers)
            hits[name][1] += found(found_texts, answers)
    n = len(qs)
    return {m: {"recall@1": round(v[0] / n, 4), "recall@5": round(v[1] / n, 4)} for m, v in hits.items()}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sweep", action="store_true")
    ap.add_argument("--chunk-tokens", type=int, default=None)
    ap.add_argument("--qdrant-fusion", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings()
        if args.chunk_tokens:
            settings.chunk_tokens = args.chunk_tokens
        engine = Engine(Path(tmp) / "data", settings)
        t0 = time.perf_counter()
        for _ in engine.ingest([str(p) for p in write_articles(Path(tmp) / "docs")]):
            pass
        ingest_s = time.perf_counter() - t0
        qs = questions()
        weights = [0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95] if args.sweep else []
        modes = ["dense", "sparse", "hybrid"]
        hits = {m: [0, 0] for m in modes}
        sweep = {w: [0, 0] for w in weights}
        idx = engine.index
        for q, answers in qs:
            dense = idx.dense(engine.embedder.embed_query(q), 50)
            sparse = idx.sparse(q, 50)
            rankings = {
                "dense": sorted(dense, key=lambda k: dense[k], reverse=True),
                "sparse": sorted(sparse, key=lambda k: sparse[k], reverse=True),
                "hybrid": [k for k, _ in fuse(dense, sparse, settings.dense_weight)],
            }
            for w in weights:
                rankings[f"w{w}"] = [k for k, _ in fuse(dense, sparse, w)]
            needed = {pid for r in rankings.values() for pid in r[:5]}
            rows = idx.chunk_rows(list(needed))
            for name, ranked in rankings.items():
                texts = [rows[p]["text"] for p in ranked[:5] if p in rows]
                r1, r5 = found(texts[:1], answers), found(texts, answers)
                bucket = hits[name] if name in hits else sweep[float(name[1:])]
                bucket[0] += r1
                bucket[1] += r5
        n = len(qs)
        out = {
            "benchmark": "retrieval_eval",
            "questions": n,
            "documents": len(engine.documents()),
            "chunks": engine.index.count_points(),
            "chunk_tokens": settings.chunk_tokens,
            "dense_weight": settings.dense_weight,
            "ingest_s": round(ingest_s, 1),
        }
        for m in modes:
            out[m] = {"recall@1": round(hits[m][0] / n, 4), "recall@5": round(hits[m][1] / n, 4)}
        if weights:
            out["sweep"] = {str(w): {"recall@1": round(v[0] / n, 4), "recall@5": round(v[1] / n, 4)}
                            for w, v in sweep.items()}
        if args.qdrant_fusion:
            out.update(qdrant_fusion(engine, qs, Path(tmp)))
        out["hybrid_beats_dense_at_5"] = out["hybrid"]["recall@5"] > out["dense"]["recall@5"]
        engine.close()
        print(json.dumps(out))


if __name__ == "__main__":
    main()
