"""An attack named in the config (`attacks:`), run on one language's split: the one entry point the
evaluate stage calls, whatever the kind. What a kind needs beyond the checkpoint (the tokenizer of a
word attack, the dictionaries of codeswitch_attack) is read once per job."""

from __future__ import annotations

from pathlib import Path

from .. import tokenizer_file
from .attacked_split import attack_split
from .codeswitch import load_dictionaries
from .pgd import PGD
from .word_attack import Vocabulary, WordAttack, word_attack_split

WORD_ATTACKS = {"hotflip": "vocabulary", "codeswitch_attack": "dictionary"}


class PreparedAttack:
    """spec: Plan.attack_spec, with `tokenizer` (the model's folder) for the word attacks and
    `dictionaries` (a folder of MUSE files) for codeswitch_attack."""

    def __init__(self, spec: dict):
        self.spec = spec
        if spec["kind"] == "pgd":
            self.pgd = PGD(eps=spec["eps"], steps=spec["steps"], step_size=spec["step_size"], norm=spec["norm"],
                           random_start=spec["random_start"])
        elif spec["kind"] in WORD_ATTACKS:
            self.word = WordAttack(spec["max_changes"], candidates=WORD_ATTACKS[spec["kind"]])
            self.tokenizer = tokenizer_file.load(spec["tokenizer"])
            # hotflip's candidates, made once for every language of the job
            self.vocabulary = Vocabulary(self.tokenizer) if spec["kind"] == "hotflip" else None
            if spec["kind"] == "codeswitch_attack" and not Path(spec["dictionaries"]).is_dir():
                raise FileNotFoundError(f"codeswitch_attack: no dictionary folder {spec['dictionaries']} (it should "
                                        "hold MUSE-format files named <src>-<tgt>.txt)")
        else:
            raise ValueError(f"unknown attack kind {spec['kind']!r}")

    def split(self, model, head: str, task, features: dict[str, list], examples: list[dict], *, lang: str,
              **run) -> tuple[list[dict], dict]:
        """Attacked predictions and metrics of the first `max_examples` examples; `run` holds
        evaluate_split's keywords."""
        if self.spec["kind"] == "pgd":
            return attack_split(model, head, task, features, examples, self.pgd, lang=lang,
                                max_examples=self.spec["max_examples"], seed=self.spec["seed"], **run)
        dictionaries = None
        if self.spec["kind"] == "codeswitch_attack":
            dictionaries, _ = load_dictionaries(self.spec["dictionaries"], lang, self.spec["languages"])
        return word_attack_split(model, head, task, features, examples, self.word, tokenizer=self.tokenizer, lang=lang,
                                 max_examples=self.spec["max_examples"], dictionaries=dictionaries,
                                 vocabulary=self.vocabulary, **run)
