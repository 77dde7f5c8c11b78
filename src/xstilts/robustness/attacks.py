"""An attack named in the config (`attacks:`), run on one language's split: the one entry point the
evaluate stage calls, whatever the kind."""

from __future__ import annotations

from .attacked_split import attack_split
from .pgd import PGD


def attacked_split(model, head: str, task, features: dict[str, list], examples: list[dict], spec: dict,
                   **run) -> tuple[list[dict], dict]:
    """Attacked predictions and metrics of the first `spec["max_examples"]` examples (see
    xstilts.robustness.attacked_split); `run` holds evaluate_split's keywords."""
    if spec["kind"] == "pgd":
        pgd = PGD(eps=spec["eps"], steps=spec["steps"], step_size=spec["step_size"], norm=spec["norm"],
                  random_start=spec["random_start"])
        return attack_split(model, head, task, features, examples, pgd, max_examples=spec["max_examples"],
                            seed=spec["seed"], **run)
    raise ValueError(f"unknown attack kind {spec['kind']!r}")
