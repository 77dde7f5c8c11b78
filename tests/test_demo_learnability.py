"""The copying probe of benchmarks/demo_learnability.py scores what it claims: a model that copies
the masked piece from the first statement gets 100, one that reads the masked place gets 0."""

import sys
from pathlib import Path

from tokenizers import Tokenizer

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
import demo_learnability  # noqa: E402

TOKENIZER = Tokenizer.from_file(str(ROOT / "pretrained" / "demo-tiny" / "tokenizer.json"))
LANGUAGES = ["en", "de", "zh"]


def copier(ids, position):
    """The piece the first statement has between the masked piece's neighbours (an induction
    head's answer), else after its left neighbour, else before its right one."""
    left, right = ids[position - 1], ids[position + 1]
    earlier = range(1, position - 1)
    for matches in (lambda i: ids[i - 1] == left and ids[i + 1] == right, lambda i: ids[i - 1] == left,
                    lambda i: ids[i + 1] == right):
        found = [i for i in earlier if matches(i)]
        if found:
            return ids[found[0]]
    return None


def test_a_model_that_copies_scores_100_and_one_that_reads_the_masked_place_scores_0():
    copying = demo_learnability.copy_report(copier, TOKENIZER, 7, LANGUAGES, facts=40)
    peeking = demo_learnability.copy_report(lambda ids, position: ids[position], TOKENIZER, 7, LANGUAGES, facts=40)
    assert copying == {lang: 100.0 for lang in LANGUAGES}
    assert peeking == {lang: 0.0 for lang in LANGUAGES}  # the piece is masked: reading its place gives nothing
