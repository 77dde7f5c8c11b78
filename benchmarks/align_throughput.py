"""The align stage's time (issue 10): its forward passes (every hidden layer's sentence vectors,
xstilts.alignment.vectors) against its measures (retrieval both ways, cosine margin, linear CKA,
and the centred ones, per layer and language: xstilts.alignment.measures), on a Tatoeba-like
parallel set of the embedded generator and a random model of the chosen size.

The figure is the measures' share of the stage: the issue asks that they cost seconds beside the
forward passes even for XLM-R Large's 25 hidden states and Tatoeba-sized sets.

  python benchmarks/align_throughput.py --sentences 1000 --languages 4 --reps 3
  python benchmarks/align_throughput.py --device cuda --size large --sentences 1000 --languages 36
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--size", choices=sorted(C.SIZES), default="demo")
    parser.add_argument("--sentences", type=int, default=1000, help="sentence pairs per language (Tatoeba has 1000)")
    parser.add_argument("--languages", type=int, default=4, help="languages paired with English")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--seq-len", type=int, default=64, help="the retrieval features' maximum length")
    C.add_common_args(parser, reps=3)
    return parser.parse_args(argv)


def parallel_features(tokenizer, languages: int, sentences: int, seq_len: int) -> list[dict]:
    """One retrieval feature set per language, the generator's languages taken in turn (a language
    met again is drawn from another seed)."""
    from xstilts import synthetic
    from xstilts.tasks import task_type

    kind = task_type("retrieval")(None)
    others = [lang for lang in synthetic.LANGUAGES if lang != "en"]
    return [kind.featurize(synthetic.generate("parallel", split="test", lang=others[i % len(others)], n=sentences,
                                              seed=7 + i, stream="tatoeba"), tokenizer, {"max_length": seq_len})
            for i in range(languages)]


def one_pass(model, sets, *, pad_id, batch_size, device) -> tuple[float, float, int]:
    """(forward seconds, measures seconds, layers) of the stage's loop over every language."""
    from xstilts.alignment.measures import layer_measures
    from xstilts.alignment.vectors import paired_sides, sentence_vectors

    forward = measures = 0.0
    layers = 0
    for features in sets:
        with C.Timer(device) as timer:
            other, english = paired_sides(sentence_vectors(model, features, pad_id=pad_id, batch_size=batch_size,
                                                           device=device, bf16=True), features)
        forward += timer.seconds
        layers = english.shape[1]
        with C.Timer(device) as timer:
            for layer in range(layers):
                layer_measures(english[:, layer], other[:, layer], device=str(device))
        measures += timer.seconds
    return forward, measures, layers


def main(argv=None) -> dict:
    args = parse_args(argv)
    C.apply_threads(args.threads)
    device = C.resolve_device(args.device)
    tokenizer = C.demo_tokenizer(lines_per_language=args.corpus_lines, model_max_length=max(512, args.seq_len))
    sets = parallel_features(tokenizer, args.languages, args.sentences, args.seq_len)
    config = C.model_config(args.size, len(tokenizer), tokenizer.pad_token_id, args.seq_len)
    model, _ = C.build_classifier(config, C.NLI_LABELS, seed=0)
    model.to(device)
    run = dict(pad_id=tokenizer.pad_token_id, batch_size=args.batch_size, device=device)
    one_pass(model, sets[:1], **run)  # untimed warm-up
    forward, measures = [], []
    for _ in range(args.reps):
        seconds = one_pass(model, sets, **run)
        forward.append(seconds[0])
        measures.append(seconds[1])
        layers = seconds[2]
    result = {"config": vars(args), "device": str(device), "layers": layers, "environment": C.environment(device),
              "forward_seconds": forward, "measures_seconds": measures,
              "median_forward_seconds": C.median(forward), "median_measures_seconds": C.median(measures),
              "measures_over_forward": C.median(C.ratios(measures, forward))}
    pairs = args.languages * args.sentences
    print(f"align throughput: size={args.size} device={device} languages={args.languages} "
          f"sentences={args.sentences} hidden states={layers} batch={args.batch_size} reps={args.reps}")
    C.print_table(["part", "s (median)", "sentence pairs/s"],
                  [["forward passes (every hidden state)", result["median_forward_seconds"],
                    pairs / result["median_forward_seconds"]],
                   ["measures (every layer)", result["median_measures_seconds"],
                    pairs / result["median_measures_seconds"]]])
    print(f"measures_over_forward: {result['measures_over_forward']:.3f}")
    C.emit_json("align_throughput", result)
    return result


if __name__ == "__main__":
    main()
