"""The Q-direct section: does English intermediate-task training degrade robustness in non-English
languages compared with direct multilingual fine-tuning (the target trained on its data in many
languages, with no intermediate stage)?

A benchmark fed by a further target (report.rows: the row `none / mnli_mt` is direct multilingual
fine-tuning) is compared setting against setting on the examples both score:
- each recipe's own row (its intermediate stage, or none, then the English target) against
  `none / <target>`;
- `<recipe> / <target>` (intermediate stage, then the multilingual target) against both.
For each pair, per group of languages (English; the others) and per language, the difference of
clean scores and, under each perturbation or attack, the difference of drops, each with a 95%
interval from xstilts.robustness.drops: a bootstrap over examples (pooled over the group's
languages) and the seeds where both sides have two or more, the measured seed spread of the clean
score (report.seed_spread) where one side has one. Metrics that are not a mean over examples
(entity and mining F1) get intervals over seeds alone.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.figure import Figure

from ..config import CLEAN
from .levels import all_levels, distance_figure, languages_markdown, profiles_of, reading, with_interval
from .render import MISSING, markdown_table, new_figure, note_figure, number, write_csv, write_figure, write_text
from .robustness import (BASELINE, ENGLISH, Evaluation, Key, compare_settings, example_runs, level_caveat,
                         per_language)
from .rows import SEPARATOR, FurtherTargets
from .selection import selection_markdown

COLUMNS = ["model", "bench", "setting", "against", "level", "group", "condition", "setting_value", "against_value",
           "difference", "low", "high", "interval"]


def comparisons(evaluations: Mapping[Key, Evaluation], rows: Iterable[str],
                further_targets: FurtherTargets) -> list[tuple[str, str, str, str]]:
    """(model, bench, setting, against) for every pair of rows Q-direct compares, in row order."""
    present = {(model, row, bench) for model, row, bench, condition, _ in evaluations if condition == CLEAN}
    rows = list(dict.fromkeys([*rows, *(row for _, row, _ in sorted(present))]))
    found = []
    for target, bench in further_targets:
        direct = f"{BASELINE}{SEPARATOR}{target}"
        for model in sorted({m for m, _, b in present if b == bench}):
            if (model, direct, bench) not in present:
                continue
            mine = [row for row in rows if (model, row, bench) in present and row != direct]
            for row in mine:
                if SEPARATOR not in row:
                    found.append((model, bench, row, direct))
                elif row.endswith(f"{SEPARATOR}{target}"):
                    found.append((model, bench, row, direct))
                    recipe = row.split(SEPARATOR, 1)[0]
                    if recipe in mine:
                        found.append((model, bench, row, recipe))
    return found


def clean_runs(evaluations: Mapping[Key, Evaluation], model: str, row: str, bench: str,
               langs: Iterable[str]) -> list[tuple[np.ndarray, np.ndarray] | None]:
    """Per seed: each example's clean score (0-1) in `langs`, pooled, beside zeros (so that its
    "drop" is the clean score); None where the metric has no per-example scores."""
    langs, runs = set(langs), []
    for (m, r, b, condition, _), evaluation in sorted(evaluations.items()):
        if (m, r, b, condition) != (model, row, bench, CLEAN):
            continue
        scores = [record.get("example_score") for lang in evaluation.scores if lang in langs
                  for _, record in sorted(evaluation.predictions.get(lang, {}).items())]
        complete = scores and all(score is not None for score in scores)
        runs.append((np.asarray(scores, dtype=float), np.zeros(len(scores))) if complete else None)
    return runs


def clean_seed_means(evaluations: Mapping[Key, Evaluation], model: str, row: str, bench: str,
                     langs: Iterable[str]) -> pd.Series:
    """Per seed, the clean score averaged over `langs`."""
    langs = list(langs)
    return pd.Series({seed: np.mean([e.scores[lang] for lang in langs if lang in e.scores])
                      for (m, r, b, c, seed), e in sorted(evaluations.items())
                      if (m, r, b, c) == (model, row, bench, CLEAN)}, dtype=float).dropna()


class SeedDrops:
    """The per-language drops of per_language(), split once by (model, recipe, benchmark, condition):
    the tables ask for thousands of (setting, group, condition) cells, and a mask over the whole
    frame per cell was most of the report's time."""

    def __init__(self, by_key: pd.DataFrame):
        self.empty = by_key.iloc[0:0]
        self.parts = dict(iter(by_key.groupby(["model", "recipe", "bench", "condition"], sort=False)))
        self.found: dict[tuple, pd.Series] = {}  # a setting is compared with several others

    def seed_means(self, model, row, bench, condition, langs) -> pd.Series:
        key = (model, row, bench, condition, tuple(langs))
        if key not in self.found:
            mine = self.parts.get(key[:4], self.empty)
            self.found[key] = mine[mine["lang"].isin(list(langs))].groupby("seed")["drop"].mean()
        return self.found[key]


def _seed_values(evaluations, drops: SeedDrops, model, row, bench, condition, langs) -> pd.Series:
    """Per seed, the mean over `langs` of the clean score, or of the drop under `condition`."""
    if condition == CLEAN:
        return clean_seed_means(evaluations, model, row, bench, langs)
    return drops.seed_means(model, row, bench, condition, langs)


def direct_table(evaluations: Mapping[Key, Evaluation], by_key: pd.DataFrame, rows: Iterable[str],
                 further_targets: FurtherTargets, seed_spread: Mapping[str, tuple[float, float]] | None,
                 spread_columns: Mapping[str, str], language_info: Mapping[str, dict] | None = None) -> pd.DataFrame:
    """One row per (compared pair, group or language, condition): clean scores, or drops under the
    condition, of both settings and their difference with its interval. Levels: `group` (English;
    the others), each grouping of the languages' profiles (`language_info`: bench -> {"source": ...,
    "languages": lang -> profile}, xstilts.languages), `language`."""
    found, drops = [], SeedDrops(by_key)
    for model, bench, setting, against in comparisons(evaluations, rows, further_targets):
        both = [{c for m, r, b, c, _ in evaluations if (m, r, b) == (model, row, bench)} for row in (setting, against)]
        conditions = [CLEAN] + sorted((both[0] & both[1]) - {CLEAN})
        languages = list(dict.fromkeys(lang for (m, r, b, c, _), e in evaluations.items()
                                       if (m, r, b, c) == (model, against, bench, CLEAN) for lang in e.scores))
        spread = seed_spread.get(spread_columns.get(bench, bench)) if seed_spread else None
        for level, group, langs in all_levels(languages, profiles_of(language_info, bench)):
            for condition in conditions:
                runs = [clean_runs(evaluations, model, row, bench, langs) if condition == CLEAN
                        else example_runs(evaluations, model, row, bench, condition, set(langs))
                        for row in (setting, against)]
                seeds = [_seed_values(evaluations, drops, model, row, bench, condition, langs)
                         for row in (setting, against)]
                found.append({"model": model, "bench": bench, "setting": setting, "against": against,
                              "level": level, "group": group, "condition": condition,
                              **compare_settings(*runs, *seeds, spread)})
    return pd.DataFrame(found, columns=COLUMNS)


# ---------------------------------------------------------------------------- writing
def _cell(row) -> str:
    return with_interval(row.difference, row.low, row.high)


def _tables(table: pd.DataFrame, level: str) -> str:
    """Per (model, bench), pairs x groups (or languages), a column per condition."""
    parts = []
    for (model, bench), cells in table[table["level"] == level].groupby(["model", "bench"], sort=False):
        conditions = list(dict.fromkeys(cells["condition"]))
        header = ["setting − against", level] + [
            "clean score" if c == CLEAN else f"drop under {c}" for c in conditions]
        lines = []
        for (setting, against, group), row in cells.groupby(["setting", "against", "group"], sort=False):
            by_condition = {r.condition: r for r in row.itertuples(index=False)}
            lines.append([f"`{setting}` − `{against}`", group] + [_cell(by_condition[c]) for c in conditions])
        parts.append(f"### {bench} ({model}), by {level}\n\n" + markdown_table(header, lines))
    return "\n".join(parts)


def gap_table(evaluations: Mapping[Key, Evaluation], by_key: pd.DataFrame, table: pd.DataFrame,
              seed_spread: Mapping[str, tuple[float, float]] | None, spread_columns: Mapping[str, str]) -> pd.DataFrame:
    """Per setting Q-direct compares and condition: its robustness gap, the drop of the other
    languages pooled minus English's, with the interval of a difference of drops (the two groups'
    examples resampled apart, the seeds as for every comparison of this section)."""
    found, drops = [], SeedDrops(by_key)
    perturbed = table[(table["level"] == "group") & (table["condition"] != CLEAN)]
    for (model, bench, condition), cells in perturbed.groupby(["model", "bench", "condition"], sort=False):
        spread = seed_spread.get(spread_columns.get(bench, bench)) if seed_spread else None
        groups = {row.group: row for row in cells.itertuples(index=False)}
        if set(groups) != {"English", "non-English"}:
            continue
        for setting in dict.fromkeys([*cells["against"], *cells["setting"]]):
            langs = _scored_languages(evaluations, model, setting, bench)
            sides = [[lang for lang in langs if lang != ENGLISH], [ENGLISH]]
            runs = [example_runs(evaluations, model, setting, bench, condition, set(side)) for side in sides]
            seeds = [_seed_values(evaluations, drops, model, setting, bench, condition, side) for side in sides]
            result = compare_settings(*runs, *seeds, spread)
            found.append({"model": model, "bench": bench, "setting": setting, "condition": condition,
                          "gap": result["difference"], "low": result["low"], "high": result["high"],
                          "interval": result["interval"]})
    return pd.DataFrame(found, columns=["model", "bench", "setting", "condition", "gap", "low", "high", "interval"])


def _scored_languages(evaluations: Mapping[Key, Evaluation], model: str, setting: str, bench: str) -> list[str]:
    return list(dict.fromkeys(lang for (m, r, b, c, _), e in evaluations.items()
                              if (m, r, b, c) == (model, setting, bench, CLEAN) for lang in e.scores))


def _gaps_markdown(gaps: pd.DataFrame) -> str:
    """Per (model, bench): settings x conditions, each setting's robustness gap with its interval."""
    parts = []
    for (model, bench), cells in gaps.groupby(["model", "bench"], sort=False):
        conditions = list(dict.fromkeys(cells["condition"]))
        lines = []
        for setting, rows in cells.groupby("setting", sort=False):
            by_condition = {r.condition: r for r in rows.itertuples(index=False)}
            lines.append([f"`{setting}`"] + [with_interval(*(getattr(by_condition[c], k) for k in ("gap", "low", "high")))
                                             if c in by_condition else MISSING for c in conditions])
        parts.append(f"### {bench} ({model})\n\n"
                     + markdown_table(["setting"] + [f"gap under {c}" for c in conditions], lines))
    return "\n".join(parts) if parts else "No benchmark with English and other languages under a condition.\n"


def q_direct(table: pd.DataFrame) -> str:
    """The answer: per benchmark, each English-intermediate recipe's own row against direct
    multilingual fine-tuning, in the non-English languages, clean and under each condition."""
    lines = []
    mine = table[(table["level"] == "group") & (table["group"] == "non-English")
                 & ~table["setting"].str.contains(SEPARATOR, regex=False)]
    for (model, bench, setting, against), cells in mine.groupby(["model", "bench", "setting", "against"], sort=False):
        if setting == BASELINE:
            continue
        parts = []
        for row in cells.itertuples(index=False):
            what = "clean score" if row.condition == CLEAN else f"drop under {row.condition}"
            parts.append(f"{what} {number(row.setting_value)} against {number(row.against_value)}, "
                         f"{_cell(row)}{_reading(row)}")
        lines.append(f"- **{bench}** ({model}), non-English languages, `{setting}` (English intermediate training, "
                     f"English target) against `{against}` (direct multilingual fine-tuning): " + "; ".join(parts)
                     + "." + _level_caveat(cells))
    if not lines:
        return ("No English intermediate recipe is compared with direct multilingual fine-tuning here (the config "
                "needs a recipe besides `none` and a further target trained after `none`).\n")
    return "\n".join(lines) + "\n"


def _level_caveat(cells: pd.DataFrame) -> str:
    clean = cells[cells["condition"] == CLEAN].iloc[0]
    caveat = level_caveat(clean.setting_value, clean.against_value, clean.low, clean.high,
                          [(row.condition, row.setting_value, clean.setting_value, row.against_value,
                            clean.against_value) for row in cells[cells["condition"] != CLEAN].itertuples(index=False)])
    return f" {caveat}" if caveat else ""


def _reading(row) -> str:
    if row.condition == CLEAN:
        return reading(row, above="higher", below="lower")
    return reading(row, above="it loses more", below="it loses less")


def _stacked_axes(count: int):
    """A figure of `count` panels, one above the other."""
    figure = new_figure(7.0, 2.6 * count)
    return figure, figure.subplots(count, 1, squeeze=False)[:, 0]


def _plot(by_key: pd.DataFrame, table: pd.DataFrame) -> Figure:
    """Drop by language under each condition, one marker per setting compared."""
    pairs = table[table["condition"] != CLEAN][["model", "bench", "condition", "setting", "against"]].drop_duplicates()
    panels = list(pairs.groupby(["model", "bench", "condition"], sort=False))
    if not panels:
        return note_figure("no perturbation or attack of a benchmark with direct multilingual fine-tuning")
    figure, axes = _stacked_axes(len(panels))
    colors = colormaps["tab10"]
    for ax, ((model, bench, condition), cells) in zip(axes, panels):
        settings = list(dict.fromkeys([*cells["against"], *cells["setting"]]))
        mine = by_key[(by_key["model"] == model) & (by_key["bench"] == bench) & (by_key["condition"] == condition)]
        langs = list(dict.fromkeys(mine["lang"]))
        for index, setting in enumerate(settings):
            drops = mine[mine["recipe"] == setting].groupby("lang")["drop"].mean().reindex(langs)
            ax.plot(range(len(langs)), drops.to_numpy(dtype=float), marker="os^vDP"[index % 6], linestyle="none",
                    color=colors(index % colors.N), label=setting)
        ax.set_xticks(range(len(langs)), langs, fontsize=8)
        ax.set_ylabel("drop (points)")
        ax.set_title(f"{model}: {bench} under {condition}", fontsize=9)
        ax.legend(fontsize=7)
    return figure


def _plot_distance(table: pd.DataFrame, language_info: Mapping[str, dict] | None) -> Figure:
    """Per benchmark and condition: each non-English language's difference of drops (setting minus
    against, with its interval) against the language's distance to English."""
    rows = table[(table["level"] == "language") & (table["group"] != ENGLISH) & (table["condition"] != CLEAN)]
    return distance_figure(rows, language_info, ylabel="difference of drops (points)",
                           title=lambda model, bench, condition: f"{model}: {bench} under {condition}",
                           empty="no language distances for a benchmark with direct multilingual fine-tuning")


def write_section(evaluations: Mapping[Key, Evaluation], out_dir, *, rows: list[str], further_targets: FurtherTargets,
                  seed_spread: Mapping[str, tuple[float, float]] | None, spread_columns: Mapping[str, str],
                  language_info: Mapping[str, dict] | None = None,
                  selection: Mapping[str, str] | None = None) -> str:
    """Write DIRECT_FILES (xstilts.layout); returns the Q-direct answer (Markdown) for the report's index.
    `language_info`: bench -> {"source": where the groups come from, "languages": lang -> profile}
    (xstilts.languages; Plan.language_profiles); `selection`: target -> the dev sets it is chosen on, for
    targets not chosen on English dev data."""
    by_key = per_language(evaluations)
    table = direct_table(evaluations, by_key, rows, further_targets, seed_spread, spread_columns, language_info)
    answer = q_direct(table)
    gaps = gap_table(evaluations, by_key, table, seed_spread, spread_columns)
    groupings = [level for level in dict.fromkeys(table["level"]) if level not in ("group", "language")]
    by_grouping = "".join(f"## By {grouping} (languages other than English)\n\n{_tables(table, grouping)}\n"
                          for grouping in groupings)
    write_csv(out_dir / "q_direct.csv", table)
    write_csv(out_dir / "q_direct_gaps.csv", gaps)
    write_text(out_dir / "q_direct.md", "# Q-direct: English intermediate training against direct multilingual "
               "fine-tuning\n\nEach cell: the first setting's clean score (or drop under a condition, in points) minus "
               "the second's, on the same examples, with its 95% interval (bootstrap over examples and seeds, or the "
               "measured seed spread where a side has one seed); in italics where the interval contains 0, such a "
               f"difference cannot be told from noise. `none{SEPARATOR}<target>` is direct multilingual fine-tuning; "
               f"`<recipe>{SEPARATOR}<target>` is the recipe's intermediate stage followed by it. "
               f"{selection_markdown(selection)}\n"
               f"## Answer\n\n{answer}\n## By group of languages\n\n{_tables(table, 'group')}\n{by_grouping}"
               f"## By language\n\n{_tables(table, 'language')}\n![Drop by language](q_direct_drops.png)\n\n"
               "## Robustness gaps\n\nEach setting's drop in the other languages pooled minus its drop in English, "
               f"with its interval (the two groups' examples resampled apart).\n\n{_gaps_markdown(gaps)}\n"
               f"## The languages\n\n{languages_markdown(table['bench'], language_info)}\n"
               "![Difference of drops against distance to English](q_direct_distance.png)\n")
    write_figure(out_dir, "q_direct_drops", _plot(by_key, table))
    write_figure(out_dir, "q_direct_distance", _plot_distance(table, language_info))
    return answer
