"""The tokenize stage reads tokenizer.json with the `tokenizers` library alone (xstilts.tokenizer_file)
and writes byte for byte the feature files transformers' AutoTokenizer gives, for an XLM-R and an
mBERT tokenizer saved in the hub's layout, on every task type; and it imports neither torch nor
transformers."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from xstilts import tokenizer_file
from xstilts.features import featurize_file, load_tokenizer, tokenize
from xstilts.io import write_jsonl
from xstilts.tasks import task_type

from helpers import TOY_TEXTS, tiny_pretrained
from test_model_families import tiny_mbert
from test_tasks import EXAMPLES as TASK_EXAMPLES

LONG_CONTEXT = " ".join(TOY_TEXTS[:7] * 2)
# test_tasks' examples of each type, plus long ones, so that truncation (each strategy) and QA
# windows with a stride all happen at the short lengths below.
EXAMPLES = {
    "classification": TASK_EXAMPLES["classification"] + [
        {"id": "c4", "text_a": LONG_CONTEXT, "text_b": "Marco buys the car in Rome .", "label": "contradiction"},
        {"id": "c5", "text_a": "Lena sees trees .", "text_b": LONG_CONTEXT, "label": "neutral"},
    ],
    "multiple_choice": TASK_EXAMPLES["multiple_choice"] + [
        {"id": "m3", "context": LONG_CONTEXT + " What does Anna buy ?",
         "choices": ["red apples", "blue cars", "green trees", "a book"], "label": 0},
    ],
    "tagging": TASK_EXAMPLES["tagging"] + [
        {"id": "t3", "tokens": ["安娜买了3个苹果", "。"], "tags": ["B-PER", "O"]},
        {"id": "t4", "tokens": LONG_CONTEXT.split(), "tags": ["O"] * len(LONG_CONTEXT.split())},
    ],
    "span_qa": [
        {"id": "q1", "context": LONG_CONTEXT + " Marco sells the blue car in Rome .",
         "question": "Who sells the blue car ?",
         "answers": {"text": ["Marco"], "answer_start": [len(LONG_CONTEXT) + 1]}},
        {"id": "q2", "context": "The old man reads a long book near the river . Lena sees 12 green trees .",
         "question": "How many trees does Lena see in the long story of the old man near the river ?" * 3,
         "answers": {"text": ["12"], "answer_start": [57]}},
    ],
    "retrieval": [
        {"id": "r1", "src": "Anna buys 3 red apples .", "tgt": "Кира видит 5 домов ."},
        {"id": "r2", "src": LONG_CONTEXT, "tgt": "安娜买了3个苹果。"},
        {"id": "r3", "src": "Marco sells the car .", "tgt": "زيد يقرأ الكتاب 7 مرات .", "context": LONG_CONTEXT},
    ],
    "mlm": [{"id": f"l{i}", "text": text} for i, text in enumerate(TOY_TEXTS[:7] + [LONG_CONTEXT])],
}
LABELS = {"classification": ["entailment", "neutral", "contradiction"]}
SETTINGS = {"classification": {"max_length": 24}, "multiple_choice": {"max_length": 20},
            "tagging": {"max_length": 16}, "span_qa": {"max_length": 40, "stride": 8},
            "retrieval": {"max_length": 20}, "mlm": {"max_length": 12}}


@pytest.fixture(scope="module", params=["xlm-roberta", "bert"])
def hub_tokenizer_folder(request, tmp_path_factory):
    root = tmp_path_factory.mktemp(request.param)
    return tiny_mbert(root / "model") if request.param == "bert" else tiny_pretrained(root / "model")


@pytest.mark.parametrize("type_name", sorted(EXAMPLES))
def test_feature_files_are_byte_identical_to_autotokenizers(hub_tokenizer_folder, type_name, tmp_path):
    kind = task_type(type_name)(LABELS.get(type_name))
    examples, settings = EXAMPLES[type_name], SETTINGS[type_name]
    featurize_file(kind, examples, load_tokenizer(hub_tokenizer_folder), settings, tmp_path / "auto.parquet")
    featurize_file(kind, examples, tokenizer_file.load(hub_tokenizer_folder), settings, tmp_path / "file.parquet")
    assert (tmp_path / "file.parquet").read_bytes() == (tmp_path / "auto.parquet").read_bytes()


def test_the_examples_truncate_and_window(hub_tokenizer_folder):
    """The comparison above covers truncation and QA windows, not only short rows."""
    tokenizer = tokenizer_file.load(hub_tokenizer_folder)
    qa = task_type("span_qa")().featurize(EXAMPLES["span_qa"], tokenizer, SETTINGS["span_qa"])
    assert qa["example_index"].count(0) > 1
    tagging = task_type("tagging")(["O"]).featurize(EXAMPLES["tagging"], tokenizer, SETTINGS["tagging"])
    assert -1 in tagging["first_token"][-1]  # words cut off by truncation


def test_tokenize_stage_imports_neither_torch_nor_transformers(hub_tokenizer_folder, tmp_path):
    examples = tmp_path / "examples.jsonl"
    write_jsonl(examples, EXAMPLES["span_qa"])
    probe = ("import json, sys; from xstilts.features import tokenize; "
             f"tokenize(tokenizer_dir={str(hub_tokenizer_folder)!r}, task_type_name='span_qa', labels=None, "
             f"examples_paths=[{str(examples)!r}], settings={SETTINGS['span_qa']!r}, "
             f"outs=[{str(tmp_path / 'out.parquet')!r}]); "
             "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules} & {'torch', 'transformers'})))")
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert json.loads(loaded) == []
    assert (tmp_path / "out.parquet").exists()


def test_a_folder_without_tokenizer_json_is_refused_by_name(tmp_path):
    with pytest.raises(tokenizer_file.TokenizerFileError, match=f"{tmp_path}: no tokenizer.json"):
        tokenizer_file.load(tmp_path)
    (tmp_path / "tokenizer.json").write_text("{not json")
    with pytest.raises(tokenizer_file.TokenizerFileError, match="tokenizer.json: not a tokenizer file"):
        tokenize(tokenizer_dir=tmp_path, task_type_name="mlm", labels=None, examples_paths=[], settings={}, outs=[])
