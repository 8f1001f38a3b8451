"""The machine sampler's code paths that need no GPU: RSS and RAM (psutil and /proc agree), the CPU
share, pynvml missing or without a driver (said in the sample's note), the step-time means, and
the sample through the journal. The CUDA reading itself is in test_cuda.py's GPU tests."""

from __future__ import annotations

import json
import time

import psutil
import pytest
import torch

from cockpit.contract.events import SystemSample
from cockpit.rundir.journal import parse_event
from cockpit.training import system
from cockpit.training.system import NO_NVML, MachineSampler, PhaseClock, open_nvml


def test_rss_and_ram_from_proc_agree_with_psutil(monkeypatch: pytest.MonkeyPatch) -> None:
    with_psutil, ram_psutil = system.rss_mib(), system.ram_mib()
    monkeypatch.setattr(system, "psutil", None)
    from_proc, ram_proc = system.rss_mib(), system.ram_mib()
    assert from_proc == pytest.approx(with_psutil, rel=0.05)
    assert ram_proc[0] == pytest.approx(ram_psutil[0], rel=0.01) and ram_proc[1] > 0


def test_a_cpu_sample_has_the_process_memory_its_cpu_share_and_no_device() -> None:
    sampler = MachineSampler(torch.device("cpu"))
    burnt = time.process_time()
    while time.process_time() - burnt < 0.2:  # one busy core for a moment
        pass
    sample = sampler.sample(7, None)
    assert sample.step == 7 and sample.devices == [] and sample.note == ""
    assert sample.rss_mib == pytest.approx(psutil.Process().memory_info().rss / 2**20, rel=0.05)
    assert sample.ram_total_mib == pytest.approx(psutil.virtual_memory().total / 2**20, rel=0.01)
    assert 0 < sample.cpu_percent < 100 * (psutil.cpu_count() or 1) + 10  # (the machine is shared: no floor)


def test_without_pynvml_or_without_a_driver_the_note_says_why() -> None:
    def missing(name: str):
        raise ImportError(name)

    assert open_nvml(missing) == (None, NO_NVML)
    pytest.importorskip("pynvml")  # nvidia-ml-py, the `gpu` extra: installed here, but no driver
    nvml, note = open_nvml()
    if torch.cuda.is_available():
        pytest.skip("a GPU machine: NVML starts")
    assert nvml is None and note.startswith("NVML did not start (") and "no GPU utilisation" in note


def test_step_times_are_means_and_other_is_what_the_named_parts_leave() -> None:
    clock = PhaseClock()
    assert clock.means() is None
    clock.add(total=1.0, data=0.1, forward_backward=0.6, optimizer=0.1, instruments=0.05)
    clock.add(total=0.6, data=0.1, forward_backward=0.4, optimizer=0.05, instruments=0.05)
    times = clock.means()
    assert times is not None and times.steps == 2 and times.total_s == pytest.approx(0.8)
    assert times.data_s == pytest.approx(0.1) and times.other_s == pytest.approx((1.6 - 1.45) / 2)


def test_a_sample_goes_through_the_journal_and_an_older_journal_without_it_reads() -> None:
    sample = MachineSampler(torch.device("cpu")).sample(3, PhaseClock(1, 0.5, 0.1, 0.3, 0.05, 0.02).means())
    assert parse_event(json.dumps(sample.to_dict())) == sample
    # a journal from before system samples has none; one from a newer version may add fields
    newer = {**sample.to_dict(), "disk_free_mib": 1.0, "devices": [{"index": 0, "name": "x", "allocated_mib": 1,
             "reserved_mib": 2, "total_mib": 3, "temperature_c": 60}]}  # fmt: skip
    read = parse_event(json.dumps(newer))
    assert isinstance(read, SystemSample) and read.devices[0].reserved_mib == 2.0
