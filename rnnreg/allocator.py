"""Keep freed memory in the process, so a training step does not pay the kernel for it again.

glibc's malloc serves a request above its mmap threshold (128 KiB, rising to at most 32 MiB as mapped
blocks are freed) with a fresh mapping and returns it to the kernel on free. A training step allocates
tensors above that size every time (at the sentiment GRU's shape, 128 × 200 × 3 · 128 floats is 39 MB), so
every step touched new pages: ~30,000 page faults per forward and backward of that GRU's recurrence on the
development machine (a small VM, where a fault is dear), and the recurrence ran 30–40 % slower than with
the memory kept. Raising the mmap threshold and the trim threshold makes freed blocks stay on the heap for
the next step's tensors, which is what jemalloc or tcmalloc, the allocators PyTorch's CPU tuning guide
suggests, do by default.

The runner sets it before each job (so every way of training gets it: `run`, `tune`, pool workers, Ray
tasks), and `rnnreg bench` before it times anything. Only where tensors live changes, not what is
computed: results are the same number for number (tests/test_allocator.py trains one job both ways).
RNNREG_KEEP_FREED_MEMORY=0 leaves malloc as it is.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os

# mallopt parameters, from glibc's malloc.h
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 1 << 30  # requests up to 1 GiB come from the heap and go back to it
TRIM_THRESHOLD = (1 << 31) - 1  # the heap's free top is never handed back (mallopt takes an int)

_applied: bool | None = None


def keep_freed_memory() -> bool:
    """Tune glibc's malloc for this process, once; True when it took effect. A no-op (False) where the
    C library is not glibc (musl, macOS, Windows) or RNNREG_KEEP_FREED_MEMORY=0."""
    global _applied
    if _applied is None:
        _applied = os.environ.get("RNNREG_KEEP_FREED_MEMORY", "1") != "0" and _mallopt()
    return _applied


def _mallopt() -> bool:
    name = ctypes.util.find_library("c")
    if not name:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc: no mallopt to call
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    # mallopt returns 1 on success; both must hold, or freed blocks still go back to the kernel.
    return mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1 and mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1


def state() -> str:
    """How this process's malloc treats freed memory, for a result's machine record."""
    return "kept (glibc mallopt)" if _applied else "default"
