"""Error types the engine raises. Every message names the item and the reason, for the user."""

from __future__ import annotations


class FootnoteError(Exception):
    """Base class: ``str(err)`` is a complete message fit to show a person."""


class LoadError(FootnoteError):
    """A file or page could not be read into text."""

    def __init__(self, source: str, reason: str) -> None:
        super().__init__(f"{source}: {reason}")
        self.source = source
        self.reason = reason


class SkippedItem(LoadError):
    """Not imported, on purpose: a link leading outside the imported folder, an unsupported type."""


class UnsupportedFileType(SkippedItem):
    """A file of a type Footnote does not read."""


class ModelError(FootnoteError):
    """A model file is missing or corrupt; the message says how to fix it."""


class LibraryLockedError(FootnoteError):
    """Another Footnote process holds this data folder."""

    def __init__(self, data_dir: str) -> None:
        super().__init__(f"this library is already open in another Footnote process: {data_dir}")
        self.data_dir = data_dir
