"""Reading result files: each checked against the result schema and its own config hash before anything
uses it, a verdict remembered per file (in this process, and in the folder's index while the file is
unchanged). What a result is and its hash: rnnreg.identity; naming and writing files: rnnreg.storage.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import os
from pathlib import Path

from rnnreg.identity import config_hash
from rnnreg.metrics import Result
from rnnreg.storage import write_text_atomic

SCHEMA_VERSION = 1
DEFAULT_RESULTS_DIR = "rnnreg-results"
RESULTS_DIR_ENV = "RNNREG_RESULTS_DIR"


class UnreadableResult(Exception):
    """A result file that exists but cannot be used; the message says why, in a few words."""


SCHEMA_FILE = Path(__file__).with_name("result.schema.json")


@functools.cache
def result_validator():
    """The JSON Schema of a result file (rnnreg/result.schema.json), compiled once per process."""
    import jsonschema

    schema = json.loads(SCHEMA_FILE.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def check_result(data: object) -> None:
    """Raise UnreadableResult unless `data` is a result every reader can rely on: the schema's types,
    required fields and per-metric ranges (perplexity >= 1, error in [0, 1], RMSE >= 0), finite metric
    values, and an identity that is its config's: the hash recomputed from the config, and the task,
    regularizer and seed the board ranks by equal to the config's. The hash is the cache key and the row's
    identity, so a file edited after it was written is refused, not ranked."""
    if not isinstance(data, dict):
        raise UnreadableResult(f"holds a JSON {type(data).__name__}, not a result object")
    if data.get("schema_version") != SCHEMA_VERSION:
        raise UnreadableResult(f"schema_version {data.get('schema_version')!r}, this rnnreg reads {SCHEMA_VERSION}")
    import jsonschema

    error = jsonschema.exceptions.best_match(result_validator().iter_errors(data))
    if error is not None:
        where = ".".join(map(str, error.absolute_path)) or "the file"
        raise UnreadableResult(f"fails the result schema at {where}: {error.message}")
    for name, entry in (data.get("metrics") or {}).items():
        if not math.isfinite(entry["value"]):
            raise UnreadableResult(f"fails the result schema at metrics.{name}.value: {entry['value']!r} is not "
                                   "a finite number")
    if data["status"] == "ok" and Result(data).value() is None:
        raise UnreadableResult(f"has no metrics.{Result(data).name()}, the task's primary metric")
    config = data["config"]
    if config_hash(config) != data["config_hash"]:
        raise UnreadableResult("has a config_hash that does not match its config (edited after it was written)")
    for key, mine in (("task", {k: data["task"][k] for k in ("name", "version", "kind")}),
                      ("regularizer", data["regularizer"]), ("seed", data["seed"])):
        if config[key] != mine:
            raise UnreadableResult(f"has a {key} that differs from its config's (edited after it was written)")


_checked: dict[tuple[str, int, int], str] = {}  # (path, mtime ns, size) → the text that passed check_result


def read_result(path: Path) -> dict:
    """One result file, checked (`check_result`) once per process for as long as the file is unchanged: a run
    looks at a job's file when it plans it, when a worker is about to train it and when it reads it back,
    and validation is most of a read's cost."""
    try:
        stat = os.stat(path)
        key = (str(path), stat.st_mtime_ns, stat.st_size)
        text = Path(path).read_text()
        data = json.loads(text)
    except (OSError, UnicodeDecodeError) as exc:
        raise UnreadableResult(f"cannot be read ({exc.__class__.__name__})") from None
    except json.JSONDecodeError as exc:
        raise UnreadableResult(f"not valid JSON (line {exc.lineno}, column {exc.colno})") from None
    if _checked.get(key) != text:
        check_result(data)
        _checked[key] = text
    data["_path"] = str(path)
    return data


def read_results(results_dir: Path) -> tuple[list[dict], list[tuple[str, str]]]:
    """Every result file under `results_dir`, and (path, reason) for each one that could not be used.
    Temporary files of a write in progress (names starting with '.') are not results yet.

    Reading and validating a file costs ~2 ms (the JSON Schema check most of it), which a board rebuilt
    after every job over thousands of tuning trials would pay each time. So what a read found is kept in
    `RESULTS_DIR/.rnnreg-index` (JSON, named so that no `*.json` glob takes it for a result), keyed by
    each file's path, modification time (ns) and size, and by the reader (schema, checks, rnnreg version):
    a file whose key changed is read and checked again, a file that is gone drops out, an index that
    cannot be read is rebuilt, one that cannot be written is skipped."""
    root = Path(results_dir)
    index = ResultIndex(root)
    results, unreadable = [], []
    for path in sorted(root.rglob("*.json")):
        if any(part.startswith(".") for part in path.relative_to(root).parts):
            continue
        try:
            result = index.read(path)
        except UnreadableResult as exc:
            unreadable.append((str(path), str(exc)))
            continue
        result["_path"] = str(path)
        results.append(result)
    index.save()
    return results, unreadable


INDEX_FILE = ".rnnreg-index"


class ResultIndex:
    """What earlier reads of a results folder found, by file: the checked result or why it was refused."""

    def __init__(self, root: Path):
        self.path, self.root = root / INDEX_FILE, root
        self.reader = reader_identity()
        self.old: dict[str, dict] = {}
        self.new: dict[str, dict] = {}
        try:
            stored = json.loads(self.path.read_text())
            if stored.get("reader") == self.reader:
                self.old = stored["files"]
        except (OSError, ValueError, KeyError, AttributeError, TypeError):
            pass  # none yet, or unreadable: rebuilt from the files

    def read(self, path: Path) -> dict:
        name = path.relative_to(self.root).as_posix()
        stat = path.stat()  # before the read: a file replaced meanwhile has a new key next time
        key = [stat.st_mtime_ns, stat.st_size]
        entry = self.old.get(name)
        if entry is None or entry.get("key") != key:
            try:
                result = read_result(path)
                result.pop("_path", None)
                entry = {"key": key, "result": result}
            except UnreadableResult as exc:
                entry = {"key": key, "refused": str(exc)}
        self.new[name] = entry
        if "refused" in entry:
            raise UnreadableResult(entry["refused"])
        return dict(entry["result"])  # the caller adds `_path`, which the index must not keep

    def save(self) -> None:
        if self.new == self.old:
            return
        try:
            write_text_atomic(self.path, json.dumps({"reader": self.reader, "files": self.new},
                                                    separators=(",", ":")))
        except OSError:
            pass  # a folder this process may not write to: the next read checks every file again


@functools.cache
def reader_identity() -> str:
    """What an index entry's verdict depends on besides the file: the schema, the checks (this module's
    source) and rnnreg's version."""
    from rnnreg import __version__

    digest = hashlib.sha256(SCHEMA_FILE.read_bytes() + Path(__file__).read_bytes() + __version__.encode())
    return digest.hexdigest()[:16]


