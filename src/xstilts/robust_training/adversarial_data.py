"""Offline adversarial augmentation: a recipe's training task gains the adversarial versions of a
share of its examples, made once by a text attack (hotflip, or codeswitch_attack: Tan and Joty
2021's code-mixed adversarial examples) against a checkpoint already fine-tuned on that task
(config `recipes.<r>.augment.<task>: {attack, against, ratio}`).

The attacked examples are a draw of `ratio` x N of the N training examples (from the seed and the
language, so that two languages draw apart); an example joins the training set only where the
attack changed it, after the clean examples, with its id suffixed and its `changes` kept. Examples
the checkpoint already gets wrong, or whose words cannot raise its loss, are left out: they would
only repeat a clean example. The summary says how many of each there were."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import torch

from ..io import read_jsonl, write_json, write_jsonl
from ..modeling import load_for_inference
from ..robustness.attacks import PreparedAttack

ID_SUFFIX = "-adv"


def attacked_indices(n: int, ratio: float, seed: int, lang: str) -> list[int]:
    """The examples attacked: round(ratio x n) of them (at least one), in their order."""
    count = max(1, round(ratio * n))
    return sorted(random.Random(f"adversarial-augment/{seed}/{lang}").sample(range(n), count))


def adversarial_rows(attacked: list[dict]) -> list[dict]:
    """The attack's outputs that it changed, as training examples."""
    rows = []
    for example in attacked:
        if not example["changes"]:
            continue
        row = {key: value for key, value in example.items() if key != "passes"}
        if "id" in row:
            row["id"] = f"{row['id']}{ID_SUFFIX}"
        rows.append(row)
    return rows


def adversarial_training_file(*, checkpoint: str | Path, head: str, attack: dict, ratio: float, seed: int,
                              settings: dict, examples_path: str | Path, out: str | Path, summary_out: str | Path,
                              key: str, lang: str, device: torch.device, batch_size: int) -> None:
    """Write the clean examples followed by the adversarial ones (`out`) and what was made (`summary_out`).
    attack: Plan.attack_spec with `tokenizer` (and `dictionaries` for codeswitch_attack)."""
    model = load_for_inference(checkpoint).to(device)
    if head not in model.task_types:
        raise ValueError(f"checkpoint {checkpoint} has no head '{head}' to attack (it has: "
                         f"{', '.join(model.task_types) or 'none'})")
    clean = read_jsonl(examples_path)
    if not clean:
        raise ValueError(f"{examples_path}: no training examples to attack")
    labels = model.task_types[head].labels
    unknown = sorted({str(ex.get("label")) for ex in clean if labels and ex.get("label") not in labels})
    if unknown:
        raise ValueError(f"{examples_path}: labels {', '.join(unknown[:5])} are not the checkpoint's "
                         f"({', '.join(labels)}): it was not fine-tuned on this task")
    task = model.task_types[head]
    chosen = attacked_indices(len(clean), ratio, seed, lang)
    attacked = PreparedAttack(attack).texts(model, head, task, [clean[i] for i in chosen], lang=lang, settings=settings,
                                            pad_id=model.encoder.config.pad_token_id, batch_size=batch_size,
                                            device=device)
    added = adversarial_rows(attacked)
    write_jsonl(out, clean + added)
    write_json(summary_out, {
        "key": key, "attack": attack["kind"], "max_changes": attack["max_changes"], "ratio": ratio, "seed": seed,
        "examples": len(clean), "attacked": len(chosen), "added": len(added),
        # the checkpoint got these wrong already (the search stops before its first backward pass)
        "already_wrong": sum(1 for ex in attacked if ex["passes"]["backward"] == 0),
        "mean_changes": float(np.mean([len(row["changes"]) for row in added])) if added else 0.0,
    })
