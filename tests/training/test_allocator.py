"""A training process keeps what a step frees: the next step's large buffers do not page-fault in again.

Each case runs in a fresh interpreter (the allocator's settings are process-wide) and counts the
minor page faults of each of ten step-like rounds of allocating, filling and freeing tensors, the
largest 64 MiB (a word-embedding gradient, which `zero_grad(set_to_none=True)` drops every step).
The median round is what a step costs once warm: the heap may still grow once or twice in the first
measured rounds (measured: 1 run in 4 faults one buffer's pages in each of two rounds, then never)."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys

import pytest

from cockpit.training.allocator import user_chose_allocator

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc")

ROUNDS = """
import resource, sys, torch
from cockpit.training.allocator import keep_freed_memory
applied = keep_freed_memory() if sys.argv[1] == "tuned" else False

def step():  # buffers of a step's sizes, written, then freed in another order than they came
    gradient = torch.ones(16 * 2**20)  # 64 MiB of float32
    activation = torch.ones(3 * 2**20)
    del gradient
    scratch = torch.ones(2**20)
    del activation, scratch

for _ in range(3):  # warm-up: the heap grows to what a step needs
    step()
faults = []
for _ in range(10):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    step()
    faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
print(applied, *faults)
"""
PAGES = 64 * 2**20 // os.sysconf("SC_PAGE_SIZE")


def faults(mode: str, **env: str) -> tuple[bool, float]:
    """(whether the thresholds were set, the median round's minor page faults)."""
    clean = {k: v for k, v in os.environ.items() if not user_chose_allocator({k: v})}
    done = subprocess.run(
        [sys.executable, "-c", ROUNDS, mode], env={**clean, **env}, capture_output=True, text=True, check=True
    )
    applied, *rounds = done.stdout.split()
    return applied == "True", statistics.median(int(count) for count in rounds)


def test_freed_buffers_are_reused_without_faulting_them_in_again() -> None:
    applied, tuned = faults("tuned")
    _, default = faults("default")
    assert applied
    assert default > PAGES / 2  # glibc's default: each step maps its 64 MiB afresh (measured: all its pages)
    assert tuned < PAGES / 40  # kept: a warm step faults next to nothing of it (measured: 0)


def test_a_user_who_chose_their_own_settings_keeps_them() -> None:
    applied, count = faults("tuned", MALLOC_TRIM_THRESHOLD_="131072")
    assert not applied
    assert count > PAGES / 2  # the user's small trim threshold still hands the memory back
    assert user_chose_allocator({"LD_PRELOAD": "/usr/lib/libjemalloc.so.2"})
    assert user_chose_allocator({"GLIBC_TUNABLES": "glibc.malloc.trim_threshold=0"})
    assert not user_chose_allocator({"GLIBC_TUNABLES": "glibc.cpu.hwcaps=-AVX512F", "LD_PRELOAD": ""})
