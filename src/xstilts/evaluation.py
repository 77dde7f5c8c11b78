"""The evaluate stage: one checkpoint, one benchmark, every language."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from . import metrics
from .features import read_features
from .inference import evaluate_split, predict
from .io import read_jsonl, write_json, write_jsonl
from .modeling import check_fits, load_for_inference
from .robustness.attacks import PreparedAttack
from .tasks import task_type
from .tasks.retrieval import SOURCE, TARGET, rankings, ranking_depth


def evaluate(*, checkpoint: str | Path, head: str | None, bench: str, bench_type: str, metric: str,
             languages: dict[str, dict], retrieval_layer: int | None, settings: dict, meta: dict,
             device: torch.device, batch_size: int, out: dict, pool: dict | None = None,
             attack: dict | None = None) -> None:
    """Load the checkpoint once and evaluate every language of one benchmark.
    languages[lang] = {"features", "examples"} (+ "dev_features", "dev_examples" for BUCC);
    out = {"scores", "predictions"}: one scores file (a result per language, in `languages` order)
    and one predictions file (each line names its language, and carries its `example_score` where
    the metric is a mean over examples), both written once all are scored;
    pool = {"features", "examples"}: the candidates every language's queries are ranked against
    (Mewsli-X, LAReQA), encoded once;
    attack = an attack's spec (Plan.attack_spec): every language's first `max_examples` examples are
    attacked, and each result carries the clean score of the same examples (metrics.clean_score)."""
    model = load_for_inference(checkpoint).to(device)
    pad_id = model.encoder.config.pad_token_id
    if head and head not in model.task_types:
        raise ValueError(f"checkpoint {checkpoint} has no head '{head}' (it has: {', '.join(model.task_types) or 'none'})")
    labels = model.task_types[head].labels if head else None
    task = task_type(bench_type)(labels)
    if bench_type == "retrieval":
        layers = model.encoder.config.num_hidden_layers
        if not -layers - 1 <= retrieval_layer <= layers:
            raise ValueError(f"retrieval_layer {retrieval_layer} is outside the model's hidden states 0..{layers}")
        task.layer = retrieval_layer
    run = dict(metric=metric, settings=settings, pad_id=pad_id, batch_size=batch_size, device=device)
    if pool:
        pool = encoded_pool(model, bench, task, pool, run)
    if attack:
        attack = PreparedAttack(attack)
    results, all_predictions = [], []
    for lang, paths in languages.items():
        examples = read_jsonl(paths["examples"])
        features = read_features(paths["features"])
        check_fits(features, model.encoder.config, f"benchmark '{bench}' ({lang})")
        if pool:
            predictions, result = ranked_split(model, bench, task, features, examples, pool, lang=lang, **run)
        elif attack:
            predictions, result = attack.split(model, head or bench, task, features, examples, lang=lang, **run)
            examples = examples[:len(predictions)]  # the attacked subset, whose records carry example_score
        else:
            predictions, result = evaluate_split(model, head or bench, task, features, examples, lang=lang, **run)
        if metric == "bucc":
            dev_examples = read_jsonl(paths["dev_examples"])
            dev_predictions, _ = evaluate_split(model, bench, task, read_features(paths["dev_features"]),
                                                dev_examples, lang=lang, **run)
            result = task.mining_score(dev_predictions, dev_examples, predictions, examples)
        score = result.pop("score")
        example_scores = (None if metric == "bucc" or pool or attack
                          else task.example_scores(predictions, examples, metric, lang))
        for prediction, value in zip(predictions, example_scores or []):
            prediction["example_score"] = value
        all_predictions += [{"lang": lang, **prediction} for prediction in predictions]
        results.append({**meta, "bench": bench, "lang": lang, "n_examples": len(examples), "metrics": result,
                        "score": score})
    write_jsonl(out["predictions"], all_predictions)
    write_json(out["scores"], {"results": results})


def encoded_pool(model, bench: str, task, pool: dict, run: dict) -> dict:
    """The candidate pool's ids and unit-norm vectors, computed once for every language (Mewsli-X:
    ~1M entities, 4 GB of float32 vectors at XLM-R Large's width)."""
    features = read_features(pool["features"])
    check_fits(features, model.encoder.config, f"benchmark '{bench}' (candidate pool)")
    outputs = predict(model, bench, task, features, pad_id=run["pad_id"], batch_size=run["batch_size"],
                      device=run["device"])
    candidates = [i for i, side in enumerate(features["side"]) if side == TARGET]
    return {"ids": [features["line_id"][i] for i in candidates],
            "vectors": metrics.unit_rows(np.stack([outputs[i] for i in candidates]))}


def ranked_split(model, bench: str, task, features: dict, examples: list[dict], pool: dict, *, metric: str,
                 lang: str, settings: dict, pad_id: int, batch_size: int, device: torch.device):
    """One language's queries ranked against the encoded pool, scored on the queries."""
    outputs = predict(model, bench, task, features, pad_id=pad_id, batch_size=batch_size, device=device)
    queries = [i for i, side in enumerate(features["side"]) if side == SOURCE]
    if not queries:
        raise ValueError(f"benchmark '{bench}' ({lang}): no query lines (src) to rank")
    predictions = rankings(np.stack([outputs[i] for i in queries]), pool["vectors"],
                           [features["line_id"][i] for i in queries], pool["ids"], ranking_depth(metric),
                           device=str(device), candidates_normalised=True)
    return predictions, task.score(predictions, examples, metric, lang)
