"""The robustness section: every benchmark's scores under each perturbation against clean, and the
answer to Q-adv (what perturbed inputs do to zero-shot transfer after intermediate training).

Per key (model, recipe, benchmark, perturbation, seed, language): the clean and perturbed score,
the drop (points), the relative drop (% of clean), the share of examples whose prediction changed,
and the robustness gap (the language's drop minus English's). Recipes are compared on drops: a
recipe's mean drop over languages minus `none`'s, with a 95% interval from
xstilts.robustness.drops (paired bootstrap over examples, pooled over languages, combined with the
seeds: resampled where both sides have several, the measured seed spread where one side has one).
Metrics that are not a mean over examples (entity F1, mining F1) get seed-only intervals, and the
table says so. A sentence states an effect only where its interval excludes zero.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.figure import Figure

from .. import stats
from ..config import CLEAN
from ..robustness.drops import compare_drops, key_metrics, robustness_gaps
from .render import (MISSING, latex_escape, latex_tabular, markdown_table, mean_std, new_figure, note_figure, number,
                     signed, write_csv, write_figure, write_text)
from .rows import FurtherTargets, row_label

BASELINE = "none"
ENGLISH = "en"
HEADLINE_BENCH = "xnli"  # Q-adv's headline: XNLI accuracy, clean vs perturbed
Key = tuple[str, str, str, str, int]  # model, recipe, bench, condition, seed
# What an attack's evaluation adds per language (xstilts.robustness.attacked_split): column -> metric.
ATTACK_COLUMNS = {"success_rate": "success_rate", "perturbation_size": "mean_size", "forward_passes": "forward_passes",
                  "backward_passes": "backward_passes"}


@dataclass(frozen=True)
class Evaluation:
    """One evaluation job's results: per language its score, its other metrics, and its predictions
    by example id."""

    scores: dict[str, float]
    predictions: dict[str, dict[str, dict]]  # lang -> id -> prediction record
    metrics: dict[str, dict] = field(default_factory=dict)  # lang -> metrics

    @property
    def attacked(self) -> bool:
        """An attack's evaluation: a subset of the examples, with the clean score of that subset."""
        return any("clean_score" in metrics for metrics in self.metrics.values())


def load_evaluations(scores_paths: Iterable[str | Path], further_targets: FurtherTargets = ()) -> dict[Key, Evaluation]:
    """Each scores file with the predictions file beside it (xstilts.evaluation writes both), keyed
    by the report's row (report.rows) in place of the recipe."""
    found = {}
    for path in map(Path, scores_paths):
        results = json.loads(path.read_text(encoding="utf-8"))["results"]
        if not results:
            continue
        first = results[0]
        row = row_label(first["recipe"], first.get("target"), first["bench"], further_targets)
        key = (first["model"], row, first["bench"], first.get("condition", CLEAN), int(first["seed"]))
        if key in found:
            raise ValueError(f"{path}: a second evaluation of {key}")
        predictions: dict[str, dict[str, dict]] = {}
        for line in (path.parent / "predictions.jsonl").read_text(encoding="utf-8").splitlines():
            record = json.loads(line)
            predictions.setdefault(record["lang"], {})[str(record["id"])] = record
        found[key] = Evaluation({r["lang"]: float(r["score"]) for r in results}, predictions,
                                {r["lang"]: r.get("metrics", {}) for r in results})
    return found


def load_set_summaries(paths: Iterable[str | Path]) -> pd.DataFrame:
    """What each perturbed set changed (xstilts.robustness.perturbed_sets), one row per set, named by
    its path `.../{bench}/{split}/{perturbation}/{lang}.summary.json`."""
    rows = []
    for path in map(Path, paths):
        summary = json.loads(path.read_text(encoding="utf-8"))
        bench, _, condition = path.parts[-4:-1]
        rows.append({"bench": bench, "condition": condition, "lang": path.name.split(".")[0],
                     "edited_share": 100.0 * summary["edited_share"],
                     "changed_examples": 100.0 * summary["changed_examples"] / max(summary["examples"], 1),
                     "missing_dictionaries": " ".join(summary.get("missing_dictionaries", []))})
    return pd.DataFrame(rows, columns=["bench", "condition", "lang", "edited_share", "changed_examples",
                                       "missing_dictionaries"])


def _sets_markdown(sets: pd.DataFrame) -> str:
    """Per benchmark and perturbation, the share of words edited (switched, for codeswitch) and of
    examples changed, by language, and the dictionary pairs that were missing."""
    if sets.empty:
        return "No summaries of the perturbed sets were given.\n"
    langs = list(dict.fromkeys(sets["lang"]))
    rows = []
    for (bench, condition), cells in sets.groupby(["bench", "condition"], sort=False):
        by_lang = cells.set_index("lang")
        rows.append([bench, condition, "words edited %"] + [number(by_lang["edited_share"].get(lang, np.nan))
                                                            for lang in langs])
        rows.append([bench, condition, "examples changed %"] + [number(by_lang["changed_examples"].get(lang, np.nan))
                                                                for lang in langs])
    text = markdown_table(["benchmark", "perturbation", "share", *langs], rows)
    missing = sets[sets["missing_dictionaries"] != ""]
    if not missing.empty:
        pairs = sorted(set(" ".join(missing["missing_dictionaries"]).split()))
        text += f"\nDictionary pairs without a file (their words were not switched): {', '.join(pairs)}.\n"
    return text


# ---------------------------------------------------------------------------- per key
def per_language(evaluations: Mapping[Key, Evaluation], bench_order: Iterable[str] = (),
                 transfers: Iterable[str] = ()) -> pd.DataFrame:
    """One row per perturbed key and language: clean, perturbed, drop, relative drop, changed, gap;
    benchmarks in `bench_order` (the others after them), then model, recipe, perturbation, seed.
    A condition that scores some of the clean examples (an attack, a transfer set) is compared with
    the clean score of those examples; `attack` marks the worst-case conditions (attacks, and the
    `transfers`: fixed sets of an attack's texts)."""
    transfers = set(transfers)
    rank = {bench: i for i, bench in enumerate(bench_order)}
    rows = []
    for key, perturbed in sorted(evaluations.items(), key=lambda item: (rank.get(item[0][2], len(rank)), item[0])):
        model, recipe, bench, condition, seed = key
        if condition == CLEAN:
            continue
        clean = _clean_of(evaluations, key)
        drops = {}
        for lang, score in perturbed.scores.items():
            ids = _paired_ids(clean, perturbed, lang, key)
            attack = perturbed.metrics.get(lang, {}) if perturbed.attacked else {}
            clean_score = attack.get("clean_score", _clean_score(clean, lang, ids))
            before = ([perturbed.predictions[lang][i]["clean_prediction"] for i in ids] if attack
                      else _predicted(clean, lang, ids))
            metrics = key_metrics(clean_score, score, before, _predicted(perturbed, lang, ids))
            drops[lang] = metrics["drop"]
            rows.append({"model": model, "recipe": recipe, "bench": bench, "condition": condition, "seed": seed,
                         "lang": lang, "clean": clean_score, **metrics,
                         "attack": perturbed.attacked or condition in transfers,
                         **{column: attack.get(name, np.nan) for column, name in ATTACK_COLUMNS.items()},
                         "stable": perturbed.metrics.get(lang, {}).get("stable_share", np.nan)})
        gaps = robustness_gaps(drops) if ENGLISH in drops else {}
        for row in rows[len(rows) - len(drops):]:
            row["gap"] = gaps.get(row["lang"], np.nan)
    columns = ["model", "recipe", "bench", "condition", "seed", "lang", "clean", "score", "drop", "relative_drop",
               "changed", "gap", "attack", *ATTACK_COLUMNS, "stable"]
    return pd.DataFrame(rows, columns=columns)


def _clean_of(evaluations, key: Key) -> Evaluation:
    model, recipe, bench, condition, seed = key
    clean = evaluations.get((model, recipe, bench, CLEAN, seed))
    if clean is None:
        raise ValueError(f"{bench} under '{condition}' ({model}, {recipe}, seed {seed}) has no clean evaluation "
                         "to compare with")
    return clean


def _paired_ids(clean: Evaluation, perturbed: Evaluation, lang: str, key: Key) -> list[str]:
    """The ids the perturbed side predicts, which must be clean examples where predictions are per
    example (they carry `example_score`; an attack or a transfer set predicts some of them); mined
    pairs (BUCC) differ by nature: every id either side predicts."""
    clean_ids, perturbed_ids = set(clean.predictions.get(lang, {})), set(perturbed.predictions.get(lang, {}))
    per_example = any("example_score" in record for record in clean.predictions.get(lang, {}).values())
    if per_example and not perturbed_ids <= clean_ids:
        raise ValueError(f"{key[2]} under '{key[3]}' ({lang}): the perturbed predictions are not of the clean "
                         "examples (ids differ)")
    return sorted(perturbed_ids if per_example else clean_ids | perturbed_ids)


def _clean_score(clean: Evaluation, lang: str, ids: list[str]) -> float:
    """The clean score of `ids`: the language's, or where they are some of its examples, their mean."""
    records = clean.predictions.get(lang, {})
    if len(ids) == len(records) or not all("example_score" in records.get(i, {}) for i in ids):
        return clean.scores[lang]
    return 100.0 * float(np.mean([records[i]["example_score"] for i in ids]))


def _predicted(evaluation: Evaluation, lang: str, ids: list[str]) -> list:
    records = evaluation.predictions.get(lang, {})
    return [records[i]["prediction"] if i in records else None for i in ids]


# ---------------------------------------------------------------------------- recipes compared
def summary_table(evaluations: Mapping[Key, Evaluation], by_key: pd.DataFrame, recipes: list[str],
                  seed_spread: Mapping[str, tuple[float, float]] | None, spread_columns: Mapping[str, str]) -> pd.DataFrame:
    """One row per (model, recipe, bench, perturbation): the drop averaged over languages (mean and
    std over seeds), English's and the other languages', the gap, and the drop minus `none`'s with
    its interval."""
    rows = []
    for (model, bench, condition), cells in by_key.groupby(["model", "bench", "condition"], sort=False):
        for recipe in [r for r in recipes if r in set(cells["recipe"])]:
            mine = cells[cells["recipe"] == recipe]
            per_seed = mine.groupby("seed")
            drops = per_seed["drop"].mean()
            row = {"model": model, "recipe": recipe, "bench": bench, "condition": condition, "n_seeds": len(drops),
                   "clean": per_seed["clean"].mean().mean(), "score": per_seed["score"].mean().mean(),
                   "drop": drops.mean(), "drop_std": drops.std(ddof=1) if len(drops) > 1 else np.nan,
                   "drop_en": mine.loc[mine["lang"] == ENGLISH, "drop"].mean(),
                   "drop_non_en": mine.loc[mine["lang"] != ENGLISH, "drop"].mean(),
                   "gap": mine["gap"].mean(), "changed": mine["changed"].mean(), "attack": bool(mine["attack"].any()),
                   **{column: mine[column].mean() for column in ATTACK_COLUMNS}}
            spread = seed_spread.get(spread_columns.get(bench, bench)) if seed_spread else None
            row.update(_against_baseline(evaluations, cells, model, recipe, bench, condition, spread))
            rows.append(row)
    return pd.DataFrame(rows)


def _against_baseline(evaluations, cells, model, recipe, bench, condition, spread) -> dict:
    """The recipe's drop minus `none`'s, and (for the caveat on levels) its clean score minus `none`'s."""
    empty = {"vs_none": np.nan, "low": np.nan, "high": np.nan, "interval": "", "clean_vs_none": np.nan,
             "clean_low": np.nan, "clean_high": np.nan}
    if recipe == BASELINE or BASELINE not in set(cells["recipe"]):
        return empty
    langs = set(cells["lang"])
    runs = [example_runs(evaluations, model, r, bench, condition, langs) for r in (recipe, BASELINE)]
    per_seed = [cells[cells["recipe"] == r].groupby("seed") for r in (recipe, BASELINE)]
    drops = compare_settings(*runs, *(seeds["drop"].mean() for seeds in per_seed), spread)
    # The clean scores of the same examples (an attack's: its attacked ones), each beside zeros.
    clean_only = [[None if run is None else (run[0], np.zeros_like(run[0])) for run in side] for side in runs]
    clean = compare_settings(*clean_only, *(seeds["clean"].mean() for seeds in per_seed), spread)
    return {"vs_none": drops["difference"], "low": drops["low"], "high": drops["high"], "interval": drops["interval"],
            "clean_vs_none": clean["difference"], "clean_low": clean["low"], "clean_high": clean["high"]}


def compare_settings(a_runs, b_runs, a_seeds: pd.Series, b_seeds: pd.Series, spread) -> dict:
    """Setting a minus setting b (clean scores, or drops), with its 95% interval: over examples and
    seeds where every seed has per-example scores (`a_runs`, `b_runs`: per seed, (clean, perturbed)
    per example, or None), over the per-seed values `a_seeds`, `b_seeds` alone otherwise."""
    found = {"setting_value": a_seeds.mean(), "against_value": b_seeds.mean(), "low": np.nan, "high": np.nan}
    found["difference"] = found["setting_value"] - found["against_value"]
    single = min(len(a_seeds), len(b_seeds)) < 2
    if single and spread is None:
        return {**found, "interval": "none: one seed and no report.seed_spread"}
    if a_runs and b_runs and all(run is not None for run in a_runs + b_runs):
        result = compare_drops(a_runs, b_runs, seed_spread=spread)
        return {**found, "setting_value": result.recipe_drop, "against_value": result.baseline_drop,
                "difference": result.difference, "low": result.low, "high": result.high,
                "interval": "examples+seed spread" if single else "examples+seeds"}
    if single:
        half = stats.reference_half_width(spread[0], spread[1], len(a_seeds), len(b_seeds))
    else:
        half = stats.welch_half_width(a_seeds.std(ddof=1), len(a_seeds), b_seeds.std(ddof=1), len(b_seeds))
    return {**found, "low": found["difference"] - half, "high": found["difference"] + half,
            "interval": "seeds only (the metric is not a mean over examples)"}


def level_caveat(clean_setting: float, clean_against: float, clean_low: float, clean_high: float,
                 drops: Iterable[tuple[str, float, float, float, float]]) -> str:
    """Where two settings' clean scores differ beyond noise, their drops start from different
    heights: the side nearer chance has less to lose, so its smaller drop is no evidence of
    robustness. Say so, with each drop relative to the clean score it fell from: `drops` holds
    (condition, setting's drop, its clean score, against's drop, its clean score); an attack's clean
    score is its attacked examples'. Empty where the clean scores cannot be told apart."""
    if pd.isna(clean_low) or clean_low <= 0 <= clean_high:
        return ""
    relative = [f"{condition} {number(100 * a / a_clean)}% against {number(100 * b / b_clean)}%"
                for condition, a, a_clean, b, b_clean in drops]
    return (f"The clean scores differ beyond noise ({number(clean_setting)} against {number(clean_against)}), so the "
            "drops start from different heights and the side nearer chance has less to lose"
            + (f"; drops relative to each side's clean score: {', '.join(relative)}." if relative else "."))


def example_runs(evaluations, model, recipe, bench, condition, langs=None) -> list[tuple[np.ndarray, np.ndarray] | None]:
    """Per seed: the per-example (clean, perturbed) scores of every language (or of `langs`), pooled;
    None where the metric has no per-example scores."""
    runs = []
    for (m, r, b, c, seed), perturbed in sorted(evaluations.items()):
        if (m, r, b, c) != (model, recipe, bench, condition):
            continue
        clean = evaluations[(m, r, b, CLEAN, seed)]
        # An attack's records carry the clean score of the pass it started from.
        pairs = [(perturbed.predictions[lang][i].get("clean_example_score",
                                                     clean.predictions[lang].get(i, {}).get("example_score")),
                  perturbed.predictions[lang][i].get("example_score"))
                 for lang in perturbed.scores if langs is None or lang in langs
                 for i in sorted(perturbed.predictions[lang])]
        if any(a is None or b is None for a, b in pairs):
            runs.append(None)
        else:
            runs.append((np.array([a for a, _ in pairs]), np.array([b for _, b in pairs])))
    return runs


def gap_table(evaluations: Mapping[Key, Evaluation], by_key: pd.DataFrame,
              seed_spread: Mapping[str, tuple[float, float]] | None, spread_columns: Mapping[str, str]) -> pd.DataFrame:
    """Per (model, recipe, bench, perturbation) and language other than English: the robustness gap
    (its drop minus English's, means over seeds) with the interval of a difference of drops."""
    rows = []
    for (model, recipe, bench, condition), cells in by_key.groupby(["model", "recipe", "bench", "condition"],
                                                                   sort=False):
        if ENGLISH not in set(cells["lang"]):
            continue
        spread = seed_spread.get(spread_columns.get(bench, bench)) if seed_spread else None
        english = example_runs(evaluations, model, recipe, bench, condition, {ENGLISH})
        for lang in [lang for lang in dict.fromkeys(cells["lang"]) if lang != ENGLISH]:
            mine = example_runs(evaluations, model, recipe, bench, condition, {lang})
            row = {"model": model, "recipe": recipe, "bench": bench, "condition": condition, "lang": lang,
                   "gap": cells.loc[cells["lang"] == lang, "gap"].mean(), "low": np.nan, "high": np.nan}
            single = min(len(mine), len(english)) < 2
            if all(run is not None for run in mine + english) and not (single and spread is None):
                result = compare_drops(mine, english, seed_spread=spread)
                row.update(gap=result.difference, low=result.low, high=result.high)
            rows.append(row)
    return pd.DataFrame(rows, columns=["model", "recipe", "bench", "condition", "lang", "gap", "low", "high"])


# ---------------------------------------------------------------------------- Q-adv
def q_adv(summary: pd.DataFrame, by_key: pd.DataFrame, gaps: pd.DataFrame | None = None,
          transfers: Mapping[str, str] | None = None) -> str:
    """What the numbers say about Q-adv, on XNLI where it is perturbed (else the first benchmark):
    the average case (perturbations), then the worst case (attacks, on their attacked examples, and
    `transfers`: transfer set -> the checkpoint its texts were made against)."""
    transfers = transfers or {}
    benches = list(dict.fromkeys(summary["bench"]))
    bench = HEADLINE_BENCH if HEADLINE_BENCH in benches else benches[0]
    lines = [f"Benchmark: **{bench}**; drops in points (clean minus perturbed), averaged over languages; "
             "intervals at 95%.\n"]
    mine = summary[summary["bench"] == bench]
    for attacked, title in ((False, "Average case (perturbations)"), (True, "Worst case (attacks)")):
        cases = mine[mine["attack"] == attacked]
        if cases.empty:
            continue
        lines.append(f"{title}:\n")
        for (model, condition), rows in cases.groupby(["model", "condition"], sort=False):
            lines.append(f"- **{condition}** ({model}): " + _transfer_sentence(transfers.get(condition))
                         + _success_sentence(rows)
                         + _condition_sentence(rows, by_key, model, bench, condition)
                         + _gap_sentence(gaps, model, bench, condition))
        lines.append("")
    return "\n".join(lines)


def _transfer_sentence(reference: str | None) -> str:
    """A transfer set favours every checkpoint but the one it was made against: say so."""
    if reference is None:
        return ""
    return (f"The texts were made against {reference}: its drop is its own attack's, the others' how far the "
            "attack transfers, so a smaller drop than the reference's is expected and no sign of robustness. ")


def _success_sentence(rows: pd.DataFrame) -> str:
    """An attack's success rate per recipe (share of attacked examples right clean and wrong attacked)."""
    rates = [f"`{r.recipe}` {number(r.success_rate)}%" for r in rows.itertuples(index=False)
             if not pd.isna(r.success_rate)]
    return f"Success rate {', '.join(rates)}. " if rates else ""


def _condition_sentence(rows: pd.DataFrame, by_key: pd.DataFrame, model: str, bench: str, condition: str) -> str:
    base = rows[rows["recipe"] == BASELINE]
    parts = []
    if not base.empty:
        b = base.iloc[0]
        parts.append(f"`{BASELINE}` drops {number(b['drop'])} (English {number(b['drop_en'])}, other languages "
                     f"{number(b['drop_non_en'])}).")
    effects, unclear, untested = [], [], []
    for row in rows[rows["recipe"] != BASELINE].itertuples(index=False):
        cell = f"`{row.recipe}` {_interval(row)}"
        if pd.isna(row.low):
            untested.append(f"`{row.recipe}` ({row.interval or 'no baseline'})")
        elif row.low > 0 or row.high < 0:
            b = base.iloc[0]  # an interval against `none` implies its row
            caveat = level_caveat(row.clean, b.clean, row.clean_low, row.clean_high,
                                  [(condition, row.drop, row.clean, b["drop"], b.clean)])
            effects.append(f"{cell}: it loses {'more' if row.vs_none > 0 else 'less'} than `{BASELINE}`"
                           + (f" ({caveat[0].lower()}{caveat[1:-1]})" if caveat else ""))
        else:
            unclear.append(cell)
    if effects:
        parts.append("Drop against `none`'s, where the interval excludes zero: " + "; ".join(effects) + ".")
    if unclear:
        parts.append("No difference from `none`'s drop can be told from noise for " + ", ".join(unclear) + ".")
    if untested:
        parts.append("No interval, so no comparison, for " + ", ".join(untested) + ".")
    langs = by_key[(by_key["model"] == model) & (by_key["bench"] == bench) & (by_key["condition"] == condition)]
    order = langs.groupby("lang")["drop"].mean().sort_values(ascending=False)
    parts.append("Mean drop by language over recipes and seeds, largest first: "
                 + ", ".join(f"{lang} {number(value)}" for lang, value in order.items())
                 + " (a ranking of languages, not a tested difference).")
    return " ".join(parts)


def _gap_sentence(gaps: pd.DataFrame | None, model: str, bench: str, condition: str) -> str:
    """`none`'s robustness gaps: the languages whose drop differs from English's beyond noise."""
    if gaps is None or gaps.empty:
        return ""
    mine = gaps[(gaps["model"] == model) & (gaps["recipe"] == BASELINE) & (gaps["bench"] == bench)
                & (gaps["condition"] == condition)]
    tested = mine[mine["low"].notna()]
    if tested.empty:
        return ""
    cells = [f"{r.lang} {signed(r.gap)} [{signed(r.low)}, {signed(r.high)}]" for r in tested.itertuples(index=False)]
    beyond = [cell for cell, r in zip(cells, tested.itertuples(index=False)) if r.low > 0 or r.high < 0]
    within = [cell for cell, r in zip(cells, tested.itertuples(index=False)) if not (r.low > 0 or r.high < 0)]
    text = f" Robustness gap of `{BASELINE}` (a language's drop minus English's):"
    if beyond:
        text += " beyond noise for " + ", ".join(beyond) + ";"
    if within:
        text += " within noise for " + ", ".join(within) + ";"
    return text.rstrip(";") + "."


# ---------------------------------------------------------------------------- rendering
def _summary_markdown(summary: pd.DataFrame) -> str:
    header = ["model", "benchmark", "perturbation", "recipe", "clean", "perturbed", "drop (± seeds)", "English",
              "others", "gap", "changed %", "drop − none's [95%]", "interval"]
    rows = [[r.model, r.bench, r.condition, r.recipe, number(r.clean), number(r.score), mean_std(r.drop, r.drop_std),
             number(r.drop_en), number(r.drop_non_en), signed(r.gap), number(r.changed), _interval(r), r.interval]
            for r in summary[~summary["attack"]].itertuples(index=False)]
    return markdown_table(header, rows)


def _attacks_markdown(summary: pd.DataFrame, by_key: pd.DataFrame, recipes: list[str]) -> str:
    """Recipes x attacks: the attacked examples' clean score, their score under attack, the success
    rate, the mean perturbation size and the passes per example; then the success rates by language."""
    attacks = summary[summary["attack"]]
    if attacks.empty:
        return ""
    header = ["model", "benchmark", "attack", "recipe", "clean", "attacked", "drop (± seeds)", "success %", "size",
              "passes (fwd/bwd)", "drop − none's [95%]", "interval"]
    rows = [[r.model, r.bench, r.condition, r.recipe, number(r.clean), number(r.score), mean_std(r.drop, r.drop_std),
             number(r.success_rate), number(r.perturbation_size), f"{number(r.forward_passes)}/{number(r.backward_passes)}",
             _interval(r), r.interval] for r in attacks.itertuples(index=False)]
    return ("## Recipes and attacks\n\nOn each language's attacked examples (`max_examples`): their clean score, "
            "their score under attack, the success rate (right on clean input, wrong under attack; classification "
            "and multiple choice), the mean perturbation size (PGD: the norm of each sequence's perturbation; word "
            "attacks: the words changed) and "
            "the passes per example (PGD: per feature row). A transfer set (`<attack>-transfer`) is the "
            "texts of the attack on one reference checkpoint, scored by every recipe.\n\n"
            + markdown_table(header, rows) + "\n" + _success_markdown(by_key, recipes) + "\n")


def _interval(row) -> str:
    if pd.isna(row.vs_none):
        return MISSING
    if pd.isna(row.low):
        return signed(row.vs_none)
    return f"{signed(row.vs_none)} [{signed(row.low)}, {signed(row.high)}]"


def _per_language_markdown(by_key: pd.DataFrame, recipes: list[str], column: str = "drop",
                           title: str = "drop by language") -> str:
    """Per condition, `column` by recipe and language (means over seeds)."""
    sections = []
    for (model, bench, condition), cells in by_key.groupby(["model", "bench", "condition"], sort=False):
        langs = list(dict.fromkeys(cells["lang"]))
        mean = cells.groupby(["recipe", "lang"])[column].mean()
        rows = [[recipe] + [number(mean.get((recipe, lang), np.nan)) for lang in langs]
                for recipe in recipes if recipe in set(cells["recipe"])]
        sections.append(f"### {bench} under {condition} ({model}): {title}\n\n" + markdown_table(["recipe", *langs], rows))
    return "\n".join(sections)


def _success_markdown(by_key: pd.DataFrame, recipes: list[str]) -> str:
    """Per attack, the success rate by recipe and language."""
    return _per_language_markdown(by_key[by_key["success_rate"].notna()], recipes, "success_rate",
                                  "success rate % by language")


def _smoothing_markdown(by_key: pd.DataFrame, recipes: list[str]) -> str:
    """Per smoothed evaluation (a vote over random copies of each input), the share of unanimous votes."""
    voted = by_key[by_key["stable"].notna()]
    if voted.empty:
        return ""
    return ("## Randomized smoothing\n\nA smoothed condition's score is the majority vote over random copies of "
            "each input (xstilts.robust_training.smoothing); its drop is the plain (clean) score minus the vote's, "
            "negative where voting helps. The share of examples whose copies all voted alike:\n\n"
            + _per_language_markdown(voted, recipes, "stable", "unanimous votes % by language") + "\n")


def _mixed_markdown(by_key: pd.DataFrame, recipes: list[str], mixed: Mapping[str, tuple[str, str]]) -> str:
    """The language x language tables of mixed pairs with several partners: per recipe, the score
    with the other text of each pair in the column's language (the diagonal is the clean score)."""
    cells = by_key[by_key["condition"].isin(list(mixed))].copy()
    if cells.empty:
        return ""
    cells["base"] = cells["condition"].map(lambda c: mixed[c][0])
    cells["partner"] = cells["condition"].map(lambda c: mixed[c][1])
    sections = ["## Mixed pairs: language x language\n\nScore with one text of each pair in the evaluated "
                "language (row) and the other in the partner language (column), means over seeds.\n"]
    for (model, bench, base), group in cells.groupby(["model", "bench", "base"], sort=False):
        langs = list(dict.fromkeys(group["lang"]))
        partners = [partner for b, partner in mixed.values() if b == base and partner in set(group["partner"])]
        for recipe in [r for r in recipes if r in set(group["recipe"])]:
            score = group[group["recipe"] == recipe].groupby(["lang", "partner"])["score"].mean()
            rows = [[lang] + [number(score.get((lang, partner), np.nan)) for partner in partners] for lang in langs]
            sections.append(f"### {bench} {base}, {recipe} ({model})\n\n" + markdown_table(["language", *partners], rows))
    return "\n".join(sections) + "\n"


def _latex(summary: pd.DataFrame) -> str:
    header = ["benchmark", "perturbation", "recipe", "clean", "drop", r"drop $-$ none's [95\%]"]
    blocks, notes = [], []
    for (model, bench), rows in summary.groupby(["model", "bench"], sort=False):
        notes.append(latex_escape(f"{bench} ({model})"))
        blocks.append([[latex_escape(r.bench), latex_escape(r.condition), latex_escape(r.recipe), number(r.clean),
                        mean_std(r.drop, r.drop_std, r"$\pm$"), latex_escape(_interval(r))]
                       for r in rows.itertuples(index=False)])
    return "\n".join(latex_tabular(header, blocks, notes)) + "\n"


def _plot_drops(by_key: pd.DataFrame, recipes: list[str]) -> Figure:
    groups = list(by_key.groupby(["model", "bench", "condition"], sort=False))
    if not groups:
        return note_figure("no perturbed evaluation")
    figure = new_figure(min(24.0, 4.0 + 0.6 * by_key["lang"].nunique() * len(recipes) / 2), 2.6 * len(groups))
    colors = colormaps["tab10"]
    for ax, ((model, bench, condition), cells) in zip(np.atleast_1d(figure.subplots(len(groups), 1)), groups):
        langs = list(dict.fromkeys(cells["lang"]))
        shown = [r for r in recipes if r in set(cells["recipe"])]
        width = 0.8 / max(len(shown), 1)
        for i, recipe in enumerate(shown):
            per_lang = cells[cells["recipe"] == recipe].groupby("lang")["drop"]
            means, stds = per_lang.mean().reindex(langs), per_lang.std(ddof=1).reindex(langs)
            ax.bar(np.arange(len(langs)) + i * width - 0.4 + width / 2, means, width, yerr=stds.fillna(0),
                   label=recipe, color=colors(i % 10))
        ax.axhline(0, color="black", linewidth=0.5)
        ax.set_xticks(np.arange(len(langs)), langs)
        ax.set_ylabel("drop (points)")
        ax.set_title(f"{bench} under {condition} ({model})")
        ax.legend(fontsize="small", ncols=min(len(shown), 6))
    return figure


def write_section(evaluations: Mapping[Key, Evaluation], out_dir: Path, *, recipes: list[str], benches: list[str],
                  seed_spread: Mapping[str, tuple[float, float]] | None, spread_columns: Mapping[str, str],
                  sets: pd.DataFrame | None = None, mixed: Mapping[str, tuple[str, str]] | None = None,
                  transfers: Mapping[str, str] | None = None) -> str:
    """Write ROBUSTNESS_FILES; returns the Q-adv answer (Markdown) for the report's index. `mixed`:
    condition -> (mixed_pair perturbation, partner language), for the language x language tables of
    mixed pairs with several partners."""
    transfers = dict(transfers or {})
    by_key = per_language(evaluations, benches, transfers)
    recipes = list(dict.fromkeys([*recipes, *by_key["recipe"]]))
    summary = summary_table(evaluations, by_key, recipes, seed_spread, spread_columns)
    gaps = gap_table(evaluations, by_key, seed_spread, spread_columns)
    answer = q_adv(summary, by_key, gaps, transfers)
    write_csv(out_dir / "robustness_per_language.csv", by_key)
    write_csv(out_dir / "robustness_table.csv", summary)
    write_csv(out_dir / "robustness_gaps.csv", gaps)
    write_text(out_dir / "robustness.md", "# Robustness\n\n"
               "Drops are clean minus perturbed score, in points; the gap is a language's drop minus English's; "
               "`changed %` is the share of examples whose prediction changed. "
               f"{_INTERVALS}\n\n## Q-adv\n\n{answer}\n## Recipes and perturbations\n\n{_summary_markdown(summary)}\n"
               f"{_attacks_markdown(summary, by_key, recipes)}{_smoothing_markdown(by_key, recipes)}"
               f"## By language\n\n{_per_language_markdown(by_key, recipes)}\n"
               f"{_mixed_markdown(by_key, recipes, mixed or {})}"
               f"## What the perturbations changed\n\n{_sets_markdown(sets if sets is not None else load_set_summaries([]))}\n"
               "![Drop by language](robustness_drops.png)\n")
    write_text(out_dir / "robustness.tex", _latex(summary))
    write_figure(out_dir, "robustness_drops", _plot_drops(by_key, recipes))
    return answer


_INTERVALS = ("`drop − none's` is a recipe's mean drop minus that of `none`, with a 95% interval from a paired "
              "bootstrap over examples (pooled over languages) and the seeds: resampled where both sides have two "
              "or more, the measured seed spread of the clean score (report.seed_spread) where one has one.")
