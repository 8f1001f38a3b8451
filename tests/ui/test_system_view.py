"""The machine in the cockpit: the status bar's RAM / GPU / data-wait chips, an OOM retry where the
user looks, and the `m` view. The samples here are events as a trainer journals them; a CUDA
sample is the one way to see the GPU rendering on this CPU machine."""

from __future__ import annotations

from textual.widgets import Static
from ui_fixtures.harness import fixture_events, plain, run_async, running_app

from cockpit.contract.events import DeviceStats, Notice, StepTimes, SystemSample
from cockpit.ui.system_screen import SystemScreen

TIMES = StepTimes(steps=20, total_s=0.5, data_s=0.2, forward_backward_s=0.22, optimizer_s=0.04,
                  instruments_s=0.01, other_s=0.03)  # fmt: skip
GPU = DeviceStats(index=0, name="NVIDIA H100 80GB HBM3", allocated_mib=5222.0, reserved_mib=6144.0,
                  total_mib=81559.0, peak_allocated_mib=6000.0, utilisation=97.0, power_w=251.0,
                  power_limit_w=700.0)  # fmt: skip
OOM = Notice(
    step=61, kind="out_of_memory", message="CUDA out of memory at micro-batch 16: retrying with 8 and 2 "
    "accumulation steps (effective batch stays 16)", evidence={"old_micro_batch": 16, "micro_batch": 8},
)  # fmt: skip


def sample(step: int, **changes: object) -> SystemSample:
    values = dict(step=step, interval_s=5.0, rss_mib=1240.0, ram_total_mib=24000.0, ram_available_mib=9000.0,
                  cpu_percent=180.0, devices=[GPU], step_times=TIMES)  # fmt: skip
    return SystemSample(**{**values, **changes})  # type: ignore[arg-type]


@run_async
async def test_the_status_bar_names_ram_each_gpu_the_data_wait_and_an_oom_retry() -> None:
    async with running_app([*fixture_events(), sample(60), OOM]) as (app, _pilot):
        status = str(app.query_one("#status").render())
        assert "RAM 1.21 GiB" in status and "GPU0 6.00 GiB/79.6 GiB 97% 251 W" in status
        assert "data 40% of step" in status and "⚠ OOM at step 61: micro-batch 16→8" in status


@run_async
async def test_m_opens_the_machine_view_and_it_follows_new_samples() -> None:
    async with running_app([*fixture_events(), sample(50, devices=[])]) as (app, pilot):
        await pilot.press("m")
        assert isinstance(app.screen, SystemScreen)
        body = plain(app.screen.query_one("#system-panel", Static))
        assert "trainer RAM 1.21 GiB   machine 23.4 GiB, 8.79 GiB available   CPU 180%" in body
        assert "step time 500 ms, mean of 20 steps" in body
        assert "data wait" in body and "200.0 ms   40%" in body and "cockpit instruments" in body
        assert "GPU" not in body
        app.events.put(sample(60))
        app.events.put(OOM)
        app.catch_up()
        await pilot.pause()
        body = plain(app.screen.query_one("#system-panel", Static))
        assert "GPU 0 NVIDIA H100 80GB HBM3" in body and "5.10 GiB (peak 5.86 GiB)" in body
        assert "6.00 GiB of 79.6 GiB" in body and "busy 97% of the time, power 251 W of 700 W" in body
        assert "CUDA out-of-memory retries" in body and "step 61: CUDA out of memory at micro-batch 16" in body
        await pilot.press("m")
        assert not isinstance(app.screen, SystemScreen)


@run_async
async def test_a_journal_without_system_samples_says_so() -> None:
    async with running_app(fixture_events()) as (app, pilot):
        status = str(app.query_one("#status").render())
        assert "RAM" not in status and "OOM" not in status
        await pilot.press("m")
        assert "no system sample yet" in plain(app.screen.query_one("#system-panel", Static))


@run_async
async def test_a_real_out_of_memory_retry_shows_in_the_status_bar(tiny_model, tmp_path) -> None:  # noqa: ANN001
    """The engine's own retry (a CUDA OOM cannot happen on this CPU, so the real model's forward
    raises it for batches above 4 rows), replayed from its journal: the status bar names it."""
    import torch
    from conftest import SAMPLES, tiny_engine

    from cockpit.rundir.journal import read_journal

    def fail_on_big_batches(_module: torch.nn.Module, args: tuple, kwargs: dict) -> None:
        if kwargs["input_ids"].shape[0] > 4:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory (simulated)")

    engine = tiny_engine(SAMPLES / "dei.parquet", tmp_path / "oom", tiny_model, max_steps=3, eval_split=0.0)
    engine.model.register_forward_pre_hook(fail_on_big_batches, with_kwargs=True)
    assert engine.run().reason == "finished"
    async with running_app(read_journal(tmp_path / "oom" / "journal.jsonl")) as (app, pilot):
        assert "⚠ OOM at step 1: micro-batch 8→4" in str(app.query_one("#status").render())
        await pilot.press("m")
        assert "step 1: CUDA out of memory at micro-batch 8: retrying with 4" in plain(
            app.screen.query_one("#system-panel", Static)
        )
