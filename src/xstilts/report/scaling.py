"""The Q-scale section: how does model size change the robustness of zero-shot transfer, after each
recipe?

For every recipe and benchmark scored on two or more models of the study, per group of languages
(English; the others): the clean score and, under each perturbation and attack, the drop (clean
minus perturbed score on the same examples), each as the mean over seeds with the seeds' standard
deviation, against the model's parameter count (read from its config, xstilts.scaling.memory); and
every larger model against the smallest, as the difference with its 95% interval (paired bootstrap
over the examples both score, seeds drawn apart on each side, or the measured seed spread where a
side has one seed: robust_intermediate.compare). The answer reads a difference only where its
interval excludes zero.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.figure import Figure

from ..config import CLEAN
from ..scaling.memory import Shape
from .levels import language_groups, reading, with_interval
from .render import markdown_table, new_figure, note_figure, number, write_csv, write_figure, write_text
from .robust_intermediate import DROP, SCORE, _seed_means, compare, example_values
from .robustness import Evaluation, Key, per_language

SIZE_COLUMNS = ["bench", "recipe", "group", "model", "parameters", "condition", "measure", "mean", "sd", "seeds"]
CHANGE_COLUMNS = ["bench", "recipe", "group", "condition", "measure", "model", "against", "parameters",
                  "against_parameters", "setting_value", "against_value", "difference", "low", "high", "interval"]


def parameter_counts(config_paths: Mapping[str, str | Path]) -> dict[str, int]:
    """Model -> its encoder's parameters, from the config.json of its pretrained folder."""
    counts = {}
    for model, path in config_paths.items():
        config = json.loads(Path(path).read_text(encoding="utf-8"))
        counts[model] = Shape.of(SimpleNamespace(**config)).parameters()
    return counts


def scaled(evaluations: Mapping[Key, Evaluation], parameters: Mapping[str, int]) -> list[tuple[str, str, list[str]]]:
    """(bench, recipe, its models by size) for each recipe and benchmark scored clean on two or more
    models whose size is known."""
    found: dict[tuple[str, str], set[str]] = {}
    for model, recipe, bench, condition, _ in evaluations:
        if condition == CLEAN and model in parameters:
            found.setdefault((bench, recipe), set()).add(model)
    return [(bench, recipe, sorted(models, key=lambda m: (parameters[m], m)))
            for (bench, recipe), models in found.items() if len(models) > 1]


def _cells(evaluations, bench, recipe, models, left_out=()) -> list[tuple[str, str]]:
    """(condition, measure): the clean score, then the drop under each condition every model has, but
    those `left_out`."""
    shared = set.intersection(*[{c for m, r, b, c, _ in evaluations if (m, r, b) == (model, recipe, bench)}
                                for model in models])
    return [(CLEAN, SCORE)] + [(condition, DROP) for condition in sorted(shared - {CLEAN} - set(left_out))]


def scale_tables(evaluations: Mapping[Key, Evaluation], parameters: Mapping[str, int],
                 seed_spread: Mapping[str, tuple[float, float]] | None = None,
                 spread_columns: Mapping[str, str] | None = None,
                 left_out: Iterable[str] = ()) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(sizes, changes): per model its mean and seed spread; per larger model its difference from the
    smallest, with the interval; the conditions `left_out` (the attacks' transfer sets) have neither."""
    sizes, changes, by_key = [], [], functools.cache(lambda: per_language(evaluations))
    for bench, recipe, models in scaled(evaluations, parameters):
        languages = list(dict.fromkeys(lang for (m, r, b, c, _), e in evaluations.items()
                                       if (m, r, b, c) == (models[0], recipe, bench, CLEAN) for lang in e.scores))
        spread = (seed_spread or {}).get((spread_columns or {}).get(bench, bench))
        for group, langs in language_groups(languages).items():
            for condition, measure in _cells(evaluations, bench, recipe, models, left_out):
                means = {model: _seed_means(evaluations, by_key(), model, recipe, bench, condition, langs, measure)
                         for model in models}
                for model in models:
                    sizes.append({"bench": bench, "recipe": recipe, "group": group, "model": model,
                                  "parameters": parameters[model], "condition": condition, "measure": measure,
                                  "mean": means[model].mean(), "sd": means[model].std(ddof=1) if len(means[model]) > 1
                                  else np.nan, "seeds": len(means[model])})
                smallest = models[0]
                for model in models[1:]:
                    values = [example_values(evaluations, m, recipe, bench, condition, langs, measure)
                              for m in (model, smallest)]
                    found = compare(*values, lambda m=model: (means[m], means[smallest]), spread)
                    changes.append({"bench": bench, "recipe": recipe, "group": group, "condition": condition,
                                    "measure": measure, "model": model, "against": smallest,
                                    "parameters": parameters[model], "against_parameters": parameters[smallest],
                                    **found})
    return pd.DataFrame(sizes, columns=SIZE_COLUMNS), pd.DataFrame(changes, columns=CHANGE_COLUMNS)


# ---------------------------------------------------------------------------- writing
def _left_out_note(transfers: Mapping[str, str] | None) -> str:
    if not transfers:
        return ""
    made = "; ".join(f"{name}, against {against}" for name, against in sorted(transfers.items()))
    return (f" Left out: the attacks' transfer sets ({made}): their texts were made against one model, so across "
            "sizes they set that model's own attack beside texts carried over to another (the robustness section "
            "shows them).")


def millions(count: int) -> str:
    return f"{count / 1e6:,.1f}M" if count < 1e9 else f"{count / 1e9:,.2f}B"


def _heading(condition: str, measure: str) -> str:
    return "clean score" if condition == CLEAN else f"{measure} under {condition}"


def _reading(row) -> str:
    if row.measure == SCORE:
        return reading(row, above="higher", below="lower")
    return reading(row, above="loses more", below="loses less")


def _floor_caveat(cells: pd.DataFrame) -> str:
    """Where two sizes' clean scores differ beyond noise, their drops start from different heights: a
    model nearer chance has less to lose, so a smaller drop is not by itself robustness."""
    clean = cells[(cells["condition"] == CLEAN) & cells["low"].notna()]
    if clean.empty or clean.iloc[0]["low"] <= 0 <= clean.iloc[0]["high"]:
        return ""
    lower = clean.iloc[0]["difference"] < 0
    return (f" Its clean score is {'lower' if lower else 'higher'}, so it has {'less' if lower else 'more'} to lose "
            f"before chance: a {'smaller' if lower else 'larger'} drop may be that alone.")


def q_scale(changes: pd.DataFrame) -> str:
    """The answer: per benchmark and recipe, in the languages other than English, each larger model's
    clean score and drops against the smallest model's."""
    mine = changes[changes["group"] == "non-English"]
    lines = []
    for (bench, recipe, model), cells in mine.groupby(["bench", "recipe", "model"], sort=False):
        first = cells.iloc[0]
        parts = [f"{_heading(r.condition, r.measure)} {number(r.setting_value)} against {number(r.against_value)}, "
                 f"{with_interval(r.difference, r.low, r.high)}{_reading(r)}" for r in cells.itertuples(index=False)]
        lines.append(f"- **{bench}**, `{recipe}`, languages other than English, {model} ({millions(first.parameters)}) "
                     f"against {first.against} ({millions(first.against_parameters)}): " + "; ".join(parts) + "."
                     + _floor_caveat(cells))
    if not lines:
        return "No recipe is scored on two or more models here (Q-scale needs several `models`).\n"
    scored = changes[changes["low"].notna()]
    beyond = int(((scored["low"] > 0) | (scored["high"] < 0)).sum())
    return ("\n".join(lines) + f"\n\nOf the {len(scored)} differences with an interval in this section (every "
            f"recipe, group, condition and model pair), {beyond} exclude 0; at 95% about {len(scored) / 20:.0f} would by "
            "chance if size changed nothing, so a lone one is no finding.\n")


def _sizes_markdown(sizes: pd.DataFrame) -> str:
    parts = []
    for (bench, group), cells in sizes.groupby(["bench", "group"], sort=False):
        columns = list(dict.fromkeys(zip(cells["condition"], cells["measure"])))
        lines = []
        for (recipe, model), row in cells.groupby(["recipe", "model"], sort=False):
            by_column = {(r.condition, r.measure): r for r in row.itertuples(index=False)}
            first = row.iloc[0]
            lines.append([f"`{recipe}`", model, millions(first.parameters), str(first.seeds)]
                         + [_mean_sd(by_column[c]) if c in by_column else "–" for c in columns])
        header = ["recipe", "model", "parameters", "seeds"] + [_heading(*c) for c in columns]
        parts.append(f"### {bench}, {group}\n\n" + markdown_table(header, lines))
    return "\n".join(parts)


def _mean_sd(row) -> str:
    return number(row.mean) + ("" if pd.isna(row.sd) else f" ± {row.sd:.1f}")


def _changes_markdown(changes: pd.DataFrame) -> str:
    parts = []
    for (bench, group), cells in changes.groupby(["bench", "group"], sort=False):
        columns = list(dict.fromkeys(zip(cells["condition"], cells["measure"])))
        lines = []
        for (recipe, model), row in cells.groupby(["recipe", "model"], sort=False):
            by_column = {(r.condition, r.measure): r for r in row.itertuples(index=False)}
            lines.append([f"`{recipe}`", f"{model} − {row.iloc[0].against}"]
                         + [with_interval(by_column[c].difference, by_column[c].low, by_column[c].high)
                            if c in by_column else "–" for c in columns])
        header = ["recipe", "larger − smallest"] + [_heading(*c) for c in columns]
        parts.append(f"### {bench}, {group}\n\n" + markdown_table(header, lines))
    return "\n".join(parts)


def _plot(sizes: pd.DataFrame) -> Figure:
    """Per benchmark and condition: each recipe's clean score or drop against parameters (log axis),
    the other languages solid and English dashed, bars at the seeds' standard deviation."""
    panels = list(sizes.groupby(["bench", "condition", "measure"], sort=False))
    if not panels:
        return note_figure("no recipe scored on two or more models")
    columns = min(3, len(panels))
    rows = -(-len(panels) // columns)
    figure = new_figure(4.2 * columns, 3.0 * rows)
    axes = figure.subplots(rows, columns, squeeze=False).ravel()
    colors = colormaps["tab10"]
    recipes = list(dict.fromkeys(sizes["recipe"]))
    for ax, ((bench, condition, measure), cells) in zip(axes, panels):
        for (recipe, group), line in cells.groupby(["recipe", "group"], sort=False):
            line = line.sort_values("parameters")
            ax.errorbar(line["parameters"], line["mean"], yerr=np.nan_to_num(line["sd"].to_numpy(dtype=float)),
                        marker="o", capsize=2, color=colors(recipes.index(recipe) % colors.N),
                        linestyle="--" if group == "English" else "-", label=f"{recipe}, {group}")
        ax.set_xscale("log")
        ax.set_xlabel("parameters")
        ax.set_ylabel("points")
        ax.set_title(f"{bench}: {_heading(condition, measure)}", fontsize=9)
        ax.legend(fontsize=6)
    for ax in axes[len(panels):]:
        ax.set_axis_off()
    return figure


def write_section(evaluations: Mapping[Key, Evaluation], out_dir, *, parameters: Mapping[str, int],
                  seed_spread: Mapping[str, tuple[float, float]] | None = None,
                  spread_columns: Mapping[str, str] | None = None, transfers: Mapping[str, str] | None = None) -> str:
    """Write SCALING_FILES (xstilts.layout); returns the Q-scale answer (Markdown) for the index. An
    attack's transfer set (`transfers`: its name -> the checkpoint its texts were made against) is left
    out: against the sizes it would set one model's own attack beside another's carried-over texts."""
    out_dir = Path(out_dir)
    sizes, changes = scale_tables(evaluations, parameters, seed_spread, spread_columns, left_out=transfers or {})
    answer = q_scale(changes)
    write_csv(out_dir / "q_scale_sizes.csv", sizes)
    write_csv(out_dir / "q_scale.csv", changes)
    write_text(out_dir / "q_scale.md",
               "# Q-scale: zero-shot transfer and its robustness by model size\n\n"
               "Per recipe, benchmark and group of languages, the clean score and the drop under each perturbation "
               "and attack (clean minus perturbed score on the same examples, in points) of every model, by its "
               "parameters (the encoder's, from its config). Sizes: the mean over seeds ± the seeds' standard "
               "deviation. Changes: each larger model minus the smallest, with its 95% interval (paired bootstrap over "
               "the examples both score; seeds drawn apart on each side, or the measured seed spread where a side has "
               "one seed); in italics where the interval contains 0." + _left_out_note(transfers) + "\n\n"
               f"## Answer\n\n{answer}\n## Sizes\n\n{_sizes_markdown(sizes)}\n"
               f"## Changes with size\n\n{_changes_markdown(changes)}\n![By size](q_scale.png)\n")
    write_figure(out_dir, "q_scale", _plot(sizes))
    return answer
