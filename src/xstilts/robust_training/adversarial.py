"""Embedding-space adversarial training, an option of any training stage (`training.adversarial`).

- `pgd` (Madry et al. 2018): `steps` rounds of gradient ascent of the task's loss on a perturbation
  of the input token embeddings, kept in an L2 or L-infinity ball of radius `eps`, then the training
  pass on the perturbed embeddings; the weights learn from the adversarial loss alone. The ascent
  runs on the model in eval mode: the adversary sees the network without dropout, and the training
  pass draws the dropout masks that plain training would draw, so that `eps` 0 is plain training bit
  for bit.
- `freelb` (Zhu et al. 2020): `steps` forward-backward passes in train mode, the perturbation grown
  by ascent between them, the weights' gradients averaged over all of them (each pass's loss
  divided by `steps`): K passes buy the adversarial gradient and K-1 extra clean-ish ones. The
  perturbation starts at zero, so the first pass is the clean loss; one step at any radius is
  plain training.
- `r3f` (Aghajanyan et al. 2021): the clean loss plus `weight` times the symmetric KL divergence
  between the task's output distributions on the clean input and on the input embeddings with
  random noise of scale `eps` (normal, or uniform in [-eps, eps]): one more forward pass, one
  backward pass. The noise of a row is drawn from the stage's seed, the optimizer step and the
  row's token ids, so it does not depend on which rows share a micro-batch or a rank. A task whose
  outputs are no distributions (the masked LM) trains plainly within an R3F stage. Radius or
  weight 0 is plain training.

The perturbation is made and added as the attacks' is (xstilts.robustness.pgd: a forward hook on
the word embeddings, per row, padding never perturbed), so it works for every task type, with
gradient accumulation, bf16 autocast, several tasks and data-parallel ranks: only the last backward
pass of an optimizer step's last micro-batch synchronises the ranks' gradients.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Callable

import zlib

import numpy as np
import torch

from ..robustness.pgd import PGD, NORMS, added_to, ascend, ascend_steps, project

METHODS = ("pgd", "freelb", "r3f")
NOISES = ("normal", "uniform")


@dataclass(frozen=True)
class AdversarialTraining:
    method: str
    eps: float
    steps: int
    step_size: float
    norm: str = "l2"
    weight: float = 1.0  # r3f: the symmetric KL term's weight
    noise: str = "normal"  # r3f: the noise's distribution

    @classmethod
    def from_config(cls, spec: dict | None) -> "AdversarialTraining | None":
        """The setting of a stage's `training.adversarial` (None: plain training)."""
        if not spec:
            return None
        steps = int(spec.get("steps", 3))
        return cls(method=spec["method"], eps=float(spec["eps"]), steps=steps,
                   step_size=float(spec.get("step_size", float(spec["eps"]) / max(steps, 1))),
                   norm=spec.get("norm", "l2"), weight=float(spec.get("weight", 1.0)),
                   noise=spec.get("noise", "normal"))

    def __post_init__(self):
        problems = []
        if self.method not in METHODS:
            problems.append(f"method {self.method!r} is not one of {', '.join(METHODS)}")
        if self.norm not in NORMS:
            problems.append(f"norm {self.norm!r} is not one of {', '.join(NORMS)}")
        if self.noise not in NOISES:
            problems.append(f"noise {self.noise!r} is not one of {', '.join(NOISES)}")
        if self.weight < 0:
            problems.append(f"weight must be >= 0 (got {self.weight})")
        if self.eps < 0 or self.step_size < 0:
            problems.append(f"eps and step_size must be >= 0 (got {self.eps}, {self.step_size})")
        if self.steps < 1:
            problems.append(f"steps must be >= 1 (got {self.steps})")
        if problems:
            raise ValueError("training.adversarial: " + "; ".join(problems))

    @property
    def ball(self) -> PGD:
        return PGD(eps=self.eps, steps=self.steps, step_size=self.step_size, norm=self.norm)

    def micro_batch(self, forward: Callable, model: torch.nn.Module, head: str, batch: dict[str, torch.Tensor], *,
                    accum: int, sync: Callable[[bool], AbstractContextManager],
                    autocast: Callable[[], AbstractContextManager], draw: tuple[int, ...] = (0,)) -> torch.Tensor:
        """Forward and backward passes of one micro-batch, adding its share (1/accum) of the gradient to
        the weights; the loss to log. `forward(head, batch)` is the training call (DDP-wrapped, compiled
        or the model itself); `model` the bare model, for the adversary's ascent; `sync(last)` the
        gradient synchronisation of a backward pass (`last`: the micro-batch's last); `draw` (the
        stage's seed and the optimizer step) seeds r3f's noise."""
        if self.method == "r3f":
            return self._r3f(forward, model, head, batch, accum, sync, autocast, draw)
        embedding = model.encoder.get_input_embeddings()
        state = {"delta": None}
        with added_to(embedding, state, model.encoder.config.pad_token_id):
            if self.method == "pgd":
                return self._pgd(forward, model, head, batch, state, accum, sync, autocast)
            return self._freelb(forward, head, batch, state, accum, sync, autocast)

    def _pgd(self, forward, model, head, batch, state, accum, sync, autocast) -> torch.Tensor:
        was_training = model.training
        model.eval()
        try:
            with autocast():
                ascend_steps(model, head, None, batch, state, self.ball)
        finally:
            model.train(was_training)
        state["delta"] = state["delta"].detach()
        with sync(True):
            with autocast():
                loss, _ = forward(head, batch)
            (loss / accum).backward()
        return loss.detach()

    def _freelb(self, forward, head, batch, state, accum, sync, autocast) -> torch.Tensor:
        total = None
        for step in range(self.steps):
            last = step == self.steps - 1
            if state["delta"] is not None:
                state["delta"].requires_grad_(True)
            with sync(last):
                with autocast():
                    loss, _ = forward(head, batch)
                (loss / (accum * self.steps)).backward()
            total = loss.detach() if total is None else total + loss.detach()
            if not last:
                grad = state["delta"].grad
                state["delta"] = project(ascend(state["delta"].detach(), grad, self.ball), state["mask"], self.ball)
        return total / self.steps

    def _r3f(self, forward, model, head, batch, accum, sync, autocast, draw) -> torch.Tensor:
        task = model.task_types[head]
        with sync(True):
            with autocast():
                loss, outputs = forward(head, batch)
            clean = task.output_log_probs(outputs, batch)
            total = loss
            if clean is not None and self.eps > 0 and self.weight > 0:
                state = {"delta": None, "make": lambda output, mask, ids: self.noise_for(output, mask, ids, draw)}
                with added_to(model.encoder.get_input_embeddings(), state, model.encoder.config.pad_token_id):
                    with autocast():
                        _, noisy = forward(head, batch)
                total = loss + self.weight * symmetric_kl(clean, task.output_log_probs(noisy, batch))
            (total / accum).backward()
        return loss.detach()

    def noise_for(self, output: torch.Tensor, mask: torch.Tensor, input_ids: torch.Tensor,
                  draw: tuple[int, ...]) -> torch.Tensor:
        """R3F's noise on each embedded row's real tokens, from `draw` and the row's token ids."""
        noise = torch.zeros(output.shape, dtype=torch.float32)
        real = mask[..., 0].bool().cpu()
        for row, ids in enumerate(input_ids.cpu().numpy()):
            key = zlib.crc32(ids[real[row].numpy()].astype(np.int64).tobytes())
            own = torch.Generator().manual_seed(int(np.random.SeedSequence([*draw, key]).generate_state(1)[0]))
            shape = (int(real[row].sum()), output.shape[-1])
            drawn = (torch.randn(shape, generator=own) if self.noise == "normal"
                     else torch.rand(shape, generator=own) * 2 - 1)
            noise[row, real[row]] = drawn * self.eps
        return noise.to(device=output.device, dtype=output.dtype)


def symmetric_kl(first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
    """KL(p || q) + KL(q || p) of two sets of distributions given as log-probabilities (rows x
    outcomes), averaged over rows: sum over outcomes of (p - q)(log p - log q)."""
    return ((first.exp() - second.exp()) * (first - second)).sum(dim=-1).mean()
