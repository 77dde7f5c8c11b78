"""Hashes of the library code each stage runs. Snakemake does not track imported code, so every
rule carries its stage's hash as a param (a change reruns that stage and what follows); the
shipped demo model records the generator's and the pretrain stage's. Free of heavy imports: the
Snakefile reads it at every start."""

from __future__ import annotations

import hashlib
from pathlib import Path

LIBRARY = Path(__file__).resolve().parent

# The library files (or folders) each stage's script runs.
STAGE_CODE: dict[str, tuple[str, ...]] = {
    "prepare": ("data.py", "sources", "synthetic.py", "io.py"),
    "tokenize": ("features.py", "tokenizer_file.py", "tasks", "io.py"),
    "train": ("train_stages.py", "training.py", "modeling.py", "inference.py", "tasks", "metrics.py", "features.py",
              "io.py"),
    "pretrain": ("train_stages.py", "training.py", "modeling.py", "inference.py", "tasks", "tokenizer_training.py",
                 "features.py", "io.py"),
    "evaluate": ("evaluation.py", "inference.py", "modeling.py", "tasks", "metrics.py", "features.py", "io.py"),
    "align": ("alignment", "inference.py", "modeling.py", "tasks", "metrics.py", "features.py", "io.py"),
    "report": ("report", "stats.py", "io.py"),
    "report_alignment": ("report", "alignment/stage.py", "robustness/drops.py", "stats.py", "io.py"),
    "import": ("modeling.py", "features.py", "train_stages.py", "io.py"),
    "shipped": ("shipped.py", "io.py"),
    "generator": ("synthetic.py",),
    "perturb": ("robustness", "io.py"),
    "dictionaries": ("robustness/codeswitch.py", "robustness/noise.py", "synthetic.py"),
}


def code_hash(*parts: str) -> str:
    """sha256 (16 hex digits) of the named library files, and of every .py file under named folders."""
    digest = hashlib.sha256()
    for part in parts:
        path = LIBRARY / part
        for file in sorted(path.rglob("*.py")) if path.is_dir() else [path]:
            digest.update(file.name.encode())
            digest.update(file.read_bytes())
    return digest.hexdigest()[:16]


def stage_code_hashes() -> dict[str, str]:
    return {stage: code_hash(*parts) for stage, parts in STAGE_CODE.items()}
