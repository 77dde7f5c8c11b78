"""Device pinning under contention: N concurrent jobs (processes) share K devices, each
claiming through xstilts.devices.claimed_devices as a workflow job does, holding its devices
for --hold-s seconds, and recording what it got and when. Reports whether any device was
held by two jobs at once, the longest wait for a claim, the makespan against the ideal
ceil(N * count / K) * hold, and how evenly the devices were used.

Without --real the devices are fake ids 0..K-1 (CPU only: CUDA_VISIBLE_DEVICES is removed from
the jobs' environment and the pool is passed as `visible`). With --real the pool is what a
workflow job sees (CUDA_VISIBLE_DEVICES, else every GPU torch can count, in a child process),
and each job, once pinned, initialises CUDA, checks that it sees exactly its claimed devices,
records their UUIDs and keeps them busy with matrix products while it holds them; two jobs
running at once on one physical GPU (same UUID) count as shared.

  python benchmarks/pinning.py --jobs 8 --devices 2 --hold-s 0.5
  python benchmarks/pinning.py --real --jobs 8 --hold-s 5      # on a GPU machine
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402

SCHEDULER_VARIABLES = ("CUDA_VISIBLE_DEVICES", "XSTILTS_CLAIMED_DEVICES", "SLURM_JOB_ID")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=8, help="concurrent jobs N")
    parser.add_argument("--devices", type=int, default=2, help="fake devices K (ignored with --real)")
    parser.add_argument("--count", type=int, default=1, help="devices per job (resources: gpu=count)")
    parser.add_argument("--hold-s", type=float, default=0.5, help="how long each job holds its devices")
    parser.add_argument("--real", action="store_true", help="real GPUs, pinned through CUDA_VISIBLE_DEVICES")
    parser.add_argument("--lock-dir", type=Path, default=None, help="default: a fresh temporary folder")
    parser.add_argument("--timeout-s", type=float, default=600)
    # internal: one job
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--start-at", type=float, default=0.0, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, default=None, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def child(args) -> None:
    """One job: wait for the common start, claim, hold, record."""
    from xstilts.devices import claimed_devices

    visible = None if args.real else [str(i) for i in range(args.devices)]
    time.sleep(max(0.0, args.start_at - time.time()))
    record = {"pid": os.getpid(), "requested": time.time()}
    with claimed_devices(args.count, args.lock_dir, visible=visible, timeout_s=args.timeout_s) as devices:
        record["acquired"] = time.time()
        record["devices"] = devices
        record["cuda_visible_devices"] = os.environ.get("CUDA_VISIBLE_DEVICES")
        if args.real:
            record.update(busy_on_gpus(args.hold_s, record["acquired"]))
        else:
            time.sleep(max(0.0, record["acquired"] + args.hold_s - time.time()))
        record["released"] = time.time()  # still inside the claim: the interval is a lower bound of the hold
    args.out.write_text(json.dumps(record))


def busy_on_gpus(hold_s: float, since: float) -> dict:
    """Initialise CUDA in the pinned process, record the devices it sees, keep them busy."""
    import torch

    seen = torch.cuda.device_count()
    uuids = [str(torch.cuda.get_device_properties(i).uuid) for i in range(seen)]
    a = torch.randn(4096, 4096, device="cuda:0", dtype=torch.bfloat16)
    torch.cuda.synchronize()
    cuda_ready_s = time.time() - since
    iterations = 0
    while time.time() < since + hold_s:
        for _ in range(10):
            a = (a @ a).clamp_(-1, 1)
        torch.cuda.synchronize()
        iterations += 10
    return {"seen_devices": seen, "uuids": uuids, "matmuls": iterations,
            "cuda_ready_s": cuda_ready_s}


def overlaps(records: list[dict], key: str) -> list[tuple[int, int, str]]:
    """(pid, pid, device) for every pair of jobs that held the same device at the same time."""
    by_device: dict[str, list[dict]] = {}
    for r in records:
        for device in r.get(key) or []:
            by_device.setdefault(device, []).append(r)
    shared = []
    for device, holders in by_device.items():
        holders.sort(key=lambda r: r["acquired"])
        for i, first in enumerate(holders):
            for second in holders[i + 1:]:
                if second["acquired"] < first["released"]:
                    shared.append((first["pid"], second["pid"], device))
    return shared


def main(argv=None) -> dict:
    args = parse_args(argv)
    if args.child:
        child(args)
        return {}
    tmp = tempfile.TemporaryDirectory(prefix="xstilts-pinning-")
    lock_dir = args.lock_dir or Path(tmp.name) / "locks"
    env = dict(os.environ)
    if args.real:
        env.pop("XSTILTS_CLAIMED_DEVICES", None)
        env.pop("SLURM_JOB_ID", None)
        from xstilts.devices import device_pool
        pool = device_pool(env, None)
        if not pool:
            sys.exit("--real: no GPU in the pool (CUDA_VISIBLE_DEVICES or torch's device count)")
    else:
        for name in SCHEDULER_VARIABLES:
            env.pop(name, None)
        pool = [str(i) for i in range(args.devices)]
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(C.SRC), env.get("PYTHONPATH")]))
    start_at = time.time() + 2.0 + 0.05 * args.jobs  # every job started and waiting by then
    outs = [Path(tmp.name) / f"job{i}.json" for i in range(args.jobs)]
    common = ["--count", str(args.count), "--devices", str(args.devices), "--hold-s", str(args.hold_s),
              "--lock-dir", str(lock_dir), "--timeout-s", str(args.timeout_s), "--start-at", repr(start_at)]
    if args.real:
        common.append("--real")
    procs = [subprocess.Popen([sys.executable, __file__, "--child", "--out", str(out), *common], env=env)
             for out in outs]
    codes = [p.wait() for p in procs]
    if any(codes):
        sys.exit(f"jobs failed with exit codes {codes}")
    records = [json.loads(out.read_text()) for out in outs]
    tmp.cleanup()

    t0 = min(r["requested"] for r in records)
    waits = [r["acquired"] - r["requested"] for r in records]
    makespan = max(r["released"] for r in records) - t0
    ideal = math.ceil(args.jobs * args.count / len(pool)) * args.hold_s
    shared = overlaps(records, "devices")
    if args.real:
        shared += overlaps([{**r, "uuids": r.get("uuids", [])} for r in records], "uuids")
    uses = {device: sum(device in r["devices"] for r in records) for device in pool}
    wrong_pin = [r["pid"] for r in records if r["cuda_visible_devices"] != ",".join(r["devices"])]
    wrong_seen = [r["pid"] for r in records if args.real and r.get("seen_devices") != args.count]

    print(f"pinning: {args.jobs} jobs x {args.count} device(s) on {len(pool)} "
          f"{'real GPUs' if args.real else 'fake devices'} {pool}, hold {args.hold_s}s each")
    rows = [[f"job{i}", r["pid"], ",".join(r["devices"]), r["requested"] - t0, r["acquired"] - t0,
             r["released"] - t0, r["acquired"] - r["requested"]] for i, r in enumerate(records)]
    rows.sort(key=lambda row: row[4])
    C.print_table(["job", "pid", "devices", "requested s", "acquired s", "released s", "wait s"], rows)
    print(f"device shared by two jobs at once: {'YES ' + str(shared) if shared else 'no'}")
    print(f"CUDA_VISIBLE_DEVICES == claimed devices in every job: {'no ' + str(wrong_pin) if wrong_pin else 'yes'}")
    if args.real:
        print(f"every job saw exactly its {args.count} device(s): {'no ' + str(wrong_seen) if wrong_seen else 'yes'}")
    print(f"max wait {max(waits):.3f}s, min wait (uncontended claim) {min(waits):.3f}s; "
          f"makespan {makespan:.3f}s vs ideal {ideal:.3f}s; uses per device {uses}")
    result = {"jobs": args.jobs, "count": args.count, "pool": pool, "real": args.real, "hold_s": args.hold_s,
              "shared": bool(shared), "shared_pairs": shared, "pinned_correctly": not wrong_pin and not wrong_seen,
              "max_wait_s": max(waits), "min_wait_s": min(waits), "makespan_s": makespan, "ideal_makespan_s": ideal,
              "uses_per_device": uses, "records": records}
    C.emit_json("pinning", result)
    return result


if __name__ == "__main__":
    main()
