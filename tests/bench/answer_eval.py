"""Answer quality with the default model: gold answers, citations, abstention, repetition, time.

Three libraries, each imported through the Engine:

1. **XQuAD dev** (24 Wikipedia articles): ``--questions`` questions (a fixed spread over all
   articles, every n-th, never chosen one by one). Reports the share of answers that contain a gold
   answer (an abstention counts as a miss), the share whose citations contain it, false abstention.
2. **ClapNQ dev**: every passage of both files imported as a document; ``--clapnq`` answerable and
   as many unanswerable questions (the passage is on topic but lacks the answer). Reports
   abstention on the unanswerable ones, false abstention on the answerable ones, and how often an
   answerable question's answer cites its own passage.
3. **XQuAD without the article**: the articles of ``--missing`` questions are left out of the
   library; every answer should abstain.

Also: answers stopped for repetition, answers that ran to ``max_answer_tokens``, first-token and
total time per question, and the relevance threshold behind ``min_relevance`` (best dense score of
dev questions against off-topic ones). Decode speed against raw llama-cpp-python is
``generation_bench.py``'s job. Prints one JSON object; ``--raw FILE`` also writes every answer.
``--only FILE`` asks only the XQuAD and ClapNQ questions listed in FILE (one per line; the set without
its article keeps its spread): for looking into single answers, never for a reported figure.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import tempfile
import time
import unicodedata
from collections import Counter
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from devset import ROOT, load_dev  # noqa: E402

from core.engine import Engine  # noqa: E402
from core.settings import Settings  # noqa: E402

CLAPNQ = Path(os.environ.get("FOOTNOTE_CLAPNQ_DIR", ROOT.parent / "shared" / "data"))
OFF_TOPIC = [
    "How do I make sourdough bread rise better?", "What is the best way to train a puppy to sit?",
    "How many calories are in a banana?", "What is the plot of the movie Titanic?",
    "How do I change a flat tyre on a bicycle?", "What are good exercises for lower back pain?",
    "How do you brew a good cup of espresso?", "How do I install Python packages with pip?",
    "How long should I boil an egg for a soft yolk?", "How do I knit a scarf for beginners?",
    "How often should I water a cactus?", "How do I remove a red wine stain from a carpet?",
    "What is a good recipe for vegetable lasagne?", "How do I write a cover letter for a job application?",
    "What are the symptoms of the common cold?", "What is the best time of year to visit Japan?",
    "How does a dishwasher clean plates?", "How do I make a paper aeroplane that flies far?",
    "How do I clean a cast iron frying pan?", "How do bees make honey?",
]


def contains(texts: list[str], answers: list[str]) -> bool:
    low = [t.lower() for t in texts]
    return any(a.lower() in t for a in answers for t in low)


def squad_normal(text: str) -> str:
    """SQuAD's official answer normalisation: lower case, no punctuation, no articles, single spaces."""
    text = "".join(ch for ch in text.lower() if not unicodedata.category(ch).startswith("P"))
    return " ".join(re.sub(r"\b(?:a|an|the)\b", " ", text).split())


def contains_normalized(texts: list[str], answers: list[str]) -> bool:
    """``contains`` after SQuAD's normalisation of both sides ("U.S. Supreme Court" holds "US Supreme Court")."""
    norm = [squad_normal(t) for t in texts]
    return any(squad_normal(a) in t for a in answers for t in norm if squad_normal(a))


def write_articles(folder: Path, skip: set[str] = frozenset()) -> list[Path]:  # type: ignore[assignment]
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for art in load_dev():
        if art["title"] in skip:
            continue
        body = "\n\n".join(p["context"] for p in art["paragraphs"])
        path = folder / f"{art['title']}.md"
        path.write_text(f"# {art['title'].replace('_', ' ')}\n\n{body}\n", encoding="utf-8")
        paths.append(path)
    return paths


def xquad_questions() -> list[tuple[str, list[str], str]]:
    return [(qa["question"], [a["text"] for a in qa["answers"]], art["title"])
            for art in load_dev() for p in art["paragraphs"] for qa in p["qas"]]


def repeats(text: str, n: int = 8) -> bool:
    words = text.casefold().split()
    grams = [tuple(words[i : i + n]) for i in range(len(words) - n + 1)]
    return len(grams) != len(set(grams))


def spread(items: list[Any], n: int, offset: int = 0) -> list[Any]:
    step = max(1, len(items) // max(1, n))
    return items[offset::step][:n]


def ask(engine: Engine, q: str) -> dict[str, Any]:
    stream = engine.answerer.ask(q, use_cache=False)
    for _ in stream:
        pass
    ans = stream.answer
    if ans is None:
        return {"question": q, "error": stream.error}
    out = ans.as_json()
    out["all_cited_text"] = [c.text for c in ans.citations]
    if ans.withheld is not None:  # what a threshold-dependent rule withheld, for answer_replay.py
        out["withheld"] = {"answer": ans.withheld.answer, "all_cited_text": [c.text for c in ans.withheld.citations],
                           "sentences": [s.as_dict() for s in ans.withheld.sentences]}
    t = ans.timings
    sys.stderr.write(f"{'ABSTAIN' if ans.abstained else 'answer '} p_yes={ans.answerable} checks={ans.answerable_checks} "
                     f"unsure={ans.unsure} total={t.get('total_ms')} ms | {q[:60]} -> {ans.answer[:80]!r}\n")
    return out


def summarize_times(rows: list[dict[str, Any]]) -> dict[str, Any]:
    ttft = [r["timings"]["first_token_ms"] for r in rows if r.get("timings", {}).get("first_token_ms") is not None]
    total = [r["timings"]["total_ms"] for r in rows if r.get("timings")]
    return {"first_token_ms_median": round(statistics.median(ttft), 1) if ttft else None,
            "total_ms_median": round(statistics.median(total), 1) if total else None,
            "total_ms_p90": round(sorted(total)[int(0.9 * (len(total) - 1))], 1) if total else None}


def common(rows: list[dict[str, Any]]) -> dict[str, Any]:
    n = max(1, len(rows))
    return {
        "questions": len(rows),
        "abstained": round(sum(bool(r.get("abstained")) for r in rows) / n, 4),
        "abstain_reasons": dict(sorted(Counter(str(r.get("abstain_reason")) for r in rows
                                               if r.get("abstained")).items())),
        "stopped_for_repetition": sum(r.get("stop_reason") == "repetition" for r in rows),
        "ran_to_max_tokens": sum(r.get("stop_reason") == "length" for r in rows),
        "with_unsupported_sentences": round(sum(bool(r.get("unsupported")) for r in rows) / n, 4),
        "errors": sum("error" in r for r in rows),
        **summarize_times(rows),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--questions", type=int, default=100)
    ap.add_argument("--clapnq", type=int, default=40)
    ap.add_argument("--missing", type=int, default=40)
    ap.add_argument("--model", default="", help="GGUF path (default: the bundled default model)")
    ap.add_argument("--answerable-min", type=float, default=None)
    ap.add_argument("--grounded-min", type=float, default=None,
                    help="0 turns off abstaining on unsupported sentences (with --answerable-min 0: always answer)")
    ap.add_argument("--confident-min", type=float, default=None, help="0 turns off the 'unsure' rule")
    ap.add_argument("--sets", default="xquad,clapnq,missing", help="which of xquad, clapnq, missing to run")
    ap.add_argument("--offset", type=int, default=0, help="take another spread of questions (0: the standard one)")
    ap.add_argument("--raw", default="", help="write every answer as JSON lines here")
    ap.add_argument("--only", default="", help="a file of questions, one per line: ask only those (for looking "
                                                "into single answers; not a benchmark figure)")
    args = ap.parse_args()
    only = set(Path(args.only).read_text(encoding="utf-8").splitlines()) if args.only else set()

    def chosen(items: list[Any], n: int, question: Any) -> list[Any]:
        if only and n:
            return [it for it in items if question(it) in only]
        return spread(items, n, args.offset)

    overrides: dict[str, Any] = {"model_path": args.model}
    if args.answerable_min is not None:
        overrides["answerable_min"] = args.answerable_min
    if args.grounded_min is not None:
        overrides["grounded_min"] = args.grounded_min
    if args.confident_min is not None:
        overrides["confident_min"] = args.confident_min
    raw: list[dict[str, Any]] = []
    out: dict[str, Any] = {"benchmark": "answer_eval"}
    t_all = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        # -- 1. XQuAD with its articles -------------------------------------------------------
        engine = Engine(Path(tmp) / "xquad", Settings(**overrides))
        from core.answer.llama_local import LocalLlama

        out["model"] = LocalLlama(engine.settings).model_name()
        out["settings"] = {k: getattr(engine.settings, k) for k in (
            "temperature", "repeat_penalty", "max_answer_tokens", "answer_passages", "answerable_min", "grounded_min",
            "confident_min", "min_relevance",
            "top_k", "n_ctx")}
        for _ in engine.ingest([str(p) for p in write_articles(Path(tmp) / "docs")]):
            pass
        qs = xquad_questions()
        dev_best = [max((h.dense_score or 0.0 for h in engine.search(q)), default=0.0) for q, _, _ in qs]
        off_best = [max((h.dense_score or 0.0 for h in engine.search(q)), default=0.0) for q in OFF_TOPIC]
        th = engine.settings.min_relevance
        out["relevance_threshold"] = {"min_relevance": th,
                                      "dev_below": round(sum(s < th for s in dev_best) / len(dev_best), 4),
                                      "off_topic_below": round(sum(s < th for s in off_best) / len(off_best), 4)}
        rows = []
        for q, gold, title in chosen(qs, args.questions if "xquad" in args.sets else 0, lambda it: it[0]):
            r = ask(engine, q)
            r.update(set="xquad", gold=gold, article=title)
            ok = "error" not in r and not r["abstained"]
            r["answer_ok"] = ok and contains([r["answer"]], gold)
            r["citations_ok"] = ok and contains(r["all_cited_text"], gold)
            r["answer_ok_normalized"] = ok and contains_normalized([r["answer"]], gold)
            if "withheld" in r:
                w = r["withheld"]
                w["answer_ok"] = contains([w["answer"]], gold)
                w["citations_ok"] = contains(w["all_cited_text"], gold)
            rows.append(r)
        raw += rows
        out["xquad"] = {
            **common(rows),
            "answer_contains_gold": round(sum(r["answer_ok"] for r in rows) / max(1, len(rows)), 4),
            "answer_contains_gold_normalized": round(sum(r["answer_ok_normalized"] for r in rows) / max(1, len(rows)), 4),
            "citations_contain_gold": round(sum(r["citations_ok"] for r in rows) / max(1, len(rows)), 4),
            "false_abstention": round(sum(bool(r.get("abstained")) for r in rows) / max(1, len(rows)), 4),
        }
        engine.close()

        # -- 2. ClapNQ -------------------------------------------------------------------------
        if args.clapnq and "clapnq" in args.sets:
            engine = Engine(Path(tmp) / "clapnq", Settings(**overrides))
            folder = Path(tmp) / "clapnq-docs"
            folder.mkdir()
            sets: dict[str, list[dict[str, Any]]] = {}
            for kind in ("answerable", "unanswerable"):
                items = [json.loads(x) for x in (CLAPNQ / f"clapnq-dev-{kind}.jsonl").read_text().splitlines() if x]
                sets[kind] = items
                for it in items:
                    for j, psg in enumerate(it["passages"]):
                        (folder / f"{it['id']}-{j}.md").write_text(f"# {psg['title']}\n\n{psg['text']}\n",
                                                                 encoding="utf-8")
            for _ in engine.ingest([str(folder)]):
                pass
            res: dict[str, Any] = {}
            for kind, items in sets.items():
                rows = []
                for it in chosen(items, args.clapnq, lambda it: it["input"]):
                    r = ask(engine, it["input"])
                    r.update(set=f"clapnq-{kind}", id=it["id"])
                    own = [c for c in r.get("citations", []) if Path(c["source"]).name.startswith(it["id"])]
                    r["cites_own_passage"] = bool(own)
                    rows.append(r)
                raw += rows
                res[kind] = {**common(rows)}
                if kind == "answerable":
                    res[kind]["false_abstention"] = res[kind]["abstained"]
                    res[kind]["cites_own_passage"] = round(sum(r["cites_own_passage"] for r in rows) / len(rows), 4)
                else:
                    res[kind]["abstention"] = res[kind]["abstained"]
            out["clapnq"] = res
            engine.close()

        # -- 3. XQuAD without the article ---------------------------------------------------------
        if args.missing and "missing" in args.sets:
            # Leave out half of the articles (every other one), so the library still has neighbours
            # to confuse, and ask questions spread over the ones left out.
            arts = [a["title"] for a in load_dev()]
            titles = arts[1 + args.offset % 2 :: 2]
            picked = spread([q for q in qs if q[2] in titles], args.missing, offset=3 + args.offset)
            engine = Engine(Path(tmp) / "missing", Settings(**overrides))
            for _ in engine.ingest([str(p) for p in write_articles(Path(tmp) / "docs-missing", set(titles))]):
                pass
            rows = []
            for q, _gold, title in picked:
                r = ask(engine, q)
                r.update(set="xquad-missing", article=title)
                rows.append(r)
            raw += rows
            out["xquad_missing_article"] = {**common(rows), "articles_left_out": len(titles),
                                            "abstention": common(rows)["abstained"]}
            engine.close()
    all_rows = [r for r in raw if "error" not in r]
    # A runaway reached max_answer_tokens while repeating itself: some run of 8 words appears twice.
    out["all"] = {**common(all_rows), "runaway_answers": sum(r.get("stop_reason") == "length" and repeats(r["answer"])
                                                             for r in all_rows)}
    out["seconds"] = round(time.perf_counter() - t_all, 1)
    if args.raw:
        Path(args.raw).write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in raw) + "\n", encoding="utf-8")
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
