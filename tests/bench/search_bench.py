"""Search latency (query embedding included), library open time, a whole fresh ``footnote search``
process, peak RSS and disk at 10k to 300k chunks, per vector store (``--stores local,edge``).

Scale figures use synthetic data (stated in the output): real embeddings of 1,500 generated chunks
repeated with jitter; 300k real embeddings would take over three hours here (25 chunks/s). Qdrant
Edge searches exactly (no HNSW) over 8-bit (Turbo8) vectors; ``edge_storage_recall`` gives the
recall@10 of that storage against exact float32 search on embeddings of real text (the dev-set
sentences and ClapNQ passages against every real question). Edge libraries are compacted as the end
of an import compacts them (``core.vectorstore.compact``).

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
import uuid
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from devset import DEV_SET, load_dev, peak_rss_mb, percentile, questions  # noqa: E402

from core.documents import Chunk  # noqa: E402
from core.engine import Engine  # noqa: E402
from core.settings import Settings  # noqa: E402
from core.vectorstore import Scope, StoredPoint, unit  # noqa: E402
from core.vectorstore.edge import DENSE_DATATYPE  # noqa: E402

DOC_CHUNKS = 500


def build(data: Path, n: int, base_texts: list[str], base_vecs: np.ndarray, base_sparse: list[tuple[list[int], list[float]]],
          rng: random.Random, store: str = "local") -> None:
    engine = Engine(data, Settings(vector_store=store))
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
    engine.index.compact_store_if_due()  # what the end of an import does (Qdrant Edge only)
    engine.close()


def storage_recall(embed_engine: Engine, tmp: Path) -> dict[str, Any]:
    """Recall@10 of Qdrant Edge's 8-bit vector storage against exact float32 search, on embeddings
    of real text: the dev-set sentences and ClapNQ passages (40-word windows) against every real
    XQuAD and ClapNQ question."""
    from core.vectorstore.edge import EdgeStore

    texts = [s.strip() for art in load_dev() for p in art["paragraphs"] for s in p["context"].split(". ")
             if len(s) > 30]
    queries = [q for q, _ in questions()]
    for kind in ("answerable", "unanswerable"):
        for line in (DEV_SET.parent / f"clapnq-dev-{kind}.jsonl").read_text(encoding="utf-8").splitlines():
            item = json.loads(line)
            queries.append(item["input"])
            for psg in item["passages"]:
                words = psg["text"].split()
                texts += [" ".join(words[i:i + 40]) for i in range(0, len(words), 20)]
    vecs = unit(embed_engine.embedder.embed(texts))
    qvecs = unit(np.stack([embed_engine.embedder.embed_query(q) for q in queries]))
    exact = np.argsort(-(qvecs @ vecs.T), axis=1)[:, :10]
    store = EdgeStore(tmp / "recall-edge", vecs.shape[1])
    ids = [str(uuid.UUID(int=i)) for i in range(len(vecs))]
    store.upsert([StoredPoint(pid, v.tolist()) for pid, v in zip(ids, vecs)])
    found, worst = 0, 0.0
    for qi, q in enumerate(qvecs):
        top = store.dense(q, 10, Scope())
        found += len({int(uuid.UUID(pid)) for pid in top} & set(exact[qi].tolist()))
        worst = max([worst] + [abs(score - float(vecs[int(uuid.UUID(pid))] @ q)) for pid, score in top.items()])
    store.close()
    return {"datatype": DENSE_DATATYPE, "points": len(vecs), "queries": len(queries),
            "recall_at_10_vs_float32_exact": round(found / (10 * len(queries)), 4),
            "max_score_error": round(worst, 4)}


def fresh_search(data: Path, query: str) -> dict[str, float]:
    """A whole ``footnote search`` process (start, open, embedder load, one hybrid query): its wall
    time and its own peak RSS (from wait4)."""
    import os
    import subprocess

    env = dict(os.environ, FOOTNOTE_DATA_DIR=str(data))
    exe = Path(sys.executable).with_name("footnote")
    # A small launcher forks the search: a child forked from this big process would report this
    # process's peak RSS as its own (ru_maxrss survives exec).
    launcher = ("import os, sys, time\n"
                "t = time.perf_counter(); pid = os.fork()\n"
                "if pid == 0: os.execv(sys.argv[1], sys.argv[1:])\n"
                "_, status, usage = os.wait4(pid, 0)\n"
                "print(status, time.perf_counter() - t, usage.ru_maxrss)")
    out = subprocess.run([sys.executable, "-c", launcher, str(exe), "search", query, "--json"], env=env,
                         capture_output=True, text=True, check=True).stdout.split()
    status, wall, rss_kb = int(out[-3]), float(out[-2]), int(out[-1])
    if status != 0:
        raise SystemExit(f"footnote search failed in {data} (status {status})")
    return {"wall_s": round(wall, 2), "peak_rss_mb": round(rss_kb / 1024)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="10000,50000")
    ap.add_argument("--queries", type=int, default=100)
    ap.add_argument("--stores", default="local,edge", help="stores to measure; local mode stops at --local-max")
    ap.add_argument("--local-max", type=int, default=50_000)
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
        t = time.perf_counter()
        next(iter(model.query_embed("warm up")))
        qvec = np.asarray(next(iter(model.query_embed(qs[0]))), dtype=np.float32)
        qsparse = embed_engine.sparse_embedder.embed_query(qs[0])
        embed_ms = (time.perf_counter() - t) * 1000
        recall = storage_recall(embed_engine, Path(tmp)) if "edge" in args.stores else None
        for n, store in [(int(s), st) for s in args.sizes.split(",") for st in args.stores.split(",")]:
            if store == "local" and n > args.local_max:
                continue
            data = Path(tmp) / f"lib{n}-{store}"
            t0 = time.perf_counter()
            build(data, n, base_texts, base_vecs, base_sparse, rng, store)
            build_s = time.perf_counter() - t0
            fresh = fresh_search(data, qs[1])
            t0 = time.perf_counter()
            engine = Engine(data)
            _ = engine.index.store  # local mode loads every point here
            open_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            if engine._qdrant_keywords():  # the first hybrid query, query vectors made beforehand
                engine.index.qdrant_search(qvec, qsparse, 10)
            else:
                engine.index.dense(qvec, 50)
                engine.index.sparse(qs[0], 50)
            first_query_s = time.perf_counter() - t0
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
                engine.index.store.dense(np.asarray(vec, dtype=np.float32), 5, Scope())
                lat["raw_qdrant"].append((time.perf_counter() - t) * 1000)
            if n <= 10_000 and store == "local":  # keyword_search=qdrant: sparse scoring is a Python loop in local mode
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
                "store": store,
                "keywords": "qdrant bm25" if store != "local" else "fts5",
                "build_s": round(build_s, 1),
                "open_s": round(open_s, 2),
                "open_plus_first_query_s": round(open_s + first_query_s, 3),
                "fresh_search_process_s": fresh["wall_s"],
                "fresh_search_peak_rss_mb": fresh["peak_rss_mb"],
                "disk_mb": round(sum(f.stat().st_size for f in data.rglob("*") if f.is_file()) / 2**20),
                "search": "exact (no HNSW)" + (f", {DENSE_DATATYPE} vectors" if store == "edge" else ""),
                **{f"{k}_p50_ms": round(percentile(v, 0.5), 1) for k, v in lat.items()},
                **{f"{k}_p95_ms": round(percentile(v, 0.95), 1) for k, v in lat.items()},
            })
    print(json.dumps({"benchmark": "search", "queries": len(qs), "data": "synthetic: real embeddings of 1,500 "
                      "generated chunks, repeated with jitter", "embedder_load_and_first_query_ms": round(embed_ms),
                      "targets_at_300k": {"open_plus_first_query_s": 1, "fresh_search_process_s": 3,
                                          "hybrid_p50_ms": 30, "fresh_search_peak_rss_mb": 1024},
                      "sizes": results, "edge_storage_recall": recall, "bench_peak_rss_mb": round(peak_rss_mb())}))


if __name__ == "__main__":
    main()
