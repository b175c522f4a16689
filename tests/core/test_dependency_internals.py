"""The private parts of llama-cpp-python, qdrant-client and fastembed that Footnote's code relies on.

pyproject.toml bounds these libraries above the versions checked here. Before lifting a bound,
install the new version and run this file: a failure names the attribute that changed and the
Footnote code that uses it, instead of a model that stops loading or answers that never stop.
"""

from __future__ import annotations

import importlib
import inspect
import sqlite3
from pathlib import Path
from typing import Any

import numpy as np
import pytest

LLAMA_LOCAL = "core/answer/llama_local.py"


def need(obj: Any, name: str, user: str) -> Any:
    assert hasattr(obj, name), (
        f"llama-cpp-python/qdrant-client changed: {getattr(obj, '__name__', type(obj).__name__)}.{name} "
        f"is gone, and {user} relies on it")
    return getattr(obj, name)


# -- llama-cpp-python ------------------------------------------------------------------------------


def test_llama_cpp_module_level_bindings() -> None:
    import llama_cpp
    from llama_cpp import llama_cpp as lib

    for name, user in (("llama_log_callback", "_install_native_log"), ("llama_log_set", "_install_native_log"),
                       ("ggml_abort_callback", "_abort_setter and _eval_prompt (Stop during the prompt)"),
                       ("llama_get_logits_ith", "yes_probability (the answerable check)"),
                       ("llama_vocab_is_eog", "_stream_locked (end of generation)"),
                       ("llama_supports_gpu_offload", "GPU layers in settings and selftest")):
        assert callable(need(llama_cpp, name, f"{LLAMA_LOCAL} {user}")), name
    # _abort_setter binds llama_set_abort_callback from the loaded library itself.
    cdll = need(lib, "_lib", f"{LLAMA_LOCAL} _abort_setter")
    need(cdll, "llama_set_abort_callback", f"{LLAMA_LOCAL} _abort_setter (Stop during a long prompt)")
    # _model_params_patch swaps this module attribute and sets a field of what it returns.
    params = need(lib, "llama_model_default_params", f"{LLAMA_LOCAL} _model_params_patch")()
    assert "use_extra_bufts" in [f[0] for f in type(params)._fields_], \
        f"llama_model_params has no use_extra_bufts field any more; {LLAMA_LOCAL} _model_params_patch sets it"
    formatter = need(importlib.import_module("llama_cpp.llama_chat_format"), "Jinja2ChatFormatter",
                     f"{LLAMA_LOCAL} _load (chat templates)")
    accepted = inspect.signature(formatter).parameters
    for arg in ("template", "eos_token", "bos_token"):
        assert arg in accepted, f"Jinja2ChatFormatter no longer takes {arg}=; {LLAMA_LOCAL} _load passes it"


@pytest.fixture(scope="module")
def llm() -> Any:
    from core.answer.llama_local import create_llama
    from core.model_files import default_llm_path, fast_llm_path

    path = fast_llm_path() or default_llm_path()
    model = create_llama(path, n_ctx=256, n_threads=1, n_gpu_layers=0)
    yield model
    model.close()


def test_llama_object_internals(llm: Any) -> None:
    """What _load, _eval_prompt and _stream_locked use from a Llama object, with the expected shapes."""
    model = need(llm, "_model", f"{LLAMA_LOCAL} _load and _stream_locked")
    eos = llm.token_eos()
    assert isinstance(need(model, "token_get_text", f"{LLAMA_LOCAL} _load (eos/bos text)")(eos), str)
    vocab = need(model, "vocab", f"{LLAMA_LOCAL} _stream_locked (llama_vocab_is_eog)")
    import llama_cpp

    assert isinstance(llama_cpp.llama_vocab_is_eog(vocab, eos), bool)
    ids = need(llm, "_input_ids", f"{LLAMA_LOCAL} _eval_prompt (prompt cache reuse)")
    assert isinstance(ids, np.ndarray)
    tokens = llm.tokenize(b"The keeper lit the lamp.")
    assert need(llm, "longest_token_prefix", f"{LLAMA_LOCAL} _eval_prompt")(ids, tokens) == 0
    for name in ("ctx", "n_batch", "n_tokens", "eval", "reset", "generate", "detokenize", "metadata"):
        need(llm, name, f"{LLAMA_LOCAL} _eval_prompt/_stream_locked")
    llm.eval(tokens)
    assert llm.n_tokens == len(tokens) and list(llm._input_ids[: len(tokens)]) == tokens, \
        f"Llama.eval no longer records the evaluated tokens in _input_ids/n_tokens; {LLAMA_LOCAL} _eval_prompt relies on it"
    llm.n_tokens = 2  # _eval_prompt rewinds to the shared prefix by setting n_tokens
    assert llm.n_tokens == 2
    llm.reset()


def test_model_params_patch_reaches_llama_init(tmp_path: Path) -> None:
    """Llama() must take its defaults from llama_cpp.llama_cpp.llama_model_default_params at call
    time, or _model_params_patch silently stops having any effect."""
    from llama_cpp import llama_cpp as lib

    from core.answer.llama_local import _model_params_patch, create_llama
    from core.model_files import default_llm_path, fast_llm_path

    calls: list[object] = []
    original = lib.llama_model_default_params
    with _model_params_patch(True):
        patched = lib.llama_model_default_params

        def counting() -> Any:
            calls.append(1)
            return patched()

        lib.llama_model_default_params = counting
        try:
            model = create_llama(fast_llm_path() or default_llm_path(), n_ctx=64, n_threads=1, n_gpu_layers=0,
                                 vocab_only=True)
            model.close()
        finally:
            lib.llama_model_default_params = patched
    assert lib.llama_model_default_params is original
    assert calls, f"Llama() no longer calls llama_cpp.llama_cpp.llama_model_default_params; {LLAMA_LOCAL} " \
                  "_model_params_patch has no effect"


# -- qdrant-client ---------------------------------------------------------------------------------


def _tuner() -> Any:
    for module in ("core.vectorstore.client", "core.store"):
        try:
            found = getattr(importlib.import_module(module), "_tune_local_storage", None)
        except ImportError:
            continue
        if found is not None:
            return found
    raise AssertionError("Footnote's _tune_local_storage moved: update this test")


def test_qdrant_local_mode_storage_internals(tmp_path: Path) -> None:
    """_tune_local_storage puts local mode's SQLite in WAL mode through client._client.collections
    [name].storage.storage; without it imports run at about 80 points/s."""
    from qdrant_client import QdrantClient
    from qdrant_client import models as qm

    user = "Footnote's _tune_local_storage (local mode's WAL, import speed)"
    client = QdrantClient(path=str(tmp_path / "q"))
    try:
        client.create_collection("c", vectors_config={"dense": qm.VectorParams(size=4, distance=qm.Distance.DOT)})
        local = need(client, "_client", user)
        collections = need(local, "collections", user)
        assert isinstance(collections, dict) and "c" in collections, f"{user}: collections is not a dict by name"
        storage = need(collections["c"], "storage", user)
        conn = need(storage, "storage", user)
        assert isinstance(conn, sqlite3.Connection), f"{user}: storage.storage is {type(conn).__name__}, not sqlite3"
        _tuner()(client)
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        client.upsert("c", points=[qm.PointStruct(id=1, vector={"dense": [1.0, 0, 0, 0]}, payload={"doc_key": "a"})])
    finally:
        client.close()


# -- fastembed ----------------------------------------------------------------------------------------


def test_bm25_punctuation_table_is_fastembeds_own(tmp_path: Path) -> None:
    """core/embedding.py hands FastEmbed's BM25 a cached punctuation table in place of
    ``fastembed.sparse.bm25.get_all_punctuation`` (0.5 s per load); the table must be the one
    FastEmbed would compute, and keyword vectors must come out the same."""
    import fastembed.sparse.bm25 as bm25
    from fastembed.common.utils import get_all_punctuation

    from core.embedding import SparseEmbedder

    need(bm25, "get_all_punctuation", "SparseEmbedder._load (the cached punctuation table)")
    own = get_all_punctuation()
    emb = SparseEmbedder(tmp_path)
    model = emb._load()
    inner = need(model, "model", "test of SparseEmbedder's punctuation table")
    assert need(inner, "punctuation", "SparseEmbedder._load") == own
    assert list((tmp_path / "models" / "bm25").glob("punctuation-*.txt")), "the table is kept for the next load"
    again = SparseEmbedder(tmp_path)  # loads from the kept table
    text = "Hello, world! «Quoted» — text; with: punctuation… and ¿questions?"
    assert again.embed([text]) == emb.embed([text]) and again._load().model.punctuation == own
