"""Where datasets live: `--data-dir`, then RNNREG_DATA_DIR, then a per-user default."""

from __future__ import annotations

import os
from pathlib import Path

DATA_DIR_ENV = "RNNREG_DATA_DIR"


def default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "rnnreg" / "data"


def resolve_data_dir(option: str | os.PathLike | None = None) -> tuple[Path, str]:
    """The data directory and how it was chosen ("--data-dir", "RNNREG_DATA_DIR" or "default")."""
    if option:
        return Path(option).expanduser(), "--data-dir"
    if os.environ.get(DATA_DIR_ENV):
        return Path(os.environ[DATA_DIR_ENV]).expanduser(), DATA_DIR_ENV
    return default_data_dir(), "default"
