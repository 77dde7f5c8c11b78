"""The training memory estimate (xstilts.scaling.memory) against the measured peak of the project's
own training loop on CPU, for model shapes given on the command line.

Each shape runs in a fresh process: a random XLM-R-architecture encoder of that shape saved as a hub
model would be, a classification task of full-length rows, and a few optimizer steps of
xstilts.training.Trainer at the given micro-batch; the peak is the process's peak resident memory
after the steps minus its resident memory before the model was loaded, the peak reset there (Linux's
/proc/self/clear_refs), so that nothing the process held before counts (glibc's allocator is told to
return freed blocks at once, so the figure follows live tensors rather than the allocator's cache).

    python benchmarks/memory_estimate.py --shape 256,4,4,1024,8000 --shape 512,6,8,2048,8000 --rows 16 --length 128

A shape is hidden,layers,heads,intermediate,vocab. Prints one line per shape: parameters, estimate,
measured, and their ratio."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def measure_in_process(hidden: int, layers: int, heads: int, intermediate: int, vocab: int, *, rows: int, length: int,
                       steps: int, gradient_checkpointing: bool) -> dict:
    """Run in a fresh interpreter (see measure): the estimate and the measured peak, in bytes."""
    import torch
    from transformers import XLMRobertaConfig, XLMRobertaModel

    from xstilts.config import TRAINING_DEFAULTS
    from xstilts.modeling import build_model
    from xstilts.scaling.memory import Shape, training_memory
    from xstilts.tasks import task_type
    from xstilts.training import TrainTask, Trainer

    torch.set_num_threads(1)
    config = XLMRobertaConfig(vocab_size=vocab, hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
                              intermediate_size=intermediate, max_position_embeddings=length + 2, type_vocab_size=1,
                              pad_token_id=1)
    generator = torch.Generator().manual_seed(0)
    n = rows * steps
    features = {"input_ids": torch.randint(5, vocab, (n, length), generator=generator).tolist(),
                "label": [i % 3 for i in range(n)]}
    kind = task_type("classification")(["a", "b", "c"])
    with tempfile.TemporaryDirectory() as folder:
        torch.manual_seed(0)
        XLMRobertaModel(config).save_pretrained(folder)
        before = _resident_bytes()
        _reset_peak()  # what this process held before (imports, the saved model) is not the stage's
        model = build_model(folder, {"toy": kind})
    # A dev set scored at every step, so that the loop keeps its copy of the best weights as in a real stage.
    dev = {"input_ids": features["input_ids"][:rows], "label": features["label"][:rows]}
    dev_examples = [{"id": str(i), "label": "abc"[i % 3]} for i in range(rows)]
    hp = {**TRAINING_DEFAULTS, "batch_size": rows, "grad_accum": 1, "epochs": 1, "eval_every": 1,
          "save_every": 10 ** 6, "log_every": 1, "bf16": False, "gradient_checkpointing": gradient_checkpointing}
    task = TrainTask("toy", kind, features, dev, dev_examples, metric="accuracy")
    with tempfile.TemporaryDirectory() as state:
        Trainer(model, [task], hp, seed=0, device=torch.device("cpu"), pad_id=1, state_dir=Path(state),
                progress=False).run()
    peak = _peak_bytes() - before
    estimate = training_memory(Shape.of(config), rows=rows, length=length, gradient_checkpointing=gradient_checkpointing,
                               host_is_device=True)
    return {"shape": [hidden, layers, heads, intermediate, vocab], "parameters": estimate.parameters,
            "counted": sum(p.numel() for p in model.encoder.parameters()), "estimate": estimate.peak,
            "measured": peak, "describe": estimate.describe()}


def _reset_peak() -> None:
    """Start the kernel's peak resident size (VmHWM) afresh from the current one (Linux's clear_refs 5).
    Not getrusage's ru_maxrss: Linux carries into it the peak of the forked copy of the parent before
    exec, so under a large parent (pytest, late in the suite) it measured the parent."""
    with open("/proc/self/clear_refs", "w") as refs:
        refs.write("5")


def _peak_bytes() -> int:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmHWM:"))


def _resident_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def measure(shape: tuple[int, ...], *, rows: int, length: int, steps: int = 3, gradient_checkpointing: bool = False) -> dict:
    """measure_in_process in a fresh interpreter, whose peak resident memory is this shape's alone.
    MALLOC_TRIM_THRESHOLD_/MALLOC_MMAP_THRESHOLD_: freed memory goes back to the system at once."""
    call = (f"import json, sys; sys.path.insert(0, {str(ROOT / 'benchmarks')!r}); from memory_estimate import "
            f"measure_in_process; print(json.dumps(measure_in_process(*{tuple(shape)!r}, rows={rows}, length={length}, "
            f"steps={steps}, gradient_checkpointing={gradient_checkpointing})))")
    env = {**os.environ, "MALLOC_TRIM_THRESHOLD_": "0", "MALLOC_MMAP_THRESHOLD_": "65536", "OMP_NUM_THREADS": "1"}
    result = subprocess.run([sys.executable, "-c", call], capture_output=True, text=True, env=env, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shape", action="append", required=True, help="hidden,layers,heads,intermediate,vocab")
    parser.add_argument("--rows", type=int, default=16)
    parser.add_argument("--length", type=int, default=128)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--gradient-checkpointing", action="store_true")
    args = parser.parse_args()
    for text in args.shape:
        shape = tuple(int(x) for x in text.split(","))
        found = measure(shape, rows=args.rows, length=args.length, steps=args.steps,
                        gradient_checkpointing=args.gradient_checkpointing)
        print(f"shape {text}: {found['parameters'] / 1e6:.2f}M parameters; estimate {found['estimate'] / 2**20:.0f} MiB, "
              f"measured {found['measured'] / 2**20:.0f} MiB, ratio {found['estimate'] / found['measured']:.3f}")


if __name__ == "__main__":
    main()
