"""A compiled training step (training.compile) meets a handful of shapes: batches are padded to length
buckets, which bound the graphs torch.compile makes (counted with a backend that records them), and the
padding changes no loss."""

from __future__ import annotations

import functools
import random

import pytest
import torch

from xstilts.config import TRAINING_DEFAULTS
from xstilts.features import load_tokenizer
from xstilts.modeling import build_model
from xstilts.tasks import task_type
from xstilts.tasks.tensors import IGNORE_INDEX, pad_to_length
from xstilts.training import Trainer, TrainTask, length_bucket

from helpers import tiny_pretrained

LABELS = ["no", "yes"]


def test_buckets_are_few_and_pad_at_most_half_again():
    buckets = sorted({length_bucket(n, 512) for n in range(1, 513)})
    assert buckets == [16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512]
    assert all(length_bucket(n, 512) <= max(16, n * 1.5) for n in range(1, 513))
    assert length_bucket(100, 110) == 110, "never past the task's longest row"


def test_padding_keeps_real_tokens_and_marks_the_rest():
    batch = {"input_ids": torch.tensor([[0, 5, 2], [0, 2, 1]]), "attention_mask": torch.tensor([[1, 1, 1], [1, 1, 0]]),
             "labels": torch.tensor([[IGNORE_INDEX, 3, IGNORE_INDEX], [IGNORE_INDEX, 4, IGNORE_INDEX]]),
             "start_positions": torch.tensor([1, 1])}
    padded = pad_to_length(batch, 5, pad_id=1)
    assert padded["input_ids"].tolist() == [[0, 5, 2, 1, 1], [0, 2, 1, 1, 1]]
    assert padded["attention_mask"].tolist() == [[1, 1, 1, 0, 0], [1, 1, 0, 0, 0]]
    assert padded["labels"][:, 3:].eq(IGNORE_INDEX).all() and torch.equal(padded["start_positions"], batch["start_positions"])
    with pytest.raises(ValueError, match="per-token tensor 'offsets' has no padding value"):
        pad_to_length({**batch, "offsets": torch.zeros(2, 3, dtype=torch.long)}, 5, pad_id=1)


@pytest.fixture(scope="module")
def varied(tmp_path_factory):
    """A classification task whose 48 rows have 48 different lengths (5 to 52 tokens)."""
    pretrained = tiny_pretrained(tmp_path_factory.mktemp("tiny"))
    pad_id = load_tokenizer(pretrained).pad_token_id
    rng = random.Random(0)
    ids = [[0] + [rng.randrange(5, 100) for _ in range(5 + i - 2)] + [2] for i in range(48)]
    return pretrained, pad_id, {"input_ids": ids, "label": [i % 2 for i in range(48)]}


def train_compiled(varied, tmp_path, monkeypatch, *, buckets: bool) -> tuple[list, dict]:
    """An epoch with compile on, torch.compile given a backend that records each graph's input shapes."""
    pretrained, pad_id, features = varied
    graphs = []

    def recording_backend(graph, example_inputs):
        graphs.append(tuple(tuple(node.meta["example_value"].shape) for node in graph.graph.nodes
                            if node.op == "placeholder" and "input_ids" in node.name))
        return graph.forward

    torch._dynamo.reset()
    monkeypatch.setattr(torch, "compile", functools.partial(torch.compile, backend=recording_backend))
    if not buckets:
        monkeypatch.setattr("xstilts.training.length_bucket", lambda length, longest: length)
    kind = task_type("classification")(LABELS)
    torch.manual_seed(0)
    model = build_model(pretrained, {"toy": kind})
    hp = {**TRAINING_DEFAULTS, "batch_size": 8, "grad_accum": 1, "epochs": 1, "eval_every": 10 ** 6, "log_every": 4,
          "save_every": 10 ** 6, "compile": True}
    summary = Trainer(model, [TrainTask("toy", kind, features)], hp, seed=1, device=torch.device("cpu"), pad_id=pad_id,
                      state_dir=tmp_path / "state", progress=False).run()
    return graphs, summary


def test_length_buckets_bound_the_compiled_graphs(varied, tmp_path, monkeypatch):
    graphs, summary = train_compiled(varied, tmp_path, monkeypatch, buckets=True)
    lengths = {shape[-1] for graph in graphs for shape in graph}
    assert all(graphs), "each graph takes the batch's input_ids"
    assert lengths <= {16, 24, 32, 48, 52}, lengths  # 64 capped at the longest row, 52 tokens
    assert 1 <= len(graphs) <= 5, f"{len(graphs)} graphs: one per bucket the batches reach"
    assert summary["steps"] == 6
    unbucketed, _ = train_compiled(varied, tmp_path / "plain", monkeypatch, buckets=False)
    assert len(unbucketed) > len(graphs), "without buckets, a graph per batch length"
