"""A recipe's training data drawn afresh each epoch (recipes.<r>.augment with `draws`, CoSDA-ML's dynamic
code-switching): each draw is its own, the same for the same seed; epoch e trains on draw e mod N; a run
killed in a later epoch resumes to the same weights bit for bit."""

from __future__ import annotations

import pytest
import torch

from xstilts.config import TRAINING_DEFAULTS
from xstilts.features import load_tokenizer
from xstilts.io import read_jsonl, write_jsonl
from xstilts.modeling import build_model
from xstilts.robustness.perturbed_sets import perturb_file
from xstilts.tasks import task_type
from xstilts.training import Trainer, TrainTask

from helpers import tiny_pretrained, toy_examples

LABELS = ["no", "yes"]


def drawn(tmp_path, examples, draw, name) -> list[dict]:
    (tmp_path / "clean.jsonl").exists() or write_jsonl(tmp_path / "clean.jsonl", examples)
    perturb_file(examples_path=tmp_path / "clean.jsonl", out=tmp_path / f"{name}.jsonl",
                 summary_out=tmp_path / f"{name}.summary.json", key="toy/train/en", lang="en", kind="word_noise",
                 rate=0.3, seed=0, task_type="classification", draw=draw)
    return read_jsonl(tmp_path / f"{name}.jsonl")


def test_each_draw_is_its_own_and_the_same_for_the_same_seed(tmp_path):
    examples = toy_examples(64, 0)
    first, second, again = (drawn(tmp_path, examples, draw, name)
                            for draw, name in ((None, "first"), (2, "second"), (2, "again")))
    assert second == again
    assert [row["id"] for row in first] == [row["id"] for row in second] == [row["id"] for row in examples]
    assert sum(a["text_a"] != b["text_a"] for a, b in zip(first, second)) > len(examples) / 4


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    folder = tmp_path_factory.mktemp("draws")
    pretrained = tiny_pretrained(folder / "model")
    tokenizer = load_tokenizer(pretrained)
    kind = task_type("classification")(LABELS)
    examples = toy_examples(96, 0)
    first, second = drawn(folder, examples, None, "first"), drawn(folder, examples, 2, "second")
    features = [kind.featurize(rows, tokenizer, {"max_length": 32}) for rows in (first, second)]
    dev = toy_examples(32, 1)
    return {"pretrained": pretrained, "pad_id": tokenizer.pad_token_id, "kind": kind, "draws": features,
            "dev": dev, "dev_features": kind.featurize(dev, tokenizer, {"max_length": 32})}


def trainer_for(toy, state_dir):
    hp = {**TRAINING_DEFAULTS, "lr": 3e-3, "batch_size": 16, "grad_accum": 1, "epochs": 3, "eval_every": 4,
          "save_every": 2, "log_every": 2, "patience": 100}
    torch.manual_seed(0)
    model = build_model(toy["pretrained"], {"toy": toy["kind"]})
    first, *later = toy["draws"]
    task = TrainTask("toy", toy["kind"], first, toy["dev_features"], toy["dev"], metric="accuracy", draws=later)
    return model, Trainer(model, [task], hp, seed=3, device=torch.device("cpu"), pad_id=toy["pad_id"],
                          state_dir=state_dir, progress=False)


def test_each_epoch_trains_on_its_draw_in_turn(toy, tmp_path):
    _, trainer = trainer_for(toy, tmp_path / "state")
    seen = {}
    collated = trainer.rows

    def recording(task_index, epoch):
        rows = collated(task_index, epoch)
        seen.setdefault(epoch, rows[0]["input_ids"])
        return rows

    trainer.rows = recording
    trainer.run()
    first, second = (features["input_ids"][0] for features in toy["draws"])
    assert first != second, "the draws differ in their first row"
    assert seen == {0: first, 1: second, 2: first}


def test_a_run_killed_in_a_later_draw_resumes_bit_for_bit(toy, tmp_path, monkeypatch):
    reference, trainer = trainer_for(toy, tmp_path / "ref")
    trainer.run()
    original = Trainer.evaluate_and_select

    def killed_in_the_second_epoch(self, s):
        if s["epoch"] >= 1 and s["step"] >= 10:
            raise KeyboardInterrupt("simulated kill")
        return original(self, s)

    _, trainer = trainer_for(toy, tmp_path / "resume")
    monkeypatch.setattr(Trainer, "evaluate_and_select", killed_in_the_second_epoch)
    with pytest.raises(KeyboardInterrupt):
        trainer.run()
    monkeypatch.setattr(Trainer, "evaluate_and_select", original)
    saved = torch.load(tmp_path / "resume/state.pt", weights_only=False)
    assert saved["epoch"] == 1, "the kill came in the second draw's epoch"
    resumed, trainer = trainer_for(toy, tmp_path / "resume")
    summary = trainer.run()
    assert [line["resumed_at_step"] for line in summary["log"] if "resumed_at_step" in line] == [10]
    assert all(torch.equal(a, b) for a, b in zip(reference.state_dict().values(), resumed.state_dict().values()))
