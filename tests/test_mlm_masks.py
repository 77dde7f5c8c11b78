"""MLM masks are a function of the run's seed and the batch's place, never of runtime settings:
loader worker processes (num_workers) and the evaluation batch size change no result."""

import torch

from xstilts.config import TRAINING_DEFAULTS
from xstilts.features import load_tokenizer
from xstilts.inference import evaluate_split
from xstilts.tasks.mlm import MaskedLM
from xstilts.modeling import MultiTaskModel
from xstilts.training import Trainer, TrainTask

from helpers import TOY_TEXTS, tiny_pretrained


def mlm_setup(tmp_path):
    from transformers import XLMRobertaForMaskedLM

    folder = tiny_pretrained(tmp_path / "model")
    tokenizer = load_tokenizer(folder)
    kind = MaskedLM.for_tokenizer(tokenizer)
    examples = [{"id": str(i), "text": text} for i, text in enumerate(TOY_TEXTS)]
    features = kind.featurize(examples, tokenizer, {"max_length": 32})
    torch.manual_seed(0)
    mlm = XLMRobertaForMaskedLM.from_pretrained(folder)
    model = MultiTaskModel(mlm.roberta, {}, {"corpus": kind})
    model.heads["corpus"] = mlm.lm_head
    return model, kind, features, examples, tokenizer.pad_token_id


def test_row_seeded_masks_do_not_depend_on_the_batch(tmp_path):
    _, kind, features, _, pad_id = mlm_setup(tmp_path)
    rows = [{"input_ids": ids} for ids in features["input_ids"][:6]]
    alone = kind.collate(rows[2:3], pad_id, row_seeds=[2])
    together = kind.collate(rows, pad_id, row_seeds=list(range(6)))
    length = len(rows[2]["input_ids"])
    assert torch.equal(alone["labels"][0, :length], together["labels"][2, :length])
    assert torch.equal(alone["input_ids"][0, :length], together["input_ids"][2, :length])


def test_dev_score_does_not_depend_on_the_evaluation_batch_size(tmp_path):
    model, kind, features, examples, pad_id = mlm_setup(tmp_path)
    scores = {size: evaluate_split(model, "corpus", kind, features, examples, metric="mlm_accuracy", lang="en",
                                   settings={}, pad_id=pad_id, batch_size=size, device=torch.device("cpu"))[1]
              for size in (3, 64)}
    assert scores[3] == scores[64]


def test_loader_workers_change_no_weight(tmp_path):
    trained = []
    for workers in (0, 2):
        model, kind, features, examples, pad_id = mlm_setup(tmp_path / f"w{workers}")
        hp = {**TRAINING_DEFAULTS, "lr": 1e-3, "batch_size": 16, "grad_accum": 1, "epochs": 1, "eval_every": 1000,
              "num_workers": workers}
        task = TrainTask("corpus", kind, features, metric="mlm_accuracy")
        Trainer(model, [task], hp, seed=5, device=torch.device("cpu"), pad_id=pad_id,
                state_dir=tmp_path / f"state{workers}", progress=False).run()
        trained.append({k: v.clone() for k, v in model.state_dict().items()})
    assert all(torch.equal(trained[0][k], trained[1][k]) for k in trained[0])
