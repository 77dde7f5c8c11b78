"""What every stage script does around its work: log to the rule's log file, use the rule's
thread count, claim its GPUs, and pick the torch device."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from typing import Iterator



@contextlib.contextmanager
def stage(snakemake, *, uses_torch: bool = True) -> Iterator:
    """Context for a Snakemake `script:` job; yields the torch device to run on (None for
    jobs that do not use torch, which then never import it)."""
    log_path = snakemake.log[0] if snakemake.log else None
    with _redirect_output(log_path):
        if not uses_torch:
            yield None
            return
        import torch

        torch.set_num_threads(max(1, int(snakemake.threads)))
        _quiet_libraries()
        gpus = int(getattr(snakemake.resources, "gpu", 0) or 0)
        lock_dir = snakemake.config.get("resources", {}).get("gpu_lock_dir", ".xstilts-gpu-locks")
        from .devices import claimed_devices, select_torch_device

        with claimed_devices(gpus, lock_dir) as devices:
            if len(devices) > 1:
                raise NotImplementedError(
                    f"this job claimed {len(devices)} GPUs, but data-parallel training is not supported yet; "
                    "set resources.gpus_per_job: 1 in the config")
            device = select_torch_device()
            print(f"[xstilts] device {device} (claimed GPUs: {devices or 'none'})", file=sys.stderr)
            yield device


@contextlib.contextmanager
def _redirect_output(log_path: str | None):
    if log_path is None:
        yield
        return
    os.makedirs(os.path.dirname(log_path) or ".", exist_ok=True)
    with open(log_path, "w", encoding="utf-8") as log, contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
        yield


def _quiet_libraries() -> None:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    import transformers

    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()
    logging.getLogger("datasets").setLevel(logging.ERROR)
