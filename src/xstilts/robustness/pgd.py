"""Embedding-space PGD (Madry et al. 2018) against any task head: a perturbation `delta` of the
input token embeddings, grown by gradient ascent on the task's own loss (cross-entropy of the
label, of the tags, of the answer's start and end) and kept in an L2 or L-infinity ball of radius
`eps` around the clean embeddings.

The perturbation is added by a forward hook on the encoder's word-embedding module, so every task
type's own forward pass (multiple choice flattens its choices, span QA reads its windows) runs
unchanged, and the hook sees exactly the token rows the encoder embeds. Padding is never
perturbed. The ball, the step and the projection are per row (one sequence), so an example's
attack does not depend on which others share its batch; `eps` 0 leaves the clean outputs bit for
bit, after `steps` rounds of the loop all the same.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch

NORMS = ("l2", "linf")


@dataclass(frozen=True)
class PGD:
    eps: float  # radius of the ball (the budget)
    steps: int
    step_size: float
    norm: str = "l2"
    random_start: bool = False

    def __post_init__(self):
        if self.norm not in NORMS:
            raise ValueError(f"pgd: unknown norm {self.norm!r}; expected one of: {', '.join(NORMS)}")
        if self.eps < 0 or self.steps < 0 or self.step_size < 0:
            raise ValueError(f"pgd: eps, steps and step_size must be >= 0 (got {self.eps}, {self.steps}, "
                             f"{self.step_size})")


def attack_batch(model, head: str, task, batch: dict[str, torch.Tensor], pgd: PGD, *,
                 row_seeds: list[int] | None = None) -> tuple[torch.Tensor, dict]:
    """The task's outputs for `batch` under the attack, and what it took: each row's perturbation
    norm and the forward-and-backward passes run. `batch` must carry the gold targets (its loss).
    `row_seeds` (one per batch row) seed each row's random start, so that it does not depend on
    which rows share the batch or on their padding."""
    embedding = model.encoder.get_input_embeddings()
    pad_id = model.encoder.config.pad_token_id
    state = {"delta": None}
    was_training = model.training
    model.eval()
    try:
        with added_to(embedding, state, pad_id):
            ascend_steps(model, head, task, batch, state, pgd, row_seeds)
            with torch.no_grad():
                _, outputs = model(head, batch, task)
    finally:
        model.train(was_training)
    delta = state["delta"]
    norms = _row_norms(delta, pgd.norm) if delta is not None else torch.zeros(0)
    return outputs, {"norms": norms.tolist(), "passes": pgd.steps}


def ascend_steps(model, head: str, task, batch: dict[str, torch.Tensor], state: dict, pgd: PGD,
                 row_seeds: list[int] | None = None) -> None:
    """`pgd.steps` rounds of gradient ascent of the task's loss on state["delta"], inside `added_to`;
    only the perturbation gets a gradient, never the model's weights."""
    for _ in range(pgd.steps):
        loss = _loss(model, head, task, batch, state, pgd, row_seeds)
        (grad,) = torch.autograd.grad(loss, state["delta"])
        state["delta"] = project(ascend(state["delta"].detach(), grad, pgd), state["mask"], pgd)


def _loss(model, head, task, batch, state, pgd, row_seeds) -> torch.Tensor:
    with torch.enable_grad():
        if state["delta"] is None:
            state["start"] = (pgd, row_seeds)  # the hook makes delta at the first forward, in its shape
        else:
            state["delta"].requires_grad_(True)
        loss, _ = model(head, batch, task)
    if loss is None:
        raise ValueError("pgd: the batch has no gold targets, so the task has no loss to ascend")
    return loss


@contextmanager
def added_to(embedding: torch.nn.Module, state: dict, pad_id: int):
    """Add state["delta"] to the embedding module's output while inside (made at the first call: by
    state["make"](output, mask, input_ids) where given, else zero or PGD's random start)."""
    def hook(module, inputs, output):
        if state["delta"] is None:
            state["mask"] = (inputs[0] != pad_id).unsqueeze(-1).to(output.dtype)
            make = state.pop("make", None)
            if make is not None:
                state["delta"] = make(output, state["mask"], inputs[0])
            else:
                pgd, row_seeds = state.pop("start", (None, None))
                state["delta"] = _start(output, state["mask"], pgd, row_seeds).requires_grad_(True)
        if state["delta"].shape != output.shape:
            raise ValueError(f"pgd: the embedded rows changed shape within one batch ({tuple(output.shape)} "
                             f"against {tuple(state['delta'].shape)})")
        return output + state["delta"] * state["mask"]

    handle = embedding.register_forward_hook(hook)
    try:
        yield
    finally:
        handle.remove()


def _start(output: torch.Tensor, mask: torch.Tensor, pgd: PGD | None, row_seeds) -> torch.Tensor:
    """Zero, or a uniform draw in the cube of side 2 eps projected into the ball: drawn for each
    embedded row's real tokens from its own seed (a multiple-choice row embeds one sequence per
    choice: seeded by the row's seed and the choice's place)."""
    if pgd is None or not pgd.random_start or pgd.eps == 0:
        return torch.zeros_like(output).detach()
    rows, width = output.shape[0], output.shape[-1]
    seeds = list(row_seeds) if row_seeds is not None else [0]
    per_seed = max(rows // len(seeds), 1)
    noise = torch.zeros(output.shape, dtype=output.dtype)
    real = mask[..., 0].bool().cpu()
    for row in range(rows):
        own = torch.Generator().manual_seed(int(np.random.SeedSequence(
            [seeds[min(row // per_seed, len(seeds) - 1)], row % per_seed]).generate_state(1)[0]))
        noise[row, real[row]] = torch.rand((int(real[row].sum()), width), generator=own, dtype=output.dtype) * 2 - 1
    return project(noise.to(output.device) * pgd.eps, mask, pgd)


def ascend(delta: torch.Tensor, grad: torch.Tensor, pgd: PGD) -> torch.Tensor:
    if pgd.norm == "linf":
        return delta + pgd.step_size * grad.sign()
    return delta + pgd.step_size * grad / _row_norms(grad, "l2").clamp_min(1e-12).view(-1, 1, 1)


def project(delta: torch.Tensor, mask: torch.Tensor, pgd: PGD) -> torch.Tensor:
    delta = delta * mask
    if pgd.norm == "linf":
        return delta.clamp(-pgd.eps, pgd.eps)
    scale = (pgd.eps / _row_norms(delta, "l2").clamp_min(1e-12)).clamp(max=1.0)
    return delta * scale.view(-1, 1, 1)


def _row_norms(x: torch.Tensor, norm: str) -> torch.Tensor:
    flat = x.detach().reshape(x.shape[0], -1)
    return flat.abs().amax(dim=1) if norm == "linf" else flat.norm(dim=1)
