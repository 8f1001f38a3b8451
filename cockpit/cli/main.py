"""Argument parsing only: build a RunConfig, then train headless, open the cockpit, or replay.

A CockpitError (bad input, worded for the user) is caught here, once, and printed as one line
with exit status 2.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from cockpit.contract.commands import COMMAND_FORMS
from cockpit.contract.config import DEFAULT_LR, DEFAULT_MODEL, LORA_LR, PRECISIONS, TASK_CHOICES, RunConfig
from cockpit.contract.errors import CockpitError
from cockpit.contract.events import Notice
from cockpit.rundir.layout import CONFIG_NAME, JOURNAL_NAME, LOCK_NAME, is_adapter_folder
from cockpit.training.openmp import choose_wait

if TYPE_CHECKING:
    from cockpit.training.prepare import PreparedRun


def _int_list(text: str) -> list[int]:
    try:
        return [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected row numbers like 3,17,42, got {text!r}") from None


def _share_or_split(text: str) -> float | str:
    """`--eval-split 0.1` (a share of the rows) or `--eval-split validation` (a dataset's split)."""
    try:
        return float(text)
    except ValueError:
        return text


def _str_list(text: str) -> list[str]:
    return [v.strip() for v in text.split(",") if v.strip()]


class _Parser(argparse.ArgumentParser):
    """Usage errors as the one line every other error is (the full usage is one `--help` away)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"cockpit: error: {message} (see {self.prog} --help)\n")


class _HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Every flag's default in its help line (as `git`/`kubectl` users expect), examples kept as written."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if action.default not in (None, False, [], argparse.SUPPRESS) and "(default" not in text:
            text += " (default: %(default)s)"
        return text


TRAIN_EXAMPLES = """examples:
  cockpit train data/all.parquet                     open the cockpit on a new run (d detaches, q quits)
  cockpit train data.csv --lr 3e-4 --epochs 6 --pos-weight auto
  cockpit train data.jsonl --freeze 0.5 --at 200:unfreeze=all --headless
  cockpit train data.parquet --lora --merge-lora     LoRA adapters per layer group (pip install "cockpit[lora]")
  cockpit train --resume runs/20261207-101500-all     continue after Ctrl-C, kill -9 or a crash
  cockpit train data.parquet --model roberta-base --nproc 4   four GPUs, one run
"""

MAIN_EXAMPLES = """examples:
  cockpit train sample_data/dei.parquet     fine-tune the embedded MiniLM on the shipped sample
  cockpit attach                            the newest live run under ./runs
  cockpit runs                              every run under ./runs
  cockpit send runs/x freeze=layer.0-3      steer a live run from a script
  cockpit compare runs/a runs/b             two runs side by side (--json: the table)
"""


def build_parser() -> argparse.ArgumentParser:
    from cockpit import __version__

    parser = _Parser(
        prog="cockpit",
        description="A terminal training cockpit for fine-tuning Hugging Face text classifiers.",
        epilog=MAIN_EXAMPLES,
        formatter_class=_HelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"cockpit {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    train = commands.add_parser(
        "train",
        help="fine-tune a classifier on a data file (opens the cockpit)",
        description="Fine-tune a text classifier with the cockpit open (or --headless).",
        usage="cockpit train DATA [options]\n       cockpit train --resume RUN_DIR [options]",
        epilog=TRAIN_EXAMPLES,
        formatter_class=_HelpFormatter,
    )
    what = train.add_argument_group("what to train")
    what.add_argument(
        "data",
        nargs="?",
        help="a .parquet, .csv, .jsonl, .json, .arrow or .feather file, a datasets save_to_disk or Hub-layout "
        "folder, or a Hub dataset name (org/name or org/name:config)",
    )
    what.add_argument("--model", default=DEFAULT_MODEL, help="a local model folder or a Hub name")
    what.add_argument(
        "--resume",
        metavar="RUN_DIR",
        help="continue a run from its latest good checkpoint, on the same data; --max-steps, --lr, --save-every, "
        "--save-minutes, --eval-every, --keep-checkpoints and --device may change, other flags must match the run",
    )
    what.add_argument(
        "--text-column",
        help="the text column; a pair: a,b (encoded as sentence pairs); joined: a+b (default: text, sentence, a known "
        "pair such as sentence1,sentence2, or the only string column)",
    )
    what.add_argument(
        "--label-columns", type=_str_list, help="a label column, or several 0/1 columns, one per label (multilabel)"
    )
    what.add_argument("--label-names", type=_str_list, help="names for integer classes or 0/1 multi-hot lists")
    what.add_argument(
        "--task",
        default="auto",
        choices=TASK_CHOICES,
        help="what the labels are: auto reads them (names and integers: classes; fractional floats: regression; "
        "lists: multilabel) and says so before step 1",
    )
    what.add_argument(
        "--train-split", metavar="NAME", help="a datasets folder's or Hub dataset's split to train on (default train)"
    )
    what.add_argument(
        "--dry-run",
        action="store_true",
        help="read the data and say what the cockpit understood (task, columns, labels, rows dropped), then exit",
    )

    evaluation = train.add_argument_group("evaluation")
    evaluation.add_argument("--eval", dest="eval_path", metavar="PATH", help="a separate eval file (else --eval-split)")
    evaluation.add_argument(
        "--eval-split",
        type=_share_or_split,
        metavar="SHARE|NAME",
        help="a share of the rows held out for eval (0.1, at most 5000 rows), or a dataset's split (validation); "
        "default: a dataset's validation (else test) split, else 0.1",
    )
    evaluation.add_argument(
        "--eval-rows", type=int, metavar="N", help="hold out N rows for eval instead (or cut an --eval file to N)"
    )
    evaluation.add_argument("--eval-every", type=int, metavar="N", help="also evaluate every N steps")

    optimisation = train.add_argument_group("optimisation")
    optimisation.add_argument(
        "--lr",
        type=float,
        help=f"peak learning rate (default: {DEFAULT_LR:g}; {LORA_LR:g} with --lora or an adapter as --model)",
    )
    optimisation.add_argument("--batch-size", type=int, default=16, help="micro-batch size (per rank)")
    optimisation.add_argument("--grad-accum", type=int, default=1, help="micro-batches per optimizer step")
    optimisation.add_argument("--epochs", type=float, default=3.0, help="passes over the training rows")
    optimisation.add_argument("--max-steps", type=int, help="stop after N optimizer steps (overrides --epochs)")
    optimisation.add_argument("--warmup-ratio", type=float, default=0.1, help="share of the steps warming up the lr")
    optimisation.add_argument("--weight-decay", type=float, default=0.01, help="AdamW weight decay")
    optimisation.add_argument("--max-grad-norm", type=float, default=1.0, help="gradient clipping (0: off)")
    optimisation.add_argument("--max-length", type=int, default=128, help="tokens per text")
    optimisation.add_argument(
        "--pos-weight",
        default="off",
        help="multilabel: weigh positive labels up in the loss; auto = negatives/positives per label, or a number",
    )
    optimisation.add_argument(
        "--normalize-targets",
        action="store_true",
        help="regression: the head learns z-scores of the targets; losses, predictions, metrics and the saved "
        "model stay in the targets' units",
    )
    optimisation.add_argument("--seed", type=int, default=42, help="shuffling, the eval split, the new head")
    optimisation.add_argument("--device", default="auto", help="auto (cuda > mps > cpu), cpu, cuda, cuda:1, mps")
    optimisation.add_argument("--precision", default="auto", choices=PRECISIONS, help="autocast on CUDA")

    lora = train.add_argument_group('LoRA adapters (pip install "cockpit[lora]")')
    lora.add_argument(
        "--lora",
        nargs="?",
        const="on",
        metavar="SETTINGS",
        help="train LoRA adapters, per layer group, and the head fully; e.g. --lora r=16,alpha=32,targets=query,value "
        "(default r=8, alpha=16, dropout=0.1, targets: peft's for the architecture)",
    )
    lora.add_argument(
        "--merge-lora", action="store_true", help="also save the adapter merged into the base model (model-merged/)"
    )

    steering = train.add_argument_group("layers, pinned examples and scheduled commands")
    steering.add_argument(
        "--freeze",
        default="none",
        help="layer groups to freeze: embeddings,layer.0-3 | all | none | 0.5 (groups: embeddings, layer.N, "
        "final_norm, pooler, head; encoder-decoders: encoder.layer.N, decoder.layer.N, or a whole encoder/decoder; "
        "ALBERT: layers.shared)",
    )
    steering.add_argument(
        "--at",
        dest="schedule",
        action="append",
        default=[],
        metavar="STEP:COMMAND",
        help="schedule a command, e.g. 40:unfreeze=layer.4-5 or 100:lr=1e-5 (repeatable)",
    )
    steering.add_argument("--pin", dest="pins", type=_int_list, help="training rows to follow, e.g. 3,17,42")
    steering.add_argument(
        "--pin-every",
        dest="pin_every_s",
        type=float,
        default=2.0,
        metavar="SECONDS",
        help="predict the pinned examples about this often, budget permitting",
    )
    steering.add_argument(
        "--pin-budget", type=float, default=RunConfig.pin_budget, help="share of the time for pinned predictions"
    )

    saving = train.add_argument_group("run directory and checkpoints")
    saving.add_argument("--out", help="run directory (default runs/<time>-<data name>)")
    saving.add_argument(
        "--save-minutes",
        type=float,
        default=10.0,
        metavar="M",
        help="checkpoint every M minutes of training, written in the background: at most M minutes are lost "
        "to a kill -9, a crash or a full disk (0: off; fractions work, e.g. 0.5)",
    )
    saving.add_argument(
        "--save-every", type=int, metavar="N", help="also checkpoint every N steps (0: no checkpoints but the last)"
    )
    saving.add_argument("--keep-checkpoints", type=int, default=3, help="checkpoints kept (the newest)")

    running = train.add_argument_group("how it runs")
    running.add_argument(
        "--headless", action="store_true", help="no UI, in this process: a progress line on stderr (for scripts, nohup)"
    )
    running.add_argument(
        "--foreground",
        action="store_true",
        help="train inside the cockpit's own process: it ends when the cockpit closes (no detach)",
    )
    running.add_argument(
        "--theme",
        default="cockpit-dark",
        help="cockpit-dark, cockpit-light, cockpit-high-contrast, or ansi-dark (the terminal's own 16 colours)",
    )
    running.add_argument(
        "--ascii", action="store_true", default=None,
        help="draw with ASCII only (no braille, emoji or box drawing); on by itself under TERM=linux",
    )  # fmt: skip
    running.add_argument(
        "--trust-remote-code", action="store_true", help="run code shipped in the model folder (say it each time)"
    )

    telling = train.add_argument_group("notifications: alarms and the run's end, while nobody watches")
    telling.add_argument(
        "--notify",
        metavar="CMD",
        help="run this shell command for each: the event as JSON on stdin, one line in $COCKPIT_SUMMARY",
    )
    telling.add_argument(
        "--notify-url", metavar="URL", help="POST each as JSON (Slack, Discord and ntfy URLs get their own shape)"
    )
    telling.add_argument(
        "--notify-on",
        type=_str_list,
        default="alarm,end",
        metavar="KINDS",
        help="what to tell: alarm, end, eval (comma-separated)",
    )
    telling.add_argument(
        "--notify-every",
        type=float,
        default=10.0,
        metavar="MINUTES",
        help="at most one message per alarm kind (and for evals) this often; the end is always told",
    )

    ranks = train.add_argument_group("several GPUs or machines (torchrun's options, passed through)")
    ranks.add_argument("--nproc", type=int, metavar="N", help="ranks on this machine: one per GPU (or CPU processes)")
    ranks.add_argument("--nnodes", metavar="N", help="machines (or MIN:MAX), as torchrun's --nnodes")
    ranks.add_argument("--node-rank", metavar="R", help="this machine's rank, as torchrun's --node_rank")
    ranks.add_argument("--rdzv-endpoint", metavar="HOST:PORT", help="rendezvous endpoint on the first machine")

    attach = commands.add_parser(
        "attach",
        help="open the cockpit on a run: live with full control, else its replay",
        formatter_class=_HelpFormatter,
    )
    attach.add_argument("run_dir", nargs="?", help="a run directory (default: the newest live run under ./runs)")
    attach.add_argument("--theme", default="cockpit-dark", help="colour theme")
    attach.add_argument("--ascii", action="store_true", default=None, help="draw with ASCII only")

    runs = commands.add_parser(
        "runs",
        help="list the runs under a folder: step, loss, eval, alarms, age, state (how each ended)",
        formatter_class=_HelpFormatter,
    )
    runs.add_argument("folder", nargs="?", default="runs", help="where the run directories are")
    runs.add_argument("--json", action="store_true", help="print the runs as a JSON list (one object per run)")

    send = commands.add_parser(
        "send",
        help="apply one command to a live run, e.g. freeze=layer.0-3 or lr=1e-5",
        formatter_class=_HelpFormatter,
    )
    send.add_argument("run_dir", help="the run directory")
    send.add_argument("run_command", metavar="COMMAND", help="the --at grammar: " + COMMAND_FORMS)
    send.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for the run to apply it")

    compare = commands.add_parser(
        "compare",
        help="two runs or more side by side: curves, commands, config diff, shared pins",
        formatter_class=_HelpFormatter,
    )
    compare.add_argument("runs", nargs="*", metavar="RUN", help="run directories (default: the newest under ./runs)")
    compare.add_argument("--newest", type=int, default=2, metavar="N", help="without RUNs: compare the N newest")
    compare.add_argument("--json", action="store_true", help="print the comparison table as JSON; open nothing")
    compare.add_argument("--theme", default="cockpit-dark", help="colour theme")

    replay = commands.add_parser(
        "replay", help="open the cockpit on a run's journal (read-only)", formatter_class=_HelpFormatter
    )
    replay.add_argument("run_dir", help="a run directory (or its journal.jsonl)")
    replay.add_argument("--follow", action="store_true", help="keep reading as a headless run writes")
    replay.add_argument("--theme", default="cockpit-dark", help="colour theme")
    replay.add_argument("--ascii", action="store_true", default=None, help="draw with ASCII only")
    return parser


CONFIG_FLAGS = {f for f in RunConfig.__dataclass_fields__ if f != "data"}


def config_from_args(args: argparse.Namespace) -> RunConfig:
    values = {k: v for k, v in vars(args).items() if k in CONFIG_FLAGS}
    if not args.data:
        raise CockpitError("cockpit train needs a data file (or --resume RUN_DIR)")
    if values.get("lr") is None:  # LoRA's own default for new adapters and for an adapter folder as --model
        values["lr"] = LORA_LR if args.lora or is_adapter_folder(args.model) else DEFAULT_LR
    return RunConfig(data=args.data, **values)


def _resume_config(run_dir: Path) -> RunConfig:
    config_path = run_dir / CONFIG_NAME
    if not config_path.exists():
        raise CockpitError(f"--resume {run_dir}: no config.json there; is it a cockpit run directory?")
    return RunConfig.load(config_path)


# What `--resume` may change, and what it must not: a flag given with --resume is applied with a
# notice or refused with one line, never silently ignored.
RESUME_MAY_CHANGE = (
    "max_steps",
    "lr",
    "save_every",
    "save_minutes",
    "eval_every",
    "keep_checkpoints",
    "device",
    "notify",
    "notify_url",
    "notify_on",
    "notify_every",
)
RESUME_PER_PROCESS = {"headless", "theme", "trust_remote_code", "resume", "data", "command"}


def given_flags(parser: argparse.ArgumentParser, argv: list[str]) -> dict[str, str]:
    """The options written on the command line (not their defaults): destination -> the option's name."""
    train = parser._subparsers._group_actions[0].choices["train"]  # type: ignore[union-attr]
    options = {o: a.dest for a in train._actions for o in a.option_strings}
    given = {}
    for word in argv:
        name = word.split("=", 1)[0]
        if name in options:
            given[options[name]] = name
        elif name.startswith("--"):  # an unambiguous prefix, as argparse accepts (--max-s 5)
            matches = {o for o in options if o.startswith(name)}
            if len({options[o] for o in matches}) == 1:
                given[options[matches.pop()]] = name
    return given


def resume_with_flags(args: argparse.Namespace, given: dict[str, str]) -> tuple[RunConfig, list[str]]:
    """The run's saved config, with the flags given now applied (and said) or refused."""
    run_dir = Path(args.resume)
    config = _resume_config(run_dir)
    notices = []
    for name in sorted((given.keys() & CONFIG_FLAGS) - RESUME_PER_PROCESS):
        new, old = getattr(args, name), getattr(config, name)
        flag = given[name]
        if name == "schedule":
            if new:
                config.schedule = list(config.schedule) + list(new)
                notices.append(f"--resume: {flag} {' '.join(new)} added to the run's schedule")
            continue
        if new == old:
            continue
        if name not in RESUME_MAY_CHANGE:
            raise CockpitError(
                f"--resume {run_dir}: {flag} cannot change when resuming (the run has {flag} {_shown(old)}); "
                f"drop {flag}, or start a new run with --out"
            )
        setattr(config, name, new)
        notices.append(f"--resume: {flag} is now {_shown(new)} (was {_shown(old)})")
    if args.data and Path(args.data).resolve() != Path(config.data).resolve():
        notices.append(f"--resume: reading the data from {args.data} (the run started on {config.data})")
        config.data = args.data
    # Remote code runs only when this command line asks for it, whatever the run's config says.
    config.trust_remote_code = args.trust_remote_code
    config.headless = args.headless
    return config, notices


def _shown(value: object) -> str:
    if isinstance(value, list):
        return ",".join(map(str, value)) or "(none)"
    return "(not set)" if value is None else str(value)


def _dry_run(args: argparse.Namespace) -> int:
    """What the cockpit understood from the data (task, columns, labels, rows dropped), then exit 0."""
    from cockpit.training.prepare import describe_data

    if args.resume:
        raise CockpitError("--dry-run describes new data; drop --resume")
    for line in describe_data(config_from_args(args)):
        print(line)
    print("dry run: nothing was trained or written")
    return 0


def _under_launcher() -> bool:
    """True inside a rank started by torchrun (or `cockpit train --nproc`)."""
    return "LOCAL_RANK" in os.environ and "WORLD_SIZE" in os.environ


def _train(args: argparse.Namespace, train_argv: list[str], given: dict[str, str]) -> int:
    # torch and transformers are imported only where this process trains: the default mode's
    # client (the cockpit) opens without them, about 1.5 s sooner.
    from cockpit.cli.attach import run_attached
    from cockpit.rundir.inbox import CommandInbox
    from cockpit.rundir.lock import check_new_run_dir, run_dir_for
    from cockpit.training.allocator import keep_freed_memory

    if args.dry_run:
        return _dry_run(args)
    if _under_launcher():
        from cockpit.cli import ranks

        keep_freed_memory()  # this rank trains
        return ranks.run_rank(args, lambda: prepare_from_args(args, given))
    launching = any(getattr(args, f) is not None for f in ("nproc", "nnodes", "node_rank", "rdzv_endpoint"))
    interactive = not args.headless and sys.stdout.isatty()
    if launching and args.foreground:
        raise CockpitError(
            "--foreground trains in this one process; with --nproc/--nnodes the ranks train headless: "
            "drop --foreground (the cockpit then attaches to rank 0) or use --headless"
        )
    if launching and not interactive:
        from cockpit.cli import ranks

        return ranks.launch(["train", *train_argv])  # each rank comes back here, under torchrun
    if interactive and not args.foreground:
        # The default: the trainer in its own session, this process only a client (cockpit.attach);
        # with --nproc that trainer is torchrun's launcher, and the cockpit follows rank 0.
        config = resume_with_flags(args, given)[0] if args.resume else config_from_args(args)
        config.validate()  # flag mistakes as one line here, before anything starts
        if not args.resume and not Path(config.data).exists():
            raise CockpitError(f"{config.data}: no such data file")
        run_dir = Path(args.resume) if args.resume else run_dir_for(config)
        if not args.resume:
            check_new_run_dir(run_dir)
        extra = [] if args.resume else ["--out", str(run_dir)]
        return run_attached(run_dir, args.theme, train_argv=[*train_argv, *extra], ascii=args.ascii)
    keep_freed_memory()  # from here on this process trains (headless, detached or --foreground)
    if args.resume:
        config, resume_notices = resume_with_flags(args, given)
        run_dir = Path(args.resume)
    else:
        config, resume_notices = config_from_args(args), []
        run_dir = run_dir_for(config)
        config.out = str(run_dir)
    lock = _claim(run_dir, new=not args.resume)
    CommandInbox(run_dir, fresh=True)  # commands sent while data and model load wait for step 1

    prepared_runs: list[PreparedRun] = []

    def prepare_claimed(on_stage: Callable[[str, str], None] | None) -> PreparedRun:
        from cockpit.training.prepare import prepare, record_run  # torch: behind the cockpit's loading screen

        prepared = prepare(config, resume_dir=run_dir if args.resume else None, on_stage=on_stage)
        prepared.notices += [Notice(step=0, kind="resume", message=message) for message in resume_notices]
        if prepared.resume is not None and "lr" in given:  # --lr replaces the peak lr the run's schedule scales
            prepared.resume.scheduler["base_lrs"] = [config.lr for _ in prepared.resume.scheduler["base_lrs"]]
        record_run(prepared)
        prepared_runs.append(prepared)
        return prepared

    try:
        if interactive:  # --foreground: the cockpit opens at once and prepares the run behind its loading screen
            from cockpit.cli.startup import train_with_app

            return train_with_app(prepare_claimed, args.theme, run_label=str(run_dir), ascii=args.ascii)
        on_stage = None
        if os.environ.get("COCKPIT_DETACHED"):  # the attached cockpit shows the loading steps from the journal
            from cockpit.cli.startup import journal_stages

            on_stage = journal_stages(run_dir)
        from cockpit.cli.launch import run_headless

        return run_headless(prepare_claimed(on_stage))
    except BaseException:
        if not prepared_runs and not args.resume:  # refused before training: leave no run directory behind
            lock.release()
            (run_dir / JOURNAL_NAME).unlink(missing_ok=True)  # it holds loading stages only
            _remove_if_only_lock(run_dir)
        raise
    finally:
        lock.release()


def _claim(run_dir: Path, new: bool):  # -> RunLock
    """One trainer per run directory, held until this process ends (the kernel frees it on a kill).

    Taken before anything is read or written, so that of two trainers started at once into one
    directory, the second gets one line instead of a race on the checkpoint folders.
    """
    from cockpit.rundir.lock import RunLock, check_new_run_dir

    if new:
        check_new_run_dir(run_dir)
    elif not run_dir.is_dir():
        raise CockpitError(f"--resume {run_dir}: no such run directory")
    return RunLock(run_dir).acquire()


def _remove_if_only_lock(run_dir: Path) -> None:
    """A new run that failed before training leaves no directory behind, so the same --out works next time."""
    from cockpit.rundir.inbox import inbox_dir

    try:
        if {p.name for p in run_dir.iterdir()} <= {LOCK_NAME, inbox_dir(run_dir).name}:
            (run_dir / LOCK_NAME).unlink(missing_ok=True)
            if inbox_dir(run_dir).is_dir():
                inbox_dir(run_dir).rmdir()  # fails, and keeps the run dir, if a command is waiting in it
            run_dir.rmdir()
    except OSError:
        pass


def prepare_from_args(args: argparse.Namespace, given: dict[str, str]):  # noqa: ANN201
    """The PreparedRun of one rank of `cockpit train` ARGS under torchrun: a new run, or the run --resume names."""
    from cockpit.rundir.lock import run_dir_for
    from cockpit.training.prepare import prepare

    if args.resume:
        config, notices = resume_with_flags(args, given)
        config.headless = True
        prepared = prepare(config, resume_dir=Path(args.resume))
        prepared.notices += [Notice(step=0, kind="resume", message=message) for message in notices]
        return prepared
    config = config_from_args(args)
    config.out = str(run_dir_for(config))
    config.ranks = int(os.environ.get("WORLD_SIZE", "1"))  # the global batch is defined on these ranks
    return prepare(config)


def _attach(args: argparse.Namespace) -> int:
    from cockpit.cli.attach import resolve_attach_target, run_attached

    return run_attached(resolve_attach_target(args.run_dir), args.theme, ascii=args.ascii)


def _runs(args: argparse.Namespace) -> int:
    from cockpit.cli.runs import format_runs, list_runs, runs_json

    folder = Path(args.folder)
    if not folder.is_dir():
        raise CockpitError(f"{folder}: no such folder; runs are written under ./runs by default")
    listings = list_runs(folder)
    if args.json:
        print(runs_json(listings))
    else:
        print(format_runs(listings) if listings else f"no runs under {folder}")
    return 0


def _send(args: argparse.Namespace) -> int:
    from cockpit.cli.attach import send_and_wait

    print(send_and_wait(Path(args.run_dir), args.run_command, args.timeout))
    return 0


def _compare(args: argparse.Namespace) -> int:
    from cockpit.cli.compare import comparison_json, resolve_runs, run_compare

    runs = resolve_runs(args.runs, args.newest)
    if args.json:
        print(comparison_json(runs))
        return 0
    return run_compare(runs, args.theme)


def _replay(args: argparse.Namespace) -> int:
    import queue

    from cockpit.ui.app import CockpitApp
    from cockpit.ui.replay import start_journal_reader

    path = Path(args.run_dir)
    journal = path if path.is_file() else path / JOURNAL_NAME
    if not journal.exists() and not args.follow:
        raise CockpitError(f"{journal}: no such journal; give a run directory written by cockpit train")
    events: queue.SimpleQueue = queue.SimpleQueue()
    start_journal_reader(journal, events, follow=args.follow)
    app = CockpitApp(events, control=None, theme_name=args.theme, run_label=str(path), ascii=args.ascii)
    app.run()
    from cockpit.cli.attach import client_outcome

    code, words = client_outcome(app, None, path if path.is_dir() else path.parent)
    if words:
        print(words, file=sys.stderr)
    return code


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    choose_wait(os.environ)  # before torch is imported: OpenMP reads it once (training/openmp.py)
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if getattr(args, "theme", None) is not None:
            from cockpit.ui.themes import check_theme

            check_theme(args.theme)
        if args.command == "train":
            return _train(args, argv[argv.index("train") + 1 :], given_flags(parser, argv))
        handlers = {"attach": _attach, "runs": _runs, "send": _send, "replay": _replay, "compare": _compare}
        return handlers[args.command](args)
    except CockpitError as exc:
        print(f"cockpit: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # before training starts (model load, tokenizing): nothing to save
        print("cockpit: interrupted before training started; nothing was trained", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `cockpit runs | head`: the reader left, which is no error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # so the exit flush cannot fail again
        return 0


if __name__ == "__main__":
    sys.exit(main())
