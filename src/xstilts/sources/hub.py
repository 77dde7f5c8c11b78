"""The `hub` source: `datasets.load_dataset` with the ids, configs and splits of the catalog.

A catalog hub spec names, per split of ours, one or more *parts* (hub dataset, config, split);
parts are concatenated (anli_plus = SNLI + MNLI + ANLI R1-R3). Keys:

    path, name, revision     the hub dataset; `name` and `revision` optional. `name` may hold
                             `{lang}` or `{code}` (the language's entry in `codes`: udpos.German)
    splits                   our split -> a hub split name, or a list of parts
                             ({split, path?, name?, revision?, filter?, tag?}) inheriting the
                             top-level keys
    filter                   column -> value rows must have ("{lang}"/"{code}" formatted), or
                             column -> {startswith: prefix}
    fields, label_map, label_names, tag_names, label_style, label_position_in
                             the conversion (sources/convert.py)

The caller adds `offline` (default true: never touch the network), `cache_dir`, `overrides`
(catalog hub id -> another id, a local folder, or {path, revision}) and `max_examples`.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path

from .convert import convert
from .errors import DataSourceError, MissingDataError

_LOADED: dict[tuple, object] = {}  # one prepare job writes many languages of one split: load each part once


def read(info, *, split: str, lang: str, spec: dict) -> list[dict]:
    parts = split_parts(spec, split, info.name)
    rows: list[dict] = []
    for part in parts:
        dataset = _load(part, lang=lang, spec=spec)
        if spec.get("max_examples") and not part["filter"]:
            # Only the rows that can be kept: a Wikipedia config has millions (prepare cuts again
            # after conversion, which may drop unlabelled rows).
            dataset = dataset.select(range(min(spec["max_examples"], len(dataset))))
        selected = _filtered(dataset, part["filter"], _formatting(spec, lang))
        prefix = f"{part['tag']}:" if len(parts) > 1 else ""
        rows += convert(info.type, selected, spec=spec, labels=info.labels, features=dataset.features, id_prefix=prefix)
    return rows


def split_parts(spec: dict, split: str, task: str) -> list[dict]:
    """The hub parts of one of our splits, each with path/name/revision/split resolved."""
    splits = spec.get("splits", {})
    if split not in splits:
        raise DataSourceError(f"task '{task}': the hub source has no '{split}' split (it has: {', '.join(splits) or 'none'})")
    entries = splits[split] if isinstance(splits[split], list) else [{"split": splits[split]}]
    parts = []
    for entry in entries:
        entry = {"split": entry} if isinstance(entry, str) else dict(entry)
        part = {key: entry.get(key, spec.get(key)) for key in ("path", "name", "revision")}
        part.update(split=entry["split"], filter=entry.get("filter", spec.get("filter")))
        if not part["path"]:
            raise DataSourceError(f"task '{task}': hub part {entry} names no dataset (path)")
        part["tag"] = entry.get("tag") or f"{part['path'].split('/')[-1]}.{part['split']}"
        parts.append(part)
    return parts


def _formatting(spec: dict, lang: str) -> dict:
    codes = spec.get("codes", {})
    return {"lang": lang, "code": codes.get(lang, lang)}


def _load(part: dict, *, lang: str, spec: dict):
    import datasets

    values = _formatting(spec, lang)
    if "{code}" in f"{part['name']}{part['filter']}" and spec.get("codes") and lang not in spec["codes"]:
        raise DataSourceError(f"hub dataset '{part['path']}' has no config or rows for language '{lang}' "
                              f"(the catalog's codes cover: {', '.join(spec['codes'])})")
    name = part["name"].format(**values) if part["name"] else None
    path, revision = part["path"], part["revision"]
    override = spec.get("overrides", {}).get(path)
    if isinstance(override, str):
        path = override
    elif isinstance(override, dict):
        path, revision = override.get("path", path), override.get("revision", revision)
    offline = spec.get("offline", True)
    cache_dir = spec.get("cache_dir")
    key = (str(Path(path).resolve()) if Path(path).is_dir() else path, name, part["split"], revision, cache_dir, offline)
    if key in _LOADED:
        return _LOADED[key]
    kwargs = {"revision": revision} if revision else {}
    try:
        with _offline(offline):
            dataset = datasets.load_dataset(path, name, split=part["split"], cache_dir=cache_dir, **kwargs)
    except (OSError, ValueError, RuntimeError) as error:  # ConnectionError, FileNotFoundError, DatasetNotFoundError
        raise MissingDataError(_missing_message(path, name, part["split"], revision, offline, cache_dir, error)) from error
    _LOADED[key] = dataset
    return dataset


def _missing_message(path, name, split, revision, offline, cache_dir, error) -> str:
    what = f"hub dataset '{path}'" + (f" config '{name}'" if name else "") + f" split '{split}'"
    what += f" (revision {revision})" if revision else ""
    load = f"datasets.load_dataset({path!r}" + (f", {name!r}" if name else "") + f", split={split!r}"
    load += (f", revision={revision!r}" if revision else "") + ")"
    where = cache_dir or os.environ.get("HF_DATASETS_CACHE") or "the default cache ($HF_HOME/datasets)"
    how = (f"To get it: run once with network (config data.hub.offline: false, or in Python: {load}), which fills "
           f"the datasets cache ({where}); or set HF_HOME / data.hub.cache_dir to a cache that holds it; or download "
           f"the repository with `huggingface-cli download {path} --repo-type dataset --local-dir DIR` and map "
           f"'{path}' to DIR in data.hub.overrides.")
    if "scripts are no longer supported" in str(error):
        how = (f"The repository holds only a loading script, which datasets >= 4 does not run: map '{path}' to "
               f"{{path: {path}, revision: refs/convert/parquet}} (the hub's parquet export) in data.hub.overrides, "
               f"or set that revision in the catalog.")
    state = "could not be loaded offline (HF_HUB_OFFLINE=1: only the local cache is read)" if offline \
        else "could not be loaded"
    return f"{what} {state}: {type(error).__name__}: {error}\n{how}"


def _rows(dataset, batch_size: int = 2048):
    """Rows as dicts, read a batch at a time (much faster than indexing row by row)."""
    for batch in dataset.iter(batch_size=batch_size):
        columns = list(batch)
        for i in range(len(batch[columns[0]]) if columns else 0):
            yield {column: batch[column][i] for column in columns}


def _filtered(dataset, conditions: dict | None, values: dict):
    if not conditions:
        return _rows(dataset)
    tests = []
    for column, wanted in conditions.items():
        if isinstance(wanted, dict) and "startswith" in wanted:
            prefix = wanted["startswith"].format(**values)
            tests.append(lambda row, c=column, p=prefix: str(row[c]).startswith(p))
        else:
            target = str(wanted).format(**values)
            tests.append(lambda row, c=column, t=target: str(row[c]) == t)
    return [row for row in _rows(dataset) if all(test(row) for test in tests)]


@contextmanager
def _offline(enabled: bool):
    """HF_HUB_OFFLINE for the duration of a load: the libraries read it at import, so set both."""
    if not enabled:
        yield
        return
    import datasets.config
    import huggingface_hub.constants as hub_constants

    saved_env = {key: os.environ.get(key) for key in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")}
    saved = (datasets.config.HF_HUB_OFFLINE, datasets.config.HF_DATASETS_OFFLINE, hub_constants.HF_HUB_OFFLINE)
    os.environ.update(HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1")
    datasets.config.HF_HUB_OFFLINE = datasets.config.HF_DATASETS_OFFLINE = hub_constants.HF_HUB_OFFLINE = True
    try:
        yield
    finally:
        datasets.config.HF_HUB_OFFLINE, datasets.config.HF_DATASETS_OFFLINE, hub_constants.HF_HUB_OFFLINE = saved
        for key, old in saved_env.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old
