"""The evaluate stage: one checkpoint, one benchmark, every language."""

from __future__ import annotations

from pathlib import Path

import torch

from .features import read_features
from .inference import evaluate_split
from .io import read_jsonl, write_json, write_jsonl
from .modeling import check_fits, load_for_inference
from .tasks import task_type


def evaluate(*, checkpoint: str | Path, head: str | None, bench: str, bench_type: str, metric: str,
             languages: dict[str, dict], retrieval_layer: int, settings: dict, meta: dict,
             device: torch.device, batch_size: int) -> None:
    """Load the checkpoint once and evaluate every language of one benchmark.
    languages[lang] = {"features", "examples", "out", "predictions"} (+ "dev_features", "dev_examples" for BUCC)."""
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
    for lang, paths in languages.items():
        examples = read_jsonl(paths["examples"])
        features = read_features(paths["features"])
        check_fits(features, model.encoder.config, f"benchmark '{bench}' ({lang})")
        predictions, result = evaluate_split(model, head or bench, task, features,
                                             examples, lang=lang, **run)
        if metric == "bucc":
            dev_examples = read_jsonl(paths["dev_examples"])
            dev_predictions, _ = evaluate_split(model, bench, task, read_features(paths["dev_features"]),
                                                dev_examples, lang=lang, **run)
            result = task.mining_score(dev_predictions, dev_examples, predictions, examples)
        score = result.pop("score")
        write_jsonl(paths["predictions"], predictions)
        write_json(paths["out"], {"split": "test", **meta, "bench": bench, "lang": lang,
                                  "n_examples": len(examples), "metrics": result, "score": score})
