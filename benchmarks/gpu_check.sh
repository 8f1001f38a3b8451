#!/usr/bin/env bash
# The CUDA check of issue #14: under 8 minutes on one GPU, one JSON out.
#
#   bash benchmarks/gpu_check.sh [OUT.json]        (default: gpu_check.json in the repository root)
#
# Runs the CUDA tests (pytest -m cuda: bf16 autocast; a real out-of-memory recovered by halving),
# then benchmarks/overhead.py with bf16 autocast at the MiniLM and roberta-base shapes (cockpit vs a
# bare loop vs HF Trainer, peak allocated memory per arm). See benchmarks/gpu_check.py.
#
# Needs python3 with torch (CUDA), transformers, tokenizers, numpy, pyarrow, safetensors, pytest, and
# accelerate for the Trainer arm. No network: a package missing there is installed from ./wheels when
# that folder holds its wheel (make it here with
#   pip download --no-deps -d wheels accelerate pytest pytest-timeout pluggy iniconfig nvidia-ml-py
# and carry it); without accelerate the Trainer arm is left out and the JSON says so; without
# nvidia-ml-py (pynvml) the system sample's test checks that its note says so.
set -u
cd "$(dirname "$0")/.."
OUT=${1:-gpu_check.json}
export PYTHONPATH=$PWD HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
if [ -d wheels ]; then
  for module in accelerate pytest pytest_timeout; do
    python3 -c "import $module" 2>/dev/null || \
      python3 -m pip install -q --no-index --find-links wheels "${module//_/-}" >/dev/null 2>&1 || true
  done
  python3 -c "import pynvml" 2>/dev/null || \
    python3 -m pip install -q --no-index --find-links wheels nvidia-ml-py >/dev/null 2>&1 || true
fi
exec timeout 470 python3 benchmarks/gpu_check.py --json "$OUT"
