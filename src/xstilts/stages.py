"""What each workflow stage does, as plain functions of paths and settings. The scripts in
scripts/ only unpack Snakemake's arguments and call these."""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import torch

from .inference import evaluate_split
from .io import atomic_path, read_json, read_jsonl, write_json, write_jsonl
from .modeling import MultiTaskModel, build_model, load_for_inference, save_checkpoint
from .tasks import task_type
from .tasks.mlm import MaskedLM
from .tasks.tagging import Tagging
from .training import Trainer, TrainTask, write_log


# ---- features ------------------------------------------------------------------------------
def write_features(path: str | Path, columns: dict[str, list]) -> None:
    with atomic_path(path) as tmp:
        pq.write_table(pa.Table.from_pydict(columns), tmp)


def read_features(path: str | Path) -> dict[str, list]:
    return pq.read_table(path).to_pydict()


def load_tokenizer(model_dir: str | Path):
    from transformers import AutoTokenizer
    return AutoTokenizer.from_pretrained(model_dir, use_fast=True, trust_remote_code=False)


def tokenize(*, tokenizer_dir: str | Path, task_type_name: str, labels: list[str] | None,
             examples_paths: list[str], settings: dict, outs: list[str]) -> None:
    """Featurise each examples file into the matching features file, loading the tokenizer once."""
    tokenizer = load_tokenizer(tokenizer_dir)
    kind = task_type(task_type_name)(labels)
    for examples_path, out in zip(examples_paths, outs):
        write_features(out, kind.featurize(read_jsonl(examples_path), tokenizer, settings))


# ---- training ------------------------------------------------------------------------------
def check_fits(features: dict[str, list], config, what: str) -> None:
    """Fail before training or evaluating when features are longer than the model's positions."""
    limit = getattr(config, "max_position_embeddings", None)
    if limit is None:
        return
    offset = (config.pad_token_id + 1) if config.model_type in ("xlm-roberta", "roberta") else 0
    longest = max((len(ids[0]) if ids and isinstance(ids[0], list) else len(ids)) for ids in features["input_ids"])
    if longest + offset > limit:
        raise ValueError(f"{what}: features of length {longest} exceed the model's {limit - offset} positions; "
                         f"lower features.max_length in the config")


def train_task_from(spec: dict) -> TrainTask:
    """spec: name, type, labels, metric, settings, train (parquet), dev (parquet), dev_examples (jsonl)."""
    train = read_features(spec["train"])
    labels = spec.get("labels") or (Tagging.labels_from(train) if spec["type"] == "tagging" else None)
    task = TrainTask(name=spec["name"], type=task_type(spec["type"])(labels), train=train,
                     metric=spec["metric"], settings=spec.get("settings", {}))
    if spec.get("dev"):
        task.dev_features = read_features(spec["dev"])
        task.dev_examples = read_jsonl(spec["dev_examples"])
        task.dev_features, task.dev_examples = dev_subset(task.dev_features, task.dev_examples,
                                                          spec.get("eval_examples"))
    return task


def dev_subset(features: dict[str, list], examples: list[dict], limit: int | None):
    """The first `limit` dev examples and their feature rows (QA examples may span several rows)."""
    if not limit or limit >= len(examples):
        return features, examples
    if "example_index" in features:
        keep = [i for i, e in enumerate(features["example_index"]) if e < limit]
    else:
        keep = list(range(limit))
    return {k: [v[i] for i in keep] for k, v in features.items()}, examples[:limit]


def train_stage(*, encoder_path: str | Path, tasks: list[dict], hp: dict, seed: int, out_dir: str | Path,
                log_out: str | Path, state_dir: str | Path, device: torch.device, eval_batch_size: int) -> dict:
    """Intermediate or target training: encoder from `encoder_path`, a fresh head per task."""
    train_tasks = [train_task_from(spec) for spec in tasks]
    torch.manual_seed(seed)  # head initialisation
    model = build_model(encoder_path, {t.name: t.type for t in train_tasks})
    for task in train_tasks:
        check_fits(task.train, model.encoder.config, f"task '{task.name}'")
    pad_id = model.encoder.config.pad_token_id
    trainer = Trainer(model, train_tasks, hp, seed=seed, device=device, pad_id=pad_id,
                      state_dir=state_dir, eval_batch_size=eval_batch_size)
    summary = trainer.run()
    model.to("cpu")
    write_log(log_out, summary)
    save_checkpoint(model, out_dir, summary)
    trainer.clear_state()
    return summary


def pretrain(*, corpus_train: list[str], corpus_dev: list[str], architecture: dict, hp: dict, max_length: int,
             max_positions: int, seed: int, out_dir: str | Path, log_out: str | Path, state_dir: str | Path,
             device: torch.device, eval_batch_size: int) -> dict:
    """Train a tokenizer and a tiny XLM-R-architecture masked LM on the monolingual corpora.
    `max_positions` is the longest sequence any later stage feeds it."""
    from transformers import XLMRobertaConfig, XLMRobertaForMaskedLM

    from .tokenizer_training import train_tokenizer

    train_examples = [ex for path in corpus_train for ex in read_jsonl(path)]
    dev_examples = [ex for path in corpus_dev for ex in read_jsonl(path)]
    tokenizer = train_tokenizer((ex["text"] for ex in train_examples), architecture["vocab_size"], max_positions)
    config = XLMRobertaConfig(
        vocab_size=len(tokenizer), hidden_size=architecture["hidden_size"],
        num_hidden_layers=architecture["num_hidden_layers"], num_attention_heads=architecture["num_attention_heads"],
        intermediate_size=architecture["intermediate_size"], max_position_embeddings=max_positions + 2,  # XLM-R positions start after the pad id
        pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        type_vocab_size=1,
    )
    torch.manual_seed(seed)
    mlm = XLMRobertaForMaskedLM(config)
    mlm_type = MaskedLM(mask_token_id=tokenizer.mask_token_id, vocab_size=len(tokenizer),
                        special_ids=tuple(tokenizer.all_special_ids), probability=hp["mlm_probability"])
    settings = {"max_length": max_length}
    task = TrainTask(name="corpus", type=mlm_type, train=mlm_type.featurize(train_examples, tokenizer, settings),
                     dev_features=mlm_type.featurize(dev_examples, tokenizer, settings), dev_examples=dev_examples,
                     metric="mlm_accuracy")
    model = MultiTaskModel(mlm.roberta, {}, {"corpus": mlm_type})
    model.heads["corpus"] = mlm.lm_head  # tied to the input embeddings inside `mlm`
    trainer = Trainer(model, [task], hp, seed=seed, device=device, pad_id=tokenizer.pad_token_id,
                      state_dir=state_dir, eval_batch_size=eval_batch_size)
    summary = trainer.run()
    mlm.to("cpu")
    write_log(log_out, summary)
    save_pretrained_atomically(mlm, tokenizer, out_dir, summary)
    trainer.clear_state()
    return summary


def save_pretrained_atomically(model, tokenizer, out_dir: str | Path, summary: dict) -> None:
    import shutil
    import tempfile

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=out_dir))
    try:
        model.save_pretrained(staging, safe_serialization=True)
        tokenizer.save_pretrained(staging)
        write_json(staging / "training_summary.json", summary)
        names = sorted(os.listdir(staging), key=lambda n: n == "training_summary.json")
        for name in names:
            os.replace(staging / name, out_dir / name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


# ---- evaluation ----------------------------------------------------------------------------
def evaluate(*, checkpoint: str | Path, head: str | None, bench: str, bench_type: str, metric: str,
             languages: dict[str, dict], retrieval_layer: int, settings: dict, meta: dict,
             device: torch.device, batch_size: int) -> None:
    """Load the checkpoint once and evaluate every language of one benchmark.
    languages[lang] = {"features", "examples", "out", "predictions"} (+ "dev_features", "dev_examples" for BUCC)."""
    model = load_for_inference(checkpoint).to(device)
    pad_id = model.encoder.config.pad_token_id
    labels = model.task_types[head].labels if head else None
    task = task_type(bench_type)(labels)
    if bench_type == "retrieval":
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
        write_json(paths["out"], {**meta, "bench": bench, "lang": lang, "split": "test",
                                  "n_examples": len(examples), "metrics": result, "score": score})
