"""Search latency (query embedding included) and library open time at 10k and 50k chunks.

Embedding 50k chunks would take about 15 minutes on two cores, so the library is built from
real embeddings of a few thousand generated chunks, repeated with small random jitter (and
renormalised) under shuffled real sentences. Search cost in Qdrant local mode and FTS5 depends
on the number of points and the text, not on which vectors they are, so latency is representative.
Raw comparisons in the same run: FastEmbed query embedding alone, and Qdrant query_points alone.
At 10k it also times ``keyword_search=qdrant`` (BM25 sparse vectors fused by Qdrant's Query API),
the server-mode default, to show why local mode keeps its keywords in SQLite FTS5, and search
while a 500-chunk document is half imported (its uncommitted points filtered out in the query).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from devset import load_dev, peak_rss_mb, percentile, questions  # noqa: E402

from core.documents import Chunk  # noqa: E402
from core.engine import Engine  # noqa: E402
from core.store import COLLECTION  # noqa: E402

DOC_CHUNKS = 500


def build(data: Path, n: int, base_texts: list[str], base_vecs: np.ndarray, base_sparse: list[tuple[list[int], list[float]]],
          rng: random.Random) -> None:
    engine = Engine(data)
    nrng = np.random.default_rng(rng.randint(0, 2**31))
    for d in range(n // DOC_CHUNKS):
        doc_id = f"bench{d:05d}"
        key = engine.index.begin(doc_id, f"/bench/{doc_id}.txt", doc_id, "text", f"{d:064x}")
        picks = [rng.randrange(len(base_texts)) for _ in range(DOC_CHUNKS)]
        vecs = base_vecs[picks] + nrng.normal(0, 0.02, (DOC_CHUNKS, base_vecs.shape[1])).astype(np.float32)
        vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
        chunks = [Chunk(doc_id, i, base_texts[p], 0, len(base_texts[p])) for i, p in enumerate(picks)]
        engine.index.write_chunks(key, chunks, vecs, [base_sparse[p] for p in picks])
        engine.index.commit(doc_id, key, doc_id, "text", f"{d:064x}", DOC_CHUNKS)
    engine.close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="10000,50000")
    ap.add_argument("--queries", type=int, default=100)
    args = ap.parse_args()
    rng = random.Random(11)
    sentences = [s.strip() + "." for art in load_dev() for p in art["paragraphs"]
                 for s in p["context"].split(". ") if len(s) > 20]
    base_texts = [" ".join(rng.choice(sentences) for _ in range(rng.randint(3, 6))) for _ in range(1500)]
    qs = [q for q, _ in questions()]
    rng.shuffle(qs)
    qs = qs[: args.queries]
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        embed_engine = Engine(Path(tmp) / "embed")
        base_vecs = embed_engine.embedder.embed(base_texts)
        base_sparse = embed_engine.sparse_embedder.embed(base_texts)
        model = embed_engine.embedder._load()
        embed_engine.close()
        for n in [int(s) for s in args.sizes.split(",")]:
            data = Path(tmp) / f"lib{n}"
            t0 = time.perf_counter()
            build(data, n, base_texts, base_vecs, base_sparse, rng)
            build_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            engine = Engine(data)
            _ = engine.index.client  # local mode loads every point here
            open_s = time.perf_counter() - t0
            engine.embedder._model = model  # same loaded model; its load time is not search time
            engine.search("warm up")
            lat: dict[str, list[float]] = {"hybrid": [], "dense": [], "sparse": [], "raw_embed": [], "raw_qdrant": []}
            for q in qs:
                for mode in ("hybrid", "dense", "sparse"):
                    t = time.perf_counter()
                    engine.search(q, top_k=5, mode=mode)
                    lat[mode].append((time.perf_counter() - t) * 1000)
                t = time.perf_counter()
                vec = next(iter(model.query_embed(q)))
                lat["raw_embed"].append((time.perf_counter() - t) * 1000)
                t = time.perf_counter()
                engine.index.client.query_points(COLLECTION, query=vec.tolist(), using="dense", limit=5)
                lat["raw_qdrant"].append((time.perf_counter() - t) * 1000)
            if n <= 10_000:  # keyword_search=qdrant: sparse scoring is a Python loop in local mode
                engine.settings.keyword_search = "qdrant"
                lat["qdrant_hybrid"] = []
                for q in qs:
                    t = time.perf_counter()
                    engine.search(q, top_k=5)
                    lat["qdrant_hybrid"].append((time.perf_counter() - t) * 1000)
                engine.settings.keyword_search = "fts5"
                # A document half imported: its written, uncommitted points are filtered out inside
                # the query (a payload filter, a Python loop over every point in local mode).
                key = engine.index.begin("importing", "/bench/importing.txt", "importing", "text", "f" * 64)
                picks = [rng.randrange(len(base_texts)) for _ in range(DOC_CHUNKS)]
                engine.index.write_chunks(key, [Chunk("importing", i, base_texts[p], 0, len(base_texts[p]))
                                                for i, p in enumerate(picks)], base_vecs[picks],
                                          [base_sparse[p] for p in picks])
                lat["importing_dense"], lat["importing_hybrid"] = [], []
                for q in qs:
                    for mode in ("dense", "hybrid"):
                        t = time.perf_counter()
                        engine.search(q, top_k=5, mode=mode)
                        lat[f"importing_{mode}"].append((time.perf_counter() - t) * 1000)
                engine.index.abort("importing", key, "benchmark done")
            points = engine.index.count_points()
            engine.close()
            results.append({
                "chunks": points,
                "build_s": round(build_s, 1),
                "open_s": round(open_s, 2),
                **{f"{k}_p50_ms": round(percentile(v, 0.5), 1) for k, v in lat.items()},
                **{f"{k}_p95_ms": round(percentile(v, 0.95), 1) for k, v in lat.items()},
            })
    print(json.dumps({"benchmark": "search", "queries": len(qs), "targets": {"hybrid_p50_ms_at_10k": 50,
                      "open_s_at_50k": 5}, "sizes": results, "peak_rss_mb": round(peak_rss_mb())}))


if __name__ == "__main__":
    main()
