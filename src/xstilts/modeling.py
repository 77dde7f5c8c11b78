"""One encoder with one head per task, and the checkpoint format every stage reads and writes.

A checkpoint folder holds the encoder as `save_pretrained` leaves it (config.json,
model.safetensors: `AutoModel.from_pretrained` opens it), the heads (heads.safetensors,
heads.json) and training_summary.json, written last, which marks the folder complete.
"""

from __future__ import annotations

import copy
import os
import shutil
import tempfile
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file
from torch import nn
from transformers import AutoConfig, AutoModel

from .io import read_json, write_json
from .layout import CHECKPOINT_FILES
from .tasks import TaskType, task_type

SAFETENSORS_WEIGHTS = ("model.safetensors", "model.safetensors.index.json")  # one file, or shards
PICKLED_WEIGHTS = ("pytorch_model.bin", "pytorch_model.bin.index.json")


ALL_LAYERS = "all"  # MultiTaskModel.encode's layer for every hidden state at once


class MultiTaskModel(nn.Module):
    """A shared encoder and a head per task (`None` for heads a task type does not need)."""

    def __init__(self, encoder: nn.Module, heads: dict[str, nn.Module | None], task_types: dict[str, TaskType]):
        super().__init__()
        self.encoder = encoder
        self.heads = nn.ModuleDict({name: head for name, head in heads.items() if head is not None})
        self.task_types = dict(task_types)
        # BERT-family encoders learnt a second token type for a pair's second segment; XLM-R has one type.
        self.uses_segments = getattr(encoder.config, "type_vocab_size", 1) > 1

    def encode(self, input_ids, attention_mask, layer: int | str | None = None):
        """The last hidden state, or hidden state `layer` (0: the embeddings' output), or with
        `layer=ALL_LAYERS` the tuple of every hidden state from one forward pass."""
        inputs = {"input_ids": input_ids, "attention_mask": attention_mask}
        if self.uses_segments:
            inputs["token_type_ids"] = segment_ids(input_ids, attention_mask)
        if layer is None:
            return self.encoder(**inputs).last_hidden_state
        hidden_states = self.encoder(**inputs, output_hidden_states=True).hidden_states
        return hidden_states if layer == ALL_LAYERS else hidden_states[layer]

    def forward(self, head: str, batch: dict[str, torch.Tensor], task: TaskType | None = None, *,
                every_head: bool = False):
        """Run `batch` through the encoder and the head `head`; `task` defaults to that head's type. With
        `every_head`, the other heads join the loss with weight zero: sharded training (FSDP) reduces a
        unit's gradients in one collective whose size must agree across ranks, whichever task each ran."""
        task = task or self.task_types[head]
        loss, outputs = task.forward(self.encode, self.heads[head] if head in self.heads else None, batch)
        if every_head:
            others = [p.sum() for name, module in self.heads.items() if name != head for p in module.parameters()]
            loss = loss + 0.0 * sum(others)
        return loss, outputs


def segment_ids(input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """The token_type_ids a BERT tokenizer gives rows laid out as `[CLS] A [SEP] B [SEP]` (pairs) or
    `[CLS] A [SEP]`: 1 from after the first separator to the last real token, 0 elsewhere.

    Features keep input_ids only (the same files serve XLM-R, which has no token types), so the
    types are derived here. The separator is each row's last real token, which truncation keeps."""
    last = (attention_mask.sum(dim=-1, keepdim=True) - 1).clamp(min=0)
    is_separator = input_ids == input_ids.gather(-1, last)
    after_first_separator = (is_separator.long().cumsum(dim=-1) - is_separator.long()) > 0
    return (after_first_separator & attention_mask.bool()).long()


def load_encoder(path: str | os.PathLike) -> nn.Module:
    """The encoder of a checkpoint or pretrained model; task heads and MLM heads are dropped.
    Remote code is never run and safetensors weights are required."""
    check_safetensors(path)
    check_weight_files(path)
    config = AutoConfig.from_pretrained(path, trust_remote_code=False)
    # float32 master weights whatever the stored precision; bf16 comes from autocast on GPU.
    kwargs = {"trust_remote_code": False, "use_safetensors": True, "attn_implementation": "sdpa",
              "dtype": torch.float32}
    try:
        return AutoModel.from_pretrained(path, config=config, add_pooling_layer=False, **kwargs)
    except TypeError:  # architectures without a pooler option
        return AutoModel.from_pretrained(path, config=config, **kwargs)


def check_safetensors(path: str | os.PathLike) -> None:
    """Name the folder and the way out when a local model folder holds only pickled weights
    (older hub repositories): transformers' own error just says model.safetensors is missing."""
    folder = Path(path)
    if not folder.is_dir() or any((folder / name).exists() for name in SAFETENSORS_WEIGHTS):
        return
    pickled = [name for name in PICKLED_WEIGHTS if (folder / name).exists()]
    if pickled:
        raise OSError(f"model folder {folder} has {pickled[0]} but no model.safetensors: only safetensors weights "
                      "are read, since unpickling a .bin file can run code. Use a revision of the model that has "
                      "model.safetensors, or convert a copy you trust once (from_pretrained, then save_pretrained)")


def check_weight_files(path: str | os.PathLike) -> None:
    """Every safetensors file of a local model or checkpoint folder must be whole: a file cut
    short (a full disk, a copy or job killed midway) fails here, by name, instead of in
    transformers' loader, whose error does not say which file."""
    folder = Path(path)
    if folder.is_dir():
        for file in sorted(folder.glob("*.safetensors")):
            check_safetensors_file(file)


def check_safetensors_file(path: str | os.PathLike) -> None:
    """ValueError naming `path` when its header cannot be read or does not cover the file (the
    checks safetensors makes before reading any tensor; cheap: the tensors are not read)."""
    try:
        with safe_open(str(path), framework="pt"):
            pass
    except SafetensorError as error:
        raise ValueError(f"checkpoint file {path} is truncated or corrupt ({error}); delete it and rebuild it "
                         f"by asking Snakemake for it (`snakemake {path}`), then rerun the workflow") from error


def head_dropout(encoder: nn.Module) -> float:
    return float(getattr(encoder.config, "hidden_dropout_prob", 0.1))


def build_model(encoder_path: str | os.PathLike, task_types: dict[str, TaskType]) -> MultiTaskModel:
    """Encoder from a pretrained model or an earlier checkpoint (encoder only, as jiant's
    partial load), fresh heads for `task_types`."""
    encoder = load_encoder(encoder_path)
    dropout = head_dropout(encoder)
    heads = {name: t.make_head(encoder.config.hidden_size, dropout) for name, t in task_types.items() if t.trainable}
    return MultiTaskModel(encoder, heads, task_types)


def save_checkpoint(model: MultiTaskModel, out_dir: str | os.PathLike, summary: dict, *, dtype: torch.dtype | None = None,
                    max_shard_size: str | int = "50GB") -> None:
    """Write every checkpoint file under a temporary folder, then move them into `out_dir`,
    the summary last: a crash leaves no folder that looks complete. Weights larger than `max_shard_size`
    are written as save_pretrained shards them, with their index (every XLM-R size fits one file of the
    default 50 GB in float32, the one file the workflow's rules name)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=out_dir))
    try:
        encoder = model.encoder if dtype is None else _cast_copy(model.encoder, dtype)
        encoder.save_pretrained(staging, safe_serialization=True, max_shard_size=max_shard_size)
        head_state = {f"{name}.{key}": value.detach().cpu().contiguous()
                      for name, head in model.heads.items() for key, value in head.state_dict().items()}
        if dtype is not None:
            head_state = {k: v.to(dtype) if v.is_floating_point() else v for k, v in head_state.items()}
        save_file(head_state, staging / "heads.safetensors")
        write_json(staging / "heads.json", {name: {"type": t.name, "labels": t.labels}
                                            for name, t in model.task_types.items() if t.trainable})
        write_json(staging / "training_summary.json", summary)
        summary_file = CHECKPOINT_FILES[-1]
        for name in sorted(p.name for p in staging.iterdir() if p.name != summary_file) + [summary_file]:
            os.replace(staging / name, out_dir / name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _cast_copy(module: nn.Module, dtype: torch.dtype) -> nn.Module:
    return copy.deepcopy(module).to(dtype)


def load_checkpoint(path: str | os.PathLike) -> MultiTaskModel:
    """Encoder and every head of a checkpoint folder written by `save_checkpoint`."""
    path = Path(path)
    missing = [name for name in CHECKPOINT_FILES if not (path / name).exists()
               and not (name == SAFETENSORS_WEIGHTS[0] and (path / SAFETENSORS_WEIGHTS[1]).exists())]
    if missing:
        raise FileNotFoundError(f"checkpoint {path} is incomplete: missing {', '.join(missing)}")
    specs = read_json(path / "heads.json")
    task_types = {name: task_type(spec["type"])(spec["labels"]) for name, spec in specs.items()}
    check_safetensors_file(path / "heads.safetensors")  # before the encoder is built
    model = build_model(path, task_types)
    state = load_file(path / "heads.safetensors")
    for name, head in model.heads.items():
        prefix = f"{name}."
        head.load_state_dict({k[len(prefix):]: v.float() for k, v in state.items() if k.startswith(prefix)})
    model.encoder.float()
    return model


def load_for_inference(path: str | os.PathLike) -> MultiTaskModel:
    """A checkpoint, or a pretrained model folder with no heads (the `none` recipe)."""
    if (Path(path) / "heads.json").exists():
        return load_checkpoint(path)
    return MultiTaskModel(load_encoder(path), {}, {})


def check_fits(features: dict[str, list], config, what: str) -> None:
    """Fail before training or evaluating when features are longer than the model's positions."""
    limit = getattr(config, "max_position_embeddings", None)
    if limit is None:
        return
    offset = (config.pad_token_id + 1) if config.model_type in ("xlm-roberta", "roberta") else 0
    if not features["input_ids"]:
        raise ValueError(f"{what}: no features (the data file is empty)")
    longest = max(max(map(len, ids)) if ids and isinstance(ids[0], list) else len(ids) for ids in features["input_ids"])
    if longest + offset > limit:
        raise ValueError(f"{what}: features of length {longest} exceed the model's {limit - offset} positions; "
                         f"lower features.max_length in the config")
