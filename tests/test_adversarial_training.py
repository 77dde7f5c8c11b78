"""Adversarial training (xstilts.robust_training.adversarial): at radius 0 it is plain training bit for
bit, its ascent raises the loss (R3F: its term adds weight times the gradient of a symmetric KL), and
its gradient is the same whether a batch is one micro-batch, two accumulated, or split between two
data-parallel ranks (gloo).

The functions named `*_on_rank` run inside data-parallel workers, which import this module by name."""

from __future__ import annotations

from contextlib import nullcontext

import pytest
import torch

from xstilts.config import TRAINING_DEFAULTS
from xstilts.features import load_tokenizer
from xstilts.inference import rows_of
from xstilts.modeling import build_model
from xstilts.robust_training.adversarial import AdversarialTraining, symmetric_kl
from xstilts.runtime import launch_data_parallel
from xstilts.tasks import task_type
from xstilts.training import Trainer, TrainTask

from helpers import tiny_pretrained, toy_examples

LABELS = ["no", "yes"]
PGD = {"method": "pgd", "eps": 0.5, "steps": 2, "step_size": 0.3}
FREELB = {"method": "freelb", "eps": 0.5, "steps": 2, "step_size": 0.3}
R3F = {"method": "r3f", "eps": 0.5, "weight": 1.0}


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    pretrained = tiny_pretrained(tmp_path_factory.mktemp("tiny"))
    tokenizer = load_tokenizer(pretrained)
    kind = task_type("classification")(LABELS)
    dev = toy_examples(32, 1)
    return {"pretrained": pretrained, "pad_id": tokenizer.pad_token_id, "kind": kind,
            "train": kind.featurize(toy_examples(64, 0), tokenizer, {"max_length": 32}),
            "dev_features": kind.featurize(dev, tokenizer, {"max_length": 32}), "dev": dev}


def trained_weights(toy, tmp_path, adversarial) -> dict[str, torch.Tensor]:
    hp = {**TRAINING_DEFAULTS, "lr": 3e-3, "batch_size": 8, "grad_accum": 2, "epochs": 2, "eval_every": 4,
          "save_every": 100, "log_every": 2, "patience": 100,
          **({"adversarial": adversarial} if adversarial else {})}
    torch.manual_seed(0)
    model = build_model(toy["pretrained"], {"toy": toy["kind"]})
    task = TrainTask("toy", toy["kind"], toy["train"], toy["dev_features"], toy["dev"], metric="accuracy")
    Trainer(model, [task], hp, seed=3, device=torch.device("cpu"), pad_id=toy["pad_id"],
            state_dir=tmp_path / "state", progress=False).run()
    return {name: value.clone() for name, value in model.state_dict().items()}


@pytest.fixture(scope="module")
def plain_weights(toy, tmp_path_factory):
    return trained_weights(toy, tmp_path_factory.mktemp("plain"), None)


def differing(first: dict, second: dict) -> list[str]:
    return [name for name, value in first.items() if not torch.equal(value, second[name])]


@pytest.mark.parametrize("spec", [{**PGD, "eps": 0.0}, {**FREELB, "steps": 1}, {**R3F, "eps": 0.0}],
                         ids=["pgd-radius-0", "freelb-one-pass", "r3f-radius-0"])
def test_without_a_perturbation_it_is_plain_training_bit_for_bit(toy, plain_weights, tmp_path, spec):
    assert not differing(trained_weights(toy, tmp_path, spec), plain_weights)


@pytest.mark.parametrize("spec", [PGD, FREELB, R3F], ids=["pgd", "freelb", "r3f"])
def test_with_a_radius_it_trains_other_weights(toy, plain_weights, tmp_path, spec):
    assert differing(trained_weights(toy, tmp_path, spec), plain_weights)


# ---- one micro-batch's gradient, dropout off ------------------------------------------------
def toy_model(toy):
    torch.manual_seed(0)
    return build_model(toy["pretrained"], {"toy": toy["kind"]}).eval()  # no dropout: passes compare


def batch_of(toy, rows: slice) -> dict[str, torch.Tensor]:
    return toy["kind"].collate(rows_of(toy["train"])[rows], toy["pad_id"])


def gradients(model, spec: dict, batches: list[dict], *, forward=None, sync=None) -> dict[str, torch.Tensor]:
    """The weights' gradient after `spec`'s micro_batch on each of `batches` (accumulated)."""
    adversarial = AdversarialTraining.from_config(spec)
    model.zero_grad(set_to_none=True)
    for batch in batches:
        adversarial.micro_batch(forward or model, model, "toy", batch, accum=len(batches),
                                sync=sync or (lambda last: nullcontext()), autocast=nullcontext)
    return {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}


def close(first: dict, second: dict) -> bool:
    return first.keys() == second.keys() and all(torch.allclose(first[k], second[k], rtol=1e-4, atol=1e-6)
                                                  for k in first)


@pytest.mark.parametrize("spec", [PGD, FREELB], ids=["pgd", "freelb"])
def test_the_ascent_raises_the_loss(toy, spec):
    model = toy_model(toy)
    losses = []

    def recording(head, batch):
        loss, outputs = model(head, batch)
        losses.append(loss.item())
        return loss, outputs

    clean, _ = model("toy", batch_of(toy, slice(0, 16)))
    gradients(model, {**spec, "steps": 3}, [batch_of(toy, slice(0, 16))], forward=recording)
    # pgd: the training pass, after the ascent; freelb: every pass, the first one clean.
    assert losses[0] > clean.item() if spec["method"] == "pgd" else losses[0] == pytest.approx(clean.item())
    assert all(later > earlier for earlier, later in zip(losses, losses[1:])), losses


@pytest.mark.parametrize("spec", [PGD, FREELB, R3F], ids=["pgd", "freelb", "r3f"])
def test_two_accumulated_halves_give_the_whole_batchs_gradient(toy, spec):
    model = toy_model(toy)
    whole = gradients(model, spec, [batch_of(toy, slice(0, 16))])
    halves = gradients(model, spec, [batch_of(toy, slice(0, 8)), batch_of(toy, slice(8, 16))])
    assert close(whole, halves)
    assert not close(whole, gradients(model, {**spec, "eps": 0.0}, [batch_of(toy, slice(0, 16))])), \
        "the perturbation changes the gradient, so the comparison can fail"


def half_gradient_on_rank(device, *, toy, spec):
    from torch.nn.parallel import DistributedDataParallel

    rank = torch.distributed.get_rank()
    model = toy_model(toy)
    wrapped = DistributedDataParallel(model)
    return gradients(model, spec, [batch_of(toy, slice(8 * rank, 8 * rank + 8))], forward=wrapped,
                     sync=lambda last: nullcontext() if last else wrapped.no_sync())


@pytest.mark.parametrize("spec", [PGD, FREELB, R3F], ids=["pgd", "freelb", "r3f"])
def test_two_data_parallel_ranks_give_one_process_gradient(toy, spec, monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    ranks = launch_data_parallel(half_gradient_on_rank, {"toy": toy, "spec": spec}, 2)
    whole = gradients(toy_model(toy), spec, [batch_of(toy, slice(0, 16))])
    assert close(ranks[0], ranks[1]) and close(ranks[0], whole)


def test_a_bad_setting_is_named():
    with pytest.raises(ValueError, match=r"training.adversarial: method 'fgsm' is not one of pgd, freelb, r3f"):
        AdversarialTraining.from_config({"method": "fgsm", "eps": 0.1})
    with pytest.raises(ValueError, match=r"noise 'laplace' is not one of normal, uniform; weight must be >= 0"):
        AdversarialTraining.from_config({**R3F, "noise": "laplace", "weight": -1})


def test_freelb_averages_its_passes(toy):
    """Without dropout and at radius 0 every pass is the clean one, so their mean is the plain gradient."""
    model = toy_model(toy)
    batch = batch_of(toy, slice(0, 16))
    plain = gradients(model, {**PGD, "eps": 0.0}, [batch])
    assert close(gradients(model, {**FREELB, "eps": 0.0, "steps": 3}, [batch]), plain)


# ---- R3F ------------------------------------------------------------------------------------
def test_r3f_adds_weight_times_the_gradient_of_a_symmetric_kl(toy):
    """Without dropout the two passes differ by the noise alone: the gradient is the clean loss's
    plus `weight` times that of the KL term, which the noise makes nonzero."""
    model = toy_model(toy)
    batch = [batch_of(toy, slice(0, 16))]
    plain = gradients(model, {**R3F, "eps": 0.0}, batch)
    once, twice = (gradients(model, {**R3F, "weight": w}, batch) for w in (1.0, 2.0))
    term = {k: once[k] - plain[k] for k in plain}
    assert any(value.abs().max() > 1e-6 for value in term.values())
    assert close({k: twice[k] - plain[k] for k in plain}, {k: 2 * v for k, v in term.items()})


def test_the_symmetric_kl_is_both_divergences_summed():
    p, q = torch.log_softmax(torch.randn(5, 3), -1), torch.log_softmax(torch.randn(5, 3), -1)
    both = (torch.nn.functional.kl_div(q, p, log_target=True, reduction="batchmean")
            + torch.nn.functional.kl_div(p, q, log_target=True, reduction="batchmean"))
    assert symmetric_kl(p, q).item() == pytest.approx(both.item(), rel=1e-5)
    assert symmetric_kl(p, p).item() == 0.0


def test_r3f_noise_of_a_row_depends_on_its_tokens_not_on_its_batch(toy):
    r3f = AdversarialTraining.from_config(R3F)
    ids = batch_of(toy, slice(0, 4))["input_ids"]
    mask = (ids != toy["pad_id"]).unsqueeze(-1).float()
    together = r3f.noise_for(torch.zeros(*ids.shape, 8), mask, ids, (3, 7))
    alone = r3f.noise_for(torch.zeros(1, *ids.shape[1:], 8), mask[2:3], ids[2:3], (3, 7))
    assert torch.equal(together[2], alone[0]) and not torch.equal(together[1], together[2])
    assert not torch.equal(together, r3f.noise_for(torch.zeros(*ids.shape, 8), mask, ids, (3, 8)))  # next step
    assert torch.all(together[~mask[..., 0].bool()] == 0)  # padding never noised
    assert together[mask[..., 0].bool()].std().item() == pytest.approx(0.5, rel=0.1)  # eps: the normal's scale
