"""Randomized smoothing (Huang et al. 2021's defence for zero-shot transfer): the smoothed
classifier's prediction for an input is the majority vote of the classifier over N randomly
perturbed copies of it.

The copies are the N draws of a text perturbation of the benchmark (`<p>`, `<p>@2`, ... `<p>@N`:
the perturb stage's sets, each scored like any condition), so a smoothed evaluation re-scores
nothing: it reads the draws' predictions and votes (config `smoothing`, rule `vote`). The training
half of the defence, random substitutions in the training data, is a recipe's `augment` with
`draws` (xstilts.config).

Per example the record keeps the vote's counts and whether it is unanimous; per language the
result gives the share of unanimous votes (`stable_share`), beside the score of the voted labels.
A tie goes to the label the earliest draw predicted among the tied ones (draw 1 first), so the
vote is deterministic.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping


def vote(draws: list[Mapping[str, dict]]) -> dict[str, dict]:
    """Example id -> {"id", "prediction", "votes", "unanimous"} from each draw's records by id; every
    draw must predict the same examples."""
    if len(draws) < 2:
        raise ValueError(f"a vote needs two or more draws, got {len(draws)}")
    ids = set(draws[0])
    for index, draw in enumerate(draws[1:], start=2):
        if set(draw) != ids:
            missing = sorted(ids ^ set(draw))[:5]
            raise ValueError(f"draw {index} predicts other examples than draw 1 (e.g. {', '.join(map(str, missing))})")
    voted = {}
    for example_id in sorted(ids):
        predictions = [draw[example_id]["prediction"] for draw in draws]
        counts = Counter(_key(p) for p in predictions)
        top = max(counts.values())
        winner = next(p for p in predictions if counts[_key(p)] == top)  # the earliest of the tied
        voted[example_id] = {"id": example_id, "prediction": winner,
                             "votes": {str(key): count for key, count in sorted(counts.items(), key=str)},
                             "unanimous": top == len(draws)}
    return voted


def _key(prediction):
    """Predictions as hashable vote keys (a label, a choice index)."""
    return prediction if isinstance(prediction, (str, int, float)) else repr(prediction)


def stable_share(voted: Iterable[dict]) -> float:
    """The share of examples (in %) whose copies all voted alike."""
    voted = list(voted)
    return 100.0 * sum(record["unanimous"] for record in voted) / len(voted) if voted else float("nan")


def evaluate_vote(*, draws: list[str], languages: Mapping[str, str], bench: str, bench_type: str,
                  labels: list | None, metric: str, meta: dict, out: dict) -> None:
    """The vote stage: the smoothed predictions of one checkpoint on one benchmark, every language.
    `draws`: the predictions files of the N draws (their evaluations, xstilts.evaluation); `languages`:
    language -> its clean examples file (the gold labels); `out` = {"scores", "predictions"}, written
    as an evaluation's are, each result's metrics with the share of unanimous votes."""
    from ..io import read_jsonl, write_json, write_jsonl
    from ..tasks import task_type

    task = task_type(bench_type)(labels)
    by_draw = [_by_language(read_jsonl(path), path) for path in draws]
    results, all_predictions = [], []
    for lang, examples_path in languages.items():
        missing = [path for path, found in zip(draws, by_draw) if lang not in found]
        if missing:
            raise ValueError(f"{bench} ({lang}): no predictions in {', '.join(missing)}")
        voted = vote([found[lang] for found in by_draw])
        examples = [example for example in read_jsonl(examples_path) if example["id"] in voted]
        predictions = [voted[example["id"]] for example in examples]
        result = task.score(predictions, examples, metric, lang)
        score = result.pop("score")
        for prediction, value in zip(predictions, task.example_scores(predictions, examples, metric, lang) or []):
            prediction["example_score"] = value
        all_predictions += [{"lang": lang, **prediction} for prediction in predictions]
        results.append({**meta, "bench": bench, "lang": lang, "n_examples": len(examples),
                        "metrics": {**result, "stable_share": stable_share(predictions)}, "score": score})
    write_jsonl(out["predictions"], all_predictions)
    write_json(out["scores"], {"results": results})


def _by_language(records: Iterable[dict], path: str) -> dict[str, dict[str, dict]]:
    found: dict[str, dict[str, dict]] = {}
    for record in records:
        if "prediction" not in record:
            raise ValueError(f"{path}: a record without a prediction ({record.get('id')}): not a classifier's")
        found.setdefault(record["lang"], {})[record["id"]] = record
    return found
