"""The Q-robust-int section: does intermediate-task training on multilingual, augmented or
adversarial data beat English-only intermediate training for zero-shot transfer, on clean and on
perturbed inputs?

Each recipe trained otherwise (Plan.robust_comparison: code-switched or noised data, adversarial
training, the task in other languages) is compared with the English-only recipe on every benchmark
both are scored on, on the same examples: the difference of scores, clean and under each
perturbation and attack, and the difference of drops, per group of languages (English; the
others), per grouping of the languages' profiles (script, family, distance to English) and per
language. Each difference has a 95% interval from a paired bootstrap (xstilts.robustness.drops,
compare_paired: the same examples drawn for both recipes, seeds drawn apart on each side, or the
measured seed spread where a side has one seed); metrics that are not a mean over examples (entity
F1) get intervals over seeds alone.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ..config import CLEAN
from ..robustness.drops import compare_paired
from .direct import clean_seed_means
from .levels import all_levels, distance_figure, languages_markdown, profiles_of, reading, with_interval
from .render import markdown_table, number, write_csv, write_figure, write_text
from .robustness import Evaluation, Key, compare_settings, per_language

SCORE, DROP = "score", "drop"
COLUMNS = ["model", "bench", "setting", "against", "level", "group", "condition", "measure", "setting_value",
           "against_value", "difference", "low", "high", "interval"]
Values = tuple[tuple, np.ndarray] | None  # one seed: the (language, id) of each example, and its value (0-1)


def comparisons(evaluations: Mapping[Key, Evaluation], recipes: Iterable[str], against: str | None,
                benches: Iterable[str] = ()) -> list[tuple[str, str, str, str]]:
    """(model, bench, recipe, against) for each compared recipe scored clean where `against` is,
    benchmarks in the order of `benches` (the others after them, sorted)."""
    present = {(model, row, bench) for model, row, bench, condition, _ in evaluations if condition == CLEAN}
    rank = {bench: i for i, bench in enumerate(benches)}
    found = sorted((model, row, bench) for model, row, bench in present if row == against)
    found.sort(key=lambda key: rank.get(key[2], len(rank)))
    return [(model, bench, recipe, against) for model, _, bench in found
            for recipe in recipes if (model, recipe, bench) in present]


def example_values(evaluations: Mapping[Key, Evaluation], model: str, row: str, bench: str, condition: str,
                   langs: Iterable[str], measure: str) -> list[Values]:
    """Per seed, each example's score (or, under a condition, its clean minus perturbed score) in
    `langs`, keyed by (language, id); None where the metric has no per-example scores."""
    langs, found = set(langs), []
    for (m, r, b, c, seed), evaluation in sorted(evaluations.items()):
        if (m, r, b, c) != (model, row, bench, condition):
            continue
        clean = evaluations[(m, r, b, CLEAN, seed)]
        ids, values = [], []
        for lang in (lang for lang in evaluation.scores if lang in langs):
            for i, record in sorted(evaluation.predictions.get(lang, {}).items()):
                value = record.get("example_score")
                if measure == DROP and value is not None:
                    before = record.get("clean_example_score",
                                        clean.predictions.get(lang, {}).get(i, {}).get("example_score"))
                    value = None if before is None else before - value
                ids.append((lang, i))
                values.append(value)
        complete = values and all(value is not None for value in values)
        found.append((tuple(ids), np.asarray(values, dtype=float)) if complete else None)
    return found


def _seed_means(evaluations, by_key: pd.DataFrame, model, row, bench, condition, langs, measure) -> pd.Series:
    """Per seed, the mean over `langs` of the score or drop (for metrics without per-example scores)."""
    if condition == CLEAN:
        return clean_seed_means(evaluations, model, row, bench, langs)
    mine = by_key[(by_key["model"] == model) & (by_key["recipe"] == row) & (by_key["bench"] == bench)
                  & (by_key["condition"] == condition) & by_key["lang"].isin(list(langs))]
    return mine.groupby("seed")[measure].mean()


def compare(ours: list[Values], theirs: list[Values], seed_means: Callable[[], tuple[pd.Series, pd.Series]],
            spread: tuple[float, float] | None) -> dict:
    """Setting minus against: paired over examples where both sides score the same ones per example,
    otherwise as compare_settings does (examples unpaired, or seeds alone, from `seed_means()`: each
    side's per-seed means, asked for only then, since they are most of the section's time)."""
    runs = [*ours, *theirs]
    paired = runs and all(run is not None for run in runs) and len({run[0] for run in runs}) == 1
    single = min(len(ours), len(theirs)) < 2
    if not paired or (single and spread is None):
        as_drops = [[None if run is None else (run[1], np.zeros_like(run[1])) for run in side] for side in (ours, theirs)]
        result = compare_settings(*as_drops, *seed_means(), spread)
        if result["interval"].startswith("examples"):
            result["interval"] = f"unpaired {result['interval']} (the two sides score different examples)"
        return result
    result = compare_paired([run[1] for run in ours], [run[1] for run in theirs], seed_spread=spread)
    return {"setting_value": result.recipe_drop, "against_value": result.baseline_drop,
            "difference": result.difference, "low": result.low, "high": result.high,
            "interval": "paired examples+" + ("seed spread" if single else "seeds")}


def robust_table(evaluations: Mapping[Key, Evaluation], pairs: Iterable[tuple[str, str, str, str]],
                 seed_spread: Mapping[str, tuple[float, float]] | None, spread_columns: Mapping[str, str],
                 language_info: Mapping[str, dict] | None = None) -> pd.DataFrame:
    """One row per (compared pair, level and group, condition, measure): the clean score, and under each
    condition both sides share the score and the drop, of both recipes and their difference with its
    interval."""
    found, by_key = [], functools.cache(lambda: per_language(evaluations))
    for model, bench, setting, against in pairs:
        both = [{c for m, r, b, c, _ in evaluations if (m, r, b) == (model, row, bench)} for row in (setting, against)]
        cells = [(CLEAN, SCORE)] + [(c, measure) for c in sorted((both[0] & both[1]) - {CLEAN}) for measure in (SCORE, DROP)]
        languages = list(dict.fromkeys(lang for (m, r, b, c, _), e in evaluations.items()
                                       if (m, r, b, c) == (model, against, bench, CLEAN) for lang in e.scores))
        spread = seed_spread.get(spread_columns.get(bench, bench)) if seed_spread else None
        for level, group, langs in all_levels(languages, profiles_of(language_info, bench)):
            for condition, measure in cells:
                def seed_means(condition=condition, measure=measure, langs=langs):
                    return tuple(_seed_means(evaluations, by_key(), model, row, bench, condition, langs, measure)
                                 for row in (setting, against))

                values = [example_values(evaluations, model, row, bench, condition, langs, measure)
                          for row in (setting, against)]
                found.append({"model": model, "bench": bench, "setting": setting, "against": against, "level": level,
                              "group": group, "condition": condition, "measure": measure,
                              **compare(*values, seed_means, spread)})
    return pd.DataFrame(found, columns=COLUMNS)


# ---------------------------------------------------------------------------- writing
def _cell(row) -> str:
    return with_interval(row.difference, row.low, row.high)


def _heading(condition: str, measure: str) -> str:
    return "clean score" if condition == CLEAN else f"{measure} under {condition}"


def _tables(table: pd.DataFrame, level: str, measure: str) -> str:
    """Per (model, bench): compared pairs x groups (or languages), a column per condition: the clean
    score's difference, then the score's (or the drop's) under each condition."""
    parts = []
    rows = table[(table["level"] == level) & ((table["measure"] == measure) | (table["condition"] == CLEAN))]
    for (model, bench), cells in rows.groupby(["model", "bench"], sort=False):
        columns = list(dict.fromkeys(zip(cells["condition"], cells["measure"])))
        lines = []
        for (setting, against, group), row in cells.groupby(["setting", "against", "group"], sort=False):
            by_column = {(r.condition, r.measure): r for r in row.itertuples(index=False)}
            lines.append([f"`{setting}` − `{against}`", group] + [_cell(by_column[c]) for c in columns])
        header = ["recipe − English-only", level] + [_heading(*c) for c in columns]
        parts.append(f"### {bench} ({model}), by {level}\n\n" + markdown_table(header, lines))
    return "\n".join(parts)


def _reading(row) -> str:
    if row.measure == SCORE:
        return reading(row, above="better", below="worse")
    return reading(row, above="worse", below="better")


def q_robust_int(table: pd.DataFrame) -> str:
    """The answer: per benchmark and compared recipe, in the languages other than English, the
    clean score and the score under each condition against the English-only recipe's."""
    mine = table[(table["level"] == "group") & (table["group"] == "non-English") & (table["measure"] == SCORE)]
    lines = []
    for (model, bench, setting, against), cells in mine.groupby(["model", "bench", "setting", "against"], sort=False):
        parts = [f"{_heading(row.condition, SCORE)} {number(row.setting_value)} against {number(row.against_value)}, "
                 f"{_cell(row)}{_reading(row)}" for row in cells.itertuples(index=False)]
        lines.append(f"- **{bench}** ({model}), languages other than English, `{setting}` against `{against}`: "
                     + "; ".join(parts) + ".")
    if not lines:
        return ("No recipe trained otherwise is scored beside an English-only recipe here (Q-robust-int needs a "
                "recipe with augment, languages or adversarial training, and one trained plainly on English data).\n")
    scored = table[table["low"].notna()]
    beyond = int(((scored["low"] > 0) | (scored["high"] < 0)).sum())
    return ("\n".join(lines) + f"\n\nOf the {len(scored)} differences with an interval in this section's tables "
            f"(every pair, level, condition and measure), {beyond} exclude 0; at 95% about {len(scored) / 20:.0f} "
            "would by chance if no recipe differed, so a lone one is no finding.\n")


def _plot_distance(table: pd.DataFrame, language_info: Mapping[str, dict] | None) -> Figure:
    """Per benchmark and condition: each non-English language's gain in score (recipe minus English-only,
    with its interval) against the language's distance to English, one marker per compared recipe."""
    return distance_figure(table[(table["level"] == "language") & (table["measure"] == SCORE)], language_info,
                           ylabel="gain in score (points)",
                           title=lambda model, bench, condition: f"{model}: {bench}, {_heading(condition, SCORE)}",
                           empty="no language distances for a benchmark Q-robust-int compares")


def write_section(evaluations: Mapping[Key, Evaluation], out_dir, *, recipes: list[str], against: str | None,
                  seed_spread: Mapping[str, tuple[float, float]] | None, spread_columns: Mapping[str, str],
                  language_info: Mapping[str, dict] | None = None, benches: Iterable[str] = ()) -> str:
    """Write ROBUST_INT_FILES (xstilts.layout); returns the Q-robust-int answer (Markdown) for the index.
    `recipes` are compared with `against` (Plan.robust_comparison), on each benchmark in the order of
    `benches`; `language_info` as in Q-direct."""
    table = robust_table(evaluations, comparisons(evaluations, recipes, against, benches), seed_spread,
                         spread_columns, language_info)
    answer = q_robust_int(table)
    groupings = [level for level in dict.fromkeys(table["level"]) if level not in ("group", "language")]
    sections = [("group of languages", "group"), *((g, g) for g in groupings), ("language", "language")]
    body = "".join(f"## Scores by {name}\n\n{_tables(table, level, SCORE)}\n" for name, level in sections)
    body += "".join(f"## Drops by {name}\n\n{_tables(table, level, DROP)}\n" for name, level in sections[:1] + sections[-1:])
    write_csv(out_dir / "q_robust_int.csv", table)
    write_text(out_dir / "q_robust_int.md", "# Q-robust-int: intermediate training otherwise than on plain English data, "
               f"against English-only (`{against}`)\n\nEach cell: the recipe's score (clean, or under a perturbation or "
               "attack) minus the English-only recipe's on the same examples, or its drop minus theirs, in points, with "
               "its 95% interval (paired bootstrap over examples, seeds drawn apart on each side, or the measured seed "
               "spread where a side has one seed); in italics where the interval contains 0: such a difference cannot "
               f"be told from noise.\n\n## Answer\n\n{answer}\n{body}"
               f"## The languages\n\n{languages_markdown(table['bench'], language_info)}\n"
               "![Gain against distance to English](q_robust_int_distance.png)\n")
    write_figure(out_dir, "q_robust_int_distance", _plot_distance(table, language_info))
    return answer
