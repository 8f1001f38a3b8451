"""glibc's malloc, told to keep what a training step frees for the next step.

A step allocates and frees the same large buffers every time (activations, and the gradients that
`zero_grad(set_to_none=True)` drops: MiniLM's 47 MB word-embedding gradient alone). glibc serves a
block above its mmap threshold (128 KiB, raised as large blocks are freed, to at most 32 MiB) with a
fresh `mmap`, and gives the top of its heap back to the kernel once more than the trim threshold
is free there, so the next step page-faults the same memory in again. Measured on the 2-core CPU
box (MiniLM, batch 16 x 32 tokens, the engine's step, `benchmarks/README.md`): 38,000 minor page
faults and 185-190 ms per step by default; 4,700 faults and 161-164 ms with the thresholds below,
at the same peak RSS (1.00 GB). HF Trainer's step pays the same faults.

The price: memory freed after a peak stays in the process (and is reused) instead of going back
to the kernel, as PyTorch's CUDA caching allocator keeps GPU memory. A user who chose their own
allocator settings (`MALLOC_*_` variables, `GLIBC_TUNABLES`, an allocator in `LD_PRELOAD` such as
jemalloc or tcmalloc) keeps them: nothing is changed then.
"""

from __future__ import annotations

import ctypes
import os
import sys
from collections.abc import Mapping

M_TRIM_THRESHOLD = -1  # <malloc.h>
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 256 * 2**20  # blocks up to this come from the heap (roberta-large's embedding gradient: 206 MB)
TRIM_THRESHOLD = 2**31 - 1  # the most `mallopt`'s int takes: free heap memory stays up to 2 GiB
USER_SETTINGS = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_", "MALLOC_MMAP_MAX_")


def user_chose_allocator(environ: Mapping[str, str] = os.environ) -> bool:
    """Whether the environment already says how this process allocates."""
    return (
        any(name in environ for name in USER_SETTINGS)
        or "malloc" in environ.get("GLIBC_TUNABLES", "")
        or "malloc" in environ.get("LD_PRELOAD", "")
    )


def keep_freed_memory() -> bool:
    """Raise glibc's mmap and trim thresholds for this process (Linux with glibc, unless the user
    chose otherwise); whether it did. Call it once in a process that trains, before the loop."""
    if not sys.platform.startswith("linux") or user_chose_allocator():
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt  # the process's own C library; musl has no mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1 and mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1
