"""Whether the embedded demo's sentence-pair tasks can be learned and its languages transfer
(issue 20), measured on the demo's own data, generated in memory as the workflow's prepare jobs
generate it (same kind, split, language, size, seed and stream, read from --config).

English, per sentence-pair target (mnli -> xnli, pawsx): the test set's labels and the majority
baseline; the share of pairs longer than features.max_length.classification tokens (truncation
would cut what decides the label); a logistic regression on shallow pair features (words of the
second text absent from the first and the reverse, overlap, length difference, negation, same bag
of words), trained on the target's train split and scored on the benchmark's test split; with a
model, the same regression on its frozen encoder (a linear probe: does the pretraining already
separate the labels?).

Transfer, per non-English language: the share of the tokenizer's piece types in that language's
pair-task test text that English's test text also uses, the share of its tokens that are anchors
(digits, people's and place names, written alike in every language) and of those the share whose
piece English also uses; Tatoeba top-1 retrieval (English <-> the language, both directions
averaged) from token-id Jaccard (what shared pieces alone give, no model) and, with a model, from
mean-pooled hidden states at --layer, raw and with each language's mean vector subtracted.

Copying, with a model, per language: a fact stated twice in a row with one content piece of the
second statement masked; the MLM head's top-1 (%). Matching a word of one text with the same word
of the other is what a pair task needs. The model shipped before issue 20's fix, pre-trained on
lines that never restate, restored 4 to 14 % (it guessed from the slot's distribution); the one
shipped now, pre-trained on restating lines without dropout, restores 90 to 100 % (issue 20's
note).

Everything is deterministic: fixed data seed, full-batch gradient descent from zero weights, a
frozen model in eval mode. About 10 s with the probe on the 2-core machine of the README.

  python benchmarks/demo_learnability.py
  python benchmarks/demo_learnability.py --no-probe
  python benchmarks/demo_learnability.py --config config.yaml --tokenizer pretrained/demo-tiny/tokenizer.json \\
      --model pretrained/demo-tiny --layer 2
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402

from xstilts import synthetic  # noqa: E402
from xstilts.config import Plan  # noqa: E402
from xstilts.io import parse_yaml  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
PAIR_KINDS = ("nli", "paraphrase")
RETRIEVAL_BENCH = "tatoeba"
NEGATION = "not"  # the generator's only English negation word ("does not buy")
PUNCTUATION = {",", ".", "?"}
# Digits and every word of the generator's people's and place names ("New York" -> New, York),
# delimited by anything but a Latin letter: Chinese writes them between CJK characters, no spaces.
ANCHOR = re.compile(r"[0-9]+|(?<![A-Za-z])(?:" + "|".join(sorted(
    {word for name in synthetic.FIRST_NAMES + synthetic.SURNAMES + synthetic.PLACES for word in name.split()},
    key=len, reverse=True)) + r")(?![A-Za-z])")


# ---- the demo's data -------------------------------------------------------------------------

def load_plan(path: Path) -> Plan:
    return Plan(parse_yaml(path.read_text(encoding="utf-8")))


def generated(plan: Plan, task: str, split: str, lang: str) -> list[dict]:
    """One split of one task in one language as xstilts.data.prepare writes it from the synthetic
    source, kept in memory."""
    if plan.source(task) != "synthetic":
        sys.exit(f"task '{task}' is read from source '{plan.source(task)}' in this config, not the generator")
    spec = plan.prepare_spec(task, split)["spec"]
    rows = synthetic.generate(spec["kind"], split=split, lang=lang, n=spec["n"], seed=spec["seed"], stream=task,
                              **spec.get("options", {}))
    return rows[: spec["max_examples"]] if spec.get("max_examples") else rows


def pair_targets(plan: Plan) -> list[tuple[str, str]]:
    """(target trained on, benchmark scored) for every sentence-pair benchmark of the config."""
    return [(target, bench) for target, entry in plan.targets.items() for bench in entry["benches"]
            if plan.source(bench) == "synthetic" and plan.source_spec(bench)["kind"] in PAIR_KINDS]


# ---- a numpy logistic regression ---------------------------------------------------------------

def logistic_regression(train_x, train_y, test_x, classes: int, *, l2=1e-4, steps=2000, lr=0.5):
    """Predicted classes of train and test rows from a softmax regression fitted by full-batch
    gradient descent from zero weights (deterministic; features standardised on train). The
    steps leave the demo's probe within about a point of its accuracy after 5,000."""
    mean, scale = train_x.mean(0), train_x.std(0) + 1e-6

    def design(x):
        return np.hstack([(x - mean) / scale, np.ones((len(x), 1))])

    a, b = design(train_x), design(test_x)
    weights, onehot = np.zeros((a.shape[1], classes)), np.eye(classes)[train_y]
    for _ in range(steps):
        logits = a @ weights
        probs = np.exp(logits - logits.max(1, keepdims=True))
        probs /= probs.sum(1, keepdims=True)
        weights -= lr * (a.T @ (probs - onehot) / len(a) + l2 * weights)
    return (a @ weights).argmax(1), (b @ weights).argmax(1)


def percent(hits) -> float:
    return round(100 * float(np.mean(hits)), 1)


# ---- English: can the pair tasks be learned? -------------------------------------------------

def words(text: str) -> list[str]:
    return [w for w in text.lower().split() if w not in PUNCTUATION]


def shallow_features(first: str, second: str) -> list[float]:
    """What a bag-of-words reader sees of a pair; for NLI the hypothesis is `second`."""
    a, b = words(first), words(second)
    in_a, in_b = set(a), set(b)
    new, missing = [w for w in b if w not in in_a], [w for w in a if w not in in_b]
    return [len(new), len(missing), len(in_a & in_b) / max(1, len(in_b)), len(a) - len(b), NEGATION in a,
            NEGATION in b, Counter(a) == Counter(b)]


def with_interactions(x: np.ndarray) -> np.ndarray:
    """Features plus their pairwise products, so that a linear model can express conjunctions
    ("negated and no new word") that decide NLI labels."""
    i, j = np.triu_indices(x.shape[1])
    return np.hstack([x, x[:, i] * x[:, j]])


def shallow_matrix(rows: list[dict]) -> np.ndarray:
    return with_interactions(np.array([shallow_features(r["text_a"], r["text_b"]) for r in rows], dtype=float))


def pair_lengths(tokenizer, rows: list[dict]) -> np.ndarray:
    """Tokens of each pair as the classification features encode it, before truncation."""
    return np.array([len(e.ids) for e in tokenizer.encode_batch([(r["text_a"], r["text_b"]) for r in rows])])


def english_report(plan, tokenizer, encoder, target, bench) -> dict:
    labels = plan.task(bench)["labels"]
    train = generated(plan, target, "train", "en")
    test = generated(plan, bench, plan.bench_split(bench), "en")
    train_y = np.array([labels.index(r["label"]) for r in train])
    test_y = np.array([labels.index(r["label"]) for r in test])
    max_length = plan.features["max_length"]["classification"]
    fit, scored = logistic_regression(shallow_matrix(train), train_y, shallow_matrix(test), len(labels))
    report = {
        "target": target, "train_examples": len(train), "test_examples": len(test),
        "test_labels": {label: int((test_y == k).sum()) for k, label in enumerate(labels)},
        # the train split's most frequent label, scored on test: what a constant classifier gets
        "majority_percent": percent(test_y == np.bincount(train_y, minlength=len(labels)).argmax()),
        "max_length": max_length,
        "over_max_length_percent": {"train": percent(pair_lengths(tokenizer, train) > max_length),
                                    "test": percent(pair_lengths(tokenizer, test) > max_length)},
        "shallow_lr_percent": {"train": percent(fit == train_y), "test": percent(scored == test_y)},
    }
    if encoder is not None:
        fit, scored = logistic_regression(encoder.pair_features(train, max_length), train_y,
                                          encoder.pair_features(test, max_length), len(labels))
        report["probe_lr_percent"] = {"train": percent(fit == train_y), "test": percent(scored == test_y)}
    return report


# ---- the frozen model --------------------------------------------------------------------------

class FrozenEncoder:
    """The shipped masked LM, frozen, on the CPU: its encoder (inputs padded and truncated as features
    are) and its LM head's top-1 for the copying probe."""

    def __init__(self, model_dir: Path, tokenizer, threads: int, batch_size: int = 200):
        import torch
        from tokenizers import Tokenizer
        from transformers import AutoModelForMaskedLM
        from transformers.utils import logging

        torch.set_num_threads(threads)
        logging.set_verbosity_error()
        logging.disable_progress_bar()
        self.torch = torch
        self.masked_lm = AutoModelForMaskedLM.from_pretrained(model_dir).eval()
        self.model = self.masked_lm.base_model
        self.tokenizer = Tokenizer.from_str(tokenizer.to_str())  # a copy: padding must not reach the caller's
        self.tokenizer.enable_padding(pad_id=self.model.config.pad_token_id)
        self.batch_size = batch_size

    def _batches(self, inputs, max_length: int, layer: int):
        """(hidden states at `layer`, attention mask) per batch of texts or text pairs."""
        self.tokenizer.enable_truncation(max_length)
        for start in range(0, len(inputs), self.batch_size):
            encoded = self.tokenizer.encode_batch(inputs[start:start + self.batch_size])
            ids = self.torch.tensor([e.ids for e in encoded])
            mask = self.torch.tensor([e.attention_mask for e in encoded])
            with self.torch.no_grad():
                hidden = self.model(input_ids=ids, attention_mask=mask, output_hidden_states=True).hidden_states
            yield hidden[layer], mask.unsqueeze(-1).float()

    def masked_top1(self, ids: list[int], position: int) -> int:
        """The LM head's most likely id at `position` of one row (copy_report's `predict`)."""
        with self.torch.no_grad():
            return int(self.masked_lm(input_ids=self.torch.tensor([ids])).logits[0, position].argmax())

    def pair_features(self, rows: list[dict], max_length: int) -> np.ndarray:
        """Last layer's first token (<s>, what the classification head reads) and its mean over real tokens."""
        pairs = [(r["text_a"], r["text_b"]) for r in rows]
        parts = [self.torch.cat([h[:, 0], (h * m).sum(1) / m.sum(1)], 1).numpy()
                 for h, m in self._batches(pairs, max_length, -1)]
        return np.concatenate(parts)

    def sentence_vectors(self, texts: list[str], max_length: int, layer: int) -> np.ndarray:
        """As the retrieval task pools: `layer` mean-pooled over the real tokens, special ones included."""
        return np.concatenate([((h * m).sum(1) / m.sum(1)).numpy()
                               for h, m in self._batches(texts, max_length, layer)])


# ---- transfer ----------------------------------------------------------------------------------

def pieces(tokenizer, texts: list[str]) -> tuple[Counter, Counter]:
    """Piece-id counts of the texts (special tokens left out) and of their pieces inside an anchor."""
    every, anchors = Counter(), Counter()
    for text, encoded in zip(texts, tokenizer.encode_batch(texts)):
        spans = [m.span() for m in ANCHOR.finditer(text)]
        for piece, special, (start, end) in zip(encoded.ids, encoded.special_tokens_mask, encoded.offsets):
            if special:
                continue
            every[piece] += 1
            if end > start and any(s <= start and end <= e for s, e in spans):
                anchors[piece] += 1
    return every, anchors


def pair_texts(rows: list[dict]) -> list[str]:
    return [text for r in rows for text in (r["text_a"], r["text_b"])]


def sharing(english: Counter, other: Counter, other_anchors: Counter) -> dict:
    shared = set(other) & set(english)
    tokens, anchor_tokens = sum(other.values()), sum(other_anchors.values())
    return {
        "piece_types": len(other),
        "types_shared_with_en_percent": round(100 * len(shared) / len(other), 1),
        "tokens_in_shared_types_percent": round(100 * sum(other[p] for p in shared) / tokens, 1),
        "anchor_tokens_percent": round(100 * anchor_tokens / tokens, 1),
        # an anchor helps alignment only if it is the same piece in both languages
        "anchor_tokens_with_en_piece_percent": round(
            100 * sum(n for p, n in other_anchors.items() if p in english) / max(1, anchor_tokens), 1),
    }


def top1_both_ways(similarity: np.ndarray) -> float:
    """Tatoeba accuracy, row i's partner being column i, averaged over rows->columns and columns->rows."""
    gold = np.arange(len(similarity))
    return round(50 * (float(np.mean(similarity.argmax(1) == gold)) + float(np.mean(similarity.argmax(0) == gold))), 1)


def jaccard(tokenizer, left: list[str], right: list[str]) -> np.ndarray:
    """Jaccard similarity of the piece-id sets of every left and right text (special tokens left out)."""
    def indicator(texts):
        matrix = np.zeros((len(texts), tokenizer.get_vocab_size()))
        for row, encoded in enumerate(tokenizer.encode_batch(texts, add_special_tokens=False)):
            matrix[row, encoded.ids] = 1
        return matrix

    a, b = indicator(left), indicator(right)
    common = a @ b.T
    return common / (a.sum(1)[:, None] + b.sum(1)[None, :] - common)


def cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a, b = a / np.linalg.norm(a, axis=1, keepdims=True), b / np.linalg.norm(b, axis=1, keepdims=True)
    return a @ b.T


def retrieval_report(plan, tokenizer, encoder, lang: str, layer: int) -> dict:
    rows = generated(plan, RETRIEVAL_BENCH, plan.bench_split(RETRIEVAL_BENCH), lang)
    other, english = [r["src"] for r in rows], [r["tgt"] for r in rows]
    report = {"pairs": len(rows), "jaccard_top1_percent": top1_both_ways(jaccard(tokenizer, other, english))}
    if encoder is not None:
        max_length = plan.features["max_length"]["retrieval"]
        a, b = (encoder.sentence_vectors(texts, max_length, layer) for texts in (other, english))
        report["model_top1_percent"] = top1_both_ways(cosine(a, b))
        # each language's mean vector removed: what is left once a language's offset is gone
        report["model_centred_top1_percent"] = top1_both_ways(cosine(a - a.mean(0), b - b.mean(0)))
    return report


def transfer_report(plan, tokenizer, encoder, benches: list[str], languages: list[str], layer: int) -> dict:
    # Pieces are counted on the pair benchmarks' test text, whose lines are translations of each other.
    def test_text(lang):
        return [t for bench in benches for t in pair_texts(generated(plan, bench, plan.bench_split(bench), lang))]

    english, _ = pieces(tokenizer, test_text("en"))
    return {lang: {**sharing(english, *pieces(tokenizer, test_text(lang))),
                   RETRIEVAL_BENCH: retrieval_report(plan, tokenizer, encoder, lang, layer)}
            for lang in languages}


def copy_report(predict, tokenizer, seed: int, languages: list[str], facts: int = 200) -> dict:
    """Can the model copy a word from an earlier sentence? Per language, `facts` one-clause facts
    each stated twice in a row; in the second statement one content piece that the first also has
    is masked, and `predict(ids, position)` (the masked LM's top-1 id there) is scored (%). A pair
    task needs this matching across its two texts; a model that cannot copy guesses from the
    distribution of the slot's words."""
    import random

    mask_id = tokenizer.token_to_id("<mask>")
    report = {}
    for lang in languages:
        rng, grammar = random.Random(f"copy-{lang}"), synthetic.grammar(seed, lang)
        hits = scored = 0
        for _ in range(facts):
            statement = grammar.sentence(synthetic._clauses(rng, 1))
            encoding = tokenizer.encode(grammar.text(statement + statement))
            ids, half = list(encoding.ids), len(encoding.ids) // 2
            # content pieces of the second statement (longer than two characters: no digits, no function words)
            copyable = [i for i in range(half, len(ids) - 1)
                        if ids[i] in ids[1:half] and len(encoding.tokens[i].lstrip("\u2581")) > 2]
            if not copyable:
                continue
            masked = rng.choice(copyable)
            answer, ids[masked] = ids[masked], mask_id
            hits += predict(ids, masked) == answer
            scored += 1
        report[lang] = round(100 * hits / scored, 1) if scored else float("nan")
    return report


# ---- output --------------------------------------------------------------------------------------

def train_test(figures: dict | None) -> str:
    return "-" if figures is None else f"{figures['train']}/{figures['test']}"


def print_english(english: dict) -> None:
    print("English, sentence-pair tasks: accuracy % of a model fitted on the target's train split, train/test")
    C.print_table(
        ["target -> bench", "test labels", "majority", "> max_length % train/test", "shallow LR", "probe LR"],
        [[f"{r['target']} -> {bench}", "/".join(str(n) for n in r["test_labels"].values()), r["majority_percent"],
          train_test(r["over_max_length_percent"]), train_test(r["shallow_lr_percent"]),
          train_test(r.get("probe_lr_percent"))] for bench, r in english.items()])
    for bench, r in english.items():
        print(f"  {bench} test labels: {'/'.join(r['test_labels'])}; majority: the train split's commonest label "
              f"on test; max_length {r['max_length']}")


def print_transfer(transfer: dict, layer: int | None) -> None:
    print(f"Transfer: % of each language's pieces shared with English; {RETRIEVAL_BENCH} top-1 % en<->xx, "
          "both directions averaged" + ("" if layer is None else f"; model: layer {layer} mean-pooled"))
    C.print_table(
        ["lang", "types shared", "tokens in shared types", "anchor tokens", "anchors with en piece",
         "Jaccard top-1", "model top-1", "model centred"],
        [[lang, r["types_shared_with_en_percent"], r["tokens_in_shared_types_percent"], r["anchor_tokens_percent"],
          r["anchor_tokens_with_en_piece_percent"], r[RETRIEVAL_BENCH]["jaccard_top1_percent"],
          r[RETRIEVAL_BENCH].get("model_top1_percent", float("nan")),
          r[RETRIEVAL_BENCH].get("model_centred_top1_percent", float("nan"))] for lang, r in transfer.items()])


# ---- command line --------------------------------------------------------------------------------

def default_layer(plan: Plan, model_dir: Path) -> int:
    """The retrieval_layer of the config's model shipped at model_dir; else the workflow's default, the last."""
    for name, spec in plan.config["models"].items():
        if "shipped" in spec and (ROOT / spec["shipped"]).resolve() == model_dir.resolve():
            return plan.retrieval_layer(name)
    return -1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", type=Path, default=ROOT / "config.yaml",
                        help="workflow config whose data.synthetic section (and feature lengths) to use")
    parser.add_argument("--tokenizer", type=Path, default=ROOT / "pretrained" / "demo-tiny" / "tokenizer.json")
    parser.add_argument("--model", type=Path, default=ROOT / "pretrained" / "demo-tiny",
                        help="model folder for the frozen-encoder probe and the retrieval vectors")
    parser.add_argument("--no-probe", action="store_true", help="no model: the figures that need none only")
    parser.add_argument("--layer", type=int, default=None,
                        help="hidden layer pooled for retrieval (default: the config's retrieval_layer of --model)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    args = parser.parse_args()

    from tokenizers import Tokenizer

    started = time.perf_counter()
    plan = load_plan(args.config)
    tokenizer = Tokenizer.from_file(str(args.tokenizer))
    encoder = None if args.no_probe else FrozenEncoder(args.model, tokenizer, args.threads)
    layer = default_layer(plan, args.model) if args.layer is None else args.layer
    targets = pair_targets(plan)

    english = {bench: english_report(plan, tokenizer, encoder, target, bench) for target, bench in targets}
    print_english(english)
    languages = plan.languages(RETRIEVAL_BENCH, plan.bench_split(RETRIEVAL_BENCH))
    transfer = transfer_report(plan, tokenizer, encoder, [bench for _, bench in targets], languages, layer)
    print()
    print_transfer(transfer, None if encoder is None else layer)

    copying = None
    if encoder is not None:
        seed = plan.config["data"]["synthetic"]["seed"]
        copying = copy_report(encoder.masked_top1, tokenizer, seed, ["en", *languages])
        print()
        print("Copying: % of masked content pieces of a repeated statement the MLM head restores (top-1)")
        C.print_table(["lang", *copying], [["copy top-1", *copying.values()]])

    C.emit_json("demo_learnability", {
        "config": str(args.config), "tokenizer": str(args.tokenizer),
        "model": None if encoder is None else str(args.model), "layer": None if encoder is None else layer,
        "seed": plan.config["data"]["synthetic"]["seed"], "english": english, "transfer": transfer, "copying": copying,
        "seconds": round(time.perf_counter() - started, 1), "environment": C.environment()})


if __name__ == "__main__":
    main()
