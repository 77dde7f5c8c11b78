"""Attack throughput: each attack on batches of --batch-size examples against the same code on one
example at a time, same model, data, threads and attack, in one process.

Attacks (--attacks, default all):
  pgd       embedding-space PGD (xstilts.robustness.attacked_split), --steps steps of radius --eps
  hotflip   gradient-guided word substitution (xstilts.robustness.word_attack), --max-changes words
Variants of each (alternated ABBA, after an untimed warm-up of each):
  batched   the attack with --batch-size (PGD: rows sorted by length; hotflip: the greedy search
            batched across examples, candidates checked in one pass)
  single    the same with batch size 1
The two must agree: PGD's predictions on at least --agree of the examples (floats differ in the
last bits), hotflip's adversarial texts on every example (its ties are broken by a fixed rule).

  python benchmarks/attack_throughput.py --examples 256 --reps 3
  python benchmarks/attack_throughput.py --device cuda --size large --examples 2048 --batch-size 64
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402

ATTACKS = ("pgd", "hotflip")
VARIANTS = ("batched", "single")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--size", choices=sorted(C.SIZES), default="demo")
    parser.add_argument("--attacks", nargs="+", choices=ATTACKS, default=list(ATTACKS))
    parser.add_argument("--seq-len", type=int, default=96)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--examples", type=int, default=256)
    parser.add_argument("--eps", type=float, default=1.0)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--max-changes", type=int, default=2)
    parser.add_argument("--agree", type=float, default=0.98, help="share of PGD predictions the variants must share")
    C.add_common_args(parser, reps=3)
    return parser.parse_args(argv)


def attack_runner(name, args, model, kind, tokenizer, examples, device):
    """A function of the batch size: (seconds, what the variants must agree on)."""
    from xstilts import tokenizer_file
    from xstilts.robustness.attacked_split import attack_split
    from xstilts.robustness.pgd import PGD
    from xstilts.robustness.word_attack import WordAttack, word_attack_split

    settings = {"max_length": args.seq_len}
    features = kind.featurize(examples, tokenizer, settings)
    run = dict(metric="accuracy", lang="en", settings=settings, pad_id=tokenizer.pad_token_id, device=device)
    if name == "pgd":
        pgd = PGD(eps=args.eps, steps=args.steps, step_size=args.eps / 2)
        attack = lambda batch_size: attack_split(model, "nli", kind, features, examples, pgd,  # noqa: E731
                                                 batch_size=batch_size, **run)
        agreed_on = "prediction"
    else:
        folder = tempfile.mkdtemp(prefix="attack-throughput-")
        tokenizer.save_pretrained(folder)
        words = tokenizer_file.load(folder)
        attack = lambda batch_size: word_attack_split(model, "nli", kind, features, examples,  # noqa: E731
                                                      WordAttack(args.max_changes), tokenizer=words,
                                                      batch_size=batch_size, **run)
        agreed_on = "adversarial"

    def one(batch_size):
        with C.Timer(device) as timer:
            records, _ = attack(batch_size)
        return timer.seconds, [r[agreed_on] for r in records]
    return one


def measure(name, one, args, n_examples) -> dict:
    outputs = {variant: one(args.batch_size if variant == "batched" else 1)[1] for variant in VARIANTS}
    agree = sum(a == b for a, b in zip(outputs["batched"], outputs["single"])) / n_examples
    needed = args.agree if name == "pgd" else 1.0
    if agree < needed:
        sys.exit(f"{name}: batched and single attacks agree on {agree:.3f} of the examples only (< {needed})")
    seconds = {variant: [] for variant in VARIANTS}
    for _, variant in C.alternating(list(VARIANTS), args.reps):
        seconds[variant].append(one(args.batch_size if variant == "batched" else 1)[0])
    return {"agree": agree, "speedup_batched_over_single": C.median(C.ratios(seconds["single"], seconds["batched"])),
            "variants": {variant: {"seconds": seconds[variant], "median_seconds": C.median(seconds[variant]),
                                   "examples_per_s": n_examples / C.median(seconds[variant])} for variant in VARIANTS}}


def main(argv=None) -> dict:
    args = parse_args(argv)
    C.apply_threads(args.threads)
    device = C.resolve_device(args.device)
    tokenizer = C.demo_tokenizer(lines_per_language=args.corpus_lines, model_max_length=max(512, args.seq_len))
    examples = C.nli_examples(args.examples, lengths="natural", seq_len=args.seq_len, tokenizer=tokenizer,
                              split="test")
    config = C.model_config(args.size, len(tokenizer), tokenizer.pad_token_id, args.seq_len)
    model, kind = C.build_classifier(config, C.NLI_LABELS, seed=0)
    model.to(device)
    found = {name: measure(name, attack_runner(name, args, model, kind, tokenizer, examples, device), args,
                           len(examples)) for name in args.attacks}
    rows = [[name, variant, figures["variants"][variant]["median_seconds"],
             figures["variants"][variant]["examples_per_s"]] for name, figures in found.items() for variant in VARIANTS]
    C.print_table(["attack", "variant", "s (median)", "examples/s"], rows)
    for name, figures in found.items():
        print(f"{name}: batched / single {figures['speedup_batched_over_single']:.2f}x (per-repetition ratios, "
              f"median); the variants agree on {figures['agree']:.3f} of the examples")
    if device.type == "cpu":
        print("on a GPU: python benchmarks/attack_throughput.py --device cuda --size large --examples 2048 "
              "--batch-size 64")
    result = {"config": vars(args), "device": str(device), "examples": len(examples),
              "environment": C.environment(device), "attacks": found}
    C.emit_json("attack_throughput", result)
    return result


if __name__ == "__main__":
    main()
