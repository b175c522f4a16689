"""Search results and score fusion.

Dense search comes from Qdrant; keyword search from SQLite FTS5 ``bm25()``. They are fused in
Python as a convex mix of per-query z-normalised scores (weights chosen by the sweep in
``tests/bench/retrieval_eval.py``). Qdrant's own sparse BM25 + Query API fusion scored about the
same on the dev set (see ``--qdrant-fusion``), but Qdrant local mode's sparse query is a Python
loop over every point, about 30 ms per 1.3k chunks, while FTS5 stays a few ms at 50k.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass


@dataclass
class SearchHit:
    point_id: str
    document_id: str
    source: str
    title: str
    section: str
    page: int | None
    text: str
    score: float
    dense_score: float | None = None
    start: int = 0
    end: int = 0
    index: int = 0
    page_start: int | None = None  # for a PDF: the passage's PDFium char range on its page
    page_end: int | None = None


def _z(scores: dict[str, float]) -> dict[str, float]:
    if not scores:
        return {}
    vals = list(scores.values())
    mean = statistics.fmean(vals)
    sd = statistics.pstdev(vals) if len(vals) > 1 else 0.0
    if sd == 0:
        return {k: 0.0 for k in scores}
    return {k: (v - mean) / sd for k, v in scores.items()}


def fuse(dense: dict[str, float], sparse: dict[str, float], dense_weight: float) -> list[tuple[str, float]]:
    """Convex mix of per-query z-scores.

    A candidate missing from one list counts as three deviations below that list's mean, as in
    Qdrant's DBSF; on the dev set this beat giving it the list's lowest z (recall@5 1.0 vs 0.997).
    """
    zd, zs = _z(dense), _z(sparse)
    floor_d = floor_s = -3.0
    keys = set(zd) | set(zs)
    fused = {k: dense_weight * zd.get(k, floor_d) + (1 - dense_weight) * zs.get(k, floor_s) for k in keys}
    return sorted(fused.items(), key=lambda kv: kv[1], reverse=True)
