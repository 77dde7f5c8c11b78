"""Model families through the Auto classes: a tiny random mBERT (WordPiece, [CLS]/[SEP], token
types), a tiny XLM-R (<s>/</s>) and a tiny XLM-R XL (the architecture of XLM-R XL and XXL), each
saved in the hub's layout, go through the workflow's import (train_stages.import_model), the real
featurisation, a multi-task training step and a checkpoint round trip; the XL one also through the
whole workflow. Remote code is never run and only safetensors weights are read."""

import json

import pytest
import torch
from safetensors.torch import load_file
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers
from transformers import (AutoConfig, AutoModel, AutoModelForMaskedLM, AutoTokenizer, BertConfig, BertForMaskedLM,
                          BertModel, BertTokenizer, XLMRobertaModel, XLMRobertaXLModel)

from xstilts.features import load_tokenizer
from xstilts.inference import rows_of
from xstilts.modeling import build_model, load_checkpoint, load_encoder, save_checkpoint, segment_ids
from xstilts.tasks import task_type
from xstilts.tasks.tagging import Tagging
from xstilts.train_stages import import_model

from helpers import TOY_TEXTS, tiny_pretrained, tiny_pretrained_xl

# mBERT's special-token ids (bert-base-multilingual-cased vocab.txt), so that nothing can pass
# by assuming XLM-R's <s>=0, <pad>=1, </s>=2.
BERT_SPECIALS = {0: "[PAD]", 100: "[UNK]", 101: "[CLS]", 102: "[SEP]", 103: "[MASK]"}

EXAMPLES = {
    "classification": [
        {"id": "c1", "text_a": "Anna buys 3 red apples .", "text_b": "Anna buys apples .", "label": "entailment"},
        {"id": "c2", "text_a": "Marco sells the car .", "text_b": "Marco buys the car in Rome .",
         "label": "contradiction"},
        {"id": "c3", "text_a": "Lena sees trees .", "text_b": "Lena sees 12 trees .", "label": "neutral"},
    ],
    "tagging": [
        {"id": "t1", "tokens": ["Anna", "buys", "3", "red", "apples", "in", "Paris", "."],
         "tags": ["B-PER", "O", "O", "O", "O", "O", "B-LOC", "O"]},
        {"id": "t2", "tokens": ["Кира", "видит", "5", "домов", "."], "tags": ["B-PER", "O", "O", "O", "O"]},
        {"id": "t3", "tokens": ["安娜买了3个苹果", "。"], "tags": ["B-PER", "O"]},
    ],
    "span_qa": [
        {"id": "q1", "context": "Anna buys 3 red apples in Paris . Marco sells the blue car in Rome .",
         "question": "Who sells the blue car ?", "answers": {"text": ["Marco"], "answer_start": [33]}},
        {"id": "q2", "context": "The old man reads a long book near the river . Lena sees 12 green trees .",
         "question": "How many trees does Lena see ?", "answers": {"text": ["12"], "answer_start": [57]}},
    ],
}
LABELS = {"classification": ["entailment", "neutral", "contradiction"]}
SETTINGS = {"classification": {"max_length": 64}, "tagging": {"max_length": 64},
            "span_qa": {"max_length": 40, "stride": 8}}
HEADS = {"nli": "classification", "ner": "tagging", "qa": "span_qa"}
ENCODER_CLASS = {"bert": BertModel, "xlm-roberta": XLMRobertaModel, "xlm-roberta-xl": XLMRobertaXLModel}
FAMILIES = list(ENCODER_CLASS)


def wordpiece_vocab(texts: list[str], size: int) -> dict[str, int]:
    """A cased WordPiece vocabulary trained on `texts`, laid out as mBERT's ([unusedN] fill the gaps)."""
    trainer_input = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    trainer_input.normalizer = normalizers.BertNormalizer(lowercase=False, strip_accents=False)
    trainer_input.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    trainer_input.train_from_iterator(texts, trainers.WordPieceTrainer(vocab_size=size, show_progress=False))
    vocab = [BERT_SPECIALS.get(i, f"[unused{i}]") for i in range(max(BERT_SPECIALS) + 1)]
    learned = sorted(trainer_input.get_vocab().items(), key=lambda item: item[1])
    vocab += [piece for piece, _ in learned if piece not in vocab]
    return {piece: i for i, piece in enumerate(vocab)}


def tiny_mbert(out_dir):
    """bert-base-multilingual-cased's architecture (BertForMaskedLM, 2 token types, cased
    WordPiece), tiny and random, saved as the hub holds it."""
    tokenizer = BertTokenizer(vocab=wordpiece_vocab(TOY_TEXTS, 400), do_lower_case=False, model_max_length=128)
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=128, type_vocab_size=2,
                        pad_token_id=tokenizer.pad_token_id)
    torch.manual_seed(0)
    BertForMaskedLM(config).save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    return out_dir


def hub_folder(family, out_dir):
    return {"bert": tiny_mbert, "xlm-roberta": tiny_pretrained, "xlm-roberta-xl": tiny_pretrained_xl}[family](out_dir)


@pytest.fixture(scope="module", params=FAMILIES)
def imported(request, tmp_path_factory):
    """(family, the `pretrained` folder the workflow's import_model rule writes)."""
    root = tmp_path_factory.mktemp(request.param)
    source = hub_folder(request.param, root / "hub")
    import_model(str(source), root / "pretrained")
    return request.param, root / "pretrained"


@pytest.fixture(scope="module")
def bert(tmp_path_factory):
    root = tmp_path_factory.mktemp("mbert")
    import_model(str(tiny_mbert(root / "hub")), root / "pretrained")
    return root / "pretrained"


def featurized(tokenizer):
    """{head: (task type, features, examples)} from the real featurisation."""
    out = {}
    for head, type_name in HEADS.items():
        examples = EXAMPLES[type_name]
        features = task_type(type_name)(LABELS.get(type_name)).featurize(examples, tokenizer, SETTINGS[type_name])
        labels = Tagging.labels_from(features) if type_name == "tagging" else LABELS.get(type_name)
        out[head] = (task_type(type_name)(labels), features, examples)
    return out


def test_import_writes_the_hub_layout_read_through_auto_classes(imported):
    family, folder = imported
    assert {"config.json", "model.safetensors", "tokenizer.json", "training_summary.json"} <= \
        {p.name for p in folder.iterdir()}
    assert AutoConfig.from_pretrained(folder, trust_remote_code=False).model_type == family
    assert type(load_encoder(folder)) is ENCODER_CLASS[family]
    tokenizer = load_tokenizer(folder)
    assert tokenizer.is_fast
    if family == "bert":
        assert (tokenizer.cls_token_id, tokenizer.sep_token_id, tokenizer.pad_token_id) == (101, 102, 0)


def test_bert_features_carry_cls_and_sep(bert):
    tokenizer = load_tokenizer(bert)
    features = featurized(tokenizer)
    for head, (_, columns, _) in features.items():
        for ids in columns["input_ids"]:
            assert ids[0] == tokenizer.cls_token_id and ids[-1] == tokenizer.sep_token_id, head
    _, tagging, examples = features["ner"]
    for ex, firsts, ids in zip(examples, tagging["first_token"], tagging["input_ids"]):
        assert len(firsts) == len(ex["tokens"])
        assert all(0 < p < len(ids) - 1 for p in firsts), "every word starts on a word piece, not [CLS]/[SEP]"
    _, qa, examples = features["qa"]
    for start, end, offsets, example_index in zip(qa["start_position"], qa["end_position"], qa["offsets"],
                                                  qa["example_index"]):
        assert list(offsets[0]) == [-1, -1], "[CLS] at 0 is outside the context"
        if start > 0:  # windows without the answer point at [CLS]
            context = examples[example_index]["context"]
            assert context[offsets[start][0]:offsets[end][1]] == examples[example_index]["answers"]["text"][0]
    assert any(s > 0 for s in qa["start_position"])


@pytest.mark.parametrize("type_name", ["classification", "span_qa", "multiple_choice"])
def test_bert_token_types_equal_the_tokenizers(bert, type_name):
    """The encoder derives BERT's segment ids from the ids; they must be what the tokenizer gives."""
    tokenizer = load_tokenizer(bert)
    if type_name == "multiple_choice":
        firsts, seconds = ["Anna buys 3 red apples . What does Anna buy ?"] * 2, ["red apples", "a long book"]
    elif type_name == "span_qa":
        firsts = [ex["question"] for ex in EXAMPLES["span_qa"]]
        seconds = [ex["context"] for ex in EXAMPLES["span_qa"]]
    else:
        firsts = [ex["text_a"] for ex in EXAMPLES["classification"]] + ["A single sentence ."]
        seconds = [ex["text_b"] for ex in EXAMPLES["classification"]] + [None]
    rows = [tokenizer(a, b) if b else tokenizer(a) for a, b in zip(firsts, seconds)]
    width = max(len(r["input_ids"]) for r in rows)
    pad = lambda values, fill: torch.tensor([v + [fill] * (width - len(v)) for v in values])
    input_ids = pad([r["input_ids"] for r in rows], tokenizer.pad_token_id)
    expected = pad([r["token_type_ids"] for r in rows], 0)
    assert expected.any(), "the pairs have a second segment"
    assert torch.equal(segment_ids(input_ids, (input_ids != tokenizer.pad_token_id).long()), expected)


def test_multi_task_step_and_checkpoint_round_trip(imported, tmp_path):
    family, folder = imported
    tokenizer = load_tokenizer(folder)
    features = featurized(tokenizer)
    torch.manual_seed(0)
    model = build_model(folder, {head: kind for head, (kind, _, _) in features.items()})
    pad_id = model.encoder.config.pad_token_id
    assert pad_id == tokenizer.pad_token_id
    batches = {head: kind.collate(rows_of(columns), pad_id) for head, (kind, columns, _) in features.items()}

    model.train()
    loss = sum(model(head, batch)[0] for head, batch in batches.items())
    assert torch.isfinite(loss)
    loss.backward()
    assert model.encoder.embeddings.word_embeddings.weight.grad.abs().sum() > 0
    for head in HEADS:
        assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.heads[head].parameters())
    if family == "bert":  # the second segment's type embedding is trained (XLM-R has a single one)
        assert model.encoder.embeddings.token_type_embeddings.weight.grad[1].abs().sum() > 0
    torch.optim.SGD(model.parameters(), lr=0.1).step()

    model.eval()
    save_checkpoint(model, tmp_path / "checkpoint", {"note": family})
    reloaded = load_checkpoint(tmp_path / "checkpoint").eval()
    assert type(reloaded.encoder) is ENCODER_CLASS[family]
    with torch.no_grad():
        for head, batch in batches.items():
            before, after = model(head, batch), reloaded(head, batch)
            assert torch.equal(before[0], after[0]) and torch.equal(before[1], after[1]), head
        # Retrieval's input: one hidden layer of the encoder, as evaluation picks it.
        batch = batches["nli"]
        for layer in (1, -1):
            assert torch.equal(model.encode(batch["input_ids"], batch["attention_mask"], layer=layer),
                               reloaded.encode(batch["input_ids"], batch["attention_mask"], layer=layer))


def test_pytorch_bin_only_folder_is_refused_by_name(tmp_path):
    """Older hub repositories hold pytorch_model.bin only; unpickling it could run code, so it is not read."""
    source = tiny_mbert(tmp_path / "bin-only")
    weights = load_file(source / "model.safetensors")
    (source / "model.safetensors").unlink()
    torch.save(weights, source / "pytorch_model.bin")  # transformers 5 no longer writes .bin itself
    # import_model and every later stage (load_encoder) name the folder, say why and what to do.
    refused = r"model folder .*bin-only has pytorch_model\.bin but no model\.safetensors"
    with pytest.raises(OSError, match=refused):
        import_model(str(source), tmp_path / "imported")
    assert not (tmp_path / "imported").exists() or not any((tmp_path / "imported").iterdir())
    with pytest.raises(OSError, match=refused):
        load_encoder(source)


def test_trust_remote_code_is_never_true(tmp_path, monkeypatch):
    calls = []

    def recording(cls, method):
        def wrapper(*args, **kwargs):
            calls.append((cls.__name__, kwargs.get("trust_remote_code", "unset")))
            return method(*args, **kwargs)
        return wrapper

    for cls in (AutoConfig, AutoModel, AutoModelForMaskedLM, AutoTokenizer):
        monkeypatch.setattr(cls, "from_pretrained", recording(cls, cls.from_pretrained))
    import_model(str(tiny_mbert(tmp_path / "hub")), tmp_path / "pretrained")
    model = build_model(tmp_path / "pretrained", {"nli": task_type("classification")(LABELS["classification"])})
    save_checkpoint(model, tmp_path / "checkpoint", {})
    load_checkpoint(tmp_path / "checkpoint")
    load_tokenizer(tmp_path / "pretrained")
    assert {name for name, _ in calls} >= {"AutoConfig", "AutoModel", "AutoModelForMaskedLM", "AutoTokenizer"}
    assert all(flag is False for _, flag in calls), calls


def test_a_folder_asking_for_remote_code_does_not_run_it(tmp_path):
    folder = tiny_mbert(tmp_path / "remote")
    marker = tmp_path / "code-ran"
    (folder / "custom_model.py").write_text(f"open({str(marker)!r}, 'w').close()\n")
    config = json.loads((folder / "config.json").read_text())
    config.update(model_type="custom-bert", auto_map={"AutoConfig": "custom_model.Config",
                                                      "AutoModel": "custom_model.Model"})
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match="custom code"):
        load_encoder(folder)
    with pytest.raises(ValueError, match="remote contains custom code"):
        import_model(str(folder), tmp_path / "imported")
    assert not marker.exists()


@pytest.mark.slow
def test_a_tiny_xlm_roberta_xl_runs_the_whole_chain(tmp_path):
    """tests/configs/tiny.yaml cut to one chain, on a tiny XLM-R XL imported from a hub-layout folder:
    import, an intermediate stage, a target, its benchmark clean and under PGD and hotflip, the
    encoder's Tatoeba, alignment at every layer, the report; beside it a wider XLM-R, so that the
    report's Q-scale section sets the two sizes side by side."""
    import yaml

    from test_workflow import run_config
    from workflow_runs import TINY

    config = yaml.safe_load(TINY.read_text())
    config["models"] = {"xl": {"hub": str(tiny_pretrained_xl(tmp_path / "hub")), "retrieval_layer": 1},
                        "wide": {"hub": str(tiny_pretrained(tmp_path / "wide", hidden_size=64)), "retrieval_layer": 1}}
    config["recipes"] = {"none": [], "mnli": ["mnli"]}
    config["targets"] = {"mnli": ["xnli"]}
    config["retrieval"] = ["tatoeba"]
    config["perturbations"] = {}
    config["attacks"] = {"probe": {"kind": "pgd", "eps": 0.1, "steps": 2, "step_size": 0.05, "benchmarks": ["xnli"], "max_examples": 4},
                         "flip": {"kind": "hotflip", "max_changes": 1, "benchmarks": ["xnli"], "max_examples": 4}}
    config["alignment"] = {"sets": ["tatoeba"]}
    results = run_config(tmp_path, config, "xl")
    assert json.loads((results / "models/xl/pretrained/config.json").read_text())["model_type"] == "xlm-roberta-xl"
    assert type(load_encoder(results / "models/xl/intermediate/mnli/seed1")) is XLMRobertaXLModel
    for recipe in ("none", "mnli"):
        for condition in ("clean", "probe", "flip"):
            scores = json.loads((results / f"eval/xl/{recipe}/mnli/xnli/{condition}/seed1/scores.json").read_text())
            assert all(isinstance(r["score"], float) for r in scores["results"]), (recipe, condition)
        assert (results / f"align/xl/{recipe}/encoder/seed1/measures.csv").exists()
    assert "xl" in (results / "report/main_table.md").read_text()
    # Q-scale: per recipe, the two sizes by their parameters, the wider against the smaller
    import pandas as pd

    sizes = pd.read_csv(results / "report/q_scale_sizes.csv")
    counted = {model: sum(p.numel() for p in load_encoder(results / f"models/{model}/pretrained").parameters())
               for model in ("xl", "wide")}
    assert dict(zip(sizes["model"], sizes["parameters"])) == counted and counted["wide"] > counted["xl"]
    assert set(sizes[sizes["bench"] == "xnli"]["recipe"]) == {"none", "mnli"}
    assert "wide (0.1M) against xl (0.0M)" in (results / "report/q_scale.md").read_text()
    assert "## Model size (Q-scale)" in (results / "report/index.md").read_text()
