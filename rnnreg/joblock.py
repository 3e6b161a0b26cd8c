"""One job, one trainer: a lock file per job in the results folder, across processes, executors and hosts.

`RESULTS_DIR/.locks/<config hash>.lock` is created with O_CREAT | O_EXCL (atomic on local filesystems and
NFS v3+), holds who took it (host, pid, start time, label) and is refreshed every `HEARTBEAT_SECONDS` by a
thread of the holder. A second `rnnreg run` on the same folder finds the lock and moves on to its next job
instead of training this one again. A lock is stale -- its holder died without removing it -- when its
holder was on this host and that pid is gone, or when it has not been refreshed for `STALE_AFTER_SECONDS`
(a holder on another host, or a frozen one; RNNREG_LOCK_STALE_SECONDS sets it). A stale lock is taken
over, and the taker says so in one line; takeover renames the stale file first, so of two processes that
find it stale at once, one wins.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path

LOCK_DIR = ".locks"
HEARTBEAT_SECONDS = 30.0
STALE_AFTER_SECONDS = 600.0  # 20 missed heartbeats; RNNREG_LOCK_STALE_SECONDS overrides it


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def describe(holder: dict) -> str:
    return f"pid {holder.get('pid')} on {holder.get('host')} since {holder.get('started_at')}"


class JobLock:
    def __init__(self, results_dir: Path, config_hash: str, label: str = "",
                 warn: Callable[[str], None] = lambda message: None):
        self.path = Path(results_dir) / LOCK_DIR / f"{config_hash}.lock"
        self.label, self.warn = label, warn
        self._stop = threading.Event()
        self._beat: threading.Thread | None = None

    def acquire(self) -> dict | None:
        """Take the lock: None when taken, else the live holder's record (the job runs elsewhere)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(3):  # a takeover race lost, or a holder that released between our two looks: try again
            if self._create():
                self._beat = threading.Thread(target=self._heartbeat, name=f"lock {self.path.name}", daemon=True)
                self._beat.start()
                return None
            holder = self.holder()
            if holder is None:
                continue
            why = self.stale_because(holder)
            if why is None:
                return holder
            claimed = self.path.with_name(f".{self.path.name}.{os.getpid()}.stale")
            try:
                os.rename(self.path, claimed)  # atomic: only one taker moves the stale file away
            except FileNotFoundError:
                continue
            claimed.unlink(missing_ok=True)
            self.warn(f"took over a stale lock of {self.label or self.path.stem} ({describe(holder)}: {why})")
        return self.holder() or {"host": "?", "pid": "?", "started_at": "?"}

    def _create(self) -> bool:
        try:
            fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        record = {"host": socket.gethostname(), "pid": os.getpid(), "label": self.label,
                  "started_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}
        with os.fdopen(fd, "w") as f:
            json.dump(record, f)
        return True

    def holder(self) -> dict | None:
        """Who holds the lock now; None when nobody does. A lock being written reads as held."""
        try:
            text = self.path.read_text()
            mtime = self.path.stat().st_mtime
        except FileNotFoundError:
            return None
        try:
            record = json.loads(text)
        except json.JSONDecodeError:
            record = {}  # written this instant, or torn by a crash: judged by its age alone
        return {**(record if isinstance(record, dict) else {}), "mtime": mtime}

    @staticmethod
    def stale_because(holder: dict) -> str | None:
        if holder.get("host") == socket.gethostname() and isinstance(holder.get("pid"), int) \
                and not pid_alive(holder["pid"]):
            return "that process is gone"
        age = time.time() - holder["mtime"]
        if age > float(os.environ.get("RNNREG_LOCK_STALE_SECONDS", STALE_AFTER_SECONDS)):
            return f"not refreshed for {age:.0f} s"
        return None

    def _heartbeat(self) -> None:
        while not self._stop.wait(HEARTBEAT_SECONDS):
            try:
                os.utime(self.path)
            except FileNotFoundError:
                return

    def release(self) -> None:
        self._stop.set()
        if self._beat is not None:
            self._beat.join()
            self._beat = None
            self.path.unlink(missing_ok=True)
