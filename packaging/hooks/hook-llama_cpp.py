"""PyInstaller hook for llama-cpp-python.

llama_cpp loads ``lib/libllama.so`` (and libllama loads ``libggml*``, ``libmtmd``) with ctypes from
the folder beside its own ``__file__``; no import statement reveals them, so without this the
frozen app fails with "Shared library 'llama' not found" (llama-cpp-python #1475). A CUDA build
adds ``libggml-cuda`` to the same folder and is collected the same way.
"""

from pathlib import Path

from PyInstaller.utils.hooks import copy_metadata, get_package_paths

_, _pkg = get_package_paths("llama_cpp")
# Every file of lib/, symlinks included: PyInstaller then recreates libllama.so -> libllama.so.0 ->
# libllama.so.0.5.0 as links instead of three copies of each library.
binaries = [(str(p), "llama_cpp/lib") for p in sorted(Path(_pkg, "lib").iterdir())
            if p.is_file() and (".so" in p.name or p.suffix in (".dylib", ".dll"))]
datas = copy_metadata("llama_cpp_python")
# The OpenAI-compatible server is a test tool here, never part of the app.
excludedimports = ["llama_cpp.server", "uvicorn", "fastapi", "starlette", "sse_starlette", "starlette_context",
                   "pydantic_settings"]
