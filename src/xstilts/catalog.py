"""The task catalog (catalog.yaml): what every task is and where its data come from. Read by the
configuration and by the data sources; it imports neither, so neither imports the other."""

from __future__ import annotations

from importlib import resources

from .io import parse_yaml


def load_catalog() -> dict:
    text = resources.files("xstilts").joinpath("catalog.yaml").read_text(encoding="utf-8")
    return parse_yaml(text)["tasks"]


def hub_ids(spec: dict) -> set[str]:
    """Every hub dataset id a catalog hub spec reads (to pass a task only the overrides that concern it)."""
    ids = {spec["path"]} if spec.get("path") else set()
    for entries in spec.get("splits", {}).values():
        for entry in entries if isinstance(entries, list) else []:
            if isinstance(entry, dict) and entry.get("path"):
                ids.add(entry["path"])
    return ids
