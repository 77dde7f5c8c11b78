"""Sharded data-parallel training with PyTorch FSDP (`fully_shard`, FSDP2): each rank keeps 1/N of
the weights, gradients and AdamW's moments, and gathers one layer's weights at a time for its forward
and backward.

The encoder's transformer layers (the children of its layer stack) are each a unit of their own, so a
layer's weights are gathered just before it runs and freed after; the rest (embeddings, the task heads,
an MLM head tied to the embeddings) is the root unit. A head unused in a step stays out of its
gradients as in unsharded training (tests/test_sharding.py compares with one process).

The resumable state is saved sharded with torch.distributed.checkpoint: every rank writes its own
shard, so no rank ever holds the whole model's optimizer state."""

from __future__ import annotations

import shutil
from contextlib import contextmanager
from pathlib import Path

import torch
from torch import nn

SHARDED_STATE_PREFIX = "shards-step"  # one folder of every rank's shards per saved step


def layer_stack(encoder: nn.Module) -> nn.ModuleList:
    """The encoder's stack of transformer layers: its ModuleList (BERT, XLM-R and XLM-R XL keep
    them in `encoder.layer`)."""
    stacks = [module for module in encoder.modules() if isinstance(module, nn.ModuleList) and len(module)]
    if not stacks:
        raise ValueError(f"{type(encoder).__name__} has no stack of layers (nn.ModuleList) to shard layer by layer")
    return max(stacks, key=len)


def shard(model: nn.Module, *, bf16: bool) -> nn.Module:
    """Shard `model` in place over the default process group, layer by layer, then the root. Under
    bf16 the gathered weights are bfloat16 and the gradients are reduced in float32."""
    from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard

    policy = (MixedPrecisionPolicy(param_dtype=torch.bfloat16, reduce_dtype=torch.float32) if bf16
              else MixedPrecisionPolicy())
    for layer in layer_stack(model.encoder):
        fully_shard(layer, mp_policy=policy)
    fully_shard(model, mp_policy=policy)
    return model


@contextmanager
def gradient_sync(model: nn.Module, syncs: bool):
    """On an accumulation micro-step (`syncs` false), gradients stay local and unreduced; they are
    reduce-scattered once, in the backward of the step's last micro-batch."""
    if syncs:
        yield
        return
    model.set_requires_gradient_sync(False)
    try:
        yield
    finally:
        model.set_requires_gradient_sync(True)


def save_state(model: nn.Module, optimizer: torch.optim.Optimizer, best: dict | None, folder: Path) -> None:
    """Every rank writes its shard of the weights, the optimizer's state and the best weights so far
    into `folder` (a collective)."""
    import torch.distributed.checkpoint as dcp
    from torch.distributed.checkpoint.state_dict import get_state_dict

    weights, optimizer_state = get_state_dict(model, optimizer)
    dcp.save({"model": weights, "optimizer": optimizer_state, **({"best": best} if best else {})},
             checkpoint_id=str(folder))


def load_state(model: nn.Module, optimizer: torch.optim.Optimizer, folder: Path, *, has_best: bool) -> dict | None:
    """Read a folder written by save_state into the sharded model and optimizer (a collective); the
    best weights' shards, when it holds them."""
    import torch.distributed.checkpoint as dcp
    from torch.distributed.checkpoint.state_dict import get_state_dict, set_state_dict

    weights, optimizer_state = get_state_dict(model, optimizer)
    state = {"model": weights, "optimizer": optimizer_state}
    if has_best:
        state["best"] = best_copy(model)
    dcp.load(state, checkpoint_id=str(folder))
    set_state_dict(model, optimizer, model_state_dict=state["model"], optim_state_dict=state["optimizer"])
    return state.get("best")


def best_copy(model: nn.Module) -> dict:
    """This rank's shard of the current weights, copied: what selection keeps of the best step."""
    return {key: value.detach().clone() for key, value in model.state_dict().items()}


def full_weights(model: nn.Module) -> dict | None:
    """The whole model's weights on the CPU of rank 0 (a collective; None on the other ranks)."""
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

    weights = get_model_state_dict(model, options=StateDictOptions(full_state_dict=True, cpu_offload=True))
    return weights if torch.distributed.get_rank() == 0 else None


def saved_folders(state_dir: Path) -> list[Path]:
    return sorted(state_dir.glob(f"{SHARDED_STATE_PREFIX}*"))


def remove_other_folders(state_dir: Path, keep: Path | None) -> None:
    """Shard folders of earlier saves, and of a save cut short (no state.pt names them)."""
    for folder in saved_folders(state_dir):
        if folder != keep:
            shutil.rmtree(folder, ignore_errors=True)
