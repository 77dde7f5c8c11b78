#!/usr/bin/env bash
# The GPU figures of issue 24 ("Fill the GPUs") in under 5 minutes on one GPU, nothing downloaded, the
# library driven directly (no Snakemake): the grid benchmark at XLM-R Large's shape, length 128, effective
# batch 32 per job, for K = 1, 2, 4 jobs at once against one transformers.Trainer job; the same with
# training.compile (length buckets); micro_batch auto against 4 x 8; and evaluation throughput.
#
#   bash benchmarks/gpu_check.sh                 # on the GPU machine, from the repository root
#   SIZE=demo DEVICE=cpu STEPS=2 EVAL_EXAMPLES=64 bash benchmarks/gpu_check.sh   # the plumbing, on a CPU
#
# Needs torch, transformers, tokenizers, pyarrow, jsonschema, pyyaml and tqdm (a GPU image may lack
# jsonschema and pyarrow: carry their wheels, `pip install --no-index <wheels>`). Each part's table and
# JSON line go to $OUT (default benchmarks/gpu_check_results/); the figures belong in benchmarks/README.md.
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
SIZE=${SIZE:-large}
DEVICE=${DEVICE:-cuda}
STEPS=${STEPS:-60}
EVAL_EXAMPLES=${EVAL_EXAMPLES:-8000}
PART_TIMEOUT=${PART_TIMEOUT:-120}
OUT=${OUT:-benchmarks/gpu_check_results}
PYTHON=${PYTHON:-python}
mkdir -p "$OUT"

# What is missing, named before anything runs.
"$PYTHON" - <<'EOF'
import importlib, sys
missing = []
for module in ("torch", "transformers", "tokenizers", "pyarrow", "jsonschema", "yaml", "tqdm"):
    try:
        importlib.import_module(module)
    except ImportError:
        missing.append(module)
if missing:
    sys.exit(f"gpu_check: missing Python packages: {', '.join(missing)} (pip install them, or their wheels)")
import xstilts.train_stages, xstilts.training  # the library imports whole
EOF
if [ "$DEVICE" = cuda ]; then
    "$PYTHON" -c "import torch, sys; torch.cuda.is_available() or sys.exit('gpu_check: no CUDA device visible')"
    nvidia-smi --query-gpu=name,memory.total --format=csv,noheader | tee "$OUT/gpu.txt" || true
fi

part() {  # part NAME ARGS...: one benchmark run, bounded, its output kept
    local name=$1
    shift
    echo "== $name: $*"
    timeout "$PART_TIMEOUT" "$PYTHON" "$@" | tee "$OUT/$name.txt" | grep -v '^{' || echo "== $name: failed or timed out"
}

GRID=(benchmarks/grid_throughput.py --device "$DEVICE" --size "$SIZE" --seq-len 128 --steps "$STEPS" --threads 1
      --corpus-lines 200)
part grid "${GRID[@]}" --jobs 1,2,4 --batch-size 32
part grid_compile "${GRID[@]}" --jobs 1,4 --batch-size 32 --compile --no-trainer
part micro_4x8 "${GRID[@]}" --jobs 1 --batch-size 4 --grad-accum 8 --no-trainer
part micro_auto "${GRID[@]}" --jobs 1 --batch-size 4 --grad-accum 8 --micro-batch auto --no-trainer
part eval benchmarks/eval_throughput.py --device "$DEVICE" --size "$SIZE" --batch-size 128 --examples "$EVAL_EXAMPLES" --reps 1 \
    --corpus-lines 200
echo "== done: $OUT"
