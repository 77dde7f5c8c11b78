"""The training stages: intermediate and target training (one function) and the demo's
pre-training of a tokenizer and a tiny masked LM."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import torch

from .features import read_features
from .io import read_jsonl, write_json
from .modeling import MultiTaskModel, build_model, check_fits, save_checkpoint
from .tasks import task_type
from .tasks.mlm import MaskedLM
from .tasks.tagging import Tagging
from .training import Trainer, TrainTask, inputs_identity, write_log


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
                log_out: str | Path, state_dir: str | Path, device: torch.device, eval_batch_size: int,
                code: str = "", checkpoint_dtype: str = "float32") -> dict:
    """Intermediate or target training: encoder from `encoder_path`, a fresh head per task."""
    train_tasks = [train_task_from(spec) for spec in tasks]
    torch.manual_seed(seed)  # head initialisation
    model = build_model(encoder_path, {t.name: t.type for t in train_tasks})
    for task in train_tasks:
        check_fits(task.train, model.encoder.config, f"task '{task.name}'")
    pad_id = model.encoder.config.pad_token_id
    inputs = [p for p in Path(encoder_path).iterdir() if p.is_file()]
    inputs += [spec[k] for spec in tasks for k in ("train", "dev") if spec.get(k)]
    trainer = Trainer(model, train_tasks, hp, seed=seed, device=device, pad_id=pad_id, state_dir=state_dir,
                      eval_batch_size=eval_batch_size, inputs=inputs_identity(inputs, code))
    summary = trainer.run()
    model.to("cpu")
    write_log(log_out, summary)
    save_checkpoint(model, out_dir, summary, dtype=None if checkpoint_dtype == "float32" else getattr(torch, checkpoint_dtype))
    trainer.clear_state()
    return summary


def pretrain(*, corpus_train: list[str], corpus_dev: list[str], architecture: dict, hp: dict, max_length: int,
             max_positions: int, seed: int, out_dir: str | Path, log_out: str | Path, state_dir: str | Path,
             device: torch.device, eval_batch_size: int, code: str = "") -> dict:
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
                      state_dir=state_dir, eval_batch_size=eval_batch_size,
                      inputs=inputs_identity([*corpus_train, *corpus_dev], code))
    summary = trainer.run()
    mlm.to("cpu")
    write_log(log_out, summary)
    save_pretrained_atomically(mlm, tokenizer, out_dir, summary)
    trainer.clear_state()
    return summary


def import_model(source: str, out_dir: str | Path) -> None:
    """A hub model (id or local folder) as the `pretrained` stage of the workflow: its encoder in
    float32 safetensors and its fast tokenizer, loaded without remote code."""
    from .features import load_tokenizer
    from .modeling import load_encoder

    try:
        encoder, tokenizer = load_encoder(source), load_tokenizer(source)
    except OSError as error:
        raise OSError(f"model '{source}' could not be loaded from a local folder or the local hub cache "
                      f"({error}); download it once with network access (e.g. `hf download {source}`) "
                      "or point `hub:` at a local folder") from None
    save_pretrained_atomically(encoder, tokenizer, out_dir, {"source": source, "steps": 0})


def save_pretrained_atomically(model, tokenizer, out_dir: str | Path, summary: dict) -> None:
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
