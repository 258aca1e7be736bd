#!/usr/bin/env bash
# One command for a GPU host: how fast the serving path runs on it, and whether the GPU is kept busy.
#
#     scripts/gpu_check.sh            # writes bench-results/gpu-check/*.json and prints a summary
#
# With CUDA: installs what it needs (make install), then
#   1. model-only posts/s of the `base` architecture (random weights, bf16 autocast) at batch 32/64/128
#      (scripts/model_throughput.py --device cuda);
#   2. end-to-end streaming posts/s with realistic images, `base` on CUDA (scripts/bench.py --preset base
#      --device cuda: c_stream, then g_noop_images for the pipeline without the model);
#   3. GPU utilisation sampled every 0.5 s by nvidia-smi while 2 runs (mean and max printed).
# Without CUDA it says so and runs the CPU fallback: the same steps, short (`base` model-only at batch 8
# and 32 in float32, the stream with `tiny` on 100 posts), and no utilisation figures.
# GPU_CHECK_SKIP_INSTALL=1 skips `make install` (a virtualenv already in place).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=bench-results/gpu-check
mkdir -p "$OUT"

if [[ "${GPU_CHECK_SKIP_INSTALL:-0}" != 1 ]]; then
    make install
fi
PY=.venv/bin/python
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"

if $PY -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
    DEVICE=cuda PRESET=base BATCHES="32 64 128" POSTS=2000
    $PY -c 'import torch; print("CUDA:", torch.cuda.get_device_name(0), "torch", torch.__version__)'
else
    echo "NO CUDA: torch.cuda.is_available() is False on this machine."
    echo "Running the CPU fallback instead (tiny model, short runs): figures are not a GPU's."
    DEVICE=cpu PRESET=tiny BATCHES="8 32" POSTS=100
fi

echo "==> 1. model only ($PRESET, $DEVICE, batch $BATCHES)"
if [[ $DEVICE == cuda ]]; then
    $PY scripts/model_throughput.py --device cuda --batch-sizes $BATCHES --repeats 20 --out "$OUT/model.json"
else
    $PY scripts/model_throughput.py --device cpu --batch-sizes $BATCHES --repeats 1 --out "$OUT/model.json"
fi

echo "==> 2. end to end, realistic images ($PRESET on $DEVICE)"
SAMPLER=""
if [[ $DEVICE == cuda ]] && command -v nvidia-smi >/dev/null; then
    nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv,noheader,nounits -lms 500 \
        >"$OUT/gpu_util.csv" &
    SAMPLER=$!
fi
status=0
$PY scripts/bench.py --preset "$PRESET" --device "$DEVICE" --posts "$POSTS" \
    --only c_stream g_noop_images --out "$OUT/stream.json" || status=$?
if [[ -n $SAMPLER ]]; then
    kill "$SAMPLER" 2>/dev/null || true
    wait "$SAMPLER" 2>/dev/null || true
fi

echo "==> summary"
$PY - "$OUT" <<'PY'
import json, sys
from pathlib import Path

out = Path(sys.argv[1])
model = json.loads((out / "model.json").read_text())
for row in model["throughput"]:
    print(f"model only, batch {row['batch_size']:>3}: {row['posts_per_s']:9.1f} posts/s")
stream = out / "stream.json"
if stream.is_file():
    for name, r in json.loads(stream.read_text())["scenarios"].items():
        print(f"{name:14s} {r['posts_per_s']:9.1f} posts/s  p50 {r['p50_ms']} ms  p99 {r['p99_ms']} ms")
util = out / "gpu_util.csv"
if util.is_file():
    rows = [line.split(",") for line in util.read_text().splitlines() if line.strip()]
    busy = [float(r[0]) for r in rows]
    if busy:
        print(f"GPU utilisation during the stream: mean {sum(busy) / len(busy):.0f}%, max {max(busy):.0f}%"
              f" ({len(busy)} samples every 0.5 s)")
else:
    print("GPU utilisation: not sampled (no CUDA / no nvidia-smi)")
PY
exit $status
