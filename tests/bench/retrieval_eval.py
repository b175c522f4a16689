"""Recall@1 and recall@5 on the dev set for dense, sparse (FTS5 BM25) and hybrid search.

A question counts as found at k when any of the top-k chunks contains a gold answer text.
``--sweep`` also prints hybrid recall for a range of dense weights (how the default was chosen).
It also measures ``keyword_search=qdrant`` (the server-mode default): FastEmbed ``Qdrant/bm25``
sparse vectors (``Modifier.IDF``) in Qdrant, fused with dense by Qdrant's Query API (DBSF), and
recall@5 through ``Engine.search`` before and after the library moves to Qdrant Edge.
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


def qdrant_native(docs: list[Path], qs: list[tuple[str, list[str]]], data: Path) -> dict[str, object]:
    """The same corpus with keyword_search=qdrant: BM25 sparse vectors in Qdrant, fused with dense
    by Qdrant's Query API (DBSF). This is the server-mode default; measured here in local mode."""
    engine = Engine(data, Settings(keyword_search="qdrant"))
    for _ in engine.ingest([str(p) for p in docs]):
        pass
    hits = {"qdrant_sparse": [0, 0], "qdrant_hybrid_dbsf": [0, 0]}
    for q, answers in qs:
        for name, mode in (("qdrant_sparse", "sparse"), ("qdrant_hybrid_dbsf", "hybrid")):
            texts = [h.text for h in engine.search(q, top_k=5, mode=mode)]
            hits[name][0] += found(texts[:1], answers)
            hits[name][1] += found(texts, answers)
    engine.close()
    n = len(qs)
    return {m: {"recall@1": round(v[0] / n, 4), "recall@5": round(v[1] / n, 4)} for m, v in hits.items()}


def recall_at_5(engine: Engine, qs: list[tuple[str, list[str]]]) -> dict[str, float]:
    out = {}
    for mode in ("dense", "sparse", "hybrid"):
        hit = sum(found([h.text for h in engine.search(q, top_k=5, mode=mode)], answers) for q, answers in qs)
        out[mode] = round(hit / len(qs), 4)
    return out


def move_check(engine: Engine, qs: list[tuple[str, list[str]]]) -> dict[str, object]:
    """Recall@5 through ``Engine.search`` before and after the library moves from local mode to
    Qdrant Edge (8-bit vectors, compacted; keywords by BM25 inside Qdrant afterwards)."""
    before = recall_at_5(engine, qs)
    t0 = time.perf_counter()
    events = list(engine.move_store("edge"))
    move_s = time.perf_counter() - t0
    assert events[-1].kind == "done" and engine.index.store_kind == "edge"
    after = recall_at_5(engine, qs)
    return {"before_local": before, "after_edge": after, "move_s": round(move_s, 1),
            "largest_drop": round(max(before[m] - after[m] for m in before), 4), "target_drop": 0.01}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sweep", action="store_true")
    ap.add_argument("--chunk-tokens", type=int, default=None)
    ap.add_argument("--no-qdrant", action="store_true", help="skip the keyword_search=qdrant comparison")
    ap.add_argument("--no-move", action="store_true", help="skip recall before and after the move to Qdrant Edge")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings()
        if args.chunk_tokens:
            settings.chunk_tokens = args.chunk_tokens
        engine = Engine(Path(tmp) / "data", settings)
        docs = write_articles(Path(tmp) / "docs")
        t0 = time.perf_counter()
        for _ in engine.ingest([str(p) for p in docs]):
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
        if not args.no_qdrant:
            out.update(qdrant_native(docs, qs, Path(tmp) / "data-qdrant"))
        out["hybrid_beats_dense_at_5"] = out["hybrid"]["recall@5"] > out["dense"]["recall@5"]
        if not args.no_move:
            out["move_to_edge"] = move_check(engine, qs)
        engine.close()
        print(json.dumps(out))


if __name__ == "__main__":
    main()
