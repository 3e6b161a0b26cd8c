"""Where result files live and how they are written: a name per job that every filesystem takes, writes
that a reader sees whole or not at all, and paths recorded relative to rnnreg's repository."""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from pathlib import Path


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.+-]+", "-", text).strip("-")


MAX_NAME = 96  # characters of a label in a file name: every filesystem takes 255 bytes, with room to spare


def safe_name(text: str) -> str:
    """`text` as a file name part: unsafe characters replaced (slug), and a long one cut, with a short hash
    of the whole so that two long labels never share a name. Decided when a job is planned, before any
    training, so a label no filesystem takes cannot fail a finished job."""
    name = slug(text) or "-"
    if len(name) <= MAX_NAME:
        return name
    return f"{name[:MAX_NAME - 13]}-{hashlib.sha256(text.encode()).hexdigest()[:12]}"


def result_path(results_dir: Path, task: str, label: str, seed: int, digest: str) -> Path:
    return results_dir / safe_name(task) / f"{safe_name(label)}__seed{seed}__{digest[:12]}.json"


def write_atomic(path: Path, payload: dict) -> None:
    """Write JSON so that readers see either no file or the whole file, never half of one."""
    write_text_atomic(path, json.dumps(payload, indent=1, sort_keys=True) + "\n")


def write_text_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes it private; results are shared like any other tool's files
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


CHECKOUT = Path(__file__).resolve().parents[1]  # rnnreg's repository, when it runs from a checkout


def repository_of(path: Path) -> Path | None:
    """The root of the git work tree holding `path` (a worktree's `.git` is a file), if any."""
    return next((folder for folder in (path, *path.parents) if (folder / ".git").exists()), None)


def portable_path(path: str | None) -> str | None:
    """A path as a result file records it: relative to the git repository that holds it, or to rnnreg's,
    else as given. Committed results must not carry one machine's absolute paths — also when the code that
    wrote them ran from another checkout (a study driven from a `git worktree` writing into the main one)."""
    if path is None:
        return None
    resolved = Path(path).resolve()
    for root in (repository_of(resolved), CHECKOUT):
        if root is not None and resolved.is_relative_to(root):
            return str(resolved.relative_to(root))
    return path
