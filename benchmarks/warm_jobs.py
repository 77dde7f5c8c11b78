"""Warm job processes (xstilts.warm) against fresh ones: the wall time of a job script that does
what an evaluation or training job does before its work (import the library's evaluation and
training stages, torch and transformers) and then nothing, started as Snakemake starts a script
job (`python <script>`), cold (XSTILTS_WARM=0) and warm, alternated ABBA. The first warm run
starts the server and is not timed.

  python benchmarks/warm_jobs.py --reps 10
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402

JOB = '''
class Snakemake:
    config = {"resources": {"warm_processes": True}}
snakemake = Snakemake()
__real_file__ = __file__
from xstilts.warm import run_in_warm_child
run_in_warm_child(snakemake, __real_file__)
import xstilts.evaluation, xstilts.train_stages
from transformers.models.xlm_roberta import modeling_xlm_roberta
'''


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reps", type=int, default=6)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="warm-bench-") as folder:
        script = Path(folder) / "job.py"
        script.write_text(JOB)
        env = {**os.environ, "TMPDIR": folder, "PYTHONPATH": os.pathsep.join([str(C.SRC), os.environ.get("PYTHONPATH", "")])}

        def once(variant: str) -> float:
            started = time.perf_counter()
            subprocess.run([sys.executable, str(script)], check=True, cwd=folder,
                           env={**env, "XSTILTS_WARM": "0" if variant == "cold" else "1"})
            return time.perf_counter() - started

        once("warm")  # starts the server
        seconds = {"cold": [], "warm": []}
        for _, variant in C.alternating(["cold", "warm"], args.reps):
            seconds[variant].append(once(variant))
    cold, warm = C.median(seconds["cold"]), C.median(seconds["warm"])
    ratio = C.median(C.ratios(seconds["cold"], seconds["warm"]))
    C.print_table(["variant", "s per job (median)"], [["cold: a fresh interpreter imports", cold],
                                                      ["warm: a forked child of the server", warm]])
    print(f"cold/warm: {ratio:.1f}x per job start")
    C.emit_json("warm_jobs", {"reps": args.reps, "seconds": seconds, "median_cold_s": cold, "median_warm_s": warm,
                              "ratio_cold_over_warm": ratio, "environment": C.environment()})


if __name__ == "__main__":
    main()
