"""Tokenize-stage throughput: the stage's featurisation (task_type(...).featurize, then
write_features to Parquet) against calling the fast tokenizer directly on the same batches.

The stage featurises one examples file (one language of one split) per call, so a "batch"
here is one file of --examples examples. Variants (alternated ABBA in one process):
  tokenizer   tokenizer(...) with exactly the arguments featurize passes: the floor
  featurize   task_type(kind).featurize(examples, tokenizer, settings): the columns as Python
              lists, as in-process callers (tests, the pretrain stage) get them
  stage       features.featurize_file: what the tokenize job does per file (write_features of
              kind.feature_table, the garbage collector paused), with the tokenizer the job
              uses: tokenizer.json read by the tokenizers library alone (xstilts.tokenizer_file)
              (feature_table: the same columns as an Arrow table; tagging builds it from arrays)
  backend     tokenizer.backend_tokenizer.encode_batch(...) (the Rust tokenizer without the
              transformers wrapper; for information, classification only)
Reported: examples/s and the ratios featurize/tokenizer and stage/tokenizer (target >= 0.8).

Each stage repetition writes a new file, as the job does: Snakemake deletes a job's outputs
before it runs, so the stage never renames onto an existing file. On ext4 such a rename makes
the kernel flush the new file first (auto_da_alloc): ~5 ms for an 800 kB file here, within
the noise for these ~40 kB ones. --same-path writes every repetition onto one file, as
this script did before.

  python benchmarks/tokenize_throughput.py --task nli --examples 5000 --reps 5
  python benchmarks/tokenize_throughput.py --task span_qa --examples 2000
"""

from __future__ import annotations

import argparse
import itertools
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402

# The demo config's feature settings per task type.
TASKS = {
    "nli": ("classification", {"max_length": 96}),
    "pos": ("tagging", {"max_length": 64}),
    "span_qa": ("span_qa", {"max_length": 128, "stride": 48}),
}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--task", choices=sorted(TASKS), default="nli", help="synthetic kind (its task type)")
    parser.add_argument("--examples", type=int, default=5000, help="examples per file (the demo's mnli train size)")
    parser.add_argument("--lang", default="en")
    parser.add_argument("--variants", default="tokenizer,featurize,stage,backend")
    parser.add_argument("--same-path", action="store_true",
                        help="write every stage repetition onto the same file (a rename over an existing one)")
    C.add_common_args(parser, reps=5)
    return parser.parse_args(argv)


def raw_call(task: str, tokenizer, examples, settings):
    """The tokenizer call(s) featurize makes, and nothing else."""
    if task == "nli":
        return tokenizer([ex["text_a"] for ex in examples], [ex.get("text_b") for ex in examples],
                         truncation=True, max_length=settings["max_length"])
    if task == "pos":
        return tokenizer([ex["tokens"] for ex in examples], is_split_into_words=True, truncation=True,
                         max_length=settings["max_length"], return_attention_mask=False)
    # span_qa: the question-length probe, then the windowed pair encoding
    questions = [ex["question"].lstrip() for ex in examples]
    tokenizer(questions, add_special_tokens=False, return_offsets_mapping=True)
    return tokenizer(questions, [ex["context"] for ex in examples], truncation="only_second",
                     max_length=settings["max_length"], stride=settings["stride"],
                     return_overflowing_tokens=True, return_offsets_mapping=True)


def main(argv=None) -> dict:
    args = parse_args(argv)
    from xstilts import synthetic, tokenizer_file
    from xstilts.features import featurize_file
    from xstilts.tasks import task_type

    type_name, settings = TASKS[args.task]
    tokenizer = C.demo_tokenizer(lines_per_language=args.corpus_lines)
    examples = synthetic.generate(args.task, split="train", lang=args.lang, n=args.examples, seed=C.SEED,
                                  stream=args.task)
    labels = synthetic.label_names(args.task) or None
    kind = task_type(type_name)(labels)
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    if args.task != "nli" and "backend" in variants:
        variants.remove("backend")
    backend = tokenizer.backend_tokenizer
    pairs = [(ex["text_a"], ex["text_b"]) for ex in examples] if args.task == "nli" else None

    tmp = tempfile.TemporaryDirectory()
    written = itertools.count()
    # The stage reads the saved tokenizer.json with the tokenizers library alone (xstilts.tokenizer_file).
    tokenizer.save_pretrained(Path(tmp.name) / "tokenizer")
    stage_tokenizer = tokenizer_file.load(Path(tmp.name) / "tokenizer")

    def out_path() -> Path:
        return Path(tmp.name) / ("features.parquet" if args.same_path else f"features-{next(written)}.parquet")

    def one(name):
        out = out_path()
        with C.Timer() as timer:
            if name == "tokenizer":
                raw_call(args.task, tokenizer, examples, settings)
            elif name == "featurize":
                kind.featurize(examples, tokenizer, settings)
            elif name == "stage":
                featurize_file(kind, examples, stage_tokenizer, settings, out)
            elif name == "backend":
                backend.enable_truncation(settings["max_length"])
                backend.encode_batch(pairs)
                backend.no_truncation()
            else:
                raise SystemExit(f"unknown variant {name}")
        if not args.same_path:
            out.unlink(missing_ok=True)  # untimed: the next repetition writes a new file again
        return timer.seconds

    for name in variants:
        one(name)
    seconds = {name: [] for name in variants}
    for _, name in C.alternating(variants, args.reps):
        seconds[name].append(one(name))
    tmp.cleanup()

    summary, rows = {}, []
    for name in variants:
        med = C.median(seconds[name])
        summary[name] = {"seconds": seconds[name], "median_seconds": med, "examples_per_s": len(examples) / med}
    result = {"config": vars(args), "task_type": type_name, "settings": settings, "examples": len(examples),
              "environment": C.environment(), "variants": summary}
    for name in variants:
        ratio = C.median(C.ratios(seconds["tokenizer"], seconds[name])) if "tokenizer" in seconds else float("nan")
        summary[name]["ratio_vs_tokenizer"] = ratio
        rows.append([name, summary[name]["median_seconds"], summary[name]["examples_per_s"], ratio])
    for name in ("featurize", "stage"):
        if name in summary and "tokenizer" in summary:
            result[f"ratio_{name}_over_tokenizer"] = summary[name]["ratio_vs_tokenizer"]

    print(f"tokenize throughput: task={args.task} ({type_name}, {settings}) examples/file={len(examples)} "
          f"reps={args.reps}")
    C.print_table(["variant", "s (median)", "examples/s", "throughput vs tokenizer"], rows)
    if "ratio_stage_over_tokenizer" in result:
        verdict = "meets" if result["ratio_stage_over_tokenizer"] >= 0.8 else "BELOW"
        print(f"stage/tokenizer throughput ratio {result['ratio_stage_over_tokenizer']:.3f} ({verdict} the 0.8 target)")
    C.emit_json("tokenize_throughput", result)
    return result


if __name__ == "__main__":
    main()
