"""Mixed-language pairs (Huang et al. 2021's "generalized" setting): one text of a sentence pair in
a partner language (English by default), the other in the evaluated language, taken from parallel
test sets (XNLI's and PAWS-X's languages are translations of the same pairs, in the same order; so
are the generator's). Every partner language gives the language x language table.

`order`: `partner_first` (text_a in the partner language), `partner_second` (text_b), or `both`
(each example draws which side, at even odds, from the perturbation's seed). The score stays per
evaluated language, so drops and gaps read as for every other perturbation."""

from __future__ import annotations

import random

ORDERS = ("partner_first", "partner_second", "both")


def mixed_pairs(examples: list[dict], partner: list[dict], order: str, rng: random.Random, *,
                where: str = "") -> list[dict]:
    """Each example with one side replaced by its translation from `partner` (recorded under `changes`)."""
    if order not in ORDERS:
        raise ValueError(f"mixed_pair: unknown order {order!r}; expected one of: {', '.join(ORDERS)}")
    if len(examples) != len(partner):
        raise ValueError(f"{where}: {len(examples)} examples against {len(partner)} in the partner language: a "
                         "mixed pair needs the parallel test sets, one translation per example, in the same order")
    mixed = []
    for i, (example, translation) in enumerate(zip(examples, partner)):
        if str(example["label"]) != str(translation["label"]) or example.get("text_b") is None:
            raise ValueError(f"{where}: example {i} ({example['id']}) and partner example {i} ({translation['id']}) "
                             "are not one sentence pair in two languages (labels differ or a text is missing): "
                             "the sets are not parallel")
        side = {"partner_first": "text_a", "partner_second": "text_b"}.get(order) or rng.choice(("text_a", "text_b"))
        out = {key: value for key, value in example.items() if key != "protected"}
        out[side] = translation[side]
        out["changes"] = {side: [{"op": "translated", "start": 0, "before": example[side], "after": translation[side]}]
                          if translation[side] != example[side] else []}
        mixed.append(out)
    return mixed
