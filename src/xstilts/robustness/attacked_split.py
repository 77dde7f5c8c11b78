"""One language's split under an attack: the first `max_examples` examples (an attack costs many
passes per example, so a benchmark is attacked on a fixed subset), their clean and attacked
predictions, and what the attack achieved: the score under attack beside the clean score of the
same examples, the success rate (share of examples right on clean input and wrong under attack;
classification and multiple choice), the mean perturbation size and the passes per example.

Rows are batched by length as in xstilts.inference; each row's attack is its own (per-row steps
and projection), so batching changes only the last bits of the outputs."""

from __future__ import annotations

import numpy as np
import torch

from ..inference import predict, rows_of, to_device
from .local import LABELLED_TYPES
from .pgd import PGD, attack_batch



def subset(features: dict[str, list], examples: list[dict], max_examples: int | None) -> tuple[dict, list[dict]]:
    """The feature rows of the first `max_examples` examples (every window of a QA example)."""
    if max_examples is None or max_examples >= len(examples):
        return features, examples
    owners = features.get("example_index", list(range(len(features["input_ids"]))))
    keep = [i for i, owner in enumerate(owners) if owner < max_examples]
    return {column: [values[i] for i in keep] for column, values in features.items()}, examples[:max_examples]


def attack_split(model, head: str, task, features: dict[str, list], examples: list[dict], pgd: PGD, *,
                 metric: str, lang: str, settings: dict, pad_id: int, batch_size: int, device: torch.device,
                 max_examples: int | None = None, seed: int = 0) -> tuple[list[dict], dict]:
    """PGD's predictions (one record per example, with its clean prediction beside it) and the
    metrics of the attack; `score` is the score under attack. `seed` draws the random starts (each
    feature row's from the seed and its place in the split)."""
    features, examples = subset(features, examples, max_examples)
    decode_settings = {**settings, "metric": metric}
    clean_outputs = predict(model, head, task, features, pad_id=pad_id, batch_size=batch_size, device=device, bf16=False)
    attacked_outputs, norms = _attacked_outputs(model, head, task, features, pgd, pad_id, batch_size, device, seed)
    clean = task.decode(clean_outputs, features, examples, decode_settings)
    attacked = task.decode(attacked_outputs, features, examples, decode_settings)
    records, metrics = scored(task, examples, clean, attacked, metric, lang)
    return records, {**metrics, "mean_size": float(np.mean(norms)) if norms else 0.0,
                     # per feature row (a QA example has one per window): the ascent, the attacked and the clean pass
                     "forward_passes": pgd.steps + 2, "backward_passes": pgd.steps}


def scored(task, examples: list[dict], clean: list[dict], attacked: list[dict], metric: str,
           lang: str) -> tuple[list[dict], dict]:
    """Any attack's records and metrics from the decoded clean and attacked predictions of the same
    examples: the score under attack, the clean score, and for labelled types the success rate."""
    result = task.score(attacked, examples, metric, lang)
    metrics = {**result, "clean_score": task.score(clean, examples, metric, lang)["score"]}
    attacked_scores = task.example_scores(attacked, examples, metric, lang)
    clean_scores = task.example_scores(clean, examples, metric, lang)
    if task.name in LABELLED_TYPES:
        metrics["success_rate"] = 100.0 * float(np.mean([a == 1.0 and b == 0.0
                                                         for a, b in zip(clean_scores, attacked_scores)]))
    records = [{**record, "clean_prediction": before["prediction"]} for record, before in zip(attacked, clean)]
    # Each example's part of both scores (where the metric is a mean over examples): the report pairs
    # them, so that its intervals are of the very clean pass the attack started from.
    for record, value, clean_value in zip(records, attacked_scores or [], clean_scores or []):
        record["example_score"], record["clean_example_score"] = value, clean_value
    return records, metrics


def _attacked_outputs(model, head, task, features, pgd, pad_id, batch_size, device, seed):
    """Per-row outputs under the attack, in the order of `features`, and each row's perturbation norm."""
    rows = rows_of(features)
    lengths = task.lengths(features)
    order = sorted(range(len(rows)), key=lambda i: -lengths[i])
    outputs: list = [None] * len(rows)
    norms: list[float] = []
    for start in range(0, len(order), batch_size):
        indices = order[start:start + batch_size]
        batch = to_device(task.collate([rows[i] for i in indices], pad_id), device)
        row_seeds = [int(np.random.SeedSequence([seed, i]).generate_state(1)[0]) for i in indices]
        batch_outputs, info = attack_batch(model, head, task, batch, pgd, row_seeds=row_seeds)
        norms += info["norms"]
        for i, row_output in zip(indices, task.unbatch(batch_outputs, batch)):
            outputs[i] = row_output
    return outputs, norms
