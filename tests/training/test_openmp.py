"""Between parallel regions, torch's idle OpenMP thread spins only briefly before it sleeps.

Each case runs in a fresh interpreter (libgomp reads its settings once, when torch is imported):
`cockpit`'s entry point runs first (it sets the wait before any torch import), then two torch
threads run 200 small parallel regions with a 2 ms pause after each, as a step's regions have
Python work between them. The idle thread's spinning is CPU time the pause does not need: with
libgomp's default (300,000 spins) it spins through every pause; with cockpit's it sleeps within
microseconds. Each is compared with PASSIVE (no spin at all), which leaves the regions' own work."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from cockpit.training.openmp import CHOICES, SPIN_COUNT, choose_wait

REGIONS = """
import os, sys, time
if sys.argv[1] == "cockpit":
    from cockpit.cli.main import main
    assert main(["runs", sys.argv[2]]) == 0  # any command: the wait is chosen before torch is imported
import torch
torch.set_num_threads(2)
x = torch.ones(200_000)  # above torch's grain (32,768): each multiply is a parallel region of both threads
for _ in range(10):
    x.mul_(1.0)
cpu = time.process_time()
for _ in range(200):
    x.mul_(1.0)
    time.sleep(0.002)
print(time.process_time() - cpu)
"""


def cpu_seconds_of_regions(how: str, folder: str, **environment: str) -> float:
    env = {k: v for k, v in os.environ.items() if k not in CHOICES}
    done = subprocess.run(
        [sys.executable, "-c", REGIONS, how, folder],
        env={**env, **environment},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return float(done.stdout.split()[-1])


@pytest.mark.skipif(not sys.platform.startswith("linux") or (os.cpu_count() or 1) < 2, reason="libgomp, 2 cores")
def test_an_idle_openmp_thread_sleeps_instead_of_spinning_through_the_pauses(tmp_path) -> None:
    folder = str(tmp_path)
    sleeping = cpu_seconds_of_regions("default", folder, OMP_WAIT_POLICY="PASSIVE")  # the regions' own work
    spinning = cpu_seconds_of_regions("default", folder) - sleeping
    cockpit = cpu_seconds_of_regions("cockpit", folder) - sleeping
    # The pauses are 0.4 s: the default spins through a large part of them (measured: all).
    assert spinning > 0.15, f"libgomp's default spin did not show ({spinning:.3f} CPU s); the probe measures nothing"
    assert cockpit < spinning / 10, (cockpit, spinning)  # measured: within +-0.01 s of PASSIVE
    # A user's own choice is kept: the default spin again.
    assert cpu_seconds_of_regions("cockpit", folder, GOMP_SPINCOUNT="300000") - sleeping > spinning / 2


def test_a_users_own_choice_of_wait_is_kept() -> None:
    empty: dict[str, str] = {}
    assert choose_wait(empty) and empty == {"OMP_WAIT_POLICY": "PASSIVE", "GOMP_SPINCOUNT": str(SPIN_COUNT)}
    for chosen in ({"OMP_WAIT_POLICY": "ACTIVE"}, {"GOMP_SPINCOUNT": "5"}):
        environ = dict(chosen)
        assert not choose_wait(environ) and environ == chosen
