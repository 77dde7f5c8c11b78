"""Training throughput: our loop (xstilts.training.Trainer) vs transformers.Trainer.

Both train the same model (a random-init XLM-R of the chosen shape with our classification
head, built identically from one seed for every run) on the same synthetic NLI features,
with the same batch size, sequence length, number of optimizer steps, optimizer (AdamW,
fused on CUDA; weight decay off for biases and norms), warm-up + linear decay, gradient
clipping at 1.0, precision (bf16 autocast on CUDA, float32 on CPU), logging interval and
data-loader workers, with no evaluation and no checkpoint saving. Runs of the two alternate
(ABBA) in this one process after an untimed warm-up run of each.

Differences that stay, by design:
- batching: ours groups lengths (pools of 50 batches) and pads each batch to its longest row;
  Trainer gets its `group_by_length` sampler (also mega-batches of 50) and
  DataCollatorWithPadding, i.e. the same dynamic padding. With --lengths full (the default)
  every row has exactly --seq-len tokens, so there is no padding on either side.
- our loop calls torch.use_deterministic_algorithms(True) (for CPU determinism); Trainer does
  not. The script restores the previous setting after each of our runs so it does not leak.
- Trainer's per-step NaN/Inf loss check (logging_nan_inf_filter), a host-device sync every
  step on GPU, is switched off so both sides sync only once per logging interval;
  --trainer-nan-filter switches it back on.

Timing: "call" = building the trainer object + train() (model already built, on the CPU);
"loop" = each side's own measure of its training loop (our summary's seconds; Trainer's
train_runtime). examples/s and tokens/s come from "call".

  python benchmarks/train_throughput.py --size demo --steps 100 --reps 5
  python benchmarks/train_throughput.py --device cuda --size base --steps 200 --batch-size 32
"""

from __future__ import annotations

import argparse
import contextlib
import io
import logging
import sys
import tempfile
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402

import torch  # noqa: E402
from torch import nn  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--size", choices=sorted(C.SIZES), default="demo")
    parser.add_argument("--seq-len", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--steps", type=int, default=100, help="optimizer steps per run")
    parser.add_argument("--examples", type=int, default=0, help="training examples (0: steps x batch size)")
    parser.add_argument("--lengths", choices=["full", "mixed", "natural"], default="full")
    parser.add_argument("--log-every", type=int, default=10)
    parser.add_argument("--workers", type=int, default=0, help="Trainer's dataloader workers (ours has none)")
    parser.add_argument("--lr", type=float, default=2e-5)
    parser.add_argument("--no-bf16", action="store_true", help="float32 on CUDA too")
    parser.add_argument("--compile", action="store_true", help="torch.compile on both sides")
    parser.add_argument("--trainer-nan-filter", action="store_true",
                        help="keep Trainer's per-step NaN/Inf check (a sync per step)")
    parser.add_argument("--peak-tflops", type=float, default=989.0,
                        help="peak dense bf16 TFLOP/s of the GPU for MFU (H100 SXM: 989)")
    parser.add_argument("--warmup-runs", type=int, default=1)
    parser.add_argument("--variants", default="ours,trainer",
                        help="comma list of: ours, trainer, ours_nondet, ours_pgd, ours_freelb, ours_r3f (our loop with "
                             "adversarial training, xstilts.robust_training.adversarial)")
    parser.add_argument("--adversarial-steps", type=int, default=3, help="the adversarial variants' steps (K)")
    parser.add_argument("--adversarial-eps", type=float, default=0.1, help="the adversarial variants' radius")
    C.add_common_args(parser, reps=3)
    return parser.parse_args(argv)


ADVERSARIAL_VARIANTS = ("ours_pgd", "ours_freelb", "ours_r3f")


class TrainerModel(nn.Module):
    """The same MultiTaskModel, with the keyword signature and dict output transformers.Trainer expects."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, input_ids, attention_mask, labels=None):
        batch = {"input_ids": input_ids, "attention_mask": attention_mask}
        if labels is not None:
            batch["labels"] = labels
        loss, logits = self.model("nli", batch)
        return {"loss": loss, "logits": logits}


def hyperparameters(args, device) -> dict:
    from xstilts.config import TRAINING_DEFAULTS

    never = 10**9
    return {**TRAINING_DEFAULTS, "lr": args.lr, "batch_size": args.batch_size, "grad_accum": 1, "epochs": 1,
            "max_steps": args.steps, "eval_every": never, "save_every": never, "patience": never,
            "log_every": args.log_every, "warmup_ratio": 0.1, "weight_decay": 0.01, "max_grad_norm": 1.0,
            "bf16": not args.no_bf16, "compile": args.compile, "num_workers": args.workers}


def run_ours(args, config, kind_labels, features, pad_id, device, *, deterministic: bool = True,
             adversarial: str | None = None) -> dict:
    from xstilts import training

    model, kind = C.build_classifier(config, kind_labels, seed=0)
    before = torch.are_deterministic_algorithms_enabled()
    set_determinism = training.set_determinism
    if not deterministic:  # diagnostic variant: our loop without deterministic algorithms
        training.set_determinism = lambda seed: (set_determinism(seed), torch.use_deterministic_algorithms(False))
    try:
        with tempfile.TemporaryDirectory() as tmp, C.Timer(device) as timer:
            hp = hyperparameters(args, device)
            if adversarial:
                hp["adversarial"] = {"method": adversarial, "eps": args.adversarial_eps, "steps": args.adversarial_steps}
            trainer = training.Trainer(model, [training.TrainTask("nli", kind, features)], hp,
                                       seed=0, device=device, pad_id=pad_id, state_dir=Path(tmp) / "state",
                                       progress=False)
            summary = trainer.run()
    finally:
        training.set_determinism = set_determinism
        torch.use_deterministic_algorithms(before)
    # Mean training loss over the run (log lines are means over their interval; the last may be shorter).
    lines = [line for line in summary["log"] if "loss" in line]
    steps = [line["step"] - previous["step"] for previous, line in zip([{"step": 0}] + lines, lines)]
    mean_loss = sum(line["loss"] * n for line, n in zip(lines, steps)) / max(sum(steps), 1)
    return {"seconds": timer.seconds, "cpu_seconds": timer.cpu_seconds, "loop_seconds": summary["seconds"],
            "steps": summary["steps"], "mean_loss": mean_loss}


def run_trainer(args, config, kind_labels, features, tokenizer, device) -> dict:
    from transformers import DataCollatorWithPadding, Trainer, TrainingArguments

    model, _ = C.build_classifier(config, kind_labels, seed=0)
    dataset = [{"input_ids": ids, "labels": label} for ids, label in zip(features["input_ids"], features["label"])]
    cuda = device.type == "cuda"
    with tempfile.TemporaryDirectory() as tmp:
        training_args = TrainingArguments(
            output_dir=tmp, per_device_train_batch_size=args.batch_size, max_steps=args.steps,
            learning_rate=args.lr, weight_decay=0.01, warmup_steps=0.1, lr_scheduler_type="linear",
            optim="adamw_torch_fused" if cuda else "adamw_torch", max_grad_norm=1.0,
            bf16=cuda and not args.no_bf16, logging_strategy="steps", logging_steps=args.log_every,
            logging_nan_inf_filter=args.trainer_nan_filter, eval_strategy="no", save_strategy="no",
            report_to="none", disable_tqdm=True, dataloader_num_workers=args.workers,
            train_sampling_strategy="group_by_length", use_cpu=not cuda, seed=0, remove_unused_columns=False,
            torch_compile=args.compile,
        )
        with C.Timer(device) as timer:
            trainer = Trainer(model=TrainerModel(model), args=training_args, train_dataset=dataset,
                              data_collator=DataCollatorWithPadding(tokenizer))
            output = trainer.train()
    return {"seconds": timer.seconds, "cpu_seconds": timer.cpu_seconds, "loop_seconds": output.metrics["train_runtime"],
            "steps": output.global_step, "mean_loss": output.training_loss}


def padding_per_sampler(lengths: list[int], batch_size: int) -> dict[str, float]:
    """Padded / real tokens of one epoch under each side's batching (same data, seed 0)."""
    import random

    from transformers.trainer_pt_utils import LengthGroupedSampler

    from xstilts.training import length_grouped_batches

    def ratio(batches):
        return sum(len(b) * max(lengths[i] for i in b) for b in batches) / sum(lengths)

    generator = torch.Generator()
    generator.manual_seed(0)
    order = list(LengthGroupedSampler(batch_size, lengths=lengths, generator=generator))
    return {"ours": ratio(length_grouped_batches(lengths, batch_size, random.Random(0))),
            "trainer": ratio([order[i:i + batch_size] for i in range(0, len(order), batch_size)])}


def main(argv=None) -> dict:
    args = parse_args(argv)
    C.apply_threads(args.threads)
    device = C.resolve_device(args.device)
    logging.getLogger("transformers").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")
    from transformers.utils import logging as hf_logging
    hf_logging.set_verbosity_error()

    from xstilts.tasks import task_type

    tokenizer = C.demo_tokenizer(lines_per_language=args.corpus_lines, model_max_length=max(512, args.seq_len))
    n = args.examples or args.steps * args.batch_size
    examples = C.nli_examples(n, lengths=args.lengths, seq_len=args.seq_len, tokenizer=tokenizer)
    features = task_type("classification")(C.NLI_LABELS).featurize(examples, tokenizer, {"max_length": args.seq_len})
    lengths = [len(ids) for ids in features["input_ids"]]
    mean_len = sum(lengths) / len(lengths)
    mean_sq = sum(x * x for x in lengths) / len(lengths)
    config = C.model_config(args.size, len(tokenizer), tokenizer.pad_token_id, args.seq_len)
    probe, _ = C.build_classifier(config, C.NLI_LABELS, seed=0)
    params, non_embedding = C.count_parameters(probe)
    del probe

    padding = padding_per_sampler(lengths, args.batch_size)
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]

    def one(name):
        quiet = io.StringIO()
        with contextlib.redirect_stdout(quiet), contextlib.redirect_stderr(quiet):
            if name == "ours":
                return run_ours(args, config, C.NLI_LABELS, features, tokenizer.pad_token_id, device)
            if name == "ours_nondet":
                return run_ours(args, config, C.NLI_LABELS, features, tokenizer.pad_token_id, device,
                                deterministic=False)
            if name == "trainer":
                return run_trainer(args, config, C.NLI_LABELS, features, tokenizer, device)
            if name in ADVERSARIAL_VARIANTS:
                return run_ours(args, config, C.NLI_LABELS, features, tokenizer.pad_token_id, device,
                                adversarial=name.removeprefix("ours_"))
        raise SystemExit(f"unknown variant {name}")

    for _ in range(args.warmup_runs):
        for name in variants:
            one(name)
    runs = {name: [] for name in variants}
    for _, name in C.alternating(variants, args.reps):
        runs[name].append(one(name))

    examples_per_run = args.steps * args.batch_size
    tokens_per_run = examples_per_run * mean_len
    # Model FLOPs: 6 N per token (N = parameters outside the embedding tables), and with attention
    # 12 L d T per token of a T-token sequence (PaLM, appendix B).
    flops_6n = 6 * non_embedding * tokens_per_run
    flops_attn = flops_6n + 12 * config.num_hidden_layers * config.hidden_size * mean_sq * examples_per_run
    summary, rows = {}, []
    for name in variants:
        seconds = [r["seconds"] for r in runs[name]]
        med = C.median(seconds)
        entry = {"seconds": seconds, "median_seconds": med,
                 "cpu_seconds_median": C.median([r["cpu_seconds"] for r in runs[name]]), "examples_per_s": examples_per_run / med,
                 "tokens_per_s": tokens_per_run / med,
                 "loop_seconds_median": C.median([r["loop_seconds"] for r in runs[name]]),
                 "mean_loss": runs[name][-1]["mean_loss"], "steps": runs[name][-1]["steps"]}
        if device.type == "cuda":
            entry["mfu"] = flops_6n / med / (args.peak_tflops * 1e12)
            entry["mfu_with_attention"] = flops_attn / med / (args.peak_tflops * 1e12)
        summary[name] = entry
        rows.append([name, entry["steps"], med, entry["loop_seconds_median"], entry["cpu_seconds_median"],
                     entry["examples_per_s"],
                     entry["tokens_per_s"], entry.get("mfu", float("nan")), entry["mean_loss"]])
    result = {"config": {k: v for k, v in vars(args).items()}, "device": str(device), "params": params,
              "non_embedding_params": non_embedding, "mean_tokens_per_example": mean_len,
              "padded_tokens_per_real_token": padding, "environment": C.environment(device), "variants": summary}
    if "ours" in runs and "trainer" in runs:
        per_rep = C.ratios([r["seconds"] for r in runs["trainer"]], [r["seconds"] for r in runs["ours"]])
        result["ratio_ours_over_trainer"] = C.median(per_rep)
        result["ratio_per_rep"] = per_rep
        result["ratio_ours_over_trainer_cpu_time"] = C.median(
            C.ratios([r["cpu_seconds"] for r in runs["trainer"]], [r["cpu_seconds"] for r in runs["ours"]]))
    for name in ADVERSARIAL_VARIANTS:
        if name in runs and "ours" in runs:  # the cost of adversarial training: plain examples/s over its own
            result[f"ratio_{name}_over_ours"] = C.median(
                C.ratios([r["seconds"] for r in runs[name]], [r["seconds"] for r in runs["ours"]]))
    if "ours_nondet" in runs and "ours" in runs:
        result["ratio_ours_over_ours_nondet"] = C.median(
            C.ratios([r["seconds"] for r in runs["ours_nondet"]], [r["seconds"] for r in runs["ours"]]))

    print(f"train throughput: size={args.size} ({params / 1e6:.1f}M params, {non_embedding / 1e6:.1f}M "
          f"non-embedding) device={device} batch={args.batch_size} seq_len={args.seq_len} "
          f"lengths={args.lengths} (mean {mean_len:.1f} tokens) steps={args.steps} reps={args.reps} "
          f"precision={'bf16' if device.type == 'cuda' and not args.no_bf16 else 'fp32'}")
    C.print_table(["variant", "steps", "call s (median)", "loop s", "cpu s", "examples/s", "tokens/s", "MFU", "mean loss"],
                  rows)
    print(f"padded/real tokens per epoch (batching alone): ours {padding['ours']:.3f}, "
          f"Trainer group_by_length {padding['trainer']:.3f}")
    if "ratio_ours_over_trainer" in result:
        print(f"ratio ours/Trainer (examples/s, median of per-repetition ratios): "
              f"{result['ratio_ours_over_trainer']:.3f}  per rep: "
              + ", ".join(f"{r:.3f}" for r in result["ratio_per_rep"]))
    if "ratio_ours_over_trainer_cpu_time" in result:
        print(f"ratio ours/Trainer by CPU time (less sensitive to other jobs on the machine): "
              f"{result['ratio_ours_over_trainer_cpu_time']:.3f}")
    if "ratio_ours_over_ours_nondet" in result:
        print(f"ratio ours/ours_nondet: {result['ratio_ours_over_ours_nondet']:.3f}")
    for name in ADVERSARIAL_VARIANTS:
        if f"ratio_{name}_over_ours" in result:
            steps = "one noised pass" if name == "ours_r3f" else f"K={args.adversarial_steps}"
            print(f"ratio {name}/ours (seconds, {steps}; median of per-repetition ratios): "
                  f"{result[f'ratio_{name}_over_ours']:.3f}")
    C.emit_json("train_throughput", result)
    return result


if __name__ == "__main__":
    main()
