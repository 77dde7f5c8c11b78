"""The `local` source: JSON-lines files already in the internal schema of the task's type.

Spec keys: `path`, a file template with `{task}`, `{split}` and `{lang}` (relative paths are
resolved against `root`, which the caller sets from the config), and an optional `hint` added to
the message when the file is missing (CCGbank: where the licensed data come from).
"""

from __future__ import annotations

from pathlib import Path

from ..io import read_jsonl
from .convert import check_example
from .errors import DataSourceError, MissingDataError

DEFAULT_PATH = "{task}/{split}/{lang}.jsonl"


def file_for(task: str, split: str, lang: str, spec: dict) -> Path:
    path = Path((spec.get("path") or DEFAULT_PATH).format(task=task, split=split, lang=lang))
    return Path(spec["root"]) / path if not path.is_absolute() and spec.get("root") else path


def read(info, *, split: str, lang: str, spec: dict) -> list[dict]:
    path = file_for(info.name, split, lang, spec)
    if not path.is_file():
        hint = f"\n{spec['hint']}" if spec.get("hint") else ""
        raise MissingDataError(f"task '{info.name}' {split}/{lang}: local file {path} is missing "
                               f"(one {info.type} example per line, in the internal schema){hint}")
    return read_jsonl(path, check=lambda row: check_example(info.type, row, info.labels), error=DataSourceError)
