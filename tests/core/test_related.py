"""Related documents: among articles on distinct topics, a document's closest one shares its topic."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from core.engine import Engine

ROOT = Path(__file__).resolve().parents[2]

ARTICLES = {
    "tides-1.md": "# Tides\n\nThe Moon's gravity pulls the oceans into two bulges, so most coasts see two high tides a "
                  "day. Spring tides, with the largest range, come when the Sun and Moon line up at new and full moon.",
    "tides-2.md": "# Tidal range\n\nThe Bay of Fundy has the largest tidal range on Earth, over sixteen metres between "
                  "low and high water; neap tides at the quarter moons rise and fall much less.",
    "bees-1.md": "# Honey bees\n\nA forager bee that finds flowers returns to the hive and performs a waggle dance "
                 "whose angle and duration tell her sisters the direction and distance of the nectar.",
    "bees-2.md": "# The hive\n\nWorker bees build wax comb, feed the larvae with royal jelly or pollen, and guard the "
                 "entrance of the colony; the queen lays up to two thousand eggs a day.",
    "volcano-1.md": "# Volcanoes\n\nMagma rises through the crust and erupts as lava, ash and gas; the 2010 eruption "
                    "of Eyjafjallajökull in Iceland grounded flights across Europe.",
    "volcano-2.md": "# Lava\n\nBasaltic lava from shield volcanoes such as Kilauea flows far and fast, while sticky "
                    "rhyolitic magma builds steep cones and explosive eruptions.",
}


def _library(tmp_path: Path) -> tuple[Path, Path]:
    docs = tmp_path / "docs"
    docs.mkdir()
    for name, text in ARTICLES.items():
        (docs / name).write_text(text, encoding="utf-8")
    return docs, tmp_path / "data"


def test_each_documents_closest_relative_shares_its_topic(tmp_path: Path) -> None:
    docs, data = _library(tmp_path)
    engine = Engine(data)
    try:
        assert sum(ev.kind == "done" for ev in engine.ingest([str(docs)])) == len(ARTICLES)
        for name in ARTICLES:
            related = engine.related(str(docs / name), k=3)
            assert related, name
            names = [Path(d.source).name for d, _ in related]
            assert name not in names
            assert names[0].split("-")[0] == name.split("-")[0], (name, names)
            scores = [s for _, s in related]
            assert scores == sorted(scores, reverse=True)
    finally:
        engine.close()


def test_related_from_the_command_line(tmp_path: Path) -> None:
    docs, data = _library(tmp_path)
    run = [sys.executable, "-m", "desktop.main", "--data-dir", str(data)]
    assert subprocess.run([*run, "ingest", str(docs)], cwd=ROOT, capture_output=True, timeout=300).returncode == 0
    proc = subprocess.run([*run, "--json", "related", str(docs / "bees-1.md"), "--top-k", "2"], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert Path(out["related"][0]["source"]).name == "bees-2.md" and len(out["related"]) == 2
    missing = subprocess.run([*run, "related", "nope.md"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert missing.returncode == 1 and "no such document" in missing.stderr
