"""Shared helpers for benchmarks that use the dev set (../shared/data/xquad-dev.json)."""

from __future__ import annotations

import json
import os
import resource
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
DEV_SET = Path(os.environ.get("FOOTNOTE_DEV_SET", ROOT.parent / "shared" / "data" / "xquad-dev.json"))


def load_dev() -> list[dict[str, Any]]:
    data: list[dict[str, Any]] = json.loads(DEV_SET.read_text(encoding="utf-8"))["data"]
    return data


def write_articles(folder: Path) -> list[Path]:
    """One text file per article: the title as a heading, then its paragraphs."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for art in load_dev():
        title = art["title"].replace("_", " ")
        body = "\n\n".join(p["context"] for p in art["paragraphs"])
        path = folder / f"{art['title']}.md"
        path.write_text(f"# {title}\n\n{body}\n", encoding="utf-8")
        paths.append(path)
    return paths


def questions() -> list[tuple[str, list[str]]]:
    out = []
    for art in load_dev():
        for para in art["paragraphs"]:
            for qa in para["qas"]:
                out.append((qa["question"], [a["text"] for a in qa["answers"]]))
    return out


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def synthetic_docs(folder: Path, n_docs: int, paragraphs: int, seed: int = 7) -> list[Path]:
    """Generated documents built from the dev set's sentences, shuffled, so text looks real."""
    import random

    rng = random.Random(seed)
    sentences = [s.strip() + "." for art in load_dev() for p in art["paragraphs"]
                 for s in p["context"].split(". ") if len(s) > 20]
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for d in range(n_docs):
        paras = [" ".join(rng.choice(sentences) for _ in range(rng.randint(2, 5))) for _ in range(paragraphs)]
        path = folder / f"generated-{d:04d}.txt"
        path.write_text("\n\n".join(paras), encoding="utf-8")
        paths.append(path)
    return paths


def percentile(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(round(q * (len(s) - 1))))]
