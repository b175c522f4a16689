"""The menu entry: "Open with Footnote" offers the document types Footnote reads and passes the
chosen files and URLs on (``%U``), and ``make install-desktop`` keeps that when it points Exec at
the built app."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

READS = {"text/plain", "text/markdown", "text/html", "application/xhtml+xml", "application/pdf",
         "application/vnd.openxmlformats-officedocument.wordprocessingml.document"}


def entry(path: Path) -> dict[str, str]:
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "[Desktop Entry]"
    return dict(line.split("=", 1) for line in lines[1:] if "=" in line and not line.startswith("#"))


def test_entry_declares_the_document_types_and_takes_files_and_urls() -> None:
    e = entry(ROOT / "assets" / "footnote.desktop")
    assert e["Exec"] == "footnote %U"
    mime = set(e["MimeType"].rstrip(";").split(";"))
    assert READS <= mime
    assert not any(m.startswith("x-scheme-handler/") for m in mime)  # never the browser for web links


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_install_desktop_points_at_the_built_app_and_keeps_the_arguments(tmp_path: Path) -> None:
    tree = tmp_path / "tree with space"
    (tree / "assets").mkdir(parents=True)
    shutil.copy(ROOT / "Makefile", tree / "Makefile")
    for name in ("footnote.desktop", "footnote.svg", "footnote.png"):
        shutil.copy(ROOT / "assets" / name, tree / "assets" / name)
    app = tree / "dist" / "Footnote" / "footnote"
    app.parent.mkdir(parents=True)
    app.write_text("#!/bin/sh\n", encoding="utf-8")
    app.chmod(0o755)
    apps, icons = tmp_path / "apps", tmp_path / "icons"
    subprocess.run(["make", "-s", "install-desktop", f"DESKTOP_DIR={apps}", f"ICON_DIR={icons}"], cwd=tree,
                   check=True, capture_output=True, text=True, timeout=60)
    installed = apps / "footnote.desktop"
    e = entry(installed)
    assert e["Exec"] == f'"{app}" %U'
    assert READS <= set(e["MimeType"].rstrip(";").split(";"))
    assert (icons / "scalable" / "apps" / "footnote.svg").is_file()
    validate = shutil.which("desktop-file-validate")
    if validate is not None:
        result = subprocess.run([validate, str(installed)], capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stdout + result.stderr
