"""Atomic file output, JSON-lines and YAML helpers.

Every stage output is written under a temporary name in its own folder and renamed into
place, so an interrupted job never leaves a file that looks finished.
"""

from __future__ import annotations

import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterable, Iterator

import yaml

# libyaml's parser where PyYAML has it: the catalog and the schema are read at every Snakemake
# start, and the pure-Python parser takes ten times as long.
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it onto `path` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(path: str | os.PathLike, obj) -> None:
    write_text(path, json.dumps(obj, indent=2, ensure_ascii=False, sort_keys=False) + "\n")


def read_json(path: str | os.PathLike):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def write_jsonl(path: str | os.PathLike, rows: Iterable[dict]) -> None:
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")


def read_jsonl(path: str | os.PathLike, *, check: Callable[[dict], str | None] | None = None,
               error: type[Exception] = ValueError) -> list[dict]:
    """Rows of a JSON-lines file; `check` returns a problem with a row (or None), reported as
    `error` with the file and line."""
    rows = []
    with open(path, encoding="utf-8") as f:
        for line_number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as decode_error:
                raise error(f"{path}:{line_number}: not valid JSON ({decode_error.msg})") from None
            problem = check(row) if check else None
            if problem:
                raise error(f"{path}:{line_number}: {problem}")
            rows.append(row)
    return rows


def parse_yaml(text: str):
    """YAML text as Python data (safe: plain types only)."""
    return yaml.load(text, Loader=_YAML_LOADER)
