"""Data sources other than the embedded generator: the HF hub, an XTREME download folder, and
local files. Each reads one split of one task in one language into the internal schema of the
task's type (see xstilts.tasks); `read` checks every example it returns against that schema."""

from __future__ import annotations

from dataclasses import dataclass

from .convert import check_example
from .errors import DataSourceError, MissingDataError

__all__ = ["DataSourceError", "MissingDataError", "TaskInfo", "read"]


@dataclass(frozen=True)
class TaskInfo:
    name: str
    type: str
    labels: list[str] | None


def task_info(task: str, spec: dict) -> TaskInfo:
    """Type and labels from the spec when the caller put them there, else from the packaged catalog."""
    if "type" in spec:
        return TaskInfo(task, spec["type"], spec.get("labels"))
    from ..catalog import load_catalog

    catalog = load_catalog()
    if task not in catalog:
        raise DataSourceError(f"unknown task '{task}': not in the catalog and the source spec names no type")
    return TaskInfo(task, catalog[task]["type"], catalog[task].get("labels"))


def read(source: str, *, task: str, split: str, lang: str, spec: dict) -> list[dict]:
    from . import hub, local, xtreme_dir

    readers = {"hub": hub.read, "xtreme_dir": xtreme_dir.read, "local": local.read}
    if source not in readers:
        raise DataSourceError(f"task '{task}': unknown data source '{source}' (known: synthetic, {', '.join(readers)})")
    if spec.get("unavailable"):
        raise DataSourceError(f"task '{task}' cannot be read from source '{source}': {spec['unavailable']}")
    info = task_info(task, spec)
    rows = readers[source](info, split=split, lang=lang, spec=spec)
    for row in rows:
        problem = check_example(info.type, row, info.labels)
        if problem:
            raise DataSourceError(f"task '{task}' {split}/{lang} from {source}: example {row.get('id')!r}: {problem}")
    return rows
