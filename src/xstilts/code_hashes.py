"""Hashes of the library code each stage runs. Snakemake tracks a rule's script but not the code
the script imports, so every rule carries its stage's hash as a param (a change reruns that stage
and what follows); the shipped demo model records the generator's and the pretrain stage's.

A stage's code is every library module its script can import, followed transitively through the
`import` statements (lazy ones inside functions too): a hand-kept list drifts (one let the attack
code change without rerunning the attacked evaluations). Import lines are read with a regular
expression, not parsed, because the Snakefile computes the hashes at every start; a line that only
looks like an import (in a docstring) can widen a stage's code, never narrow it."""

from __future__ import annotations

import hashlib
import re
from functools import cache
from pathlib import Path

LIBRARY = Path(__file__).resolve().parent
SCRIPTS = LIBRARY.parents[1] / "scripts"

# The script each stage runs (scripts/<name>.py).
STAGE_SCRIPTS: dict[str, str] = {
    "prepare": "prepare", "tokenize": "tokenize", "train": "train", "pretrain": "pretrain", "evaluate": "evaluate",
    "align": "align", "report": "report", "report_alignment": "report_alignment", "import": "import_model",
    "shipped": "shipped_model", "perturb": "perturb", "dictionaries": "export_dictionaries", "vote": "vote",
    "adversarial_data": "adversarial_data",
}
# The synthetic data's generator, which the shipped model's corpora came from (xstilts.shipped).
GENERATOR = ("synthetic.py",)
# Imported by every script, but unable to change a result: the warm hand-off runs the same script in
# a forked process (tests/test_warm.py), and these hashes are only compared.
NOT_RESULTS = frozenset({"warm.py", "code_hashes.py"})

_IMPORT = re.compile(r"^[ \t]*(?:from[ \t]+(\.+[\w.]*|xstilts(?:\.[\w.]+)?)[ \t]+import[ \t]+(\([^)]*\)|[^\n#]*)"
                     r"|import[ \t]+(xstilts[\w.]*))", re.MULTILINE)


def code_hash(*parts: str) -> str:
    """sha256 (16 hex digits) of the named library files (paths relative to the library), and of
    every .py file under named folders."""
    digest = hashlib.sha256()
    for part in parts:
        path = LIBRARY / part
        for file in sorted(path.rglob("*.py")) if path.is_dir() else [path]:
            digest.update(file.relative_to(LIBRARY).as_posix().encode())
            digest.update(file.read_bytes())
    return digest.hexdigest()[:16]


def stage_code(stage: str, scripts: Path = SCRIPTS) -> tuple[str, ...]:
    """The library files (relative to the library, sorted) that `stage`'s script can import."""
    if stage == "generator":
        return GENERATOR
    found: set[str] = set()
    pending = sorted(_imported(scripts / f"{STAGE_SCRIPTS[stage]}.py", None))
    while pending:
        module = pending.pop()
        if module not in found:
            found.add(module)
            pending.extend(_imported(LIBRARY / module, module))
    return tuple(sorted(found - NOT_RESULTS))


def stage_code_hashes(scripts: Path = SCRIPTS) -> dict[str, str]:
    return {stage: code_hash(*stage_code(stage, scripts)) for stage in [*STAGE_SCRIPTS, "generator"]}


@cache
def _imported(path: Path, module: str | None) -> frozenset[str]:
    """The library files that the import statements of `path` (the library file `module`, or a script
    when None) name: each imported module, its packages' __init__.py, and each imported name that is a
    module of its own."""
    package = [] if module is None else list(Path(module).parent.parts)
    found = set()
    for source, names, plain in _IMPORT.findall(path.read_text(encoding="utf-8")):
        if plain:
            parts = plain.split(".")[1:]
        elif source.startswith("."):
            dots = len(source) - len(source.lstrip("."))
            if module is None or dots - 1 > len(package):
                continue  # a script's relative import is not the library's
            parts = package[:len(package) - (dots - 1)] + [p for p in source.lstrip(".").split(".") if p]
        else:
            parts = source.split(".")[1:]
        found |= _files_of(parts)
        for name in re.findall(r"\w+", re.sub(r"\s+as\s+\w+", "", names)) if names else []:
            found |= _files_of([*parts, name], modules_only=True)
    return frozenset(found)


def _files_of(parts: list[str], modules_only: bool = False) -> set[str]:
    """The files that importing library module `parts` runs: its packages' __init__.py and its own
    file (nothing when `modules_only` and it is not a module, e.g. a function's name)."""
    present = _library_files(LIBRARY)
    files = {"__init__.py"} | {f"{'/'.join(parts[:depth])}/__init__.py" for depth in range(1, len(parts))
                               if f"{'/'.join(parts[:depth])}/__init__.py" in present}
    own = "/".join(parts)
    if parts and f"{own}.py" in present:
        files.add(f"{own}.py")
    elif f"{own}/__init__.py".lstrip("/") in present:
        files.add(f"{own}/__init__.py".lstrip("/"))
    elif modules_only:
        return set()
    return files


@cache
def _library_files(library: Path) -> frozenset[str]:
    return frozenset(path.relative_to(library).as_posix() for path in library.rglob("*.py"))
