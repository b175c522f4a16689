"""The one citation grammar: ``[n]`` markers in answers, parsed here and nowhere else.

``[1]``, ``[2, 3]``, ``[1][2]``, ``[1-3]`` and ``[1 and 2]`` are understood. A number that names no
prompted source is removed from the answer text and logged, never returned as a citation.
"""

from __future__ import annotations

import logging
import re

from core.conversations import Citation
from core.retrieval import SearchHit

log = logging.getLogger(__name__)

MARKER = re.compile(r"\[\s*(\d+(?:\s*(?:[,;]|-|–|and)\s*\d+)*)\s*\]")
WORD = re.compile(r"\w+", re.UNICODE)
def parse_markers(text: str) -> list[int]:
    """Source numbers cited in ``text``, in order of first appearance, without repeats."""
    seen: list[int] = []
    for m in MARKER.finditer(text):
        for n in expand_group(m.group(1)):
            if n not in seen:
                seen.append(n)
    return seen


def expand_group(group: str) -> list[int]:
    """The numbers one marker names: "2, 3", "1-3" and "1 and 2" are understood."""
    out: list[int] = []
    for part in re.split(r"\s*(?:[,;]|and)\s*", group):
        part = part.strip()
        if not part:
            continue
        bounds = re.split(r"\s*[-–]\s*", part)
        if len(bounds) == 2 and bounds[0].isdigit() and bounds[1].isdigit():
            lo, hi = int(bounds[0]), int(bounds[1])
            if 0 < hi - lo < 20:
                out.extend(range(lo, hi + 1))
                continue
        if part.isdigit():
            out.append(int(part))
    return out


def strip_invalid_markers(text: str, valid: set[int]) -> str:
    """Remove numbers that name no prompted source; an emptied bracket disappears entirely."""

    def fix(m: re.Match[str]) -> str:
        nums = expand_group(m.group(1))
        keep = [n for n in nums if n in valid]
        if len(keep) == len(nums):
            return m.group(0)
        if not keep:
            return ""
        return "[" + ", ".join(str(n) for n in keep) + "]"

    cleaned = MARKER.sub(fix, text)
    return re.sub(r"[ \t]+([.,;:!?])", r"\1", cleaned).strip() if cleaned != text else text


def snapshot(n: int, hit: SearchHit) -> Citation:
    return Citation(
        n=n,
        chunk_id=hit.point_id,
        document_id=hit.document_id,
        source=hit.source,
        title=hit.title,
        section=hit.section,
        page=hit.page,
        text=hit.text,
    )
