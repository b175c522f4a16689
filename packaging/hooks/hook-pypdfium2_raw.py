"""PyInstaller hook for pypdfium2's PDFium binary (pypdfium2_raw).

pypdfium2_raw loads ``libpdfium`` with ctypes from the folder beside its own ``__file__`` and reads
``version.json`` from there; no import reveals either. pyinstaller-hooks-contrib has had the same
hook since 2025; this copy keeps an older hooks-contrib from building an app whose every PDF fails
with "the reader failed".
"""

from PyInstaller.utils.hooks import collect_data_files, collect_dynamic_libs

binaries = collect_dynamic_libs("pypdfium2_raw")
datas = collect_data_files("pypdfium2_raw")
