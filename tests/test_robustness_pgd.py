"""Embedding-space PGD on a tiny random XLM-R with fresh heads: the clean outputs at eps 0 with the
loop run, a loss that grows with the radius for every task type with a head, the ball kept, and an
attack that does not depend on the rest of its batch."""

from __future__ import annotations

import pytest
import torch

from helpers import tiny_pretrained
from xstilts import synthetic
from xstilts.features import load_tokenizer
from xstilts.inference import rows_of
from xstilts.modeling import build_model
from xstilts.robustness.pgd import PGD, attack_batch
from xstilts.tasks import task_type

TYPES = {"classification": ("nli", ["entailment", "neutral", "contradiction"], {"max_length": 64}),
         "multiple_choice": ("multiple_choice", None, {"max_length": 96}),
         "tagging": ("pos", synthetic.UPOS, {"max_length": 48}),
         "span_qa": ("span_qa", None, {"max_length": 96, "stride": 32})}


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory):
    return tiny_pretrained(tmp_path_factory.mktemp("tiny"))


def setup(pretrained, type_name: str, n: int = 6):
    kind, labels, settings = TYPES[type_name]
    task = task_type(type_name)(labels)
    torch.manual_seed(0)
    model = build_model(pretrained, {"t": task})
    options = {"context_sentences": 2} if kind == "span_qa" else {}
    examples = synthetic.generate(kind, split="test", lang="en", n=n, seed=7, stream="pgd", **options)
    rows = rows_of(task.featurize(examples, load_tokenizer(pretrained), settings))
    return model, task, rows


def batch_of(task, rows, pad_id):
    return task.collate(rows, pad_id)


def loss_under(model, task, batch, pgd):
    outputs, info = attack_batch(model, "t", task, batch, pgd)
    model.eval()
    with torch.no_grad():
        clean_loss, _ = model("t", batch, task)
    return outputs, info, clean_loss


def test_eps_zero_gives_the_clean_outputs_bit_for_bit_with_the_loop_run(pretrained):
    model, task, rows = setup(pretrained, "classification")
    batch = batch_of(task, rows, model.encoder.config.pad_token_id)
    model.eval()
    with torch.no_grad():
        _, clean = model("t", batch, task)
    attacked, info = attack_batch(model, "t", task, batch, PGD(eps=0.0, steps=3, step_size=0.5))
    assert torch.equal(attacked, clean) and info["passes"] == 3 and max(info["norms"]) == 0.0


@pytest.mark.parametrize("type_name", list(TYPES))
def test_the_task_loss_rises_under_attack_and_more_in_a_larger_ball(pretrained, type_name):
    model, task, rows = setup(pretrained, type_name)
    batch = batch_of(task, rows, model.encoder.config.pad_token_id)
    losses = []
    for eps in (0.0, 0.5, 1.0, 2.0):
        pgd = PGD(eps=eps, steps=5, step_size=eps / 2)
        with _hooked_loss(model) as read:
            attack_batch(model, "t", task, batch, pgd)
            losses.append(read())
    # Above the clean loss at every radius, and higher in the largest ball than in the smallest (a
    # fixed number of steps need not be monotone in between once the loss saturates).
    assert losses[0] < min(losses[1:]) and losses[-1] > losses[1], losses


class _hooked_loss:
    """The loss of the attack's last forward pass (the adversarial point), read through the model."""

    def __init__(self, model):
        self.model, self.last = model, None

    def __enter__(self):
        original = self.model.forward

        def forward(head, batch, task=None):
            loss, outputs = original(head, batch, task)
            self.last = float(loss.detach()) if loss is not None else self.last
            return loss, outputs

        self.original, self.model.forward = original, forward
        return lambda: self.last

    def __exit__(self, *exc):
        self.model.forward = self.original


@pytest.mark.parametrize("norm", ["l2", "linf"])
def test_the_perturbation_stays_in_its_ball(pretrained, norm):
    model, task, rows = setup(pretrained, "classification")
    batch = batch_of(task, rows, model.encoder.config.pad_token_id)
    _, info = attack_batch(model, "t", task, batch, PGD(eps=0.3, steps=4, step_size=0.2, norm=norm, random_start=True),
                           row_seeds=list(range(len(rows))))
    assert all(0 < norm_ <= 0.3 + 1e-5 for norm_ in info["norms"])


@pytest.mark.parametrize("random_start", [False, True])
def test_an_example_is_attacked_alike_alone_and_in_a_batch(pretrained, random_start):
    model, task, rows = setup(pretrained, "classification")
    pad_id = model.encoder.config.pad_token_id
    pgd = PGD(eps=1.0, steps=4, step_size=0.5, random_start=random_start)
    seeds = [10 + i for i in range(len(rows))]
    together, _ = attack_batch(model, "t", task, batch_of(task, rows, pad_id), pgd, row_seeds=seeds)
    for i, row in enumerate(rows):
        alone, _ = attack_batch(model, "t", task, batch_of(task, [row], pad_id), pgd, row_seeds=[seeds[i]])
        assert torch.allclose(alone[0], together[i], atol=1e-4), i


def test_a_batch_without_gold_targets_is_refused(pretrained):
    model, task, rows = setup(pretrained, "classification")
    batch = batch_of(task, rows, model.encoder.config.pad_token_id)
    batch.pop("labels")
    with pytest.raises(ValueError, match="no gold targets"):
        attack_batch(model, "t", task, batch, PGD(eps=1.0, steps=1, step_size=0.5))
