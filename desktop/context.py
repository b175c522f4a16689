"""What CLI subcommands get: parsed global options and a lazily opened engine."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from core.engine import Engine


@dataclass
class CliContext:
    data_dir: Path
    json: bool = False
    out: IO[str] = field(default_factory=lambda: sys.stdout)
    err: IO[str] = field(default_factory=lambda: sys.stderr)
    _engine: Engine | None = None

    def engine(self) -> Engine:
        """Open the library once; raises LibraryLockedError if another process holds it."""
        if self._engine is None:
            from core.engine import Engine

            self._engine = Engine(self.data_dir)
        return self._engine

    def emit(self, obj: Any) -> None:
        """One JSON object per line on stdout (the --json contract)."""
        from core.text_safety import json_safe

        self.out.write(json_safe(json.dumps(obj, ensure_ascii=False)) + "\n")
        self.out.flush()

    def close(self) -> None:
        if self._engine is not None:
            self._engine.close()
            self._engine = None
