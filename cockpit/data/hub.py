"""Hugging Face `datasets` as the way in for data that is not a plain file.

`cockpit train` takes, besides a data file:
- a folder written by `Dataset.save_to_disk` (split like a file) or `DatasetDict.save_to_disk`;
- a dataset repository folder in the Hub layout (data files under `data/`, configs in README.md),
  read with `datasets.load_dataset(folder)`;
- a Hub name, `org/name` or `org/name:config`, through `datasets.load_dataset`: from the local
  Hugging Face cache first (no network), then the Hub if it can be reached; if neither, one line
  says so.
A `DatasetDict` trains on `train` (or `--train-split`) and evaluates on `validation`, else `test`,
else a split of the training rows (`--eval-split NAME` picks another). Every split is Arrow already:
its columns are memory-mapped and read in place, as a file's are. `ClassLabel` features give the
label names and their order, `Value("float32")` gives regression, a list of `ClassLabel` gives
multi-label names.
"""

from __future__ import annotations

import contextlib
import re
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from cockpit.contract.errors import CockpitError
from cockpit.contract.events import Notice
from cockpit.data.formats import is_nan
from cockpit.data.labeled import LabeledTexts
from cockpit.data.loading import DataSpec, from_columns, from_table

HUB_NAME = re.compile(r"^[A-Za-z0-9][\w.-]*(?:/[\w.-]+)?(?::[\w.-]+)?$")
EVAL_SPLITS = ("validation", "validation_matched", "dev", "test")  # the default eval split, first found
HUB_HOST = ("huggingface.co", 443)
PROBE_TIMEOUT_S = 3.0


@dataclass
class Split:
    """One split of a dataset: its Arrow table and its `datasets` features by column."""

    name: str
    table: pa.Table
    features: dict[str, Any]


@dataclass
class DatasetInput:
    """What `cockpit train PATH_OR_NAME` found: the dataset's splits (one, "train", for a plain Dataset)."""

    source: str  # as the user gave it
    splits: dict[str, Split]
    single: bool  # a Dataset, not a DatasetDict: split like a file
    notices: list[Notice] = field(default_factory=list)


def is_dataset_input(given: str) -> bool:
    """A folder (save_to_disk or Hub layout), or something that can only be a Hub name."""
    path = Path(given)
    if path.is_dir():
        return True
    return not path.exists() and bool(HUB_NAME.match(given)) and path.suffix.lower() == ""


def open_dataset(given: str) -> DatasetInput:
    """Open a `datasets` input (see the module docstring), or say in one line why it cannot be."""
    import datasets

    datasets.disable_progress_bars()  # tqdm bars would draw over the cockpit's screen and the progress line
    path = Path(given)
    if path.is_dir():
        if (path / "dataset_dict.json").is_file() or (path / "state.json").is_file():
            return _from_disk(given, path)
        if not _has_data_files(path):
            raise CockpitError(
                f"{given}: is a directory without data in it: give a data file, a folder written by save_to_disk, "
                "or a dataset repository folder (data files under data/)"
            )
        return _from_dict(given, _load_dataset(given, str(path), None), single=False)
    name, _, config = given.partition(":")
    return _from_dict(given, _load_hub(given, name, config or None), single=False)


def _from_disk(given: str, path: Path) -> DatasetInput:
    import datasets

    try:
        loaded = datasets.load_from_disk(str(path))
    except Exception as exc:  # a damaged or partial save_to_disk folder
        raise CockpitError(f"{given}: cannot be read as a save_to_disk folder ({_first_line(exc)})") from None
    if isinstance(loaded, datasets.Dataset):
        return DatasetInput(given, {"train": _split("train", loaded)}, single=True)
    return _from_dict(given, loaded, single=False)


def _from_dict(given: str, loaded: Any, single: bool) -> DatasetInput:
    splits = {name: _split(name, dataset) for name, dataset in loaded.items()}
    if not splits:
        raise CockpitError(f"{given}: the dataset has no splits")
    return DatasetInput(given, splits, single=single)


def _split(name: str, dataset: Any) -> Split:
    # `with_format("arrow")[:]` is the public way to the table: zero-copy (memory-mapped) when the
    # dataset has no indices mapping, as a save_to_disk folder never has.
    return Split(name, dataset.with_format("arrow")[:], dict(dataset.features))


def _has_data_files(path: Path) -> bool:
    suffixes = {".parquet", ".csv", ".json", ".jsonl", ".arrow", ".txt", ".tsv"}
    return any(p.suffix.lower() in suffixes for p in path.rglob("*") if p.is_file() and ".git" not in p.parts)


def _load_hub(given: str, name: str, config: str | None) -> Any:
    """From the local cache (no network), else from the Hub when it can be reached."""
    import datasets

    try:
        with _cache_only():
            return datasets.load_dataset(name, config)
    except (ConnectionError, FileNotFoundError):
        pass  # not in the cache
    except Exception as exc:
        raise _hub_error(given, exc) from None
    if datasets.config.HF_HUB_OFFLINE or not _hub_reachable():
        why = "offline mode (HF_HUB_OFFLINE)" if datasets.config.HF_HUB_OFFLINE else "no connection to huggingface.co"
        raise CockpitError(
            f"{given}: not a file or folder here, and not in the local Hugging Face cache; the Hub cannot be reached "
            f"({why}): where it can, run datasets.load_dataset({name!r}"
            + (f", {config!r}" if config else "")
            + ").save_to_disk(DIR), copy DIR here and pass it"
        )
    return _load_dataset(given, name, config)


def _load_dataset(given: str, name: str, config: str | None) -> Any:
    import datasets

    try:
        return datasets.load_dataset(name, config)
    except Exception as exc:
        raise _hub_error(given, exc) from None


@contextlib.contextmanager
def _cache_only() -> Iterator[None]:
    """`datasets` reads its offline switch at call time: on for one call, the cache answers or it fails at once."""
    import datasets

    before = datasets.config.HF_HUB_OFFLINE
    datasets.config.HF_HUB_OFFLINE = True
    try:
        yield
    finally:
        datasets.config.HF_HUB_OFFLINE = before


def _hub_reachable() -> bool:
    """One TCP connection to the Hub with a short timeout: `datasets` itself retries for ~25 s."""
    try:
        socket.create_connection(HUB_HOST, timeout=PROBE_TIMEOUT_S).close()
    except OSError:
        return False
    return True


def _hub_error(given: str, exc: Exception) -> CockpitError:
    text = _first_line(exc)
    if "config" in text.lower() and ("available" in text.lower() or "missing" in text.lower()):
        return CockpitError(f"{given}: {text}; name one as NAME:CONFIG")
    return CockpitError(f"{given}: cannot be loaded with datasets.load_dataset ({text})")


def _first_line(exc: Exception) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]


def choose_splits(
    found: DatasetInput, train_split: str | None, eval_split: str | None
) -> tuple[Split, Split | None, list[Notice]]:
    """The training split and the eval split of a DatasetDict (None: split the training rows)."""
    names = list(found.splits)
    if found.single:
        if train_split not in (None, "train") or eval_split is not None:
            raise CockpitError(f"{found.source}: is one Dataset, not a DatasetDict: it has no splits to choose")
        return found.splits["train"], None, []
    wanted = train_split or "train"
    if wanted not in found.splits:
        raise CockpitError(
            f"{found.source}: has no {wanted!r} split (splits: {', '.join(names)}); choose one with --train-split"
        )
    if eval_split is not None:
        if eval_split not in found.splits:
            raise CockpitError(
                f"{found.source}: has no {eval_split!r} split for --eval-split (splits: {', '.join(names)})"
            )
        if eval_split == wanted:
            raise CockpitError(f"{found.source}: --eval-split {eval_split} is the training split; choose another")
        chosen = eval_split
    else:
        chosen = next((n for n in EVAL_SPLITS if n in found.splits and n != wanted), None)
    said = f"dataset {found.source}: trains on split {wanted!r} ({found.splits[wanted].table.num_rows} rows)" + (
        f", evaluates on split {chosen!r} ({found.splits[chosen].table.num_rows} rows)"
        if chosen
        else ", evaluates on a split of its rows (no validation or test split)"
    )
    notice = Notice(step=0, kind="data_splits", message=said, evidence={"train": wanted, "eval": chosen})
    return found.splits[wanted], found.splits[chosen] if chosen else None, [notice]


def labeled_split(split: Split, source: str, spec: DataSpec) -> LabeledTexts:
    """One split as LabeledTexts: the Arrow path, else the general path on its values (with ClassLabel
    ids turned into their names, so a list of ClassLabel reads as multi-label names)."""
    loaded = from_table(split.table, source, spec, features=split.features)
    if loaded is not None:
        return loaded
    columns = {}
    for name in split.table.column_names:
        values = [None if is_nan(v) else v for v in split.table.column(name).to_pylist()]
        names = getattr(getattr(split.features.get(name), "feature", None), "names", None)
        if names:  # List(ClassLabel): ids -> names
            values = [[names[i] for i in v] if isinstance(v, list) else v for v in values]
        columns[name] = values
    return from_columns(columns, source, spec, features=split.features)
