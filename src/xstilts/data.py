"""Data sources -> the internal example schema of each task type (one JSON object per line).

Sources: `synthetic` (the embedded benchmark), `hub` (datasets.load_dataset, offline from the
local cache by default), `xtreme_dir` (a folder as XTREME's download script leaves it) and
`local` (files already in the internal schema); the last three live in xstilts.sources. The
catalog entry's `sources[source]` dict is the `spec`; the workflow adds what the config decides
(synthetic: n, seed; hub: offline, cache_dir, overrides; xtreme_dir and local: root; any source:
max_examples, a cap per language).

Kept free of torch and transformers so that the many small `prepare` jobs start fast."""

from __future__ import annotations

from pathlib import Path

from .io import write_jsonl


def prepare(*, task: str, split: str, lang: str, source: str, spec: dict, out: str | Path) -> None:
    """Write one split of one task in one language, from the source the config chose."""
    if source == "synthetic":
        from . import synthetic

        # A translated task draws the facts of the task it translates (`stream`): its English rows are
        # that task's own, its other languages' rows their translations.
        rows = synthetic.generate(spec["kind"], split=split, lang=lang, n=spec["n"], seed=spec["seed"],
                                  stream=spec.get("stream", task), **spec.get("options", {}))
    else:
        from . import sources

        rows = sources.read(source, task=task, split=split, lang=lang, spec=spec)
    if not rows:
        raise ValueError(f"task '{task}' {split}/{lang}: the source produced no examples")
    if spec.get("max_examples"):
        rows = rows[: spec["max_examples"]]
    write_jsonl(out, rows)


def source_files(*, task: str, split: str, lang: str, source: str, spec: dict) -> list[str]:
    """The files `prepare` reads for one language (xtreme_dir and local sources; none for the
    others). The prepare rules do not declare them as inputs (a missing file would then stop the
    run with Snakemake's message instead of the source's, which says how to get it), so editing
    a source file does not rerun prepare: force it with `-R prepare_<task>_<split>`."""
    if source == "xtreme_dir":
        from .sources.xtreme_dir import files_read

        return [str(path) for path in files_read(spec, split, lang)]
    if source == "local":
        from .sources.local import file_for

        return [str(file_for(task, split, lang, spec))]
    return []
