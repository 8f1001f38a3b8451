#!/usr/bin/env bash
# kill -9 of a default `cockpit train` (no checkpoint flag) after one default interval (--save-minutes 10),
# then --resume: the run continues from the checkpoint the default wrote. About 11 minutes.
#   benchmarks/kill_default.sh [MODEL] [WORKDIR]     (MODEL: a model folder; default the embedded MiniLM)
set -euo pipefail
model=${1:-embedded:all-MiniLM-L6-v2}
work=${2:-$(mktemp -d)}
mkdir -p "$work"
run="$work/run"
python=$(python -c 'import sys; print(sys.executable)')  # not a shim that forks: $! must be the trainer
"$python" -m cockpit.cli train sample_data/dei.parquet --model "$model" --out "$run" --epochs 100000 \
    --eval-split 0 --max-length 32 --batch-size 8 --headless 2>"$work/first.log" &
trainer=$!
start=$(date +%s)
until ls "$run/checkpoints" 2>/dev/null | grep -q '^step-'; do
    sleep 5
    kill -0 "$trainer" || { echo "the trainer ended: $(tail -3 "$work/first.log")"; exit 1; }
done
saved=$(ls "$run/checkpoints" | grep '^step-')
echo "first checkpoint $saved after $(( $(date +%s) - start )) s (uptime: $(uptime))"
sleep 20  # more steps, which the kill loses
steps=$(grep -c '"type":"step"' "$run/journal.jsonl")
kill -9 "$trainer"
echo "killed with -9 at step $steps"
"$python" -m cockpit.cli runs "$work"
"$python" -m cockpit.cli train --resume "$run" --max-steps $(( steps + 10 )) --headless 2>"$work/resumed.log"
"$python" - "$run" <<'PY'
import sys
from pathlib import Path
from cockpit.rundir.journal import read_journal
events = read_journal(Path(sys.argv[1]) / "journal.jsonl")
print("resumed from step", [e.resumed_from for e in events if e.type == "run"][-1], "| end:", events[-1].in_words())
PY
