"""Reading a data file (parquet, CSV, JSON lines, JSON, Arrow IPC / Feather) into columns, or a clear
CockpitError naming the file; and the Arrow IPC cache that lets large parquet / CSV files be memory-mapped."""

from __future__ import annotations

import hashlib
import json
import math
import os
from pathlib import Path
from typing import Any

import pyarrow as pa

from cockpit.contract.errors import CockpitError

SUPPORTED = (".parquet", ".csv", ".jsonl", ".json", ".arrow", ".feather")


ARROW_IPC = (".arrow", ".feather")  # Arrow IPC files (Feather v2): memory-mapped, read in place


def read_columns(path: Path) -> dict[str, list[Any]]:
    """Read a supported file into columns of Python values, or say what is wrong with it in one line.

    NaN counts as missing (None), as pandas writes missing numbers that way.
    """
    if not path.exists():
        raise CockpitError(f"{path}: no such file; check the path")
    if path.is_dir():
        raise CockpitError(f"{path}: is a directory; give a data file: {_formats()}")
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED:
        raise CockpitError(f"{path}: unsupported format {suffix or '(no extension)'}; use one of {_formats()}")
    try:
        check_contents(path, suffix)
    except OSError as exc:  # unreadable (permissions), or gone between the check and the read
        raise CockpitError(f"{path}: cannot be read ({exc.strerror or exc}); check the file's permissions") from None
    try:
        if suffix == ".parquet":
            import pyarrow.parquet as pq

            columns = _arrow_columns(path, pq.read_table(path))
        elif suffix == ".csv":
            columns = _arrow_columns(path, _read_csv(path))
        elif suffix in ARROW_IPC:
            columns = _arrow_columns(path, read_arrow_ipc(path))
        else:
            columns = _read_json(path)
    except CockpitError:
        raise
    except Exception as exc:  # pyarrow raises many types; the user needs only the gist
        reason = printable(str(exc).replace(str(path), "the file").splitlines()[0][:160]) if str(exc) else ""
        raise CockpitError(
            f"{path}: cannot be read as {suffix[1:]} ({reason or type(exc).__name__}); "
            f"check that it really is a {suffix[1:]} file"
        ) from None
    rows = len(next(iter(columns.values()))) if columns else 0
    if rows == 0:
        raise CockpitError(f"{path}: the table is empty (0 rows); give a file with a text and a label per row")
    return {name: [None if is_nan(v) else v for v in values] for name, values in columns.items()}


def _read_csv(path: Path) -> pa.Table:
    """Arrow's CSV reader, with blocks large enough for any one cell.

    The reader's default block (1 MB) refuses a row longer than a block ("straddling object");
    long documents in one cell are valid CSV, so the block grows to the file's size, capped at
    1 GiB (a cell larger than that is not a text to classify).
    """
    import pyarrow.csv as pcsv

    size = path.stat().st_size
    block = min(max(1 << 20, size + 1), 1 << 30)
    return pcsv.read_csv(path, read_options=pcsv.ReadOptions(block_size=block))


def is_nan(value: Any) -> bool:
    return isinstance(value, float) and math.isnan(value)


def _formats() -> str:
    return ", ".join(SUPPORTED)


def printable(text: str) -> str:
    """Escape control characters (binary garbage in a parser's message) so the error stays one clean line."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def check_contents(path: Path, suffix: str) -> None:
    """Catch a file that is not what its extension says before a parser gives a cryptic reason."""
    with path.open("rb") as handle:
        head = handle.read(4096)
    if not head.strip():
        raise CockpitError(f"{path}: the file is empty; give a file with a text and a label per row")
    kinds = {b"PAR1": "a Parquet file", b"PK\x03\x04": "a zip archive (an Excel .xlsx?)", b"\x1f\x8b": "gzip data"}
    kinds |= {b"ARROW1": "an Arrow IPC (Feather) file", b"\xff\xff\xff\xff": "an Arrow IPC (Feather) file"}
    actual = next((kind for magic, kind in kinds.items() if head.startswith(magic)), None)
    # (the binary formats: what the file must be, how the error names it, how to write one, its suffix)
    binary = [
        (ARROW_IPC, "an Arrow IPC (Feather) file", "an Arrow IPC / Feather v2 file",
         "write it with pyarrow.feather.write_feather", ".arrow"),
        ((".parquet",), "a Parquet file", "a Parquet file", "export it as parquet", ".parquet"),
    ]  # fmt: skip
    for suffixes, kind, named, how, proper in binary:
        if suffix in suffixes:
            if actual != kind:
                looks = actual or ("text (CSV or JSON?)" if b"\x00" not in head else "another binary format")
                fix = f"rename it to its real format or {how}"
                raise CockpitError(f"{path}: not {named} (it looks like {looks}); {fix}")
            return
        if actual == kind:
            raise CockpitError(f"{path}: is {kind} named {suffix}; rename it to {path.stem}{proper}")
    if actual is not None:
        raise CockpitError(f"{path}: is {actual}, not {suffix[1:]} text; export or decompress it to {_formats()}")
    if b"\x00" in head:
        raise CockpitError(
            f"{path}: is not {suffix[1:]} text (it holds NUL bytes: binary, or UTF-16); save it as UTF-8 {suffix[1:]}"
        )


def _arrow_columns(path: Path, table: pa.Table) -> dict[str, list[Any]]:
    names = table.column_names
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise CockpitError(f"{path}: column {twice[0]!r} appears more than once; give every column its own name")
    return {name: table.column(name).to_pylist() for name in names}


def _read_json(path: Path) -> dict[str, list[Any]]:
    """JSON lines, or one JSON array of objects (as `df.to_json(orient='records')` writes).

    Read into Python lists, not Arrow, so that a column mixing types reaches the label checks
    (and their clear message) instead of failing Arrow's type inference.
    """
    text = path.read_text(encoding="utf-8")
    try:
        whole = json.loads(text)
    except (json.JSONDecodeError, RecursionError):
        whole = None  # JSON lines (or broken JSON: reported line by line below)
    if isinstance(whole, dict) and whole and all(isinstance(v, dict) for v in whole.values()):
        raise CockpitError(  # pandas' default df.to_json() shape: {"text": {"0": ...}, "label": {...}}
            f"{path}: holds one JSON object, not a list of rows; write it with df.to_json(orient='records') "
            "or as JSON lines (.jsonl)"
        )
    if isinstance(whole, list):
        records, where = whole, "item"
    elif isinstance(whole, dict):
        records, where = [whole], "line"
    else:
        records, where = [], "line"
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                records.append(json.loads(line))
            except (json.JSONDecodeError, RecursionError) as exc:
                reason = getattr(exc, "msg", type(exc).__name__)
                raise CockpitError(
                    f"{path}: line {number} is not valid JSON ({reason}); write one JSON object per line"
                ) from None
    for number, record in enumerate(records, start=1):
        if not isinstance(record, dict):
            raise CockpitError(
                f"{path}: {where} {number} is a JSON {type(record).__name__}, not an object; "
                'write one object per row, e.g. {"text": ..., "label": ...}'
            )
    names = list(dict.fromkeys(key for record in records for key in record))
    return {name: [record.get(name) for record in records] for name in names}


ARROW_CACHE_MIN_BYTES = 16 << 20
"""Parquet and CSV files from this size on are converted once (batch by batch) into an Arrow IPC file in
the cache folder and memory-mapped from there, as `datasets` does: the texts then live in the page cache,
not in the process's heap, and a later run, a resume or an attached cockpit's examples browser opens the
file without decoding it (0.25 CPU s at 1M short rows, against 0.5-0.7 to decode the parquet). Smaller
files are decoded in memory (a few MiB; no cache file is left behind)."""


def arrow_cache_dir() -> Path | None:
    """`$COCKPIT_ARROW_CACHE` (a folder, or `off`), else `$XDG_CACHE_HOME/cockpit/arrow` (~/.cache/...)."""
    setting = os.environ.get("COCKPIT_ARROW_CACHE", "")
    if setting.lower() in ("off", "0", "no", "false"):
        return None
    if setting:
        return Path(setting)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "cockpit" / "arrow"


def read_arrow_ipc(path: Path) -> pa.Table:
    """An Arrow IPC file (Feather v2; the file or the stream format), memory-mapped: uncompressed columns
    are read in place (zero-copy: their buffers are the file's pages), compressed ones are decoded."""
    source = pa.memory_map(str(path), "r")
    try:
        return pa.ipc.open_file(source).read_all()
    except pa.ArrowInvalid:
        source.seek(0)
        return pa.ipc.open_stream(source).read_all()


def arrow_cache(path: Path, suffix: str) -> Path | None:
    """The memory-mappable Arrow IPC copy of a large parquet / CSV file, written now if missing; None when
    the file is small, the cache is off or cannot be written, or the file does not stream (the caller then
    decodes it in memory).

    Keyed by the file's resolved path, size and modification time; a newer version of the same file
    replaces the older cache entry.
    """
    folder = arrow_cache_dir()
    stat = path.stat()
    if folder is None or stat.st_size < ARROW_CACHE_MIN_BYTES:
        return None
    where = hashlib.sha256(str(path.resolve()).encode("utf-8", "surrogatepass")).hexdigest()[:16]
    version = hashlib.sha256(f"{stat.st_size}:{stat.st_mtime_ns}:{stat.st_ino}".encode()).hexdigest()[:16]
    target = folder / f"{where}-{version}.arrow"
    if target.is_file():
        return target
    partial = folder / f".{target.name}.{os.getpid()}.partial"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        if suffix == ".parquet":
            import pyarrow.parquet as pq

            parquet = pq.ParquetFile(path)
            schema, batches = parquet.schema_arrow, parquet.iter_batches(batch_size=65536)
        else:  # CSV streams in blocks; a type that changes after the first block raises: decoded in memory then
            import pyarrow.csv as pcsv

            reader = pcsv.open_csv(path, read_options=pcsv.ReadOptions(block_size=16 << 20))
            schema, batches = reader.schema, reader
        with pa.OSFile(str(partial), "wb") as sink, pa.ipc.new_file(sink, schema) as writer:
            for batch in batches:
                writer.write_batch(batch)
        os.replace(partial, target)
    except Exception:  # no space, no permission, a CSV that does not stream: decode in memory instead
        partial.unlink(missing_ok=True)
        return None
    for older in folder.glob(f"{where}-*.arrow"):  # earlier versions of this file
        if older != target:
            older.unlink(missing_ok=True)
    return target
