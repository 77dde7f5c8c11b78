"""Prepare-stage throughput of the embedded benchmark: generating examples with
xstilts.synthetic.generate against writing the same rows as JSON lines (xstilts.io.write_jsonl),
the other half of a synthetic prepare job: the ratio says how many times the cost of writing its
output generating costs (about 10-40 on the 2-core machine of the README). (It replaced a unit test that asserted 10,000 NLI examples in under
2.5 s: a wall-clock bound fails at random on a busy machine.)

  python benchmarks/generate_throughput.py --examples 10000 --reps 3
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402

from xstilts import synthetic  # noqa: E402
from xstilts.io import write_jsonl  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--examples", type=int, default=10_000)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--kinds", default="nli,pos,span_qa", help="generator kinds, comma-separated")
    parser.add_argument("--lang", default="de")
    args = parser.parse_args()

    rows, figures = [], {}
    with tempfile.TemporaryDirectory() as folder:
        for kind in args.kinds.split(","):
            generate_s, write_s = [], []
            for rep, variant in C.alternating(["generate", "write"], args.reps):
                started = time.perf_counter()
                examples = synthetic.generate(kind, split="train", lang=args.lang, n=args.examples, seed=C.SEED,
                                              stream=kind)
                generated = time.perf_counter() - started
                started = time.perf_counter()
                write_jsonl(Path(folder) / f"{kind}-{rep}-{variant}.jsonl", examples)
                (generate_s if variant == "generate" else write_s).append(generated)
                if variant == "write":
                    write_s[-1] = time.perf_counter() - started
            ratio = C.median(C.ratios(generate_s, write_s))
            rows.append([kind, args.examples / C.median(generate_s), args.examples / C.median(write_s), ratio])
            figures[kind] = {"generate_examples_per_s": args.examples / C.median(generate_s),
                             "write_examples_per_s": args.examples / C.median(write_s),
                             "ratio_generate_over_write": ratio}
    C.print_table(["kind", "generate ex/s", "write ex/s", "generate/write time"], rows)
    C.emit_json("generate_throughput", {"examples": args.examples, "lang": args.lang, "kinds": figures,
                                        "environment": C.environment()})


if __name__ == "__main__":
    main()
