"""Answer quality on the dev set, and the measurement behind ``min_relevance`` (abstention).

1. Import the 24 dev articles (one text file each) through the Engine.
2. Abstention threshold: the best dense (cosine) score of the top-k passages for every dev question
   against off-topic questions written here (subjects none of the articles cover). Printed as
   percentiles, with the share of each side that a range of thresholds would abstain on.
3. Ask 100 dev questions (every 6th, a fixed spread over all articles, never chosen one by one)
   and report: the share whose citations include a chunk containing a gold answer, the share whose
   text contains a gold answer, and the abstention rate.

Prints one JSON object. ``--questions N`` and ``--max-tokens`` trade time for coverage.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from devset import questions, write_articles  # noqa: E402

from core.engine import Engine  # noqa: E402
from core.settings import Settings  # noqa: E402

OFF_TOPIC = [
    "How do I make sourdough bread rise better?",
    "What is the best way to train a puppy to sit?",
    "Which football club has won the most Champions League titles?",
    "How many calories are in a banana?",
    "What is the plot of the movie Titanic?",
    "How do I change a flat tyre on a bicycle?",
    "What are good exercises for lower back pain?",
    "Who painted the Mona Lisa?",
    "How do you brew a good cup of espresso?",
    "What is the capital of Peru?",
    "How do I install Python packages with pip?",
    "What should I pack for a beach holiday?",
    "How long should I boil an egg for a soft yolk?",
    "Which vitamins are found in carrots?",
    "What is the rule for offside in ice hockey?",
    "How do I knit a scarf for beginners?",
    "What is the difference between a violin and a viola?",
    "How often should I water a cactus?",
    "What are the lyrics of Happy Birthday?",
    "How do I remove a red wine stain from a carpet?",
    "Who won the Tour de France in 1998?",
    "What is a good recipe for vegetable lasagne?",
    "How do I set up a home aquarium for goldfish?",
    "What is the tallest mountain in Africa?",
    "How do I write a cover letter for a job application?",
    "What are the symptoms of the common cold?",
    "How do I play chess openings like the Sicilian defence?",
    "What is the best time of year to visit Japan?",
    "How does a dishwasher clean plates?",
    "Which board games are good for families?",
    "What is the recommended tyre pressure for a family car?",
    "How do I make a paper aeroplane that flies far?",
    "What is the origin of the croissant?",
    "How much sleep does a teenager need?",
    "What is the meaning of the tarot card The Fool?",
    "How do I clean a cast iron frying pan?",
    "Who wrote the Harry Potter books?",
    "How do bees make honey?",
    "What is a good stretching routine before running?",
    "How do I choose a good watermelon at the market?",
]


def contains(texts: list[str], answers: list[str]) -> bool:
    low = [t.lower() for t in texts]
    return any(a.lower() in t for a in answers for t in low)


def best_dense(engine: Engine, q: str) -> float:
    hits = engine.search(q)
    return max((h.dense_score for h in hits if h.dense_score is not None), default=0.0)


def pct(values: list[float], p: float) -> float:
    vals = sorted(values)
    return round(vals[min(len(vals) - 1, max(0, round(p / 100 * (len(vals) - 1))))], 4)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--questions", type=int, default=100)
    ap.add_argument("--max-tokens", type=int, default=96)
    ap.add_argument("--backend", default="local")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(max_answer_tokens=args.max_tokens)
        engine = Engine(Path(tmp) / "data", settings)
        t0 = time.perf_counter()
        for _ in engine.ingest([str(p) for p in write_articles(Path(tmp) / "docs")]):
            pass
        ingest_s = time.perf_counter() - t0

        # -- the abstention threshold ----------------------------------------------------
        qs = questions()
        dev_scores = [best_dense(engine, q) for q, _ in qs]
        off_scores = [best_dense(engine, q) for q in OFF_TOPIC]
        sweep = {}
        for th in (0.15, 0.2, 0.25, 0.3, 0.35, 0.4):
            sweep[str(th)] = {
                "dev_abstain": round(sum(s < th for s in dev_scores) / len(dev_scores), 4),
                "off_topic_abstain": round(sum(s < th for s in off_scores) / len(off_scores), 4),
            }
        threshold = {
            "dev_questions": len(dev_scores),
            "off_topic_questions": len(off_scores),
            "dev_best_dense": {"p1": pct(dev_scores, 1), "p5": pct(dev_scores, 5), "median": pct(dev_scores, 50),
                               "min": round(min(dev_scores), 4)},
            "off_topic_best_dense": {"median": pct(off_scores, 50), "p95": pct(off_scores, 95),
                                     "max": round(max(off_scores), 4)},
            "sweep": sweep,
            "min_relevance_in_use": settings.min_relevance,
        }

        # -- answers -----------------------------------------------------------------------
        step = max(1, len(qs) // args.questions)
        sample = qs[::step][: args.questions]
        cited_ok = text_ok = abstained = errors = 0
        cited_any = 0
        ttft: list[float] = []
        totals: list[float] = []
        backends: dict[str, int] = {}
        t1 = time.perf_counter()
        for q, answers in sample:
            stream = engine.answerer.ask(q, backend=args.backend, use_cache=False)
            for _ in stream:
                pass
            ans = stream.answer
            if ans is None:
                errors += 1
                continue
            backends[ans.backend] = backends.get(ans.backend, 0) + 1
            abstained += ans.abstained
            cited_any += bool(ans.citations)
            cited_ok += contains([c.text for c in ans.citations], answers)
            text_ok += contains([ans.answer], answers)
            if ans.timings.get("first_token_ms") is not None:
                ttft.append(float(ans.timings["first_token_ms"] or 0))
            totals.append(float(ans.timings["total_ms"] or 0))
        n = len(sample)
        out = {
            "benchmark": "answer_eval",
            "model": Path(settings.model_path).name if settings.model_path else "bundled SmolLM2-135M-Instruct Q4_1",
            "documents": len(engine.documents()),
            "chunks": engine.index.count_points(),
            "ingest_s": round(ingest_s, 1),
            "questions": n,
            "max_answer_tokens": args.max_tokens,
            "top_k": settings.top_k,
            "citations_contain_gold": round(cited_ok / n, 4),
            "answer_contains_gold": round(text_ok / n, 4),
            "abstention_rate": round(abstained / n, 4),
            "answers_with_citations": round(cited_any / n, 4),
            "errors": errors,
            "backends": backends,
            "first_token_ms_median": round(statistics.median(ttft), 1) if ttft else None,
            "total_ms_median": round(statistics.median(totals), 1) if totals else None,
            "answer_seconds": round(time.perf_counter() - t1, 1),
            "threshold": threshold,
        }
        engine.close()
        print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
