"""The grid's throughput on one device: K training jobs of one shape at once, started together, against
one transformers.Trainer job, in one run.

What a user of the paper's grid pays is device-hours for hundreds of small trainings, not one job's
speed: one job at batch 32 leaves most of a large GPU idle (resources.jobs_per_gpu). For each K in
--jobs, K processes of the project's training loop (xstilts.training.Trainer, the loop of the
intermediate and target stages) build their model and data, wait at a common start time, train
--steps optimizer steps, and report when they started and ended; the grid's figure is all K jobs'
examples over the span from the common start to the last end. One transformers.Trainer process on the
same model and data, the same way, is the baseline (each timed from the start: building its trainer,
then training; with few steps the Trainer's set-up weighs, so give GPU runs 80 steps or more). The chip's model FLOPs utilisation (MFU) counts
6 N per token (N: parameters outside the embedding tables) against --peak-tflops.

    python benchmarks/grid_throughput.py --size demo --jobs 1,2 --steps 20 --threads 1
    python benchmarks/grid_throughput.py --device cuda --size large --jobs 1,2,4 --steps 80 --compile
    python benchmarks/grid_throughput.py --device cuda --size large --jobs 1 --batch-size 4 --grad-accum 8 --micro-batch auto

Each job's effective batch is --batch-size x --grad-accum (32 by default, the paper's); --micro-batch
runs it as training.micro_batch does (a number, or auto: the largest micro-batch that 1/K of the
device's memory holds by the estimate)."""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import logging
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402

START_DELAY_S = 1.0  # after the last job is ready: every job then starts at the same moment


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--size", choices=sorted(C.SIZES), default="demo")
    parser.add_argument("--seq-len", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--grad-accum", type=int, default=1)
    parser.add_argument("--micro-batch", default=None, help="a number, or auto (training.micro_batch)")
    parser.add_argument("--steps", type=int, default=40, help="optimizer steps per job")
    parser.add_argument("--jobs", default="1,2,4", help="comma list of K, jobs at once")
    parser.add_argument("--compile", action="store_true", help="training.compile (length buckets)")
    parser.add_argument("--no-trainer", action="store_true", help="skip the transformers.Trainer baseline")
    parser.add_argument("--no-bf16", action="store_true", help="float32 on CUDA too")
    parser.add_argument("--peak-tflops", type=float, default=989.0,
                        help="peak dense bf16 TFLOP/s of the device for MFU (H100/H200 SXM: 989)")
    parser.add_argument("--worker", nargs=3, metavar=("FOLDER", "INDEX", "KIND"), help=argparse.SUPPRESS)
    parser.add_argument("--jobs-at-once", type=int, default=1, help=argparse.SUPPRESS)
    C.add_common_args(parser, reps=1)
    # what train_throughput's settings of both loops read: no logging, no data-loader workers
    parser.set_defaults(lr=2e-5, workers=0, log_every=10 ** 6, trainer_nan_filter=False)
    return parser.parse_args(argv)


# ---------------------------------------------------------------- one job (a worker process)


def prepared(args):
    """The job's model config, features, tokenizer and device, the same in every job."""
    from xstilts.tasks import task_type

    device = C.resolve_device(args.device)
    tokenizer = C.demo_tokenizer(lines_per_language=args.corpus_lines, model_max_length=max(512, args.seq_len))
    effective = args.batch_size * args.grad_accum
    examples = C.nli_examples(args.steps * effective, lengths="full", seq_len=args.seq_len, tokenizer=tokenizer)
    features = task_type("classification")(C.NLI_LABELS).featurize(examples, tokenizer, {"max_length": args.seq_len})
    config = C.model_config(args.size, len(tokenizer), tokenizer.pad_token_id, args.seq_len)
    return config, features, tokenizer, device


def train_ours(args, config, features, tokenizer, device, start_at: float) -> dict:
    import torch

    from train_throughput import hyperparameters
    from xstilts import train_stages
    from xstilts.training import Trainer, TrainTask

    model, kind = C.build_classifier(config, C.NLI_LABELS, seed=0)
    task = TrainTask("nli", kind, features)
    hp = {**hyperparameters(args, device), "grad_accum": args.grad_accum, "log_every": 10 ** 6}
    if args.micro_batch:
        available = train_stages.device_memory(device, None)
        share = available // args.jobs_at_once if available is not None else None
        choice = args.micro_batch if args.micro_batch == "auto" else int(args.micro_batch)
        hp = train_stages.resolve_micro_batch(model, [task], {**hp, "micro_batch": choice}, device, share)
    with tempfile.TemporaryDirectory() as state:
        wait_until(start_at)
        started = time.time()  # building the trainer and training, as the Trainer baseline is timed
        summary = Trainer(model, [task], hp, seed=0, device=device, pad_id=tokenizer.pad_token_id,
                          state_dir=Path(state), progress=False).run()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
    return {"start": started, "end": time.time(), "examples": summary["steps"] * args.batch_size * hp["grad_accum"],
            "micro_batch": [hp["batch_size"], hp["grad_accum"]]}


def train_trainer(args, config, features, tokenizer, device, start_at: float) -> dict:
    from train_throughput import run_trainer

    whole = argparse.Namespace(**{**vars(args), "batch_size": args.batch_size * args.grad_accum})  # one batch a step
    wait_until(start_at)
    started = time.time()
    result = run_trainer(whole, config, C.NLI_LABELS, features, tokenizer, device)
    return {"start": started, "end": time.time(), "examples": result["steps"] * whole.batch_size,
            "micro_batch": [whole.batch_size, 1]}


def wait_until(moment: float) -> None:
    time.sleep(max(0.0, moment - time.time()))


def worker(args) -> None:
    """Prepare, say so, wait for the common start time, train, write the result."""
    folder, index, kind = Path(args.worker[0]), args.worker[1], args.worker[2]
    C.apply_threads(args.threads)
    quiet = io.StringIO()
    with contextlib.redirect_stdout(quiet), contextlib.redirect_stderr(quiet):
        prepared_job = prepared(args)
        (folder / f"ready-{index}").touch()
        while not (folder / "start").exists():
            time.sleep(0.05)
        start_at = float((folder / "start").read_text())
        train = train_ours if kind == "ours" else train_trainer
        result = train(args, *prepared_job, start_at)
    (folder / f"result-{index}.json").write_text(json.dumps(result))


# ---------------------------------------------------------------- the grid (the parent process)


def run_jobs(argv: list[str], count: int, kind: str) -> list[dict]:
    """`count` jobs of `kind` at once, started together; their results."""
    with tempfile.TemporaryDirectory(prefix="xstilts-grid-") as folder:
        folder = Path(folder)
        jobs = [subprocess.Popen([sys.executable, __file__, *argv, "--jobs-at-once", str(count),
                                  "--worker", str(folder), str(i), kind], stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True) for i in range(count)]
        while len(list(folder.glob("ready-*"))) < count:
            failed = [job for job in jobs if job.poll() not in (None, 0)]
            if failed:
                raise SystemExit(f"a {kind} job failed before its start:\n{failed[0].communicate()[1][-3000:]}")
            time.sleep(0.05)
        (folder / "start").write_text(str(time.time() + START_DELAY_S))
        for job in jobs:
            _, err = job.communicate()
            if job.returncode:
                raise SystemExit(f"a {kind} job failed:\n{err[-3000:]}")
        return [json.loads((folder / f"result-{i}.json").read_text()) for i in range(count)]


def grid_figures(results: list[dict], flops_per_example: float, peak_tflops: float, cuda: bool) -> dict:
    span = max(r["end"] for r in results) - min(r["start"] for r in results)
    examples = sum(r["examples"] for r in results)
    figures = {"jobs": len(results), "seconds": span, "examples_per_s": examples / span,
               "per_job_examples_per_s": examples / span / len(results), "micro_batch": results[0]["micro_batch"]}
    if cuda:
        figures["mfu"] = flops_per_example * examples / span / (peak_tflops * 1e12)
    return figures


def main(argv=None) -> dict:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    if args.worker:
        worker(args)
        return {}
    logging.getLogger("transformers").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")
    counts = [int(k) for k in args.jobs.split(",")]
    config, features, _, device = prepared(args)
    probe, _ = C.build_classifier(config, C.NLI_LABELS, seed=0)
    _, non_embedding = C.count_parameters(probe)
    del probe
    mean_len = sum(len(ids) for ids in features["input_ids"]) / len(features["input_ids"])
    flops_per_example = 6 * non_embedding * mean_len
    cuda = device.type == "cuda"

    variants: dict[str, dict] = {}
    for _ in range(args.reps):
        if not args.no_trainer:
            variants.setdefault("trainer K=1", []).append(
                grid_figures(run_jobs(argv, 1, "trainer"), flops_per_example, args.peak_tflops, cuda))
        for count in counts:
            variants.setdefault(f"ours K={count}", []).append(
                grid_figures(run_jobs(argv, count, "ours"), flops_per_example, args.peak_tflops, cuda))
    summary = {}
    for name, runs in variants.items():
        best = sorted(runs, key=lambda r: r["examples_per_s"])[len(runs) // 2]  # the median run
        summary[name] = best
    baseline = summary.get("trainer K=1", {}).get("examples_per_s")
    rows = []
    for name, figures in summary.items():
        if baseline:
            figures["over_trainer"] = figures["examples_per_s"] / baseline
        rows.append([name, figures["micro_batch"], figures["examples_per_s"], figures["per_job_examples_per_s"],
                     figures.get("mfu", float("nan")), figures.get("over_trainer", float("nan"))])
    print(f"{args.size} model, {device}, length {args.seq_len}, effective batch {args.batch_size * args.grad_accum} per "
          f"job, {args.steps} steps per job, compile {'on' if args.compile else 'off'}, {args.reps} repetition(s)")
    C.print_table(["run", "rows x accum", "examples/s (all jobs)", "per job", "MFU", "over Trainer"], rows)
    ours = {name: f for name, f in summary.items() if name.startswith("ours")}
    best_name = max(ours, key=lambda name: ours[name]["examples_per_s"])
    result = {"config": {k: v for k, v in vars(args).items() if k != "worker"}, "device": str(device),
              "non_embedding_params": non_embedding, "grid": summary, "best": best_name,
              "environment": C.environment(device)}
    if baseline:
        result["ratio_best_over_trainer"] = ours[best_name]["examples_per_s"] / baseline
    C.emit_json("grid_throughput", result)
    return result


if __name__ == "__main__":
    main()
