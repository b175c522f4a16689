"""`make setup` never writes into the user's own data folder: the steps it runs (`setup-models
--requirements`, `--wheels`, then the verification) are run here as the Makefile runs them, with
HOME pointed at an empty folder, and nothing may appear in the data or config folder platformdirs
gives that HOME. The models come from the repository's models/bundled/ and the installed packages."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_setup_steps_leave_the_user_data_folder_alone(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("XDG_") and k not in ("FOOTNOTE_DATA_DIR", "FOOTNOTE_MODELS_DIR")}
    env["HOME"] = str(home)
    probe = "import platformdirs as p; print(p.user_data_dir('Footnote', appauthor=False)); " \
            "print(p.user_config_dir('Footnote', appauthor=False))"
    data_dir, config_dir = (Path(line) for line in subprocess.run(
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True).stdout.split("\n")[:2])
    assert home in data_dir.parents and home in config_dir.parents

    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    steps = sorted(set(re.findall(r"desktop\.main setup-models([^\n;|)]*)", makefile)))
    assert steps, "the Makefile no longer runs setup-models: update this test"
    for step in steps:
        args = step.replace("$(WHEELS)", str(tmp_path / "wheels")).split()
        done = subprocess.run([sys.executable, "-m", "desktop.main", "setup-models", *args], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, f"setup-models {step}: {done.stderr[-2000:]}"
    made = [str(p.relative_to(home)) for p in home.rglob("*")]
    assert not data_dir.exists(), f"setup wrote into the user data folder: {made}"
    assert not config_dir.exists(), f"setup wrote into the user config folder: {made}"
    assert not [m for m in made if "footnote" in m.lower()], made


def test_the_system_packages_cover_building_llama_cpp_python() -> None:
    """`make setup` compiles llama-cpp-python: a bare Debian needs a compiler, cmake, the Python
    headers and venv support, and `make sysdeps` must install them."""
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    block = re.search(r"^APT_PKGS :=(.*?)(?<!\\)\n", makefile, re.S | re.M)
    assert block is not None
    packages = block.group(1).replace("\\\n", " ").split()
    for needed in ("build-essential", "cmake", "python3-venv", "python3-dev"):
        assert needed in packages, f"APT_PKGS lacks {needed}"
