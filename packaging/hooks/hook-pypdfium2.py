"""PyInstaller hook for pypdfium2: it reads its own ``version.json`` at import time."""

from PyInstaller.utils.hooks import collect_data_files

datas = collect_data_files("pypdfium2")
