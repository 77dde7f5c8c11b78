"""An attack named in the config (`attacks:`), run on one language's split: the one entry point the
evaluate stage calls, whatever the kind. What a kind needs beyond the checkpoint (the tokenizer of a
word attack, the dictionaries of codeswitch_attack) is read once per job."""

from __future__ import annotations

from pathlib import Path

from .. import tokenizer_file
from .attacked_split import attack_split
from .codeswitch import load_dictionaries
from .pgd import PGD
from .word_attack import Vocabulary, WordAttack, attack_examples, word_attack_split

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
        return word_attack_split(model, head, task, features, examples, self.word, tokenizer=self.tokenizer, lang=lang,
                                 max_examples=self.spec["max_examples"], dictionaries=self._dictionaries(lang),
                                 vocabulary=self.vocabulary, **run)

    def texts(self, model, head: str, task, examples: list[dict], *, lang: str, settings: dict, pad_id: int,
              batch_size: int, device) -> list[dict]:
        """A word attack's adversarial version of every example (xstilts.robustness.word_attack.attack_examples),
        unscored: what offline adversarial augmentation adds to a training set."""
        if self.spec["kind"] not in WORD_ATTACKS:
            raise ValueError(f"attack kind {self.spec['kind']!r} makes no texts")
        return attack_examples(model, head, task, examples, self.tokenizer, settings, self.word, pad_id=pad_id,
                               batch_size=batch_size, device=device, dictionaries=self._dictionaries(lang),
                               vocabulary=self.vocabulary)

    def _dictionaries(self, lang: str):
        if self.spec["kind"] != "codeswitch_attack":
            return None
        dictionaries, _ = load_dictionaries(self.spec["dictionaries"], lang, self.spec["languages"])
        return dictionaries
