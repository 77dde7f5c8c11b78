"""Attack throughput: embedding-space PGD (xstilts.robustness.attacked_split) on batches of
--batch-size rows against the same code on one row at a time, same model, data, threads and
attack, in one process.

Variants (alternated ABBA, after an untimed warm-up of each):
  batched   attack_split with --batch-size (rows sorted by length, padded per batch)
  single    attack_split with batch size 1
The two give the same predictions up to the last bits of float arithmetic (each row's ascent and
projection are its own); the script checks that they agree on at least --agree of the examples.

  python benchmarks/attack_throughput.py --examples 256 --reps 3
  python benchmarks/attack_throughput.py --device cuda --size large --examples 2048 --batch-size 64
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402

VARIANTS = ("batched", "single")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--size", choices=sorted(C.SIZES), default="demo")
    parser.add_argument("--seq-len", type=int, default=96)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--examples", type=int, default=256)
    parser.add_argument("--eps", type=float, default=1.0)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--agree", type=float, default=0.98, help="share of predictions the variants must share")
    C.add_common_args(parser, reps=3)
    return parser.parse_args(argv)


def main(argv=None) -> dict:
    args = parse_args(argv)
    C.apply_threads(args.threads)
    device = C.resolve_device(args.device)
    from xstilts.robustness.attacked_split import attack_split
    from xstilts.robustness.pgd import PGD

    tokenizer = C.demo_tokenizer(lines_per_language=args.corpus_lines, model_max_length=max(512, args.seq_len))
    examples = C.nli_examples(args.examples, lengths="natural", seq_len=args.seq_len, tokenizer=tokenizer,
                              split="test")
    config = C.model_config(args.size, len(tokenizer), tokenizer.pad_token_id, args.seq_len)
    model, kind = C.build_classifier(config, C.NLI_LABELS, seed=0)
    model.to(device)
    features = kind.featurize(examples, tokenizer, {"max_length": args.seq_len})
    pgd = PGD(eps=args.eps, steps=args.steps, step_size=args.eps / 2)

    def one(name):
        batch_size = args.batch_size if name == "batched" else 1
        with C.Timer(device) as timer:
            records, _ = attack_split(model, "nli", kind, features, examples, pgd, metric="accuracy", lang="en",
                                      settings={}, pad_id=tokenizer.pad_token_id, batch_size=batch_size, device=device)
        return timer.seconds, [r["prediction"] for r in records]

    predictions = {name: one(name)[1] for name in VARIANTS}
    agree = sum(a == b for a, b in zip(predictions["batched"], predictions["single"])) / len(examples)
    if agree < args.agree:
        sys.exit(f"batched and single attacks agree on {agree:.3f} of the predictions only (< --agree {args.agree})")
    seconds = {name: [] for name in VARIANTS}
    for _, name in C.alternating(list(VARIANTS), args.reps):
        seconds[name].append(one(name)[0])
    speedup = C.median(C.ratios(seconds["single"], seconds["batched"]))
    rows = [[name, C.median(seconds[name]), len(examples) / C.median(seconds[name])] for name in VARIANTS]
    C.print_table(["variant", "s (median)", "examples/s"], rows)
    print(f"batched / single: {speedup:.2f}x (per-repetition ratios, median); predictions agree on {agree:.3f}")
    if device.type == "cpu":
        print("on a GPU: python benchmarks/attack_throughput.py --device cuda --size large --examples 2048 "
              "--batch-size 64")
    result = {"config": vars(args), "device": str(device), "examples": len(examples),
              "environment": C.environment(device), "agree": agree, "speedup_batched_over_single": speedup,
              "variants": {name: {"seconds": seconds[name], "median_seconds": C.median(seconds[name]),
                                  "examples_per_s": len(examples) / C.median(seconds[name])} for name in VARIANTS}}
    C.emit_json("attack_throughput", result)
    return result


if __name__ == "__main__":
    main()
