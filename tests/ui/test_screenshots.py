"""Screenshots at 200 % scaling, light and dark, under Xvfb: made by tests/screenshots.py --review
into tests/screenshots/ (kept there for review), then checked: not empty, drawn at twice the
window's size, the dark one really dark, and the text of known widgets readable on its background
(never black on dark or white on light)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from PySide6.QtGui import QColor, QImage

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "tests" / "screenshots"
MIN_CONTRAST = 4.5  # WCAG AA for body text
#: The empty question box shows only its placeholder, a hint: 3:1 (WCAG's floor for UI components).
#: Fusion's light placeholder grey on white is 4.0:1.
HINT_CONTRAST = {"question_box": 3.0}


def luminance(c: QColor) -> float:
    def channel(v: int) -> float:
        s = v / 255
        return s / 12.92 if s <= 0.03928 else ((s + 0.055) / 1.055) ** 2.4
    return 0.2126 * channel(c.red()) + 0.7152 * channel(c.green()) + 0.0722 * channel(c.blue())


def contrast(a: float, b: float) -> float:
    return (max(a, b) + 0.05) / (min(a, b) + 0.05)


def colours(img: QImage, rect: list[int], step: int = 2) -> tuple[QColor, QColor]:
    """(background, text) of a region: the most common colour, and the pixel that stands out most from it."""
    x0, y0, w, h = rect
    pixels = [img.pixelColor(x, y) for y in range(max(0, y0), min(img.height(), y0 + h), step)
              for x in range(max(0, x0), min(img.width(), x0 + w), step)]
    assert pixels, f"region {rect} is outside the picture"
    bg = QColor(Counter(p.rgb() for p in pixels).most_common(1)[0][0])
    lb = luminance(bg)
    text = max(pixels, key=lambda p: contrast(luminance(p), lb))
    return bg, text


def mean_luminance(img: QImage, step: int = 8) -> float:
    vals = [luminance(img.pixelColor(x, y)) for y in range(0, img.height(), step) for x in range(0, img.width(), step)]
    return sum(vals) / len(vals)


@pytest.fixture(scope="module", params=["light-200", "dark-200"])
def shots(request: pytest.FixtureRequest) -> tuple[Path, dict]:  # type: ignore[type-arg]
    assert shutil.which("xvfb-run"), "xvfb-run is missing: run make sysdeps"
    out = SHOTS / request.param
    env = {k: v for k, v in os.environ.items() if k != "QT_QPA_PLATFORM"}
    env.update(QT_SCALE_FACTOR="2", QT_QPA_PLATFORM="xcb")
    cmd = ["xvfb-run", "-a", "-s", "-screen 0 2600x1800x24", sys.executable, str(ROOT / "tests" / "screenshots.py"),
           "--review", str(out)] + (["--dark"] if request.param.startswith("dark") else [])
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=280)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    return out, json.loads((out / "regions.json").read_text(encoding="utf-8"))


def test_the_screenshots_exist_at_twice_the_size(shots: tuple[Path, dict]) -> None:  # type: ignore[type-arg]
    out, info = shots
    assert info["scale"] == 2.0
    for name, regions in info["regions"].items():
        path = out / name
        assert path.stat().st_size > 10_000, f"{path} is (nearly) empty"
        img = QImage(str(path))
        assert not img.isNull(), path
        assert [img.width(), img.height()] == regions["window"][2:], f"{name} is not drawn at 200 %"
        assert img.width() >= 2 * 400, name
        top = Counter(img.pixelColor(x, y).rgb() for y in range(0, img.height(), 16) for x in range(0, img.width(), 16))
        assert top.most_common(1)[0][1] < 0.9 * sum(top.values()), f"{name} is one flat colour"


def test_dark_is_dark_light_is_light_and_text_stands_out(shots: tuple[Path, dict]) -> None:  # type: ignore[type-arg]
    out, info = shots
    dark = bool(info["dark"])
    problems = []
    for name, regions in info["regions"].items():
        img = QImage(str(out / name))
        overall = mean_luminance(img)
        if dark:
            assert overall < 0.2, f"{name}: the dark window is not dark (mean luminance {overall:.2f})"
        else:
            assert overall > 0.5, f"{name}: the light window is not light (mean luminance {overall:.2f})"
        for widget, rect in regions.items():
            if widget == "window":
                continue
            bg, text = colours(img, rect)
            lb, lt = luminance(bg), luminance(text)
            if dark and not widget.endswith("button") and lb >= 0.2:
                problems.append(f"{name} {widget}: background {bg.name()} is not dark")
            if lb < 0.2 and lt < lb or lb > 0.5 and lt > lb:
                problems.append(f"{name} {widget}: no readable text, only {text.name()} on {bg.name()}")
            if contrast(lb, lt) < HINT_CONTRAST.get(widget, MIN_CONTRAST):
                problems.append(f"{name} {widget}: contrast {contrast(lb, lt):.1f} of {text.name()} on {bg.name()}")
    assert not problems, problems
