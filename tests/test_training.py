"""The training loop: learning, determinism on CPU, resumption, early stopping, sampling."""

import random

import pytest
import torch

from xstilts.config import TRAINING_DEFAULTS
from xstilts.modeling import build_model
from xstilts.features import load_tokenizer
from xstilts.tasks import task_type
from xstilts.training import Trainer, TrainTask, epoch_schedule, length_grouped_batches

from helpers import tiny_pretrained, toy_examples

LABELS = ["no", "yes"]


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    pretrained = tiny_pretrained(tmp_path_factory.mktemp("tiny"))
    tokenizer = load_tokenizer(pretrained)
    kind = task_type("classification")(LABELS)
    train, dev = toy_examples(192, 0), toy_examples(64, 1)
    return pretrained, tokenizer, kind, kind.featurize(train, tokenizer, {"max_length": 32}), \
        kind.featurize(dev, tokenizer, {"max_length": 32}), dev


def run(setup, tmp_path, **overrides):
    pretrained, tokenizer, kind, train, dev_features, dev = setup
    hp = {**TRAINING_DEFAULTS, "lr": 3e-3, "batch_size": 16, "grad_accum": 1, "epochs": 4, "eval_every": 6,
          "save_every": 4, "log_every": 2, "patience": 100, **overrides}
    torch.manual_seed(0)
    model = build_model(pretrained, {"toy": kind})
    task = TrainTask("toy", kind, train, dev_features, dev, metric="accuracy")
    trainer = Trainer(model, [task], hp, seed=3, device=torch.device("cpu"), pad_id=tokenizer.pad_token_id,
                      state_dir=tmp_path / "state", progress=False)
    return model, trainer


def weights(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_learns_and_keeps_best_dev_checkpoint(setup, tmp_path):
    model, trainer = run(setup, tmp_path)
    summary = trainer.run()
    dev_lines = [line for line in summary["log"] if "dev_score" in line]
    assert summary["best_dev_score"] == max(line["dev_score"] for line in dev_lines)
    assert summary["best_dev_score"] >= 90.0, "a linearly separable toy task must be learned"
    assert any("loss" in line for line in summary["log"])
    assert trainer.dev_scores()["toy"] == pytest.approx(summary["best_dev_score"]), "best weights are restored"


def test_same_seed_gives_identical_weights(setup, tmp_path):
    first, trainer = run(setup, tmp_path / "a")
    trainer.run()
    second, trainer = run(setup, tmp_path / "b")
    trainer.run()
    for (name, a), b in zip(first.state_dict().items(), second.state_dict().values()):
        assert torch.equal(a, b), name


def test_resumes_from_saved_state_to_the_same_result(setup, tmp_path, monkeypatch):
    reference, trainer = run(setup, tmp_path / "ref")
    reference_summary = trainer.run()

    interrupted, trainer = run(setup, tmp_path / "resume")
    original = Trainer.evaluate_and_select

    def crash_after_state_saved(self, s):
        if s["step"] >= 12:
            raise KeyboardInterrupt("simulated kill")
        return original(self, s)

    monkeypatch.setattr(Trainer, "evaluate_and_select", crash_after_state_saved)
    with pytest.raises(KeyboardInterrupt):
        trainer.run()
    monkeypatch.setattr(Trainer, "evaluate_and_select", original)
    assert (tmp_path / "resume" / "state" / "state.pt").exists()

    resumed, trainer = run(setup, tmp_path / "resume")
    summary = trainer.run()
    assert summary["best_dev_score"] == reference_summary["best_dev_score"]
    for (name, a), b in zip(reference.state_dict().items(), resumed.state_dict().values()):
        assert torch.allclose(a, b, atol=1e-6), name
    trainer.clear_state()
    assert not (tmp_path / "resume" / "state").exists()


def test_early_stopping_after_patience(setup, tmp_path):
    _, trainer = run(setup, tmp_path, lr=1e-9, patience=2, eval_every=2, epochs=20)
    summary = trainer.run()
    assert summary["early_stopped"]
    assert summary["steps"] < summary["total_steps"]


def test_length_grouping_keeps_every_row_once_and_groups_lengths():
    rng = random.Random(0)
    lengths = [rng.randint(5, 100) for _ in range(1000)]
    batches = length_grouped_batches(lengths, 10, random.Random(1))
    assert sorted(i for b in batches for i in b) == list(range(1000))
    spread = sum(max(lengths[i] for i in b) - min(lengths[i] for i in b) for b in batches) / len(batches)
    assert spread < 10, "rows of a batch have similar lengths"


def test_multi_task_schedule_is_proportional_and_covers_all_batches():
    def sized(n):
        return TrainTask(f"t{n}", task_type("classification")(LABELS), {"input_ids": [[0] * 5] * n})

    tasks = [sized(300), sized(100)]
    schedule = epoch_schedule(tasks, 10, seed=0, epoch=0)
    counts = [sum(1 for t, _ in schedule if t == k) for k in (0, 1)]
    assert counts == [30, 10]
    first_half = [t for t, _ in schedule[:20]]
    assert 0 < first_half.count(1) < 20, "tasks are interleaved, not run one after the other"
    assert epoch_schedule(tasks, 10, seed=0, epoch=1) != schedule


def test_gradient_checkpointing_changes_no_weight(setup, tmp_path):
    """Why `gradient_checkpointing` is a runtime setting (no rerun): the recomputed forward pass
    draws the same dropout, so the weights come out the same."""
    plain, trainer = run(setup, tmp_path / "plain", epochs=1)
    trainer.run()
    checkpointed, trainer = run(setup, tmp_path / "checkpointed", epochs=1, gradient_checkpointing=True)
    trainer.run()
    for (name, a), b in zip(plain.state_dict().items(), checkpointed.state_dict().values()):
        assert torch.equal(a, b), name


def test_a_task_selected_on_several_dev_sets_scores_their_mean(setup, tmp_path):
    """selection: multilingual: the dev score is the mean of each set's score, each scored by its own
    metric and language; here the second set's labels are flipped, so the two scores sum to 100."""
    from xstilts.training import DevSet
    pretrained, tokenizer, kind, train, dev_features, dev = setup
    model, trainer = run(setup, tmp_path)
    trainer.run()
    english = trainer.dev_scores()["toy"]
    flipped = [{**example, "label": LABELS[1 - LABELS.index(example["label"])]} for example in dev]
    task = trainer.tasks[0]
    task.dev_sets = {"xnli/en": DevSet(dev_features, dev, "accuracy", "en"),
                     "xnli/de": DevSet(kind.featurize(flipped, tokenizer, {"max_length": 32}), flipped, "accuracy", "de")}
    assert trainer.dev_scores()["toy"] == pytest.approx(50.0)  # (s + (100 - s)) / 2
    task.dev_sets = {"xnli/en": task.dev_sets["xnli/en"]}
    assert trainer.dev_scores()["toy"] == pytest.approx(english)
