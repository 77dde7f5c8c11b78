"""Evaluation throughput: xstilts.inference.predict (rows sorted by length, padded per batch)
against naive loops over the same model, data and batch size.

Variants (alternated ABBA in one process, after an untimed warm-up of each):
  predict         xstilts.inference.predict: length-sorted batches, dynamic padding
  evaluate_split  predict + decode + score (what the evaluate stage runs per language)
  naive           batches in file order, padded to each batch's longest row
  naive_fixed     batches in file order, padded to --seq-len (as a fixed-shape pipeline would)
All run under torch.inference_mode with the same autocast (bf16 on CUDA unless --no-bf16) and
copy per-row outputs back to the CPU.

  python benchmarks/eval_throughput.py --size demo --examples 4000 --reps 5
  python benchmarks/eval_throughput.py --device cuda --size large --examples 20000 --batch-size 128
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402

import torch  # noqa: E402

VARIANTS = ("predict", "evaluate_split", "naive", "naive_fixed")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--size", choices=sorted(C.SIZES), default="demo")
    parser.add_argument("--seq-len", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=64, help="the config's evaluation.batch_size default")
    parser.add_argument("--examples", type=int, default=2000)
    parser.add_argument("--lengths", choices=["full", "mixed", "natural"], default="mixed")
    parser.add_argument("--no-bf16", action="store_true")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    C.add_common_args(parser, reps=3)
    return parser.parse_args(argv)


def naive_predict(model, kind, features, *, pad_id, batch_size, device, bf16, fixed_length=None):
    from xstilts.inference import autocast_for, rows_of, to_device

    rows = rows_of(features)
    outputs = []
    model.eval()
    with torch.inference_mode(), autocast_for(device, bf16):
        for start in range(0, len(rows), batch_size):
            batch_rows = rows[start:start + batch_size]
            if fixed_length:
                batch_rows = [{**r, "input_ids": r["input_ids"] + [pad_id] * (fixed_length - len(r["input_ids"]))}
                              for r in batch_rows]
            # collate masks every pad id, the ones added above included
            batch = to_device(kind.collate(batch_rows, pad_id), device)
            _, logits = model("nli", batch)
            outputs += kind.unbatch(logits, batch)
    return outputs


def padded_tokens(lengths, batch_size, *, sort: bool, fixed: int | None = None) -> int:
    order = sorted(lengths, reverse=True) if sort else list(lengths)
    total = 0
    for start in range(0, len(order), batch_size):
        chunk = order[start:start + batch_size]
        total += len(chunk) * (fixed or max(chunk))
    return total


def main(argv=None) -> dict:
    args = parse_args(argv)
    C.apply_threads(args.threads)
    device = C.resolve_device(args.device)
    bf16 = not args.no_bf16
    from xstilts.inference import evaluate_split, predict
    from xstilts.tasks import task_type

    tokenizer = C.demo_tokenizer(lines_per_language=args.corpus_lines, model_max_length=max(512, args.seq_len))
    examples = C.nli_examples(args.examples, lengths=args.lengths, seq_len=args.seq_len, tokenizer=tokenizer,
                              split="test")
    kind = task_type("classification")(C.NLI_LABELS)
    features = kind.featurize(examples, tokenizer, {"max_length": args.seq_len})
    lengths = [len(ids) for ids in features["input_ids"]]
    config = C.model_config(args.size, len(tokenizer), tokenizer.pad_token_id, args.seq_len)
    model, kind = C.build_classifier(config, C.NLI_LABELS, seed=0)
    model.to(device)
    pad_id = tokenizer.pad_token_id
    common = dict(pad_id=pad_id, batch_size=args.batch_size, device=device, bf16=bf16)

    def one(name):
        with C.Timer(device) as timer:
            if name == "predict":
                out = predict(model, "nli", kind, features, **common)
            elif name == "evaluate_split":
                out, _ = evaluate_split(model, "nli", kind, features, examples, metric="accuracy", lang="en",
                                        settings={}, **common)
            elif name == "naive":
                out = naive_predict(model, kind, features, **common)
            elif name == "naive_fixed":
                out = naive_predict(model, kind, features, **common, fixed_length=args.seq_len)
            else:
                raise SystemExit(f"unknown variant {name}")
        assert len(out) == len(lengths)
        return timer.seconds

    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    for name in variants:
        one(name)
    seconds = {name: [] for name in variants}
    for _, name in C.alternating(variants, args.reps):
        seconds[name].append(one(name))

    real = sum(lengths)
    padded = {"predict": padded_tokens(lengths, args.batch_size, sort=True),
              "naive": padded_tokens(lengths, args.batch_size, sort=False),
              "naive_fixed": padded_tokens(lengths, args.batch_size, sort=False, fixed=args.seq_len)}
    padded["evaluate_split"] = padded["predict"]
    summary, rows = {}, []
    for name in variants:
        med = C.median(seconds[name])
        summary[name] = {"seconds": seconds[name], "median_seconds": med, "examples_per_s": len(lengths) / med,
                         "padded_tokens_per_real_token": padded[name] / real}
        rows.append([name, med, len(lengths) / med, padded[name] / real])
    result = {"config": vars(args), "device": str(device), "examples": len(lengths),
              "mean_tokens_per_example": real / len(lengths), "environment": C.environment(device),
              "variants": summary}
    if "predict" in seconds:
        for other in variants:
            if other != "predict":
                result[f"speedup_predict_over_{other}"] = C.median(C.ratios(seconds[other], seconds["predict"]))

    print(f"eval throughput: size={args.size} device={device} batch={args.batch_size} seq_len={args.seq_len} "
          f"lengths={args.lengths} (mean {real / len(lengths):.1f}, max {max(lengths)} tokens) "
          f"examples={len(lengths)} reps={args.reps} precision={'bf16' if device.type == 'cuda' and bf16 else 'fp32'}")
    C.print_table(["variant", "s (median)", "examples/s", "padded/real tokens"], rows)
    for key, value in result.items():
        if key.startswith("speedup_"):
            print(f"{key}: {value:.3f}")
    C.emit_json("eval_throughput", result)
    return result


if __name__ == "__main__":
    main()
