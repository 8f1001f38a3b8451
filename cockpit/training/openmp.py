"""How torch's idle OpenMP threads wait for the next parallel region: a short spin, then sleep.

libgomp (the OpenMP of torch's Linux wheels) reads two variables once, when torch is imported: a
waiting thread spins `GOMP_SPINCOUNT` times, then sleeps on a futex. Unset, it spins 300,000 times
(about 5 ms on the 2-core box's Xeon, ~15 ns a spin), and beside other busy processes that spin
holds the core the thread it waits for needs: a MiniLM step took 3-8x as long. With
`OMP_WAIT_POLICY=PASSIVE` alone it never spins, and each of a step's hundreds of parallel regions
pays a wake-up: 7% of a bare MiniLM CPU step on the quiet box. A spin of 300 (~5 us) catches part
of them before the thread sleeps: 4% instead of 7% there, and beside two busy processes no slower
than PASSIVE; 1,000 had rounds 45% slower there (3 of 6), 300 none (benchmarks/README.md, "How idle
OpenMP threads wait"). With `OMP_WAIT_POLICY=PASSIVE` set too, libgomp does not spin at all while
its threads outnumber the CPUs (two thread teams on a small machine).

A user who set either variable keeps their choice, and the other stays unset.
"""

from __future__ import annotations

from collections.abc import MutableMapping

SPIN_COUNT = 300
CHOICES = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")


def choose_wait(environ: MutableMapping[str, str]) -> bool:
    """Set cockpit's wait (PASSIVE, a spin of SPIN_COUNT) in `environ` unless the user chose one;
    whether it did. Call it before torch is imported: libgomp reads these once."""
    if any(name in environ for name in CHOICES):
        return False
    environ["OMP_WAIT_POLICY"] = "PASSIVE"
    environ["GOMP_SPINCOUNT"] = str(SPIN_COUNT)
    return True
