"""Small models and data that tests build themselves: no hub, no network."""

from __future__ import annotations

from pathlib import Path

import torch
import yaml
from datasets import Dataset, DatasetInfo, Features
from transformers import XLMRobertaConfig, XLMRobertaForMaskedLM, XLMRobertaXLConfig, XLMRobertaXLForMaskedLM

from xstilts.tokenizer_training import train_tokenizer

TOY_TEXTS = [
    "Anna buys 3 red apples in Paris .",
    "Marco sells the blue car in Rome .",
    "Does Lena see 12 green trees ?",
    "Кира видит 5 домов .",
    "زيد يقرأ الكتاب 7 مرات .",
    "安娜买了3个苹果。",
    "The old man reads a long book near the river .",
] * 20


# The architectures a tiny pretrained model can have: XLM-R, and XLM-R XL (facebook/xlm-roberta-xl
# and -xxl: pre-layer-norm blocks, model_type xlm-roberta-xl).
ARCHITECTURES = {"xlm-roberta": (XLMRobertaConfig, XLMRobertaForMaskedLM),
                 "xlm-roberta-xl": (XLMRobertaXLConfig, XLMRobertaXLForMaskedLM)}


def tiny_pretrained(out_dir: Path, *, hidden_size: int = 32, layers: int = 2, seed: int = 0,
                    architecture: str = "xlm-roberta") -> Path:
    """A random tiny XLM-R (or XLM-R XL) with a trained toy tokenizer, saved as a hub model would be."""
    config_class, model_class = ARCHITECTURES[architecture]
    tokenizer = train_tokenizer(TOY_TEXTS, vocab_size=300, model_max_length=128)
    config = config_class(vocab_size=len(tokenizer), hidden_size=hidden_size, num_hidden_layers=layers,
                          num_attention_heads=2, intermediate_size=2 * hidden_size, max_position_embeddings=130,
                          pad_token_id=tokenizer.pad_token_id, type_vocab_size=1)
    torch.manual_seed(seed)
    model_class(config).save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    return out_dir


def tiny_pretrained_xl(out_dir: Path, **kwargs) -> Path:
    return tiny_pretrained(out_dir, architecture="xlm-roberta-xl", **kwargs)


def hub_repo(root: Path, configs: dict[str, dict[str, dict]], features: dict[str, dict]) -> Path:
    """A hub dataset repository on disk: {config: {split: columns}} with the config's features."""
    root.mkdir(parents=True, exist_ok=True)
    card_configs, infos = [], []
    for config, splits in configs.items():
        folder = "data" if config == "default" else config
        feats = Features(features[config])
        for split, columns in splits.items():
            (root / folder).mkdir(exist_ok=True)
            Dataset.from_dict(columns, features=feats).to_parquet(str(root / folder / f"{split}-00000-of-00001.parquet"))
        card_configs.append({"config_name": config,
                             "data_files": [{"split": s, "path": f"{folder}/{s}-*"} for s in splits]})
        infos.append({"config_name": config, **DatasetInfo(features=feats)._to_yaml_dict()})
    card = {"dataset_info": infos, "configs": card_configs}
    (root / "README.md").write_text("---\n" + yaml.safe_dump(card, sort_keys=False) + "---\n# fixture\n")
    return root


NLI_LABELS = ["entailment", "neutral", "contradiction"]


def nli_examples(prefix: str, n: int) -> list[dict]:
    """n toy NLI examples (labels cycle; the text does not decide them)."""
    return [{"id": f"{prefix}{i}", "text_a": TOY_TEXTS[i % 7], "text_b": TOY_TEXTS[(i + 1) % 7],
             "label": NLI_LABELS[i % 3]} for i in range(n)]


def features_file(path: Path, kind_name: str, labels, examples: list[dict], tokenizer) -> str:
    """A features parquet file of `examples` as the tokenize stage writes one (max_length 32)."""
    from xstilts.features import write_features
    from xstilts.tasks import task_type

    write_features(path, task_type(kind_name)(labels).featurize(examples, tokenizer, {"max_length": 32}))
    return str(path)


def toy_examples(n: int, seed: int) -> list[dict]:
    """Label 'yes' iff the sentence mentions Paris: a classification task learnable from the text."""
    import random

    rng = random.Random(seed)
    rows = []
    for i in range(n):
        place = rng.choice(["Paris", "Rome"])
        rows.append({"id": f"t{i}", "text_a": f"{rng.choice(['Anna', 'Marco', 'Lena'])} buys {rng.randint(1, 20)} "
                     f"red apples in {place} .", "label": "yes" if place == "Paris" else "no"})
    return rows


def mnli_with_mlm_tasks(pretrained: Path, folder: Path) -> list[dict]:
    """The task specs of a training stage of MNLI (24 examples, a dev set of 6) with continued MLM (40 lines
    of the toy corpus, the pretrained LM head): two heads, one per batch, the MLM head tied to the
    embeddings. Their files are written under `folder`."""
    from xstilts.features import load_tokenizer
    from xstilts.io import write_jsonl

    tokenizer = load_tokenizer(pretrained)
    write_jsonl(folder / "nli-dev.jsonl", nli_examples("d", 6))
    corpus = [{"id": f"c{i}", "text": TOY_TEXTS[i]} for i in range(40)]
    return [
        {"name": "mnli", "type": "classification", "labels": NLI_LABELS, "metric": "accuracy", "settings": {},
         "train": [features_file(folder / "nli.parquet", "classification", NLI_LABELS, nli_examples("t", 24), tokenizer)],
         "dev": features_file(folder / "nli-dev.parquet", "classification", NLI_LABELS, nli_examples("d", 6), tokenizer),
         "dev_examples": str(folder / "nli-dev.jsonl")},
        {"name": "wiki_mlm", "type": "mlm", "labels": None, "metric": "mlm_accuracy", "settings": {},
         "train": [features_file(folder / "mlm.parquet", "mlm", None, corpus, tokenizer)], "dev": None,
         "dev_examples": None},
    ]
