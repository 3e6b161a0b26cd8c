"""The machine record a result carries: the code's commit, and what decides a job's float rounding and speed
(CPU model and instruction set, GEMM path, threads, allocator, GPU and cuDNN). The training side's: it
imports torch, which the reading side (board, claims, report) never needs."""

from __future__ import annotations

import functools
import os
import platform
import subprocess
from pathlib import Path


def git(*args: str) -> str | None:
    """A git command's output in rnnreg's own checkout; None outside one (an installed wheel)."""
    try:
        out = subprocess.run(["git", *args], capture_output=True, text=True, timeout=5,
                             cwd=Path(__file__).resolve().parent)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout if out.returncode == 0 else None


# Cached: the commit of the code this process imported. Asked per job, a long run would stamp its later
# jobs with commits made while it ran, code it never loaded.
@functools.cache
def git_commit() -> str | None:
    commit = git("rev-parse", "HEAD")
    return commit.strip() or None if commit else None


@functools.cache
def git_dirty() -> bool | None:
    """Whether tracked files differ from the commit: then git_commit alone does not say what code ran."""
    status = git("status", "--porcelain", "--untracked-files=no")
    return None if status is None else bool(status.strip())


def cpu_model() -> str:
    """The CPU's model name (Linux /proc/cpuinfo), else what platform says."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info(device: str) -> dict:
    import torch

    info: dict[str, object] = {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "device": device,
    }
    info["deterministic_algorithms"] = torch.are_deterministic_algorithms_enabled()
    # What decides float rounding on CPU, so a difference between machines can be traced: the CPU model,
    # the instruction set torch's kernels dispatch to, and the step loop's GEMM path.
    info["cpu_model"] = cpu_model()
    info["cpu_capability"] = torch.backends.cpu.get_cpu_capability()
    from rnnreg.fastloop import USE_ONEDNN

    info["step_gemm"] = "oneDNN packed (large weights)" if USE_ONEDNN else "torch.mm"
    from rnnreg.allocator import state

    info["malloc"] = state()  # where freed tensors go: speed only, not rounding
    if device.startswith("cuda") and torch.cuda.is_available():
        index = torch.device(device).index or 0
        info["device_name"] = torch.cuda.get_device_name(index)
        info["cudnn"] = {"enabled": torch.backends.cudnn.enabled, "version": torch.backends.cudnn.version(),
                         "deterministic": torch.backends.cudnn.deterministic,
                         "benchmark": torch.backends.cudnn.benchmark}
    return info
