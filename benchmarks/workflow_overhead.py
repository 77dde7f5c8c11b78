"""Workflow overhead: how long Snakemake takes to plan a config (`snakemake -n` in an empty
working directory: parse, validate, build the DAG) and how many jobs it plans, and how long a
no-op `snakemake` takes on a finished working directory (DESIGN.md: "a no-op snakemake must
finish in seconds").

The config defaults to the largest one the project has: configs/paper.yaml if it exists, else
config.yaml with `seeds` overridden to --seeds seeds, written to a temporary file. Nothing runs
inside the checkout: the dry run uses a temporary working directory, and the no-op run uses
--workdir. Before the no-op run, a dry run in --workdir must plan zero jobs, or it is skipped
(so this script never starts real jobs). Baseline: `snakemake --version` (interpreter and
Snakemake import time). Each measurement is repeated --reps times, alternating; medians.

  python benchmarks/workflow_overhead.py --seeds 3 --reps 3
  python benchmarks/workflow_overhead.py --workdir /tmp/tiny-run --noop-configfile tests/configs/tiny.yaml
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--configfile", type=Path, default=None,
                        help="config to plan (default: configs/paper.yaml, else config.yaml with --seeds)")
    parser.add_argument("--seeds", type=int, default=3, help="seeds of the config.yaml fallback")
    parser.add_argument("--workdir", type=Path, default=None, help="a finished working directory for the no-op run")
    parser.add_argument("--noop-configfile", type=Path, default=None,
                        help="the config --workdir was run with (default: --configfile, else config.yaml)")
    parser.add_argument("--cores", type=int, default=1)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--snakemake", default=None, help="snakemake command (default: this python -m snakemake)")
    return parser.parse_args(argv)


def default_config(seeds: int, tmp: Path) -> tuple[Path, str]:
    paper = ROOT / "configs" / "paper.yaml"
    if paper.exists():
        return paper, "configs/paper.yaml"
    import yaml

    data = yaml.safe_load((ROOT / "config.yaml").read_text())
    data["seeds"] = list(range(1, seeds + 1))
    path = tmp / f"config-seeds{seeds}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path, f"config.yaml with seeds: {data['seeds']}"


def job_counts(output: str) -> dict[str, int]:
    """Rule -> job count from a dry run's job-stats table ({} when nothing is to be done)."""
    table = re.search(r"Job stats:\n(.*?)\n\s*\n", output + "\n\n", re.S)
    counts = {}
    if table:
        for line in table.group(1).splitlines()[2:]:
            parts = line.split()
            if len(parts) == 2 and parts[1].isdigit():
                counts[parts[0]] = int(parts[1])
    return counts


def timed(command: list[str]) -> tuple[float, subprocess.CompletedProcess]:
    start = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        sys.exit(f"command failed ({result.returncode}): {' '.join(command)}\n{result.stderr[-3000:]}")
    return seconds, result


def main(argv=None) -> dict:
    args = parse_args(argv)
    base = args.snakemake.split() if args.snakemake else [sys.executable, "-m", "snakemake"]
    tmp_holder = tempfile.TemporaryDirectory(prefix="xstilts-overhead-")
    tmp = Path(tmp_holder.name)
    if args.configfile:
        config, described = args.configfile.resolve(), str(args.configfile)
    else:
        config, described = default_config(args.seeds, tmp)
    noop_config = (args.noop_configfile or args.configfile or ROOT / "config.yaml").resolve()

    def snakemake(workdir: Path, configfile: Path, *extra: str) -> list[str]:
        return [*base, "--snakefile", str(ROOT / "Snakefile"), "--directory", str(workdir),
                "--configfile", str(configfile), "--cores", str(args.cores), *extra]

    measurements = {"version": (base + ["--version"], None)}
    measurements["dry_run"] = (snakemake(tmp / "plan", config, "-n"), None)
    noop_note = None
    if args.workdir is None:
        noop_note = "skipped: no --workdir given (a finished working directory)"
    elif not args.workdir.is_dir():
        noop_note = f"skipped: --workdir {args.workdir} does not exist"
    else:
        _, check = timed(snakemake(args.workdir.resolve(), noop_config, "-n"))
        planned = job_counts(check.stdout)
        if planned:
            noop_note = (f"skipped: --workdir {args.workdir} is not finished for {noop_config.name}: "
                         f"a dry run plans {planned.get('total', sum(planned.values()))} jobs")
        else:
            measurements["noop_dry_run"] = (snakemake(args.workdir.resolve(), noop_config, "-n"), None)
            measurements["noop_run"] = (snakemake(args.workdir.resolve(), noop_config), None)

    seconds = {name: [] for name in measurements}
    outputs = {}
    for _, name in C.alternating(list(measurements), args.reps):
        took, result = timed(measurements[name][0])
        seconds[name].append(took)
        outputs[name] = result.stdout + result.stderr
    tmp_holder.cleanup()

    counts = job_counts(outputs["dry_run"])
    if "noop_run" in outputs and "Nothing to be done" not in outputs["noop_run"]:
        noop_note = "warning: the no-op run did not report 'Nothing to be done'"
    rows, summary = [], {}
    labels = {"version": "snakemake --version (baseline)", "dry_run": f"snakemake -n ({described})",
              "noop_dry_run": "snakemake -n on --workdir", "noop_run": "no-op snakemake on --workdir"}
    for name in measurements:
        med = C.median(seconds[name])
        summary[name] = {"seconds": seconds[name], "median_seconds": med}
        rows.append([labels[name], med, counts.get("total", "") if name == "dry_run" else
                     (0 if name.startswith("noop") else "")])
    result = {"config": described, "configfile": str(config), "jobs": counts.get("total"), "jobs_per_rule": counts,
              "measurements": summary, "noop": noop_note or "measured", "reps": args.reps,
              "environment": C.environment()}
    print(f"workflow overhead: config={described} reps={args.reps}")
    C.print_table(["measurement", "s (median)", "jobs"], rows)
    if noop_note:
        print(f"no-op run: {noop_note}")
    C.emit_json("workflow_overhead", result)
    return result


if __name__ == "__main__":
    main()
