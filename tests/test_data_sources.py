"""Hub, XTREME-folder and local sources, through the real `data.prepare`, on fixtures written here.

Hub fixtures are local copies of hub repositories in the hub's own layout (parquet files under
`<config>/`, a README whose `configs:` map configs and splits to them, the features of the real
dataset: ClassLabel ints, string labels, nested SQuAD answers), loaded by `datasets.load_dataset`
offline through the catalog's own spec with the repository id mapped to the folder. XTREME
fixtures follow google-research/xtreme's download_data.sh layout. No network anywhere.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from datasets import ClassLabel, Sequence, Value

from xstilts import data
from xstilts.catalog import hub_ids, load_catalog
from xstilts.io import read_jsonl
from xstilts.sources import DataSourceError, MissingDataError

from helpers import hub_repo

CATALOG = load_catalog()
SQUAD_FEATURES = {"id": Value("string"), "title": Value("string"), "context": Value("string"),
                  "question": Value("string"),
                  "answers": Sequence({"text": Value("string"), "answer_start": Value("int32")})}
NLI = ["entailment", "neutral", "contradiction"]


# ---------------------------------------------------------------- fixture builders


def hub_spec(task: str, tmp_path: Path, repos: dict[str, Path]) -> dict:
    """The catalog's hub spec of `task`, as the workflow passes it: offline, own cache, ids -> folders."""
    return {**CATALOG[task]["sources"]["hub"], "offline": True, "cache_dir": str(tmp_path / "hf-cache"),
            "overrides": {repo_id: str(path) for repo_id, path in repos.items()}}


def prepare(tmp_path: Path, task: str, split: str, lang: str, source: str, spec: dict) -> list[dict]:
    out = tmp_path / "out" / task / split / f"{lang}.jsonl"
    data.prepare(task=task, split=split, lang=lang, source=source, spec=spec, out=out)
    return read_jsonl(out)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def squad_columns(rows: list[tuple]) -> dict:
    """(id, context, question, texts, starts) -> the hub's columnar SQuAD layout."""
    return {"id": [r[0] for r in rows], "title": ["T"] * len(rows), "context": [r[1] for r in rows],
            "question": [r[2] for r in rows], "answers": [{"text": r[3], "answer_start": r[4]} for r in rows]}


@pytest.fixture(scope="module")
def xtreme_hub(tmp_path_factory) -> Path:
    """google/xtreme: the configs the catalog reads, in the parquet conversion's layout and features."""
    root = tmp_path_factory.mktemp("google-xtreme")
    pair = {"sentence1": Value("string"), "sentence2": Value("string")}
    bitext = {name: Value("string") for name in ("source_sentence", "target_sentence", "source_lang", "target_lang")}
    upos = ClassLabel(names=["ADJ", "ADP", "ADV", "AUX", "CCONJ", "DET", "INTJ", "NOUN", "NUM", "PART", "PRON",
                             "PROPN", "PUNCT", "SCONJ", "SYM", "VERB", "X"])
    ner = ClassLabel(names=["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC"])
    features = {
        "XNLI": {"language": Value("string"), **pair, "gold_label": Value("string")},
        "PAWS-X.de": {**pair, "label": Value("string")},
        "udpos.English": {"tokens": Sequence(Value("string")), "pos_tags": Sequence(upos)},
        "udpos.German": {"tokens": Sequence(Value("string")), "pos_tags": Sequence(upos)},
        "PAN-X.de": {"tokens": Sequence(Value("string")), "ner_tags": Sequence(ner),
                     "langs": Sequence(Value("string"))},
        "XQuAD.de": {k: v for k, v in SQUAD_FEATURES.items() if k != "title"},
        "MLQA.de.de": SQUAD_FEATURES,
        "tydiqa": SQUAD_FEATURES,
        "bucc18.de": bitext,
        "tatoeba.deu": bitext,
    }
    xquad = squad_columns([("x1", "Berlin ist groß.", "Was ist groß?", ["Berlin"], [0])])
    del xquad["title"]
    configs = {
        "XNLI": {
            "validation": {"language": ["de", "en", "de"], "sentence1": ["Ein Hund.", "A dog.", "Zwei Katzen."],
                           "sentence2": ["Ein Tier.", "An animal.", "Ein Hund."],
                           "gold_label": ["entailment", "entailment", "contradiction"]},
            "test": {"language": ["de"], "sentence1": ["Er lacht."], "sentence2": ["Er weint."],
                     "gold_label": ["neutral"]},
        },
        "PAWS-X.de": {"train": {"sentence1": ["a b"], "sentence2": ["b a"], "label": ["1"]},
                      "validation": {"sentence1": ["x y", "y z"], "sentence2": ["y x", "z y"], "label": ["0", "1"]},
                      "test": {"sentence1": ["p"], "sentence2": ["q"], "label": ["0"]}},
        "udpos.English": {"train": {"tokens": [["I", "run", "."]], "pos_tags": [[10, 15, 12]]}},
        "udpos.German": {"test": {"tokens": [["Ich", "laufe"]], "pos_tags": [[10, 15]]}},
        "PAN-X.de": {"validation": {"tokens": [["Angela", "Merkel", "in", "Berlin"]],
                                    "ner_tags": [[1, 2, 0, 5]], "langs": [["de"] * 4]}},
        "XQuAD.de": {"validation": xquad},
        "MLQA.de.de": {"test": squad_columns([("m1", "Der Rhein fließt.", "Was fließt?", ["Der Rhein", "Rhein"],
                                               [0, 4])])},
        "tydiqa": {
            "train": squad_columns([("english-1-0", "Paris is big.", "What is big?", ["Paris"], [0]),
                                    ("arabic-2-0", "باريس كبيرة", "ما الكبير؟", ["باريس"], [0]),
                                    ("english-3-1", "Rome is old.", "What is old?", ["Rome"], [0])]),
            "validation": squad_columns([("finnish-4-0", "Helsinki on suuri.", "Mikä on suuri?", ["Helsinki"], [0]),
                                         ("english-5-0", "Oslo is cold.", "What is cold?", ["Oslo"], [0])]),
        },
        "bucc18.de": {"validation": {"source_sentence": ["Guten Tag.", "Danke."],
                                     "target_sentence": ["Good day.", "Thanks."],
                                     "source_lang": ["de-000000012", "de-000000040"],
                                     "target_lang": ["en-000000007", "en-000000031"]}},
        "tatoeba.deu": {"validation": {"source_sentence": ["Ich bin müde.\n", "Wo ist er?\n"],
                                       "target_sentence": ["I am tired.\n", "Where is he?\n"],
                                       "source_lang": ["deu", "deu"], "target_lang": ["eng", "eng"]}},
    }
    return hub_repo(root, configs, features)


# ---------------------------------------------------------------- hub: classification


def glue_repo(root: Path) -> Path:
    mnli = {"premise": Value("string"), "hypothesis": Value("string"), "label": ClassLabel(names=NLI),
            "idx": Value("int32")}
    qqp = {"question1": Value("string"), "question2": Value("string"),
           "label": ClassLabel(names=["not_duplicate", "duplicate"]), "idx": Value("int32")}
    return hub_repo(root, {
        "mnli": {"train": {"premise": ["P0", "P1", "P2"], "hypothesis": ["H0", "H1", "H2"], "label": [2, 0, 1],
                           "idx": [0, 1, 2]},
                 "validation_matched": {"premise": ["V0"], "hypothesis": ["W0"], "label": [1], "idx": [0]}},
        "qqp": {"train": {"question1": ["q a?", "q b?"], "question2": ["q c?", "q d?"], "label": [1, 0],
                          "idx": [5, 6]}},
    }, {"mnli": mnli, "qqp": qqp})


def test_hub_mnli_maps_classlabel_ints_to_catalog_labels(tmp_path):
    spec = hub_spec("mnli", tmp_path, {"nyu-mll/glue": glue_repo(tmp_path / "glue")})
    assert prepare(tmp_path, "mnli", "train", "en", "hub", spec) == [
        {"id": "0", "text_a": "P0", "text_b": "H0", "label": "contradiction"},
        {"id": "1", "text_a": "P1", "text_b": "H1", "label": "entailment"},
        {"id": "2", "text_a": "P2", "text_b": "H2", "label": "neutral"},
    ]
    assert prepare(tmp_path, "mnli", "dev", "en", "hub", spec) == [
        {"id": "0", "text_a": "V0", "text_b": "W0", "label": "neutral"}]


def test_hub_reader_reads_only_max_examples_rows(tmp_path):
    """The cap reaches the hub reader (a Wikipedia config has millions of rows), not only prepare."""
    from xstilts import sources

    spec = {**hub_spec("mnli", tmp_path, {"nyu-mll/glue": glue_repo(tmp_path / "glue")}), "max_examples": 2}
    rows = sources.read("hub", task="mnli", split="train", lang="en", spec=spec)
    assert [row["id"] for row in rows] == ["0", "1"]


def test_hub_qqp_labels_and_a_reordered_hub_label_set_is_caught(tmp_path):
    repo = glue_repo(tmp_path / "glue")
    spec = hub_spec("qqp", tmp_path, {"nyu-mll/glue": repo})
    assert prepare(tmp_path, "qqp", "train", "en", "hub", spec) == [
        {"id": "5", "text_a": "q a?", "text_b": "q c?", "label": "paraphrase"},
        {"id": "6", "text_a": "q b?", "text_b": "q d?", "label": "not_paraphrase"},
    ]
    with pytest.raises(DataSourceError, match="label order"):
        prepare(tmp_path, "qqp", "train", "en", "hub", {**spec, "label_names": ["duplicate", "not_duplicate"]})


def test_hub_anli_plus_concatenates_snli_mnli_and_anli_rounds_and_drops_unlabelled(tmp_path):
    nli = {"premise": Value("string"), "hypothesis": Value("string"), "label": ClassLabel(names=NLI)}
    snli = hub_repo(tmp_path / "snli", {"plain_text": {"train": {
        "premise": ["S0", "S1", "S2"], "hypothesis": ["T0", "T1", "T2"], "label": [0, -1, 2]}}}, {"plain_text": nli})
    anli_features = {"uid": Value("string"), **nli, "reason": Value("string")}
    rounds = {}
    for r in (1, 2, 3):
        rounds[f"train_r{r}"] = {"uid": [f"u{r}"], "premise": [f"A{r}"], "hypothesis": [f"B{r}"], "label": [1],
                                 "reason": [""]}
        rounds[f"dev_r{r}"] = {"uid": [f"d{r}"], "premise": [f"C{r}"], "hypothesis": [f"D{r}"], "label": [r - 1],
                               "reason": [""]}
    anli = hub_repo(tmp_path / "anli", {"plain_text": rounds}, {"plain_text": anli_features})
    spec = hub_spec("anli_plus", tmp_path, {"stanfordnlp/snli": snli, "nyu-mll/glue": glue_repo(tmp_path / "glue"),
                                            "facebook/anli": anli})
    train = prepare(tmp_path, "anli_plus", "train", "en", "hub", spec)
    assert [(r["id"], r["text_a"], r["label"]) for r in train] == [
        ("snli:0", "S0", "entailment"), ("snli:2", "S2", "contradiction"),
        ("mnli:0", "P0", "contradiction"), ("mnli:1", "P1", "entailment"), ("mnli:2", "P2", "neutral"),
        ("anli_r1:0", "A1", "neutral"), ("anli_r2:0", "A2", "neutral"), ("anli_r3:0", "A3", "neutral"),
    ]
    dev = prepare(tmp_path, "anli_plus", "dev", "en", "hub", spec)
    assert [(r["id"], r["text_a"], r["text_b"], r["label"]) for r in dev] == [
        ("anli_r1:0", "C1", "D1", "entailment"), ("anli_r2:0", "C2", "D2", "neutral"),
        ("anli_r3:0", "C3", "D3", "contradiction")]


def test_hub_xnli_filters_its_language_and_pawsx_maps_string_labels(tmp_path, xtreme_hub):
    spec = hub_spec("xnli", tmp_path, {"google/xtreme": xtreme_hub})
    assert prepare(tmp_path, "xnli", "dev", "de", "hub", spec) == [
        {"id": "0", "text_a": "Ein Hund.", "text_b": "Ein Tier.", "label": "entailment"},
        {"id": "1", "text_a": "Zwei Katzen.", "text_b": "Ein Hund.", "label": "contradiction"},
    ]
    assert prepare(tmp_path, "xnli", "test", "de", "hub", spec)[0]["label"] == "neutral"
    spec = hub_spec("pawsx", tmp_path, {"google/xtreme": xtreme_hub})
    assert prepare(tmp_path, "pawsx", "dev", "de", "hub", spec) == [
        {"id": "0", "text_a": "x y", "text_b": "y x", "label": "not_paraphrase"},
        {"id": "1", "text_a": "y z", "text_b": "z y", "label": "paraphrase"},
    ]


# ---------------------------------------------------------------- hub: tagging, QA, retrieval


def test_hub_tagging_names_classlabel_tags_and_uses_language_named_configs(tmp_path, xtreme_hub):
    spec = hub_spec("udpos", tmp_path, {"google/xtreme": xtreme_hub})
    assert prepare(tmp_path, "udpos", "train", "en", "hub", spec) == [
        {"id": "0", "tokens": ["I", "run", "."], "tags": ["PRON", "VERB", "PUNCT"]}]
    assert prepare(tmp_path, "udpos", "test", "de", "hub", spec) == [
        {"id": "0", "tokens": ["Ich", "laufe"], "tags": ["PRON", "VERB"]}]
    spec = hub_spec("panx", tmp_path, {"google/xtreme": xtreme_hub})
    assert prepare(tmp_path, "panx", "dev", "de", "hub", spec) == [
        {"id": "0", "tokens": ["Angela", "Merkel", "in", "Berlin"], "tags": ["B-PER", "I-PER", "O", "B-LOC"]}]


def test_hub_squad_v2_keeps_answers_and_unanswerables_have_empty_lists(tmp_path):
    repo = hub_repo(tmp_path / "squad_v2", {"squad_v2": {"train": squad_columns([
        ("a1", "Tom has a cat.", "Who has a cat?", ["Tom"], [0]),
        ("a2", "Tom has a cat.", "Who has a dog?", [], []),
        ("a3", "Ann reads.", "Who reads?", ["Ann", "Ann"], [0, 0]),
    ])}}, {"squad_v2": SQUAD_FEATURES})
    spec = hub_spec("squad_v2", tmp_path, {"rajpurkar/squad_v2": repo})
    assert prepare(tmp_path, "squad_v2", "train", "en", "hub", spec) == [
        {"id": "a1", "context": "Tom has a cat.", "question": "Who has a cat?",
         "answers": {"text": ["Tom"], "answer_start": [0]}},
        {"id": "a2", "context": "Tom has a cat.", "question": "Who has a dog?",
         "answers": {"text": [], "answer_start": []}},
        {"id": "a3", "context": "Ann reads.", "question": "Who reads?",
         "answers": {"text": ["Ann", "Ann"], "answer_start": [0, 0]}},
    ]


def test_hub_tydiqa_train_is_english_only_and_test_is_per_language(tmp_path, xtreme_hub):
    spec = hub_spec("tydiqa", tmp_path, {"google/xtreme": xtreme_hub})
    train = prepare(tmp_path, "tydiqa", "train", "en", "hub", spec)
    assert [r["id"] for r in train] == ["english-1-0", "english-3-1"]
    assert train[1] == {"id": "english-3-1", "context": "Rome is old.", "question": "What is old?",
                        "answers": {"text": ["Rome"], "answer_start": [0]}}
    assert [r["id"] for r in prepare(tmp_path, "tydiqa", "test", "fi", "hub", spec)] == ["finnish-4-0"]


def test_hub_xquad_and_mlqa_configs(tmp_path, xtreme_hub):
    spec = hub_spec("xquad", tmp_path, {"google/xtreme": xtreme_hub})
    assert prepare(tmp_path, "xquad", "test", "de", "hub", spec) == [
        {"id": "x1", "context": "Berlin ist groß.", "question": "Was ist groß?",
         "answers": {"text": ["Berlin"], "answer_start": [0]}}]
    spec = hub_spec("mlqa", tmp_path, {"google/xtreme": xtreme_hub})
    assert prepare(tmp_path, "mlqa", "test", "de", "hub", spec)[0]["answers"] == {
        "text": ["Der Rhein", "Rhein"], "answer_start": [0, 4]}


def test_hub_bucc_gold_pairs_share_the_source_id_and_tatoeba_lines_stay_aligned(tmp_path, xtreme_hub):
    spec = hub_spec("bucc2018", tmp_path, {"google/xtreme": xtreme_hub})
    assert prepare(tmp_path, "bucc2018", "dev", "de", "hub", spec) == [
        {"id": "de-000000012", "src": "Guten Tag.", "tgt": "Good day."},
        {"id": "de-000000040", "src": "Danke.", "tgt": "Thanks."},
    ]
    spec = hub_spec("tatoeba", tmp_path, {"google/xtreme": xtreme_hub})
    assert prepare(tmp_path, "tatoeba", "test", "de", "hub", spec) == [
        {"id": "0", "src": "Ich bin müde.", "tgt": "I am tired."},
        {"id": "1", "src": "Wo ist er?", "tgt": "Where is he?"},
    ]


# ---------------------------------------------------------------- hub: multiple choice


def test_hub_hellaswag_string_labels_and_unlabelled_rows_dropped(tmp_path):
    features = {"ind": Value("int32"), "activity_label": Value("string"), "ctx_a": Value("string"),
                "ctx_b": Value("string"), "ctx": Value("string"), "endings": Sequence(Value("string")),
                "source_id": Value("string"), "split": Value("string"), "split_type": Value("string"),
                "label": Value("string")}
    columns = {"ind": [4, 9], "activity_label": ["Cooking", "Cooking"], "ctx_a": ["A man", "A cook"],
               "ctx_b": ["cuts", "stirs"], "ctx": ["A man cuts", "A cook stirs"],
               "endings": [["a", "b", "c", "d"], ["e", "f", "g", "h"]], "source_id": ["s", "t"],
               "split": ["train", "train"], "split_type": ["indomain", "indomain"], "label": ["2", ""]}
    repo = hub_repo(tmp_path / "hellaswag", {"default": {"train": columns}}, {"default": features})
    spec = hub_spec("hellaswag", tmp_path, {"Rowan/hellaswag": repo})
    assert prepare(tmp_path, "hellaswag", "train", "en", "hub", spec) == [
        {"id": "4", "context": "A man cuts", "choices": ["a", "b", "c", "d"], "label": 2}]


def test_hub_cosmosqa_commonsenseqa_and_siqa(tmp_path):
    cosmos = hub_repo(tmp_path / "cosmos", {"default": {"validation": {
        "id": ["c1"], "context": ["I was late."], "question": ["Why?"], "answer0": ["rain"], "answer1": ["bus"],
        "answer2": ["sleep"], "answer3": ["None of the above choices ."], "label": [1]}}},
        {"default": {"id": Value("string"), "context": Value("string"), "question": Value("string"),
                     **{f"answer{i}": Value("string") for i in range(4)}, "label": Value("int32")}})
    spec = hub_spec("cosmosqa", tmp_path, {"allenai/cosmos_qa": cosmos})
    assert prepare(tmp_path, "cosmosqa", "dev", "en", "hub", spec) == [
        {"id": "c1", "context": "I was late. Why?",
         "choices": ["rain", "bus", "sleep", "None of the above choices ."], "label": 1}]

    csqa_features = {"id": Value("string"), "question": Value("string"), "question_concept": Value("string"),
                     "choices": Sequence({"label": Value("string"), "text": Value("string")}),
                     "answerKey": Value("string")}
    csqa = hub_repo(tmp_path / "csqa", {"default": {"train": {
        "id": ["q1", "q2"], "question": ["Where is ink?", "Unlabelled?"], "question_concept": ["ink", "x"],
        "choices": [{"label": list("ABCDE"), "text": ["pen", "cup", "sky", "sea", "car"]},
                    {"label": list("ABCDE"), "text": list("vwxyz")}],
        "answerKey": ["A", ""]}}}, {"default": csqa_features})
    spec = hub_spec("commonsenseqa", tmp_path, {"tau/commonsense_qa": csqa})
    assert prepare(tmp_path, "commonsenseqa", "train", "en", "hub", spec) == [
        {"id": "q1", "context": "Where is ink?", "choices": ["pen", "cup", "sky", "sea", "car"], "label": 0}]

    siqa = hub_repo(tmp_path / "siqa", {"default": {"train": {
        "context": ["Tracy helped."], "question": ["How is Tracy?"], "answerA": ["kind"], "answerB": ["mean"],
        "answerC": ["lost"], "label": ["1"]}}},
        {"default": {k: Value("string") for k in ("context", "question", "answerA", "answerB", "answerC", "label")}})
    spec = hub_spec("siqa", tmp_path, {"allenai/social_i_qa": siqa})
    assert prepare(tmp_path, "siqa", "train", "en", "hub", spec) == [
        {"id": "0", "context": "Tracy helped. How is Tracy?", "choices": ["kind", "mean", "lost"], "label": 0}]


def test_hub_copa_and_xcopa(tmp_path):
    copa_features = {"premise": Value("string"), "choice1": Value("string"), "choice2": Value("string"),
                     "question": Value("string"), "idx": Value("int32"),
                     "label": ClassLabel(names=["choice1", "choice2"])}
    columns = {"premise": ["The glass broke."], "choice1": ["It fell."], "choice2": ["It sang."],
               "question": ["cause"], "idx": [3], "label": [0]}
    copa = hub_repo(tmp_path / "super_glue", {"copa": {"train": columns}}, {"copa": copa_features})
    spec = hub_spec("copa", tmp_path, {"aps/super_glue": copa})
    assert prepare(tmp_path, "copa", "train", "en", "hub", spec) == [
        {"id": "3", "context": "The glass broke. What was the cause?", "choices": ["It fell.", "It sang."],
         "label": 0}]
    xcopa_features = {k: Value("string") for k in ("premise", "choice1", "choice2", "question")}
    xcopa_features.update(label=Value("int32"), idx=Value("int32"), changed=Value("bool"))
    xcopa = hub_repo(tmp_path / "xcopa", {"et": {"test": {
        "premise": ["Klaas purunes."], "choice1": ["See kukkus."], "choice2": ["See laulis."],
        "question": ["cause"], "label": [0], "idx": [1], "changed": [False]}}}, {"et": xcopa_features})
    spec = hub_spec("xcopa", tmp_path, {"cambridgeltl/xcopa": xcopa})
    assert prepare(tmp_path, "xcopa", "test", "et", "hub", spec) == [
        {"id": "1", "context": "Klaas purunes. What was the cause?", "choices": ["See kukkus.", "See laulis."],
         "label": 0}]


# ---------------------------------------------------------------- hub: errors and offline mode


def test_hub_missing_dataset_names_it_and_says_how_to_get_it(tmp_path):
    spec = {**CATALOG["mnli"]["sources"]["hub"], "offline": True, "cache_dir": str(tmp_path / "empty-cache")}
    with pytest.raises(MissingDataError) as caught:
        prepare(tmp_path, "mnli", "train", "en", "hub", spec)
    message = str(caught.value)
    assert "'nyu-mll/glue' config 'mnli' split 'train'" in message
    assert "offline" in message and "huggingface-cli download nyu-mll/glue" in message
    assert "data.hub.overrides" in message and "HF_HOME" in message


def test_hub_missing_config_of_a_language_is_named(tmp_path, xtreme_hub):
    spec = hub_spec("panx_r", tmp_path, {"google/xtreme": xtreme_hub})
    with pytest.raises(MissingDataError, match=r"config 'PAN-X\.qu'"):
        prepare(tmp_path, "panx_r", "test", "qu", "hub", spec)
    spec = hub_spec("udpos_r", tmp_path, {"google/xtreme": xtreme_hub})
    with pytest.raises(DataSourceError, match="no config or rows for language 'wo'"):
        prepare(tmp_path, "udpos_r", "test", "wo", "hub", spec)


def test_hub_offline_mode_is_set_for_the_load_and_restored(tmp_path, monkeypatch):
    import datasets.config
    import huggingface_hub.constants

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    before = (datasets.config.HF_HUB_OFFLINE, huggingface_hub.constants.HF_HUB_OFFLINE)
    spec = {**CATALOG["mnli"]["sources"]["hub"], "offline": True, "cache_dir": str(tmp_path / "c")}
    with pytest.raises(MissingDataError, match="OfflineModeIsEnabled|offline"):
        prepare(tmp_path, "mnli", "dev", "en", "hub", spec)
    assert (datasets.config.HF_HUB_OFFLINE, huggingface_hub.constants.HF_HUB_OFFLINE) == before
    assert "HF_HUB_OFFLINE" not in os.environ


# ---------------------------------------------------------------- xtreme_dir


def xtreme_spec(task: str, root: Path) -> dict:
    return {**CATALOG[task]["sources"]["xtreme_dir"], "root": str(root)}


def test_xtreme_dir_nli_and_paraphrase_tsv(tmp_path):
    # written as XTREME's csv.writer writes them: no header, quoting where a field needs it
    write(tmp_path / "xnli/dev-de.tsv", 'Er sagte "ja".\tEr stimmte zu.\tentailment\nA\tB\tcontradiction\n')
    write(tmp_path / "pawsx/train-en.tsv", "one two\ttwo one\t1\nthree\tfour\t0\n")
    assert prepare(tmp_path, "xnli", "dev", "de", "xtreme_dir", xtreme_spec("xnli", tmp_path)) == [
        {"id": "0", "text_a": 'Er sagte "ja".', "text_b": "Er stimmte zu.", "label": "entailment"},
        {"id": "1", "text_a": "A", "text_b": "B", "label": "contradiction"},
    ]
    assert prepare(tmp_path, "pawsx", "train", "en", "xtreme_dir", xtreme_spec("pawsx", tmp_path)) == [
        {"id": "0", "text_a": "one two", "text_b": "two one", "label": "paraphrase"},
        {"id": "1", "text_a": "three", "text_b": "four", "label": "not_paraphrase"},
    ]


def test_xtreme_dir_translate_train_reads_english_and_each_translation_from_its_own_file(tmp_path):
    """pawsx_mt: English from PAWS-X's train file, German from XTREME's translation of it;
    squad_mt_all: SQuAD's English file and the translate-train file of each language."""
    write(tmp_path / "pawsx/train-en.tsv", "one two\ttwo one\t1\n")
    write(tmp_path / "pawsx/translated/en-de-translated.tsv", "eins zwei\tzwei eins\t1\ndrei\tvier\t0\n")
    spec = xtreme_spec("pawsx_mt", tmp_path)
    assert [r["text_a"] for r in prepare(tmp_path, "pawsx_mt", "train", "en", "xtreme_dir", spec)] == ["one two"]
    assert [(r["text_a"], r["label"]) for r in prepare(tmp_path, "pawsx_mt", "train", "de", "xtreme_dir", spec)] == [
        ("eins zwei", "paraphrase"), ("drei", "not_paraphrase")]
    with pytest.raises(MissingDataError, match=r"pawsx/translated/en-fr-translated\.tsv"):
        prepare(tmp_path, "pawsx_mt", "train", "fr", "xtreme_dir", spec)
    squad_file(tmp_path / "squad/train-v1.1.json", [("s1", "What is big?", [("Paris", 0)])])
    squad_file(tmp_path / "squad/translate-train/squad.translate.train.en-de.json", [("d1", "Was?", [("Paris", 0)])])
    spec = xtreme_spec("squad_mt_all", tmp_path)
    assert [r["id"] for r in prepare(tmp_path, "squad_mt_all", "train", "en", "xtreme_dir", spec)] == ["s1"]
    assert [r["id"] for r in prepare(tmp_path, "squad_mt_all", "train", "de", "xtreme_dir", spec)] == ["d1"]


def test_generated_translate_train_data_translate_the_english_targets_own_examples(tmp_path):
    """A translated task of the generator (catalog `stream`) draws the facts of the task it translates:
    its English rows are that task's, its German rows the same examples (ids, labels) in German."""
    for translated, english in (("pawsx_mt", "pawsx"), ("mnli_mt", "mnli"), ("squad_mt_all", "squad_v1")):
        spec = {**CATALOG[translated]["sources"]["synthetic"], "n": 12, "seed": 7}
        own = {**CATALOG[english]["sources"]["synthetic"], "n": 12, "seed": 7}
        assert prepare(tmp_path, translated, "train", "en", "synthetic", spec) == \
            prepare(tmp_path, english, "train", "en", "synthetic", own)
        german = prepare(tmp_path, translated, "train", "de", "synthetic", spec)
        english_rows = prepare(tmp_path, english, "train", "en", "synthetic", own)
        assert [r["id"] for r in german] == [r["id"] for r in english_rows]
        if "label" in german[0]:
            assert [r["label"] for r in german] == [r["label"] for r in english_rows]
        assert german != english_rows


def test_xtreme_dir_unlabelled_test_files_are_refused_with_the_reason(tmp_path):
    write(tmp_path / "xnli/test-de.tsv", "A\tB\n")
    write(tmp_path / "panx/test-de.tsv", "Angela\nMerkel\n\n")
    with pytest.raises(DataSourceError, match=r"test-de\.tsv:1: two columns and no label.*removes test labels"):
        prepare(tmp_path, "xnli", "test", "de", "xtreme_dir", xtreme_spec("xnli", tmp_path))
    with pytest.raises(DataSourceError, match=r"test-de\.tsv:1: a token without a tag"):
        prepare(tmp_path, "panx", "test", "de", "xtreme_dir", xtreme_spec("panx", tmp_path))


def test_xtreme_dir_conll_sentences(tmp_path):
    write(tmp_path / "udpos/train-en.tsv", "I\tPRON\nrun\tVERB\n.\tPUNCT\n\nGo\tVERB\n\n")
    write(tmp_path / "panx/dev-de.tsv", "Angela\tB-PER\nMerkel\tI-PER\n\nin\tO\nBerlin\tB-LOC")
    assert prepare(tmp_path, "udpos", "train", "en", "xtreme_dir", xtreme_spec("udpos", tmp_path)) == [
        {"id": "0", "tokens": ["I", "run", "."], "tags": ["PRON", "VERB", "PUNCT"]},
        {"id": "1", "tokens": ["Go"], "tags": ["VERB"]},
    ]
    assert prepare(tmp_path, "panx", "dev", "de", "xtreme_dir", xtreme_spec("panx", tmp_path)) == [
        {"id": "0", "tokens": ["Angela", "Merkel"], "tags": ["B-PER", "I-PER"]},
        {"id": "1", "tokens": ["in", "Berlin"], "tags": ["O", "B-LOC"]},
    ]


def squad_file(path: Path, qas: list[tuple], context: str = "Paris is big. Rome is old.") -> Path:
    paragraphs = [{"context": context, "qas": [
        {"id": qid, "question": q, "answers": [{"text": t, "answer_start": s} for t, s in answers]}
        for qid, q, answers in qas]}]
    return write(path, json.dumps({"version": "1.1", "data": [{"title": "T", "paragraphs": paragraphs}]}))


def test_xtreme_dir_squad_json_and_blanked_test_answers(tmp_path):
    squad_file(tmp_path / "squad/train-v1.1.json", [("s1", "What is big?", [("Paris", 0)]),
                                                      ("s2", "What is old?", [("Rome", 14), ("Rome is old", 14)])])
    assert prepare(tmp_path, "squad_v1", "train", "en", "xtreme_dir", xtreme_spec("squad_v1", tmp_path)) == [
        {"id": "s1", "context": "Paris is big. Rome is old.", "question": "What is big?",
         "answers": {"text": ["Paris"], "answer_start": [0]}},
        {"id": "s2", "context": "Paris is big. Rome is old.", "question": "What is old?",
         "answers": {"text": ["Rome", "Rome is old"], "answer_start": [14, 14]}},
    ]
    squad_file(tmp_path / "tydiqa/tydiqa-goldp-v1.1-train/tydiqa.goldp.en.train.json",
               [("123", "What is big?", [("Paris", 0)])])
    assert [r["id"] for r in prepare(tmp_path, "tydiqa", "train", "en", "xtreme_dir",
                                     xtreme_spec("tydiqa", tmp_path))] == ["123"]
    squad_file(tmp_path / "mlqa/MLQA_V1/dev/dev-context-de-question-de.json", [("m", "Was?", [("Rome", 14)])])
    assert prepare(tmp_path, "mlqa", "dev", "de", "xtreme_dir", xtreme_spec("mlqa", tmp_path))[0]["id"] == "m"
    squad_file(tmp_path / "xquad/xquad.de.json", [("x1", "Was?", [("", 0)]), ("x2", "Wo?", [("", 0)])])
    with pytest.raises(DataSourceError, match=r"xquad\.de\.json: every answer is blank"):
        prepare(tmp_path, "xquad", "test", "de", "xtreme_dir", xtreme_spec("xquad", tmp_path))


def test_xtreme_dir_bucc_joins_gold_pairs_and_keeps_one_sided_lines(tmp_path):
    write(tmp_path / "bucc2018/de-en.dev.de", "de-000001\tGuten Tag.\nde-000002\tRauschen.\nde-000003\tDanke.\n")
    write(tmp_path / "bucc2018/de-en.dev.en", "en-000001\tNoise.\nen-000002\tThanks.\nen-000003\tGood day.\n")
    write(tmp_path / "bucc2018/de-en.dev.gold", "de-000001\ten-000003\nde-000003\ten-000002\n")
    assert prepare(tmp_path, "bucc2018", "dev", "de", "xtreme_dir", xtreme_spec("bucc2018", tmp_path)) == [
        {"id": "de-000001", "src": "Guten Tag.", "tgt": "Good day."},
        {"id": "de-000002", "src": "Rauschen.", "tgt": None},
        {"id": "de-000003", "src": "Danke.", "tgt": "Thanks."},
        {"id": "en-000001", "src": None, "tgt": "Noise."},
    ]


def test_xtreme_dir_bucc_test_gold_deleted_by_xtreme_is_named(tmp_path):
    write(tmp_path / "bucc2018/fr-en.test.fr", "fr-1\tBonjour.\n")
    write(tmp_path / "bucc2018/fr-en.test.en", "en-1\tHello.\n")
    with pytest.raises(MissingDataError, match=r"bucc2018/fr-en\.test\.gold is missing.*removes test labels"):
        prepare(tmp_path, "bucc2018", "test", "fr", "xtreme_dir", xtreme_spec("bucc2018", tmp_path))


def test_xtreme_dir_tatoeba_alignment_sorted_english_and_laser_originals(tmp_path):
    write(tmp_path / "tatoeba/de-en.de", "Wo ist er?\nIch bin müde.\nDanke.\n")
    write(tmp_path / "tatoeba/de-en.en", "Where is he?\nI am tired.\nThanks.\n")
    assert prepare(tmp_path, "tatoeba", "test", "de", "xtreme_dir", xtreme_spec("tatoeba", tmp_path)) == [
        {"id": "0", "src": "Wo ist er?", "tgt": "Where is he?"},
        {"id": "1", "src": "Ich bin müde.", "tgt": "I am tired."},
        {"id": "2", "src": "Danke.", "tgt": "Thanks."},
    ]
    # XTREME's preprocess sorts the English side: refused, unless LASER's aligned originals are there
    write(tmp_path / "tatoeba/de-en.en", "I am tired.\nThanks.\nWhere is he?\n")
    with pytest.raises(DataSourceError, match=r"de-en\.en: the English side is sorted.*tatoeba\.deu-eng\.deu"):
        prepare(tmp_path, "tatoeba", "test", "de", "xtreme_dir", xtreme_spec("tatoeba", tmp_path))
    write(tmp_path / "tatoeba/tatoeba.deu-eng.deu", "Wo ist er?\nDanke.\nIch bin müde.\n")
    write(tmp_path / "tatoeba/tatoeba.deu-eng.eng", "Where is he?\nThanks.\nI am tired.\n")
    rows = prepare(tmp_path, "tatoeba", "test", "de", "xtreme_dir", xtreme_spec("tatoeba", tmp_path))
    assert [(r["src"], r["tgt"]) for r in rows] == [("Wo ist er?", "Where is he?"), ("Danke.", "Thanks."),
                                                   ("Ich bin müde.", "I am tired.")]


def test_xtreme_dir_xcopa_siqa_and_copa_jsonl(tmp_path):
    row = {"premise": "Klaas purunes.", "choice1": "See kukkus.", "choice2": "See laulis.", "question": "cause",
           "label": 1, "idx": 7, "changed": False}
    write(tmp_path / "xcopa/val-et.jsonl", json.dumps(row) + "\n")
    assert prepare(tmp_path, "xcopa", "dev", "et", "xtreme_dir", xtreme_spec("xcopa", tmp_path)) == [
        {"id": "7", "context": "Klaas purunes. What was the cause?", "choices": ["See kukkus.", "See laulis."],
         "label": 1}]
    write(tmp_path / "xcopa/train-en.jsonl", json.dumps({**row, "premise": "It broke.", "question": "effect"}) + "\n")
    assert prepare(tmp_path, "copa", "train", "en", "xtreme_dir",
                   xtreme_spec("copa", tmp_path))[0]["context"] == "It broke. What was the effect?"
    siqa = {"context": "Tracy helped.", "question": "How is Tracy?", "answerA": "kind", "answerB": "mean",
            "answerC": "lost", "correct": "B"}
    write(tmp_path / "siqa/socialIQa_v1.4_dev.jsonl", json.dumps(siqa) + "\n")
    assert prepare(tmp_path, "siqa", "dev", "en", "xtreme_dir", xtreme_spec("siqa", tmp_path)) == [
        {"id": "0", "context": "Tracy helped. How is Tracy?", "choices": ["kind", "mean", "lost"], "label": 1}]
    # XTREME sets every XCOPA test label to 0
    write(tmp_path / "xcopa/test-et.jsonl", "".join(json.dumps({**row, "label": 0, "idx": i}) + "\n" for i in range(12)))
    with pytest.raises(DataSourceError, match="all 12 labels are 0"):
        prepare(tmp_path, "xcopa", "test", "et", "xtreme_dir", xtreme_spec("xcopa", tmp_path))


def test_xtreme_dir_missing_file_names_the_expected_path(tmp_path):
    with pytest.raises(MissingDataError, match=r"expected file .*udpos/dev-de\.tsv is missing"):
        prepare(tmp_path, "udpos", "dev", "de", "xtreme_dir", xtreme_spec("udpos", tmp_path))
    with pytest.raises(MissingDataError, match="AmazonPhotos.zip"):
        prepare(tmp_path, "panx", "dev", "de", "xtreme_dir", xtreme_spec("panx", tmp_path))
    with pytest.raises(DataSourceError, match="data.xtreme_dir"):
        prepare(tmp_path, "udpos", "dev", "de", "xtreme_dir", CATALOG["udpos"]["sources"]["xtreme_dir"])


def test_local_jsonl_is_validated_and_ccg_points_at_the_ldc(tmp_path):
    spec = {**CATALOG["ccg"]["sources"]["local"], "root": str(tmp_path)}
    with pytest.raises(MissingDataError, match=r"ccg/train\.jsonl is missing[\s\S]*LDC"):
        prepare(tmp_path, "ccg", "train", "en", "local", spec)
    rows = [{"id": "s1", "tokens": ["I", "run"], "tags": ["NP", r"S[dcl]\NP"]}]
    write(tmp_path / "ccg/train.jsonl", "".join(json.dumps(r) + "\n" for r in rows))
    assert prepare(tmp_path, "ccg", "train", "en", "local", spec) == rows
    write(tmp_path / "ccg/dev.jsonl", json.dumps(rows[0]) + "\n" + json.dumps({"id": "s2", "tokens": ["x"]}) + "\n")
    with pytest.raises(DataSourceError, match=r"ccg/dev\.jsonl:2: missing key\(s\) \['tags'\]"):
        prepare(tmp_path, "ccg", "dev", "en", "local", spec)


def test_local_default_path_and_label_check(tmp_path):
    spec = {**CATALOG["xnli"]["sources"]["local"], "root": str(tmp_path)}
    write(tmp_path / "xnli/test/de.jsonl", json.dumps({"id": "1", "text_a": "a", "text_b": "b", "label": "yes"}) + "\n")
    with pytest.raises(DataSourceError, match=r"xnli/test/de\.jsonl:1: label 'yes' is not one of"):
        prepare(tmp_path, "xnli", "test", "de", "local", spec)
    write(tmp_path / "xnli/test/de.jsonl", "{not json\n")
    with pytest.raises(DataSourceError, match=r"de\.jsonl:1: not valid JSON"):
        prepare(tmp_path, "xnli", "test", "de", "local", spec)


LOCAL_EXAMPLES = {
    "pawsx": ({"id": "1", "text_a": "a b", "text_b": "b a", "label": "paraphrase"},
              {"id": "2", "text_a": "a", "label": 1}, "label 1 is not one of"),
    "hellaswag": ({"id": "1", "context": "c", "choices": ["x", "y"], "label": 1},
                  {"id": "2", "context": "c", "choices": ["x", "y"], "label": 2}, "integer index into choices"),
    "panx": ({"id": "1", "tokens": ["Rom"], "tags": ["B-LOC"]},
             {"id": "2", "tokens": ["Rom", "ist"], "tags": ["B-LOC"]}, "equal length"),
    "squad_v2": ({"id": "1", "context": "c", "question": "q", "answers": {"text": [], "answer_start": []}},
                 {"id": "2", "context": "c", "question": "q", "answers": {"text": ["c"]}}, "answers must be"),
    "bucc2018": ({"id": "1", "src": "Hallo", "tgt": None},
                 {"id": "2", "src": None, "tgt": None}, "both null"),
}


@pytest.mark.parametrize("task", sorted(LOCAL_EXAMPLES))
def test_local_source_accepts_each_type_in_its_schema_and_names_the_bad_line(tmp_path, task):
    good, bad, problem = LOCAL_EXAMPLES[task]
    spec = {**CATALOG[task]["sources"]["local"], "root": str(tmp_path)}
    lang = "de" if task == "bucc2018" else "en"
    path = write(tmp_path / task / "dev" / f"{lang}.jsonl", json.dumps(good) + "\n")
    assert data.source_files(task=task, split="dev", lang=lang, source="local", spec=spec) == [str(path)]
    assert prepare(tmp_path, task, "dev", lang, "local", spec) == [good]
    write(path, json.dumps(good) + "\n\n" + json.dumps(bad) + "\n")
    with pytest.raises(DataSourceError, match=rf"{lang}\.jsonl:3: .*{problem}"):
        prepare(tmp_path, task, "dev", lang, "local", spec)


def test_source_files_lists_what_a_split_reads(tmp_path):
    bucc = xtreme_spec("bucc2018", tmp_path)
    assert data.source_files(task="bucc2018", split="dev", lang="de", source="xtreme_dir", spec=bucc) == [
        str(tmp_path / f"bucc2018/de-en.dev.{suffix}") for suffix in ("de", "en", "gold")]
    assert data.source_files(task="udpos", split="test", lang="de", source="xtreme_dir",
                             spec=xtreme_spec("udpos", tmp_path)) == [str(tmp_path / "udpos/test-de.tsv")]
    assert data.source_files(task="mnli", split="train", lang="en", source="hub",
                             spec=CATALOG["mnli"]["sources"]["hub"]) == []


def test_hub_ids_of_a_spec(tmp_path):
    assert hub_ids(CATALOG["anli_plus"]["sources"]["hub"]) == {"stanfordnlp/snli", "nyu-mll/glue",
                                                                   "facebook/anli"}
    assert hub_ids(CATALOG["udpos"]["sources"]["hub"]) == {"google/xtreme"}


# ---------------------------------------------------------------- the catalog itself


@pytest.mark.parametrize("task", sorted(CATALOG))
def test_catalog_sources_cover_the_task_splits_and_languages(task):
    entry = CATALOG[task]
    assert {"type", "metric", "splits", "sources"} <= set(entry)
    for source in ("hub", "xtreme_dir"):
        spec = entry["sources"].get(source)
        if spec is None:
            continue
        declared = spec["splits"] if source == "hub" else spec["files"]
        assert set(entry["splits"]) <= set(declared), f"{task}/{source} lacks splits"
        if "{code}" in str(spec.get("name", "")) + str(spec.get("filter", "")):
            xtreme_languages = set(entry.get("languages", [])) - {"lt", "pl", "uk", "wo", "ro", "qu", "az", "pa", "gu"}
            assert xtreme_languages <= set(spec["codes"]), f"{task}/{source}: codes miss languages"
    if entry["type"] == "classification":
        assert entry.get("labels")
