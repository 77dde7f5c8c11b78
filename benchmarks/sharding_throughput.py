"""Sharded (FSDP) against replicated (DDP) data-parallel training on the CPU: two gloo ranks of the
project's own training loop (xstilts.training.Trainer) on a random XLM-R-architecture encoder, the same
batches both ways; examples/s and each rank's peak resident memory, beside the memory estimate.

    python benchmarks/sharding_throughput.py --shape 512,6,8,2048,32000 --rows 8 --length 128 --steps 8
    python benchmarks/sharding_throughput.py --device cuda --ranks 4 --size large --rows 8 --steps 20
    python benchmarks/sharding_throughput.py --device cuda --ranks 4 --size xl --rows 8 --steps 20 --gradient-checkpointing
    python benchmarks/sharding_throughput.py --device cuda --ranks 8 --size xxl --rows 4 --steps 10 \
        --gradient-checkpointing --variants fsdp

A shape is hidden,layers,heads,intermediate,vocab. Each variant runs in fresh worker processes (one per
rank, one thread each), whose peak (VmHWM) is reset once the imports are done, so that each rank's
figure is its training's own; variants alternate over --reps repetitions and the medians are printed,
with the ratio of sharded to replicated measured in the same run."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))

VARIANTS = ("none", "fsdp")


def train_on_rank(device, *, shape: list[int], rows: int, length: int, steps: int, sharding: str, folder: str,
                  gradient_checkpointing: bool = False) -> dict:
    """One rank's run: its peak memory (on a GPU the allocator's peak, in bf16; on the CPU the resident
    memory it added) and its training time."""
    import torch

    from memory_estimate import _peak_bytes, _reset_peak, _resident_bytes
    from xstilts.config import TRAINING_DEFAULTS
    from xstilts.modeling import build_model
    from xstilts.scaling.memory import Shape, training_memory
    from xstilts.tasks import task_type
    from xstilts.training import Trainer, TrainTask, data_parallel_world

    _, world_size = data_parallel_world()
    vocab = shape[4]
    generator = torch.Generator().manual_seed(0)
    n = rows * world_size * steps
    features = {"input_ids": torch.randint(5, vocab, (n, length), generator=generator).tolist(),
                "label": [i % 3 for i in range(n)]}
    kind = task_type("classification")(["a", "b", "c"])
    cuda = device.type == "cuda"
    before = _resident_bytes()
    _reset_peak()
    torch.manual_seed(0)
    model = build_model(folder, {"toy": kind})
    hp = {**TRAINING_DEFAULTS, "batch_size": rows, "grad_accum": world_size, "epochs": 1, "eval_every": 10 ** 6,
          "save_every": 10 ** 6, "log_every": 10 ** 6, "bf16": cuda, "sharding": sharding,
          "gradient_checkpointing": gradient_checkpointing}
    with tempfile.TemporaryDirectory() as state:
        summary = Trainer(model, [TrainTask("toy", kind, features)], hp, seed=0, device=device, pad_id=1,
                          state_dir=Path(state), progress=False).run()
    # no dev set, so no copy of the best weights on the host
    estimate = training_memory(Shape.of(model.encoder.config), rows=rows, length=length, bf16=cuda,
                               gradient_checkpointing=gradient_checkpointing, attention_matrices=not cuda,
                               shards=world_size if sharding == "fsdp" else 1,
                               replicas=1 if sharding == "fsdp" else world_size, host_is_device=False)
    peak = torch.cuda.max_memory_allocated(device) if cuda else _peak_bytes() - before
    return {"seconds": summary["seconds"], "examples": n, "peak": peak, "estimate": estimate.peak}


# XLM-R's published shapes (hidden, layers, heads, intermediate, vocab) and their architecture
SIZES = {"large": ("1024,24,16,4096,250002", "xlm-roberta"), "xl": ("2560,36,32,10240,250880", "xlm-roberta-xl"),
         "xxl": ("4096,48,32,16384,250880", "xlm-roberta-xl")}


def save_random_encoder(shape: list[int], length: int, folder: str, architecture: str) -> tuple[int, int]:
    """A random encoder of `shape` saved as a hub model would be; (parameters, parameters outside the
    embedding tables). XL and XXL are saved in bfloat16 (XXL is 43 GB in float32); training loads them
    in float32."""
    import torch
    from transformers import XLMRobertaConfig, XLMRobertaModel, XLMRobertaXLConfig, XLMRobertaXLModel

    config_class, model_class = ((XLMRobertaConfig, XLMRobertaModel) if architecture == "xlm-roberta"
                                 else (XLMRobertaXLConfig, XLMRobertaXLModel))
    hidden, layers, heads, intermediate, vocab = shape
    config = config_class(vocab_size=vocab, hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
                          intermediate_size=intermediate, max_position_embeddings=length + 2, type_vocab_size=1,
                          pad_token_id=1)
    torch.manual_seed(0)
    model = model_class(config, add_pooling_layer=False)
    if architecture != "xlm-roberta":
        model = model.to(torch.bfloat16)
    model.save_pretrained(folder)
    total = sum(p.numel() for p in model.parameters())
    embeddings = sum(p.numel() for name, p in model.named_parameters() if "embeddings" in name and "LayerNorm" not in name)
    return total, total - embeddings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shape", default="512,6,8,2048,32000", help="hidden,layers,heads,intermediate,vocab")
    parser.add_argument("--size", choices=sorted(SIZES), help="an XLM-R size's shape and architecture instead")
    parser.add_argument("--device", default="cpu", help="cpu (gloo ranks) or cuda (a GPU per rank, NCCL, bf16)")
    parser.add_argument("--gradient-checkpointing", action="store_true")
    parser.add_argument("--variants", default=",".join(VARIANTS), help="comma list of: none, fsdp")
    parser.add_argument("--peak-tflops", type=float, default=989.0, help="a GPU's dense bf16 peak, for MFU")
    parser.add_argument("--rows", type=int, default=8, help="micro-batch rows per rank")
    parser.add_argument("--length", type=int, default=128)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--ranks", type=int, default=2)
    parser.add_argument("--reps", type=int, default=2)
    args = parser.parse_args()
    if args.device == "cpu":
        os.environ["CUDA_VISIBLE_DEVICES"] = ""  # gloo ranks on the CPU, on any machine
    text, architecture = SIZES[args.size] if args.size else (args.shape, "xlm-roberta")
    variants = [v for v in args.variants.split(",") if v]
    os.environ.update(MALLOC_TRIM_THRESHOLD_="0", MALLOC_MMAP_THRESHOLD_="65536")  # freed memory returned at once

    from _common import median
    from sharding_throughput import train_on_rank as on_rank  # by module name, which the workers can import
    from xstilts.runtime import launch_data_parallel

    shape = [int(x) for x in text.split(",")]
    found: dict[str, list[dict]] = {variant: [] for variant in variants}
    with tempfile.TemporaryDirectory() as folder:
        parameters, non_embedding = save_random_encoder(shape, args.length, folder, architecture)
        for rep in range(args.reps):
            for variant in variants if rep % 2 == 0 else reversed(variants):
                ranks = launch_data_parallel(on_rank, {"shape": shape, "rows": args.rows, "length": args.length,
                                                       "steps": args.steps, "sharding": variant, "folder": folder,
                                                       "gradient_checkpointing": args.gradient_checkpointing},
                                             args.ranks)
                found[variant].append({"examples_per_s": ranks[0]["examples"] / max(r["seconds"] for r in ranks),
                                       "peak": max(r["peak"] for r in ranks), "estimate": ranks[0]["estimate"]})
    print(f"shape {text} ({parameters / 1e6:.1f}M parameters), {args.ranks} {args.device} ranks x {args.rows} rows x "
          f"{args.length} tokens, {args.steps} steps, {args.reps} repetitions (medians)")
    print("| sharding | examples/s | peak per rank (MiB) | estimate per rank (MiB) | MFU |")
    print("|---|---:|---:|---:|---:|")
    for variant in variants:
        runs = found[variant]
        speed = median([r["examples_per_s"] for r in runs])
        # 6 N per token (N outside the embedding tables) against the ranks' summed peak
        mfu = (f"{6 * non_embedding * args.length * speed / (args.peak_tflops * 1e12 * args.ranks):.1%}"
               if args.device == "cuda" else "-")
        print(f"| {variant} | {speed:.1f} | {median([r['peak'] for r in runs]) / 2**20:.0f} | "
              f"{runs[0]['estimate'] / 2**20:.0f} | {mfu} |")
    if set(variants) == set(VARIANTS):
        speed = median([s["examples_per_s"] / n["examples_per_s"] for s, n in zip(found["fsdp"], found["none"])])
        memory = median([s["peak"] / n["peak"] for s, n in zip(found["fsdp"], found["none"])])
        print(f"fsdp / none: examples/s {speed:.2f}x, peak memory per rank {memory:.2f}x")

if __name__ == "__main__":
    main()
