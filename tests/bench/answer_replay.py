"""Replay the abstention rules over answers written with the gates off, for any thresholds.

``answer_eval.py --answerable-min 0 --grounded-min 0 --confident-min 0 --raw FILE`` writes every
answer the model would give, with the signals the rules read (the checks' P(yes), the share of
answer tokens it was unsure of, which sentences a passage supports). The rules only ever turn an
answer into an abstention, so replaying them on those rows gives what a run with the thresholds
would have reported, without generating again (one run here takes 20-30 minutes). The rules that
do not depend on a threshold (relevance, "not found", restating the question) already decided. A run
with the gates on works too, for any ``grounded_min`` and ``confident_min`` and an ``answerable_min``
at or above its own: an answer that a grounding or "unsure" rule withheld is kept in its row
(``"withheld"``) and replayed.

    python tests/bench/answer_replay.py FILE [FILE ...] --grid      # every threshold combination
    python tests/bench/answer_replay.py FILE --answerable-min 0.52 --grounded-min 0.6
"""

from __future__ import annotations

import argparse
import itertools
import json
from pathlib import Path
from typing import Any

Row = dict[str, Any]


#: Rules whose abstentions carry the answer they withheld (``"withheld"`` in the raw row).
WITHHELD = ("nothing_supported", "unsupported", "unsure")


def unwithheld(r: Row) -> Row:
    """The row as if the rule that withheld its answer had let it through."""
    if r.get("abstained") and r.get("abstain_reason") in WITHHELD and "withheld" in r:
        return {**r, **r["withheld"], "abstained": False, "abstain_reason": None}
    return r


def abstains(r: Row, a_min: float, g_min: float, c_min: float, weight: float) -> str | None:
    """The rule that would turn ``r`` into an abstention, or None (the answerer's order)."""
    r = unwithheld(r)
    if r.get("abstained"):
        return str(r.get("abstain_reason"))
    checks = r.get("answerable_checks") or []
    if not checks:
        return None
    p_mean, p_all = sum(checks) / len(checks), checks[-1]
    if p_mean < a_min:
        return "answerability"
    sentences = r.get("sentences") or []
    if g_min > 0:
        checked = [s for s in sentences if s["supported"] is False or s["citations"]]
        if checked and not any(s["supported"] for s in checked):
            return "nothing_supported"
        if any(not s["supported"] for s in sentences) and p_all < g_min:
            return "unsupported"
    unsure = r.get("unsure")
    if c_min > 0 and unsure is not None and p_mean - weight * unsure < c_min:
        return "unsure"
    return None


def score(rows: list[Row], a_min: float, g_min: float, c_min: float = 0.0, weight: float = 0.0) -> dict[str, float]:
    def share(items: list[bool]) -> float:
        return round(sum(items) / len(items), 4) if items else float("nan")

    by: dict[str, list[Row]] = {}
    for r in rows:
        if "error" not in r:
            by.setdefault(r["set"], []).append(r)
    out: dict[str, float] = {}
    xq = [unwithheld(r) for r in by.get("xquad", [])]
    if xq:
        gone = [abstains(r, a_min, g_min, c_min, weight) is not None for r in xq]
        out["xquad_gold"] = share([bool(r["answer_ok"]) and not g for r, g in zip(xq, gone)])
        out["xquad_citations"] = share([bool(r["citations_ok"]) and not g for r, g in zip(xq, gone)])
        out["xquad_false_abstention"] = share(gone)
    for name, key in (("clapnq-answerable", "clapnq_false_abstention"), ("clapnq-unanswerable", "clapnq_abstention"),
                      ("xquad-missing", "missing_abstention")):
        if by.get(name):
            out[key] = share([abstains(r, a_min, g_min, c_min, weight) is not None for r in by[name]])
    return out


TARGETS = {"xquad_gold": (0.75, 1), "xquad_citations": (0.92, 1), "xquad_false_abstention": (0.1, -1),
           "clapnq_false_abstention": (0.1, -1), "clapnq_abstention": (0.7, 1), "missing_abstention": (0.7, 1)}


def met(s: dict[str, float]) -> int:
    return sum((s[k] >= t) if sign > 0 else (s[k] <= t) for k, (t, sign) in TARGETS.items() if k in s)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("raw", nargs="+", type=Path)
    ap.add_argument("--answerable-min", type=float, default=0.52)
    ap.add_argument("--grounded-min", type=float, default=0.6)
    ap.add_argument("--confident-min", type=float, default=0.0)
    ap.add_argument("--unsure-weight", type=float, default=0.0)
    ap.add_argument("--grid", action="store_true", help="print the best combinations by targets met")
    args = ap.parse_args()
    rows = [json.loads(line) for p in args.raw for line in p.read_text().splitlines() if line.strip()]
    if not args.grid:
        print(json.dumps(score(rows, args.answerable_min, args.grounded_min, args.confident_min, args.unsure_weight)))
        return
    grid = []
    for a, g, c, w in itertools.product([x / 100 for x in range(30, 71, 2)], [0.0, 0.5, 0.6, 0.7],
                                        [0.0, *[x / 100 for x in range(30, 61, 5)]], [0.0, 0.35, 0.65, 1.0]):
        if (c == 0) != (w == 0):
            continue
        s = score(rows, a, g, c, w)
        grid.append((met(s), s.get("clapnq_abstention", 0) - s.get("xquad_false_abstention", 0)
                     - s.get("clapnq_false_abstention", 0), (a, g, c, w), s))
    grid.sort(key=lambda t: (t[0], t[1]), reverse=True)
    for m, _, params, s in grid[:25]:
        print(m, dict(zip(("answerable_min", "grounded_min", "confident_min", "unsure_weight"), params)), s)


if __name__ == "__main__":
    main()
