"""Paper-style report of an xstilts run: tables (CSV, Markdown, LaTeX), figures (PNG, PDF), index.

Conventions, as XTREME and Phang et al. 2020 report them:
- a benchmark's score for one seed is the mean of `score` over all of its test languages,
  English included;
- a table cell is the mean +- sample standard deviation (ddof=1) over seeds;
- QA benchmarks are shown twice, as F1 and as (EM+F1)/2, because the two overall averages
  differ there: XTREME's leaderboard counts F1, jiant's headline counts (EM+F1)/2;
- deltas are differences of means against `none` (the plain pretrained model) of the same model,
  each with its 95% interval (xstilts.stats): no change is shown without a measure of its noise.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.figure import Figure

from .. import stats
from ..config import CLEAN
from ..layout import ALIGNMENT_FILES, DIRECT_FILES, REPORT_FILES, ROBUST_INT_FILES, ROBUSTNESS_FILES, SCALING_FILES
from . import direct as direct_section
from . import robust_intermediate as robust_int_section
from . import scaling as scaling_section
from . import robustness as robustness_section
from .rows import SEPARATOR, FurtherTargets, row_benches, row_label, row_order
from .render import (MISSING, latex_escape, latex_label, latex_signed, latex_tabular, markdown_table, mean_std,
                     new_figure, note_figure, number, signed, write_csv, write_figure, write_text)
from .selection import selection_markdown

BASELINE = "none"
# (model, recipe, benchmark) -> (its target, the settings that keep the target from being trained after
# the recipe on the model): the main-table cells the config does not run (Plan.not_crossed).
NotCrossed = Mapping[tuple[str, str, str], tuple[str, str]]
ENGLISH = "en"
AVG_XTREME = "avg (XTREME: F1 for QA)"
AVG_JIANT = "avg (jiant: (EM+F1)/2 for QA)"
AVERAGE_KINDS = ("avg_xtreme", "avg_jiant")
STAGES = ("pretrain", "intermediate", "target")
REQUIRED_RESULT_KEYS = ("model", "recipe", "bench", "seed", "lang", "score", "metrics")
RESULT_KEY = ["model", "recipe", "bench", "seed", "lang"]
# Beyond this many runs a legend hides the curves it labels.
MAX_LEGEND_RUNS = 16
MAX_FIGURE_WIDTH = 24.0  # inches


FILE_DESCRIPTIONS = {
    "main_table.csv": "main table, one row per (model, recipe, column): mean, std, n_seeds, delta",
    "main_table.md": "main table (Markdown)",
    "main_table.tex": "main table (LaTeX, booktabs)",
    "per_language.csv": "per-language scores, one row per (model, bench, recipe, lang)",
    "per_language.md": "per-language tables (Markdown)",
    "per_language.tex": "per-language tables (LaTeX, booktabs, graphicx)",
    "deltas_heatmap.png": "heatmap of changes against none",
    "deltas_heatmap.pdf": "heatmap of changes against none (PDF)",
    "per_language_bars.png": "per-language scores by recipe",
    "per_language_bars.pdf": "per-language scores by recipe (PDF)",
    "training_curves.png": "dev score and training loss against step, per stage",
    "training_curves.pdf": "dev score and training loss against step, per stage (PDF)",
    "robustness_per_language.csv": "per perturbed or attacked key and language: clean, perturbed, drop, relative "
                                   "drop, changed predictions, robustness gap; an attack's success rate, size and "
                                   "passes",
    "robustness_table.csv": "per recipe and perturbation: drops over languages, and against none's with intervals",
    "robustness_gaps.csv": "per recipe, perturbation and language: the robustness gap (drop minus English's) "
                           "with its interval",
    "robustness.md": "robustness section: Q-adv (average and worst case), recipes x perturbations, recipes x "
                     "attacks, drops and success rates by language (Markdown)",
    "robustness.tex": "recipes x perturbations and attacks table (LaTeX, booktabs)",
    "robustness_drops.png": "drop by language under each perturbation, per recipe",
    "robustness_drops.pdf": "drop by language under each perturbation, per recipe (PDF)",
    "q_direct.csv": "Q-direct: per compared pair of settings, group or language and condition, both settings' clean "
                    "score or drop and their difference with its interval",
    "q_direct_gaps.csv": "Q-direct: per setting compared and condition, its robustness gap (the other languages' drop "
                         "minus English's) with its interval",
    "q_direct.md": "Q-direct: English intermediate training against direct multilingual fine-tuning, with the answer",
    "q_direct_drops.png": "drop by language under each condition, per setting Q-direct compares",
    "q_direct_drops.pdf": "drop by language under each condition, per setting Q-direct compares (PDF)",
    "q_direct_distance.png": "per language, the difference of drops Q-direct compares against its distance to English",
    "q_direct_distance.pdf": "per language, the difference of drops Q-direct compares against its distance to English "
                             "(PDF)",
    "q_scale.md": "Q-scale: per recipe, benchmark and language group, the clean score and each drop by model size, "
                  "and each larger model against the smallest with its interval",
    "q_scale.csv": "Q-scale: each larger model minus the smallest, per recipe, benchmark, group and condition, "
                   "with its interval",
    "q_scale_sizes.csv": "Q-scale: per model, its parameters and each clean score and drop (mean and seeds' sd)",
    "q_scale.png": "Q-scale: clean score and drops against parameters (log axis), per recipe and group",
    "q_scale.pdf": "Q-scale: clean score and drops against parameters (log axis), per recipe and group",
    "q_robust_int.csv": "Q-robust-int: per recipe trained otherwise and the English-only recipe, group or language, "
                        "condition and measure (score, drop), both recipes' values and their difference with its "
                        "paired interval",
    "q_robust_int.md": "Q-robust-int: recipes trained on augmented, adversarial or non-English data against "
                       "English-only intermediate training, clean and perturbed, with the answer",
    "q_robust_int_distance.png": "per language, each recipe's gain in score over English-only against its distance to "
                                 "English, clean and under each condition",
    "q_robust_int_distance.pdf": "per language, each recipe's gain in score over English-only against its distance to "
                                 "English, clean and under each condition (PDF)",
    "alignment.md": "Q-align: cross-lingual alignment per layer, clean and perturbed, against none's, with the answer",
    "q_align.csv": "Q-align: per compared checkpoint, set, condition and layer, the centred retrieval (clean) or its "
                   "drop (perturbed) of both checkpoints and their difference with its interval",
    "q_align_correlation.csv": "Q-align: per benchmark and layer, Spearman's rho across languages between the target "
                               "checkpoints' alignment (clean, perturbed, its drop) and their zero-shot scores",
    "q_align_cka.csv": "Q-align: per compared checkpoint, set, condition and layer, linear CKA (clean) or its drop "
                       "(perturbed) of both checkpoints and their difference, with an interval over seeds",
    "q_align_seeds.csv": "Q-align: per checkpoint, set, condition and layer, the centred retrieval (clean) or its drop "
                         "over seeds (mean, std): `python -m xstilts.stats` makes a seed-spread file of a multi-seed run's",
    "alignment_layers.csv": "every alignment measure per checkpoint, set, condition and layer, over languages and seeds",
    "alignment_layers.png": "alignment measures against layer, per recipe's encoder and target checkpoints",
    "alignment_layers.pdf": "alignment measures against layer, per recipe's encoder and target checkpoints (PDF)",
    "alignment_heatmap.png": "recipe x layer: change of clean alignment and of its drop against none",
    "alignment_heatmap.pdf": "recipe x layer: change of clean alignment and of its drop against none (PDF)",
}


@dataclass(frozen=True)
class Column:
    """One column of the main table: a benchmark under one metric, or an overall average."""

    label: str
    kind: str  # "score", "f1", "em_f1", "avg_xtreme" or "avg_jiant"
    bench: str | None = None  # None for the averages

    @property
    def measure(self) -> str:
        """The per-seed value this column averages: XTREME's (F1 for QA) or jiant's."""
        return "score_jiant" if self.kind in ("em_f1", "avg_jiant") else "score"

    @property
    def is_average(self) -> bool:
        return self.bench is None


# ---------------------------------------------------------------------------- loading


def load_results(paths: Iterable[str | os.PathLike], further_targets: FurtherTargets = ()) -> list[dict]:
    """Read evaluation scores files (xstilts.evaluation.evaluate): one result dict per language, its
    `recipe` the report's row (report.rows: `recipe / target` for a benchmark's further targets)."""
    return [{**result, "recipe": row_label(result["recipe"], result.get("target"), result["bench"], further_targets)}
            for path in paths for result in _load_scores(Path(path))]


def _load_scores(path: Path) -> list[dict]:
    try:
        scores = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: not valid JSON ({error})") from error
    if not isinstance(scores, dict) or not isinstance(scores.get("results"), list):
        raise ValueError(f"{path}: expected a JSON object with a list of results under 'results'")
    return [_checked_result(path, number, result) for number, result in enumerate(scores["results"], start=1)]


def _checked_result(path: Path, number: int, result) -> dict:
    where = f"{path}, result {number}"
    if not isinstance(result, dict):
        raise ValueError(f"{where}: expected a JSON object, got {type(result).__name__}")
    for key in REQUIRED_RESULT_KEYS:
        if key not in result:
            raise ValueError(f"{where}: missing required key {key!r}")
    if not _is_number(result["score"]):
        raise ValueError(f"{where}: key 'score' must be a number, got {result['score']!r}")
    return result


def load_train_logs(paths_by_name: Mapping[str, str | os.PathLike]) -> dict[str, list[dict]]:
    """Read training logs (JSON lines), keyed by run name such as "intermediate/mnli/seed1"."""
    return {name: _read_jsonl(Path(path)) for name, path in paths_by_name.items()}


def _read_jsonl(path: Path) -> list[dict]:
    lines = []
    for line_number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            lines.append(json.loads(line))
        except json.JSONDecodeError as error:
            raise ValueError(f"{path}, line {line_number}: not valid JSON ({error})") from error
    return lines


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


# ---------------------------------------------------------------------------- tables


def _results_frame(results: list[dict], qa_benches: set[str]) -> pd.DataFrame:
    """One row per (model, recipe, bench, seed, lang) with XTREME's and jiant's score."""
    frame = pd.DataFrame(
        [_result_row(result, qa_benches) for result in results],
        columns=RESULT_KEY + ["score", "score_jiant"],
    )
    duplicated = frame.duplicated(RESULT_KEY, keep=False)
    if duplicated.any():
        # Two files for one key would be averaged silently and skew the cell.
        first = frame.loc[duplicated, RESULT_KEY].iloc[0].to_dict()
        raise ValueError(f"several results for {first}")
    return frame


def _result_row(result: dict, qa_benches: set[str]) -> dict:
    row = {key: result[key] for key in RESULT_KEY}
    row["score"] = float(result["score"])
    row["score_jiant"] = _em_f1(result) if result["bench"] in qa_benches else row["score"]
    return row


def _em_f1(result: dict) -> float:
    """jiant's QA score, (EM+F1)/2; `score` must be the F1 it is paired with."""
    metrics = result["metrics"]
    where = "/".join(str(result[key]) for key in RESULT_KEY)
    for key in ("f1", "exact_match"):
        if not _is_number(metrics.get(key)):
            raise ValueError(f"QA result {where}: metrics lacks a numeric {key!r}")
    if not math.isclose(metrics["f1"], result["score"], abs_tol=1e-6):
        # Catches a 0-1 against 0-100 mix-up, or a score that is not F1.
        raise ValueError(f"QA result {where}: score {result['score']} differs from F1 {metrics['f1']}")
    return (metrics["f1"] + metrics["exact_match"]) / 2


def _ordered(preferred: Iterable[str], present: Iterable[str], first: str | None = None) -> list[str]:
    """`first`, then the preferred order, then anything present but unlisted (sorted), no repeats."""
    order = ([first] if first else []) + list(preferred)
    order += sorted(set(present) - set(order))
    return list(dict.fromkeys(order))


def _model_rows(frame: pd.DataFrame, models: list[str], recipes: list[str],
                model_recipes: Mapping[str, Collection[str]] | None) -> dict[str, list[str]]:
    """Model -> its rows: every row, or for a model that runs some recipes only (models.<m>.recipes and
    .targets: a second size crossed with a few) the rows of its recipes, a further target's row only
    where the model has results in it."""
    rows_of = {}
    for model in models:
        runs = (model_recipes or {}).get(model)
        if runs is None or set(runs) >= {label.split(SEPARATOR, 1)[0] for label in recipes}:
            rows_of[model] = list(recipes)
            continue
        present = set(frame.loc[frame["model"] == model, "recipe"])
        rows_of[model] = [label for label in recipes if label.split(SEPARATOR, 1)[0] in runs
                          and (SEPARATOR not in label or label in present)]
    return rows_of


def _main_columns(benches: list[str], qa_benches: set[str]) -> list[Column]:
    columns = []
    for bench in benches:
        if bench in qa_benches:
            columns.append(Column(f"{bench} F1", "f1", bench))
            columns.append(Column(f"{bench} (EM+F1)/2", "em_f1", bench))
        else:
            columns.append(Column(bench, "score", bench))
    columns.append(Column(AVG_XTREME, "avg_xtreme"))
    columns.append(Column(AVG_JIANT, "avg_jiant"))
    return columns


def _seed_scores(frame: pd.DataFrame) -> tuple[pd.DataFrame, list[dict]]:
    """Scores per (model, recipe, bench, seed), averaged over languages.

    A seed evaluated on fewer languages than its benchmark has is left out: its mean would
    not be comparable with the others. Each one left out is returned as an issue.
    """
    keys = ["model", "recipe", "bench", "seed"]
    grouped = frame.groupby(keys, sort=False)
    scores = grouped[["score", "score_jiant"]].mean().reset_index()
    languages = grouped["lang"].agg(frozenset).to_numpy()
    expected = frame.groupby(["model", "bench"])["lang"].agg(frozenset)
    issues, complete = [], []
    for row, langs in zip(scores.itertuples(index=False), languages):
        lacking = expected[(row.model, row.bench)] - langs
        complete.append(not lacking)
        if lacking:
            problem = f"seed {row.seed} lacks {', '.join(sorted(lacking))}; that seed is left out"
            issues.append({"model": row.model, "recipe": row.recipe, "column": row.bench, "problem": problem})
    return scores[complete].reset_index(drop=True), issues


def _seed_values(scores: pd.DataFrame, model: str, recipe: str, column: Column, benches: list[str]) -> pd.Series:
    """The column's value for each seed of one (model, recipe)."""
    mine = scores[(scores["model"] == model) & (scores["recipe"] == recipe)]
    if not column.is_average:
        return mine.loc[mine["bench"] == column.bench].set_index("seed")[column.measure]
    by_seed = mine.pivot(index="seed", columns="bench", values=column.measure)
    # An average is defined only for seeds that have every benchmark of the table.
    return by_seed.reindex(columns=benches).dropna().mean(axis=1)


def _summary(values: pd.Series) -> dict:
    return {
        "mean": values.mean() if len(values) else np.nan,
        "std": values.std(ddof=1) if len(values) > 1 else np.nan,
        "n_seeds": len(values),
    }


def _with_deltas(table: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Add `delta`: the mean minus the mean of `none` in the same `by` group."""
    baseline = table[table["recipe"] == BASELINE].set_index(by)["mean"]
    keys = pd.MultiIndex.from_frame(table[by]) if len(by) > 1 else table[by[0]]
    table = table.copy()
    table["delta"] = table["mean"].to_numpy() - baseline.reindex(keys).to_numpy()
    return table


def _main_table(scores, rows_of: Mapping[str, list[str]], columns, seed_spread=None) -> pd.DataFrame:
    benches = list(dict.fromkeys(column.bench for column in columns if not column.is_average))
    rows = []
    for model, recipes in rows_of.items():
        for recipe in recipes:
            for column in columns:
                values = _seed_values(scores, model, recipe, column, benches)
                rows.append({"model": model, "recipe": recipe, "column": column.label, "bench": column.bench,
                             "kind": column.kind, **_summary(values)})
    return _with_delta_intervals(_with_deltas(pd.DataFrame(rows), by=["model", "column"]), seed_spread)


def _with_delta_intervals(main: pd.DataFrame, seed_spread: Mapping[str, tuple[float, float]] | None) -> pd.DataFrame:
    """Add `delta_half_width` (of the change's 95% interval) and `interval_from`: the seeds of the
    two cells (Welch), or, where a side has one seed, the reference spread measured once."""
    baseline = main[main["recipe"] == BASELINE].set_index(["model", "column"])
    half_widths, sources = [], []
    for row in main.itertuples(index=False):
        half, source = np.nan, ""
        if row.recipe != BASELINE and not pd.isna(row.delta):
            base = baseline.loc[(row.model, row.column)]
            if row.n_seeds >= 2 and base["n_seeds"] >= 2:
                half, source = stats.welch_half_width(row.std, row.n_seeds, base["std"], base["n_seeds"]), "seeds"
            elif seed_spread and row.column in seed_spread:
                std, df = seed_spread[row.column]
                half, source = stats.reference_half_width(std, df, row.n_seeds, base["n_seeds"]), "seed_spread"
        half_widths.append(half)
        sources.append(source)
    return main.assign(delta_half_width=half_widths, interval_from=sources)


def _languages(langs: Iterable[str]) -> list[str]:
    """English first, as the paper's tables, then the rest alphabetically."""
    langs = set(langs)
    return ([ENGLISH] if ENGLISH in langs else []) + sorted(langs - {ENGLISH})


def _per_language_table(frame, rows_of: Mapping[str, list[str]], benches, qa_benches,
                        further_targets=()) -> pd.DataFrame:
    """One row per (model, bench, recipe, lang); a further target's row only for the benchmarks it feeds."""
    stats = frame.groupby(["model", "bench", "recipe", "lang"])["score"].agg(["mean", "std", "count"])
    rows = []
    for model, recipes in rows_of.items():
        for bench in benches:
            present = frame[(frame["model"] == model) & (frame["bench"] == bench)]
            for recipe in [r for r in recipes if bench in (row_benches(r, further_targets) or {bench})]:
                for lang in _languages(present["lang"].unique()):
                    key = (model, bench, recipe, lang)
                    found = stats.loc[key] if key in stats.index else None
                    rows.append({
                        "model": model, "bench": bench, "metric": "F1" if bench in qa_benches else "score",
                        "recipe": recipe, "lang": lang,
                        "mean": found["mean"] if found is not None else np.nan,
                        "std": found["std"] if found is not None else np.nan,
                        "n_seeds": int(found["count"]) if found is not None else 0,
                    })
    columns = ["model", "bench", "metric", "recipe", "lang", "mean", "std", "n_seeds"]
    return _with_deltas(pd.DataFrame(rows, columns=columns), by=["model", "bench", "lang"])


def _cell_issues(main: pd.DataFrame, seeds_by_model: Mapping[str, int],
                 not_crossed: NotCrossed | None = None, further_targets: FurtherTargets = ()) -> list[dict]:
    """Main-table cells with no value, or with fewer seeds than the model was run with; a cell the
    config does not run (`not_crossed`) says so instead. A further target's row has no cell for the
    benchmarks it does not feed, nor averages."""
    issues = []
    for row in main.itertuples(index=False):
        expected = seeds_by_model[row.model]
        if row.n_seeds >= expected:
            continue
        held = row_benches(row.recipe, further_targets)
        if held is not None and (row.kind in AVERAGE_KINDS or row.bench not in held):
            continue
        skipped = (not_crossed or {}).get((row.model, row.recipe, row.bench))
        if skipped is not None:
            target, settings = skipped
            issues.append({"model": row.model, "recipe": row.recipe, "column": row.column,
                           "problem": f"not run: {target} is not trained after this recipe ({settings})"})
            continue
        found = "no seed" if row.n_seeds == 0 else f"{row.n_seeds} of {expected} seeds"
        verb = "has" if row.n_seeds <= 1 else "have"
        # An average needs every benchmark of the table from one seed.
        problem = f"{found} {verb} {'results on every benchmark' if row.kind in AVERAGE_KINDS else 'results'}"
        issues.append({"model": row.model, "recipe": row.recipe, "column": row.column, "problem": problem})
    return issues


# ---------------------------------------------------------------------------- formatting


def _grid(table: pd.DataFrame, model: str, recipes: list[str], labels: list[str], by: str) -> pd.DataFrame:
    """One model's table reshaped to recipes x labels (columns of the main table, or languages)."""
    mine = table[table["model"] == model]
    return mine.set_index(["recipe", by]).reindex(pd.MultiIndex.from_product([recipes, labels], names=["recipe", by]))


def _main_markdown(main, rows_of: Mapping[str, list[str]], columns) -> str:
    labels = [column.label for column in columns]
    recipes = list(dict.fromkeys(recipe for rows in rows_of.values() for recipe in rows))
    parts = ["Cells: mean ± sample std over seeds (the mean alone where one seed); "
             f"{MISSING} where there is no result. Benchmark score = mean over all its test languages, "
             "English included. QA benchmarks appear as F1 and as (EM+F1)/2.\n"]
    if any(SEPARATOR in recipe for recipe in recipes):
        parts.append(f"A recipe's row scores each benchmark on the first target that feeds it; a row `recipe{SEPARATOR}"
                     "target` scores the benchmarks of a further target of theirs (multilingual fine-tuning, say) "
                     "on that target's checkpoints, and has no averages.\n")
    for model, recipes in rows_of.items():
        grid = _grid(main, model, recipes, labels, by="column")
        scores = [[recipe] + [mean_std(*grid.loc[(recipe, label), ["mean", "std"]]) for label in labels]
                  for recipe in recipes]
        deltas = [[recipe] + [_delta_cell(*grid.loc[(recipe, label), ["delta", "delta_half_width"]]) for label in labels]
                  for recipe in recipes if recipe != BASELINE]
        parts.append(f"### {model}\n")
        parts.append(markdown_table(["recipe"] + labels, scores))
        parts.append(f"Change against `{BASELINE}` (difference of means, points) ± the half-width of its 95% "
                     f"interval; in italics where the interval contains 0: such a change cannot be told from "
                     f"seed noise. {_interval_note(grid)}\n")
        parts.append(markdown_table(["recipe"] + labels, deltas))
    return "\n".join(parts)


def _delta_cell(delta: float, half_width: float) -> str:
    if pd.isna(delta) or pd.isna(half_width):
        return signed(delta)
    cell = f"{signed(delta)} ± {half_width:.1f}"
    return f"_{cell}_" if abs(delta) <= half_width else cell


def _interval_note(grid: pd.DataFrame) -> str:
    """Where the intervals come from, said plainly; and a warning where there are none."""
    sources = set(grid["interval_from"].dropna()) - {""}
    notes = []
    if "seeds" in sources:
        notes.append("Intervals from the seeds of both cells (Welch's t).")
    if "seed_spread" in sources:
        notes.append("This run has one seed: intervals from the seed spread measured once on this config with "
                     "more seeds (report.seed_spread).")
    lacking = grid[(grid.index.get_level_values("recipe") != BASELINE) & grid["delta"].notna()
                   & grid["delta_half_width"].isna()]
    if len(lacking):
        notes.append("Changes without an interval rest on one seed and no measured spread: "
                     "they are no evidence of an effect.")
    return " ".join(notes)


def _issues_markdown(issues: list[dict]) -> str:
    if not issues:
        return "None: every cell has results from every seed.\n"
    return "".join(f"- {i['model']} / {i['recipe']} / {i['column']}: {i['problem']}\n" for i in issues)


def _main_latex(main, rows_of: Mapping[str, list[str]], columns) -> str:
    labels = [column.label for column in columns]
    header = ["recipe"] + [latex_escape(label) for label in labels]
    lines = ["% Generated by xstilts.report; needs \\usepackage{booktabs}."]
    for model, recipes in rows_of.items():
        grid = _grid(main, model, recipes, labels, by="column")
        scores = [[latex_escape(recipe)]
                  + [mean_std(*grid.loc[(recipe, label), ["mean", "std"]], plus_minus=r"$\pm$").replace(MISSING, "--")
                     for label in labels] for recipe in recipes]
        deltas = [[latex_escape(recipe)] + [_latex_delta(*grid.loc[(recipe, label), ["delta", "delta_half_width"]])
                                             for label in labels] for recipe in recipes if recipe != BASELINE]
        lines += [r"\begin{table}[t]", r"\centering", r"\small"]
        lines += latex_tabular(header, [scores, deltas], [None, f"change against {BASELINE}"])
        caption = (f"{latex_escape(model)}: mean $\\pm$ sample std over seeds; change against "
                   f"{BASELINE} below, $\\pm$ the half-width of its 95\\% interval, in italics where "
                   "the interval contains 0. QA as F1 and (EM+F1)/2.")
        lines += [rf"\caption{{{caption}}}", rf"\label{{{latex_label('main', model)}}}", r"\end{table}", ""]
    return "\n".join(lines)


def _latex_delta(delta: float, half_width: float) -> str:
    if pd.isna(delta) or pd.isna(half_width):
        return latex_signed(delta)
    cell = f"{latex_signed(delta)} $\\pm$ {half_width:.1f}"
    return rf"\textit{{{cell}}}" if abs(delta) <= half_width else cell


def _with_delta(mean: float, delta: float, recipe: str) -> str:
    if pd.isna(mean) or recipe == BASELINE:
        return number(mean)
    return f"{mean:.1f} ({signed(delta)})"


def _per_language_sections(per_language: pd.DataFrame, recipes):
    """(model, bench, metric, languages, its recipes' rows, table) for each per-language table, in
    table order."""
    for (model, bench), table in per_language.groupby(["model", "bench"], sort=False):
        shown = [recipe for recipe in recipes if recipe in set(table["recipe"])]
        yield model, bench, table["metric"].iloc[0], list(dict.fromkeys(table["lang"])), shown, table


def _per_language_markdown(per_language, all_recipes) -> str:
    parts = ["Mean over seeds per language; in brackets the change against `none`.\n"]
    for model, bench, metric, langs, recipes, table in _per_language_sections(per_language, all_recipes):
        grid = _grid(table, model, recipes, langs, by="lang")
        rows = [[recipe] + [_with_delta(*grid.loc[(recipe, lang), ["mean", "delta"]], recipe) for lang in langs]
                for recipe in recipes]
        parts.append(f"### {model}: {bench} ({metric})\n")
        parts.append(markdown_table(["recipe"] + langs, rows))
    return "\n".join(parts)


def _per_language_latex(per_language, all_recipes) -> str:
    lines = ["% Generated by xstilts.report; needs \\usepackage{booktabs,graphicx}."]
    for model, bench, metric, langs, recipes, table in _per_language_sections(per_language, all_recipes):
        grid = _grid(table, model, recipes, langs, by="lang")
        rows = []
        for recipe in recipes:
            cells = []
            for lang in langs:
                mean, delta = grid.loc[(recipe, lang), ["mean", "delta"]]
                cell = number(mean).replace(MISSING, "--")
                if recipe != BASELINE and not pd.isna(mean):
                    cell += rf" {{\scriptsize {latex_signed(delta)}}}"
                cells.append(cell)
            rows.append([latex_escape(recipe)] + cells)
        header = ["recipe"] + [latex_escape(lang) for lang in langs]
        # Benchmarks with 30-40 languages are wider than a page: scale to the text width.
        lines += [r"\begin{table}[t]", r"\centering", r"\resizebox{\textwidth}{!}{%"]
        lines += latex_tabular(header, [rows], [None])
        caption = (f"{latex_escape(model)}, {latex_escape(bench)} ({metric}) per language; "
                   f"change against {BASELINE} in small type.")
        label = latex_label("lang", model, bench)
        lines += ["}", rf"\caption{{{caption}}}", rf"\label{{{label}}}", r"\end{table}", ""]
    return "\n".join(lines)


def _index_markdown(title: str, main_markdown: str, issues: list[dict], q_adv: str | None = None,
                    q_direct: str | None = None, selection: Mapping[str, str] | None = None,
                    alignment: bool = False, q_robust_int: str | None = None, q_scale: str | None = None) -> str:
    names = [name for name in REPORT_FILES if name != "index.md"] + (list(ROBUSTNESS_FILES) if q_adv else [])
    names += list(DIRECT_FILES) if q_direct else []
    names += list(ROBUST_INT_FILES) if q_robust_int else []
    names += list(SCALING_FILES) if q_scale else []
    names += list(ALIGNMENT_FILES) if alignment else []
    links = "".join(f"- [{name}]({name}): {FILE_DESCRIPTIONS[name]}\n" for name in names)
    robustness = f"## Robustness (Q-adv)\n\n{q_adv}\nTables and figure: [robustness.md](robustness.md).\n\n" if q_adv else ""
    if q_direct:
        robustness += (f"## Direct multilingual fine-tuning (Q-direct)\n\n{q_direct}\n"
                       "Tables and figure: [q_direct.md](q_direct.md).\n\n")
    if q_robust_int:
        robustness += (f"## Robust and multilingual intermediate training (Q-robust-int)\n\n{q_robust_int}\n"
                       "Tables and figure: [q_robust_int.md](q_robust_int.md).\n\n")
    if q_scale:
        robustness += f"## Model size (Q-scale)\n\n{q_scale}\nTables and figure: [q_scale.md](q_scale.md).\n\n"
    if alignment:  # written by its own job (rule report_alignment), beside this one
        robustness += ("## Cross-lingual alignment (Q-align)\n\nAlignment of every checkpoint per layer, clean and "
                       "perturbed, against `none`'s, and the answer: [alignment.md](alignment.md).\n\n")
    return (
        f"# {title}\n\n"
        "Zero-shot cross-lingual transfer after English intermediate-task training. "
        f"Overall averages: **{AVG_XTREME}** counts a QA benchmark by its F1, as XTREME's leaderboard; "
        f"**{AVG_JIANT}** counts it by (EM+F1)/2, as jiant's headline.\n\n"
        f"## Main table\n\n{main_markdown}\n{selection_markdown(selection)}\n"
        f"{robustness}"
        f"## Files\n\n{links}\n"
        "![Change against none](deltas_heatmap.png)\n\n"
        "![Per-language scores](per_language_bars.png)\n\n"
        "![Training curves](training_curves.png)\n\n"
        f"## Missing cells\n\n{_issues_markdown(issues)}"
    )


# ---------------------------------------------------------------------------- figures


def _plot_delta_heatmap(main: pd.DataFrame, rows_of: Mapping[str, list[str]], columns) -> Figure:
    shown_of = {model: [recipe for recipe in recipes if recipe != BASELINE] for model, recipes in rows_of.items()}
    if not any(shown_of.values()):
        return note_figure(f"no recipe besides {BASELINE}: nothing to compare")
    labels = [column.label for column in columns]
    deltas = main.loc[main["recipe"] != BASELINE, "delta"].abs()
    limit = float(deltas.max()) if deltas.notna().any() and deltas.max() > 0 else 1.0
    figure = new_figure(1.0 * len(labels) + 3, sum(0.45 * len(shown) + 1.8 for shown in shown_of.values()))
    axes = figure.subplots(len(shown_of), 1, squeeze=False,
                           height_ratios=[max(len(shown), 1) + 4 for shown in shown_of.values()])[:, 0]
    for ax, (model, shown) in zip(axes, shown_of.items()):
        grid = _grid(main, model, shown, labels, by="column")["delta"].unstack().reindex(index=shown, columns=labels)
        image = _draw_heatmap(ax, grid, limit)
        ax.set_title(f"{model}: change against {BASELINE} (points)")
    figure.colorbar(image, ax=list(axes), label=f"change against {BASELINE}", shrink=0.8)
    return figure


def _draw_heatmap(ax, grid: pd.DataFrame, limit: float):
    values = grid.to_numpy(dtype=float)
    # Symmetric limits centre the diverging colormap on zero: white means no change.
    colormap = colormaps["RdBu"].with_extremes(bad="0.85")
    image = ax.imshow(np.ma.masked_invalid(values), cmap=colormap, vmin=-limit, vmax=limit, aspect="auto")
    for (row, col), value in np.ndenumerate(values):
        dark = not np.isnan(value) and abs(value) > 0.6 * limit
        ax.text(col, row, signed(value), ha="center", va="center", fontsize=8, color="white" if dark else "black")
    ax.set_xticks(range(len(grid.columns)), grid.columns, rotation=35, ha="right", fontsize=8)
    ax.set_yticks(range(len(grid.index)), grid.index, fontsize=8)
    return image


def _plot_per_language_bars(per_language: pd.DataFrame, recipes) -> Figure:
    sections = list(_per_language_sections(per_language, recipes))
    if not sections:
        return note_figure("no per-language results")
    widest = max(len(langs) for _, _, _, langs, _, _ in sections)
    # About a tenth of an inch per bar, within what a screen or a page can still show.
    width = min(MAX_FIGURE_WIDTH, max(7.0, 0.1 * widest * len(recipes) + 2))
    figure = new_figure(width, 2.8 * len(sections))
    axes = figure.subplots(len(sections), 1, squeeze=False)[:, 0]
    colors = colormaps["tab10" if len(recipes) <= 10 else "tab20"]
    for ax, (model, bench, metric, langs, shown, table) in zip(axes, sections):
        _draw_grouped_bars(ax, _grid(table, model, shown, langs, by="lang"), shown, langs,
                           [colors(recipes.index(recipe) % colors.N) for recipe in shown])
        ax.set_title(f"{model}: {bench}", fontsize=9)
        ax.set_ylabel(metric)
    # Every row once (a further target's row is in its benchmarks' panels only).
    legend = {label: handle for ax in axes for handle, label in zip(*ax.get_legend_handles_labels())}
    labels = sorted(legend, key=recipes.index)
    figure.legend([legend[label] for label in labels], labels, loc="outside upper center",
                  ncols=min(len(labels), 6), fontsize=8)
    return figure


def _draw_grouped_bars(ax, grid: pd.DataFrame, recipes, langs, colors: list) -> None:
    width = 0.8 / len(recipes)
    positions = np.arange(len(langs))
    for index, (recipe, color) in enumerate(zip(recipes, colors)):
        rows = grid.loc[recipe].reindex(langs)
        offset = (index - (len(recipes) - 1) / 2) * width
        ax.bar(positions + offset, rows["mean"].to_numpy(dtype=float), width,
               yerr=rows["std"].fillna(0.0).to_numpy(dtype=float), capsize=1.5, error_kw={"linewidth": 0.6},
               label=recipe, color=color)
    ax.set_xticks(positions, langs, fontsize=8)


def _parse_run_name(name: str) -> tuple[str, str]:
    """("target", "demo-tiny/none/pawsx/seed1") from "demo-tiny/target/none/pawsx/seed1"."""
    parts = name.strip("/").split("/")
    for index, part in enumerate(parts):
        if part in STAGES:
            return part, "/".join(parts[:index] + parts[index + 1:]) or name
    return parts[0], "/".join(parts[1:]) or name


def _runs_by_stage(train_logs: Mapping[str, list[dict]]) -> dict[str, list[tuple[str, list[dict]]]]:
    runs: dict[str, list[tuple[str, list[dict]]]] = {}
    for name in sorted(train_logs):
        stage, label = _parse_run_name(name)
        runs.setdefault(stage, []).append((label, train_logs[name]))
    return {stage: runs[stage] for stage in _ordered(STAGES, runs) if stage in runs}


def _series(lines: list[dict], key: str) -> tuple[list[float], list[float]]:
    points = sorted((line["step"], line[key]) for line in lines if _is_number(line.get(key)) and "step" in line)
    return [step for step, _ in points], [value for _, value in points]


def _plot_training_curves(train_logs: Mapping[str, list[dict]]) -> Figure:
    runs_by_stage = _runs_by_stage(train_logs)
    if not runs_by_stage:
        return note_figure("no training logs")
    figure = new_figure(11, 3.2 * len(runs_by_stage))
    axes = figure.subplots(len(runs_by_stage), 2, squeeze=False)
    for (dev_ax, loss_ax), (stage, runs) in zip(axes, runs_by_stage.items()):
        colors = colormaps["tab10" if len(runs) <= 10 else "tab20"]
        for index, (label, lines) in enumerate(runs):
            color = colors(index % colors.N)
            dev_ax.plot(*_series(lines, "dev_score"), marker="o", markersize=3, color=color, label=label)
            steps, losses = _series(lines, "loss")
            # A lone point draws no line: mark it so that a short run still shows.
            loss_ax.plot(steps, losses, linewidth=0.8, marker="o" if len(steps) == 1 else None, markersize=3,
                         color=color, label=label)
        dev_ax.set(title=f"{stage}: dev score", xlabel="step", ylabel="dev score")
        loss_ax.set(title=f"{stage}: training loss", xlabel="step", ylabel="loss")
        if len(runs) <= MAX_LEGEND_RUNS:
            loss_ax.legend(fontsize="x-small", loc="upper right")
        else:
            loss_ax.set_title(f"{stage}: training loss ({len(runs)} runs, legend left out)")
    return figure


# ---------------------------------------------------------------------------- writing


def write_report(
    results: list[dict],
    train_logs: Mapping[str, list[dict]],
    out_dir: str | os.PathLike,
    *,
    recipe_order: Iterable[str],
    bench_order: Iterable[str],
    qa_benches: Iterable[str],
    title: str,
    seed_spread: Mapping[str, tuple[float, float]] | None = None,
    perturbed: Mapping | None = None,
    perturbed_sets=None,
    mixed: Mapping[str, tuple[str, str]] | None = None,
    transfers: Mapping[str, str] | None = None,
    not_crossed: NotCrossed | None = None,
    further_targets: FurtherTargets = (),
    language_info: Mapping[str, dict] | None = None,
    selection: Mapping[str, str] | None = None,
    alignment: bool = False,
    robust: Mapping | None = None,
    parameters: Mapping[str, int] | None = None,
    model_recipes: Mapping[str, Collection[str]] | None = None,
) -> list[Path]:
    """Write every file of REPORT_FILES under `out_dir` and return their paths.

    Recipes and benchmarks listed in the orders but without results appear as missing cells;
    ones with results but not listed are appended, sorted, so nothing is dropped silently.
    `seed_spread` (column -> (std, df), xstilts.stats) gives single-seed changes their intervals.
    `perturbed` (report.robustness.load_evaluations: every perturbed evaluation and the clean one
    of each perturbed benchmark) adds the robustness section's ROBUSTNESS_FILES, with what each
    perturbed set changed (`perturbed_sets`, report.robustness.load_set_summaries) and the language x
    language tables of mixed pairs (`mixed`: condition -> (perturbation, partner language)); the
    `transfers` (an attack's transfer set -> the checkpoint its texts were made against) go with the
    attacks. `not_crossed` (NotCrossed) names the cells the config does not run. `further_targets` ((target, benchmark) for a
    benchmark's targets after its first) are the rows `recipe / target` (report.rows) the loaders named.
    `language_info` (bench -> {"source", "languages": lang -> profile}, Plan.language_profiles) groups
    the Q-direct tables by script, family and distance to English. `selection` (target -> the dev sets it
    is chosen on, for targets with `selection: multilingual`) is said beside the main table and in Q-direct.
    `alignment`: the study measures alignment, whose section (ALIGNMENT_FILES) another job writes; the
    index links it. `robust` (Plan.robust_comparison: {"against": the English-only recipe, "recipes":
    those trained otherwise}) adds the Q-robust-int section's ROBUST_INT_FILES where it lists recipes.
    `parameters` (model -> its parameter count, report.scaling.parameter_counts) adds the Q-scale section's
    SCALING_FILES where it names two or more models. `model_recipes` (model -> the recipes it runs,
    Plan.model_recipes, in the config's order of models: the tables' order) keeps a model's tables to its own
    rows; every recipe is every model's by default.
    """
    if not results:
        raise ValueError("no evaluation results to report")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    qa_benches = set(qa_benches)
    frame = _results_frame(results, qa_benches)
    models = _ordered(model_recipes or (), frame["model"].unique())  # the config's order, then any other
    preferred = [BASELINE] + [r for r in recipe_order if r != BASELINE]
    recipes = _ordered(row_order(preferred, further_targets, set(frame["recipe"])), frame["recipe"].unique(),
                       first=BASELINE)
    benches = _ordered(bench_order, frame["bench"].unique())
    columns = _main_columns(benches, qa_benches)

    scores, language_issues = _seed_scores(frame)
    rows_of = _model_rows(frame, models, recipes, model_recipes)
    main = _main_table(scores, rows_of, columns, seed_spread)
    per_language = _per_language_table(frame, rows_of, benches, qa_benches, further_targets)
    seeds_by_model = frame.groupby("model")["seed"].nunique().to_dict()
    issues = language_issues + _cell_issues(main, seeds_by_model, not_crossed, further_targets)

    main_markdown = _main_markdown(main, rows_of, columns)
    write_csv(out_dir / "main_table.csv", main)
    missing = f"## Missing cells\n\n{_issues_markdown(issues)}"
    write_text(out_dir / "main_table.md", f"# Main table\n\n{main_markdown}\n{missing}")
    write_text(out_dir / "main_table.tex", _main_latex(main, rows_of, columns))
    write_csv(out_dir / "per_language.csv", per_language)
    per_language_markdown = _per_language_markdown(per_language, recipes)
    write_text(out_dir / "per_language.md", f"# Per-language results\n\n{per_language_markdown}")
    write_text(out_dir / "per_language.tex", _per_language_latex(per_language, recipes))
    write_figure(out_dir, "deltas_heatmap", _plot_delta_heatmap(main, rows_of, columns))
    write_figure(out_dir, "per_language_bars", _plot_per_language_bars(per_language, recipes))
    write_figure(out_dir, "training_curves", _plot_training_curves(train_logs))
    # The index goes last: its presence says the rest is complete.
    q_adv = q_direct = q_robust_int = q_scale = None
    spread_columns = {b: f"{b} F1" for b in qa_benches}
    if perturbed and any(condition != CLEAN for _, _, _, condition, _ in perturbed):
        q_adv = robustness_section.write_section(perturbed, out_dir, recipes=recipes, benches=benches,
                                                 seed_spread=seed_spread, spread_columns=spread_columns,
                                                 sets=perturbed_sets, mixed=mixed, transfers=transfers)
    if perturbed and further_targets:
        q_direct = direct_section.write_section(perturbed, out_dir, rows=recipes, further_targets=further_targets,
                                                seed_spread=seed_spread, spread_columns=spread_columns,
                                                language_info=language_info, selection=selection)
    if perturbed and robust and robust["recipes"]:
        q_robust_int = robust_int_section.write_section(perturbed, out_dir, recipes=robust["recipes"],
                                                        against=robust["against"], seed_spread=seed_spread,
                                                        spread_columns=spread_columns, language_info=language_info,
                                                        benches=benches)
    if parameters and len(parameters) > 1:
        q_scale = scaling_section.write_section(perturbed or {}, out_dir, parameters=parameters, seed_spread=seed_spread,
                                                spread_columns=spread_columns, transfers=transfers)
    write_text(out_dir / "index.md", _index_markdown(title, main_markdown, issues, q_adv, q_direct, selection, alignment,
                                                     q_robust_int, q_scale))
    return [out_dir / name for name in REPORT_FILES + (ROBUSTNESS_FILES if q_adv else ())
            + (DIRECT_FILES if q_direct else ()) + (ROBUST_INT_FILES if q_robust_int else ())
            + (SCALING_FILES if q_scale else ())]
