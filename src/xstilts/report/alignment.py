"""The Q-align section: does English intermediate-task training make cross-lingual alignment more or
less stable under perturbation, and at which layers?

Read from the align stage (rules/align.smk): per checkpoint (model, recipe, target or `encoder`,
seed) the measures of every parallel set, condition, language and hidden state, and per sentence
whether retrieval found its translation. The section's measure is centred retrieval (each language
on its own mean, Libovický et al. 2020), both directions: per sentence the mean of its two hits.
Its instability under a perturbation is, as for a task score in the robustness section, the clean
value minus the perturbed one, pooled over the languages other than English.

Each recipe's checkpoint is compared with `none`'s of the same stage, layer by layer: its encoder
(after the intermediate stage) with the pretrained model, and its target checkpoint with `none`'s
of that target. Both differences, of clean alignment and of instability, come with a 95% interval
from xstilts.robustness.drops: a paired bootstrap over sentences (the same sentences in every
checkpoint and condition) and the seeds where both sides have two or more; where a side has one
seed, the seed spread of the same measure, set, condition and layer measured on a multi-seed run
of the config (`report.seed_spread`, from q_align_seeds.csv), or failing that the Tatoeba score's
(the retrieval layer, uncentred), an assumption said beside the answer.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib import colormaps
from scipy import stats as scipy_stats
from matplotlib.figure import Figure

from ..alignment.stage import hit_key, read_hits
from ..config import CLEAN
from ..io import read_json
from ..layout import ALIGNMENT_FILES, ENCODER_TARGET
from .render import markdown_table, new_figure, note_figure, signed, write_csv, write_figure, write_text
from ..stats import welch_half_width
from .robustness import BASELINE, ENGLISH, compare_settings

# The per-sentence measure the section compares, and the measures the layer curves show.
HITS = ("centred_retrieval_en_to_xx", "centred_retrieval_xx_to_en")
CURVES = {"centred retrieval (%)": ("centred_retrieval_en_to_xx", "centred_retrieval_xx_to_en"),
          "centred margin": ("centred_margin",), "linear CKA": ("cka",)}
SPREAD_COLUMN = "tatoeba"
SEED_CELL_COLUMNS = ["column", "recipe", "model", "n_seeds", "mean", "std"]
COLUMNS = ["model", "set", "stage", "recipe", "against", "condition", "layer", "setting_value", "against_value",
           "difference", "low", "high", "interval"]
CKA_COLUMNS = [*COLUMNS[:-1], "seeds"]


def checkpoint_of(path: str | Path) -> tuple[str, str, str, int]:
    """(model, recipe, target, seed) of results/align/{model}/{recipe}/{target}/seed{seed}/<file>."""
    parts = Path(path).parts
    return parts[-5], parts[-4], parts[-3], int(parts[-2].removeprefix("seed"))


def load_measures(paths: Iterable[str | Path]) -> pd.DataFrame:
    """Every measures file, one row per (checkpoint, set, condition, language, layer)."""
    frames = []
    for path in paths:
        model, recipe, target, seed = checkpoint_of(path)
        frame = pd.read_csv(path)
        frames.append(frame.assign(model=model, recipe=recipe, target=target, seed=seed))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def load_hits(paths: Iterable[str | Path]) -> dict[tuple[str, str, str, int], dict[str, np.ndarray]]:
    return {checkpoint_of(path): read_hits(path) for path in paths}


def sentence_scores(hits: Mapping[str, np.ndarray], name: str, condition: str, langs: Iterable[str],
                    layer: int) -> np.ndarray:
    """Per sentence of `langs` (pooled, in order), the mean of its HITS at `layer`: 0, 0.5 or 1."""
    return np.concatenate([np.mean([hits[hit_key(name, condition, lang, m)][layer] for m in HITS], axis=0)
                           for lang in langs])


def comparisons(measures: pd.DataFrame) -> list[tuple[str, str, str, str]]:
    """(model, stage, recipe, target) for each checkpoint compared with `none`'s of its stage and
    target; stage is `encoder` or the target's name."""
    keys = measures[["model", "recipe", "target"]].drop_duplicates().itertuples(index=False)
    present = {tuple(key) for key in keys}
    return [(model, target, recipe, target) for model, recipe, target in sorted(present)
            if recipe != BASELINE and (model, BASELINE, target) in present]


def compare_layers(measures: pd.DataFrame, hits: Mapping, spread: Mapping[str, tuple[float, float]] | None
                   ) -> pd.DataFrame:
    """Per comparison, set, condition and layer: the recipe's value minus `none`'s, clean alignment
    (condition `clean`) or its drop under a perturbation, with the interval; a side with one seed
    takes the seed spread of `spread` (report.seed_spread) that spread_of picks."""
    rows = []
    conditions = [c for c in measures["condition"].drop_duplicates() if c != CLEAN]
    for model, stage, recipe, target in comparisons(measures):
        for name in measures["set"].drop_duplicates():
            langs = _other_languages(measures, name)
            layers = sorted(measures.loc[(measures["set"] == name) & (measures["model"] == model), "layer"].unique())
            for layer in layers:
                for condition in [CLEAN, *conditions]:
                    sides = [_runs(hits, (model, r, target), name, condition, langs, layer) for r in (recipe, BASELINE)]
                    (a_runs, a_seeds), (b_runs, b_seeds) = sides
                    found = compare_settings(a_runs, b_runs, a_seeds, b_seeds,
                                             spread_of(spread, name, condition, int(layer))[0])
                    rows.append({"model": model, "set": name, "stage": stage, "recipe": recipe, "against": BASELINE,
                                 "condition": condition, "layer": int(layer), **found})
    return pd.DataFrame(rows, columns=COLUMNS)


def _other_languages(measures: pd.DataFrame, name: str) -> list[str]:
    return [lang for lang in measures.loc[measures["set"] == name, "lang"].drop_duplicates() if lang != ENGLISH]


def spread_column(name: str, condition: str, layer: int) -> str:
    """The seed-spread file's column of the section's measure of a set at a layer: clean, or its
    drop under a perturbation."""
    return f"alignment {name} {condition} layer {layer}"


def spread_of(spread: Mapping[str, tuple[float, float]] | None, name: str, condition: str,
              layer: int) -> tuple[tuple[float, float] | None, str]:
    """The seed spread (std, df) a single-seed comparison of a set, condition and layer takes, and
    where it comes from: its own column where the seed-spread file measured it, else the Tatoeba
    score's (the retrieval layer, uncentred: an assumption for any other), else none."""
    if spread and spread_column(name, condition, layer) in spread:
        return spread[spread_column(name, condition, layer)], "measured"
    if spread and SPREAD_COLUMN in spread:
        return spread[SPREAD_COLUMN], "borrowed"
    return None, "none"


def seed_cells(measures: pd.DataFrame, hits: Mapping) -> pd.DataFrame:
    """Per checkpoint and (set, condition, layer) column (spread_column): its seeds, and the mean
    and standard deviation over them of the section's measure (centred retrieval, clean, or its
    drop under a perturbation), in main_table.csv's long shape: `python -m xstilts.stats` pools a
    multi-seed run's cells into the seed-spread file's columns, the spread a single-seed run's
    comparisons take (spread_of)."""
    rows = []
    conditions = [CLEAN, *(c for c in measures["condition"].drop_duplicates() if c != CLEAN)]
    for model, recipe, target in measures[["model", "recipe", "target"]].drop_duplicates().itertuples(index=False):
        for name in measures["set"].drop_duplicates():
            langs = _other_languages(measures, name)
            for layer in sorted(measures.loc[(measures["set"] == name) & (measures["model"] == model), "layer"].unique()):
                for condition in conditions:
                    _, values = _runs(hits, (model, recipe, target), name, condition, langs, layer)
                    rows.append({"column": spread_column(name, condition, int(layer)),
                                 "recipe": f"{recipe} / {target}", "model": model, "n_seeds": len(values),
                                 "mean": values.mean(), "std": values.std(ddof=1) if len(values) >= 2 else np.nan})
    return pd.DataFrame(rows, columns=SEED_CELL_COLUMNS)


def cka_changes(measures: pd.DataFrame) -> pd.DataFrame:
    """Per comparison (as compare_layers), set, condition and layer: the recipe's linear CKA minus
    `none`'s, clean, or the difference of their drops from clean under a perturbation; each seed's
    value the mean over the languages other than English. CKA has no per-sentence form, so its
    interval is over seeds alone (Welch, 95%) where both sides have two or more, and none otherwise."""
    others = measures[measures["lang"] != ENGLISH]
    per_seed = others.groupby(["model", "set", "recipe", "target", "condition", "layer", "seed"])["cka"].mean()
    conditions = [c for c in measures["condition"].drop_duplicates() if c != CLEAN]
    rows = []
    for model, stage, recipe, target in comparisons(measures):
        for name in measures["set"].drop_duplicates():
            layers = sorted(others.loc[(others["set"] == name) & (others["model"] == model), "layer"].unique())
            for layer in layers:
                for condition in [CLEAN, *conditions]:
                    a, b = (_seed_values(per_seed, (model, name, r, target), condition, layer)
                            for r in (recipe, BASELINE))
                    difference = float(a.mean() - b.mean())
                    half = (welch_half_width(float(a.std(ddof=1)), len(a), float(b.std(ddof=1)), len(b))
                            if len(a) >= 2 and len(b) >= 2 else np.nan)
                    rows.append({"model": model, "set": name, "stage": stage, "recipe": recipe, "against": BASELINE,
                                 "condition": condition, "layer": int(layer), "setting_value": float(a.mean()),
                                 "against_value": float(b.mean()), "difference": difference,
                                 "low": difference - half, "high": difference + half, "seeds": f"{len(a)}/{len(b)}"})
    return pd.DataFrame(rows, columns=CKA_COLUMNS)


def _seed_values(per_seed: pd.Series, checkpoint: tuple, condition: str, layer: int) -> pd.Series:
    """A checkpoint's CKA per seed (clean), or its drop from clean under `condition`."""
    clean = per_seed.loc[(*checkpoint, CLEAN, layer)]
    return clean if condition == CLEAN else clean - per_seed.loc[(*checkpoint, condition, layer)]


def _runs(hits: Mapping, checkpoint: tuple[str, str, str], name: str, condition: str, langs: list[str],
          layer: int) -> tuple[list[tuple[np.ndarray, np.ndarray]], pd.Series]:
    """Per seed of `checkpoint`: (clean, perturbed) sentence scores, or (clean, zeros) for the clean
    comparison (its "drop" is the clean value), and the per-seed value in points."""
    runs, values = [], {}
    for (model, recipe, target, seed), found in sorted(hits.items()):
        if (model, recipe, target) != checkpoint:
            continue
        clean = sentence_scores(found, name, CLEAN, langs, layer)
        other = np.zeros_like(clean) if condition == CLEAN else sentence_scores(found, name, condition, langs, layer)
        runs.append((clean, other))
        values[seed] = 100.0 * float(np.mean(clean - other))
    if not runs:
        raise ValueError(f"alignment: measures but no retrieval hits for checkpoint {'/'.join(checkpoint)}")
    return runs, pd.Series(values, dtype=float)


def layer_curves(measures: pd.DataFrame) -> pd.DataFrame:
    """Mean over the languages other than English and the seeds: per (model, set, recipe, target,
    condition, layer), each of CURVES (retrieval as the mean of its two directions)."""
    others = measures[measures["lang"] != ENGLISH]
    keys = ["model", "set", "recipe", "target", "condition", "layer"]
    means = others.groupby(keys, sort=False).mean(numeric_only=True).reset_index()
    for label, columns in CURVES.items():
        means[label] = means[list(columns)].mean(axis=1)
    return means[keys + list(CURVES)]


# ---------------------------------------------------------------------------- zero-shot scores
CORRELATION_COLUMNS = ["model", "set", "bench", "layer", "alignment", "condition", "points", "spearman", "low", "high"]


def load_scores(paths: Iterable[str | Path]) -> pd.DataFrame:
    """Clean zero-shot scores per (model, recipe, target, bench, seed, lang), from the evaluate
    stage's results/eval/{model}/{recipe}/{target}/{bench}/clean/seed{seed}/scores.json."""
    rows = []
    for path in paths:
        parts = Path(path).parts
        model, recipe, target, bench, seed = parts[-7], parts[-6], parts[-5], parts[-4], int(parts[-2][4:])
        for result in read_json(path)["results"]:
            rows.append({"model": model, "recipe": recipe, "target": target, "bench": bench, "seed": seed,
                         "lang": result["lang"], "score": result["score"]})
    return pd.DataFrame(rows, columns=["model", "recipe", "target", "bench", "seed", "lang", "score"])


def correlations(measures: pd.DataFrame, scores: pd.DataFrame) -> pd.DataFrame:
    """Across languages other than English, pooled over the target checkpoints (recipes, seeds) that
    feed a benchmark: Spearman's rho between a checkpoint's alignment in a language (centred
    retrieval, both directions: clean, perturbed, or its drop) and its zero-shot score there, per
    layer, with a 95% interval (Fisher's z, the standard error sqrt(1.06 / (n - 3)) of Fieller et
    al. 1957). The points share languages and recipes, so the interval is optimistic."""
    if measures.empty or scores.empty:
        return pd.DataFrame(columns=CORRELATION_COLUMNS)
    aligned = measures[(measures["lang"] != ENGLISH) & (measures["target"] != ENCODER_TARGET)].copy()
    aligned["value"] = aligned[list(HITS)].mean(axis=1)
    keys = ["model", "recipe", "target", "seed", "set", "lang", "layer"]
    wide = aligned.pivot_table(index=keys, columns="condition", values="value").reset_index()
    joined = wide.merge(scores[scores["lang"] != ENGLISH], on=["model", "recipe", "target", "seed", "lang"])
    conditions = [c for c in measures["condition"].drop_duplicates() if c != CLEAN]
    rows = []
    for (model, name, bench, layer), part in joined.groupby(["model", "set", "bench", "layer"], sort=False):
        columns = [("clean", CLEAN, part[CLEAN])]
        for condition in conditions:
            columns += [("perturbed", condition, part[condition]), ("drop", condition, part[CLEAN] - part[condition])]
        for kind, condition, values in columns:
            rows.append({"model": model, "set": name, "bench": bench, "layer": int(layer), "alignment": kind,
                         "condition": condition, **_spearman(values.to_numpy(), part["score"].to_numpy())})
    found = pd.DataFrame(rows, columns=CORRELATION_COLUMNS)
    order = {bench: rank for rank, bench in enumerate(found["bench"].drop_duplicates())}
    return found.sort_values(["model", "set", "bench", "layer"], key=lambda c: c.map(order) if c.name == "bench" else c,
                             kind="stable").reset_index(drop=True)


def _spearman(x: np.ndarray, y: np.ndarray) -> dict:
    n = len(x)
    if n < 4 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return {"points": n, "spearman": np.nan, "low": np.nan, "high": np.nan}
    rho = float(scipy_stats.spearmanr(x, y).statistic)
    z, half = np.arctanh(np.clip(rho, -0.999999, 0.999999)), 1.96 * np.sqrt(1.06 / (n - 3))
    return {"points": n, "spearman": rho, "low": float(np.tanh(z - half)), "high": float(np.tanh(z + half))}


def correlation_markdown(found: pd.DataFrame) -> str:
    """Per benchmark and layer: rho with the clean alignment and with its drop under each perturbation."""
    if found.empty:
        return "No target checkpoint's alignment and zero-shot scores to correlate.\n"
    drops = [c for c in found.loc[found["alignment"] == "drop", "condition"].drop_duplicates()]
    header = ["model", "bench", "layer", "points", "clean alignment", *[f"drop under {c}" for c in drops]]
    rows = []
    for (model, name, bench, layer), part in found.groupby(["model", "set", "bench", "layer"], sort=False):
        cells = {(r.alignment, r.condition): _rho_cell(r) for r in part.itertuples()}
        rows.append([model, bench, str(layer), str(int(part["points"].iloc[0])), cells[("clean", CLEAN)],
                     *[cells[("drop", c)] for c in drops]])
    return markdown_table(header, rows)


def _rho_cell(row) -> str:
    if pd.isna(row.spearman):
        return "–"
    mark = "" if row.low <= 0 <= row.high else " *"
    return f"{row.spearman:+.2f} [{row.low:+.2f}, {row.high:+.2f}]{mark}"


# ---------------------------------------------------------------------------- text
def answer(compared: pd.DataFrame, spread_note: str) -> str:
    """Per recipe, its encoder against the pretrained model layer by layer (for clean alignment and
    each perturbation's drop: the layers where it is higher or lower, more or less stable, or not
    told from noise); then its target checkpoints against `none`'s, counted over (target, layer)."""
    if compared.empty:
        return "No recipe besides `none` was measured: nothing to compare.\n"
    lines = []
    for (model, name, recipe), part in compared.groupby(["model", "set", "recipe"], sort=False):
        encoder = part[part["stage"] == ENCODER_TARGET]
        if not encoder.empty:
            lines.append(f"- **`{recipe}`**, its encoder against the pretrained model ({model}, {name}):")
            for condition, rows in encoder.groupby("condition", sort=False):
                what = "clean alignment" if condition == CLEAN else f"instability under {condition}"
                lines.append(f"  - {what}: {_layer_sentence(rows, condition)}")
        targets = part[part["stage"] != ENCODER_TARGET]
        if not targets.empty:
            stages = ", ".join(f"`{t}`" for t in targets["stage"].drop_duplicates())
            lines.append(f"- **`{recipe}`**, after target training ({stages}), against `none`'s of each target, "
                         "over targets and layers:")
            for condition, rows in targets.groupby("condition", sort=False):
                what = "clean alignment" if condition == CLEAN else f"instability under {condition}"
                lines.append(f"  - {what}: {_cell_counts(rows, condition)}")
    return "\n".join(lines) + f"\n\n{spread_note}\n"


def _cell_counts(rows: pd.DataFrame, condition: str) -> str:
    """How many (target, layer) cells are above `none`'s, below it, or within noise."""
    above = rows[rows["low"] > 0]
    below = rows[rows["high"] < 0]
    labels = ("higher", "lower") if condition == CLEAN else ("less stable", "more stable")
    parts = []
    for label, cells in zip(labels, (above, below)):
        if not cells.empty:
            named = ", ".join(f"{r.stage} layer {r.layer} ({signed(r.difference)})" for r in cells.itertuples())
            parts.append(f"{label} in {len(cells)} ({named})")
    rest = len(rows) - len(above) - len(below)
    parts.append(f"not told from noise in {rest}" if rest else "none within noise")
    return f"of {len(rows)} cells, " + "; ".join(parts) + "."


def _layer_sentence(rows: pd.DataFrame, condition: str) -> str:
    higher, lower, within = [], [], []
    for row in rows.itertuples():
        cell = f"{row.layer} ({signed(row.difference)} [{signed(row.low)}, {signed(row.high)}])"
        if pd.isna(row.low):
            within.append(f"{row.layer} ({signed(row.difference)}, no interval)")
        elif row.low > 0:
            higher.append(cell)
        elif row.high < 0:
            lower.append(cell)
        else:
            within.append(cell)
    if condition == CLEAN:
        labels = ("higher than `none`'s at layers", "lower at layers", "not told from noise at layers")
    else:  # a positive difference of drops: the recipe loses more, its alignment is less stable
        labels = ("less stable (it drops more) at layers", "more stable (it drops less) at layers",
                  "not told from noise at layers")
    parts = [f"{label} {', '.join(cells)}" for label, cells in zip(labels, (higher, lower, within)) if cells]
    return "; ".join(parts) + "."


def cka_markdown(changes: pd.DataFrame) -> str:
    """The CKA changes as a table: value, `none`'s, difference and its interval over seeds."""
    if changes.empty:
        return "No comparison.\n"
    header = ["model", "set", "stage", "recipe", "condition", "layer", "recipe's", "none's", "difference",
              "95% interval (seeds)", "seeds"]
    rows = [[r.model, r.set, r.stage, r.recipe, r.condition, str(r.layer), f"{r.setting_value:.3f}",
             f"{r.against_value:.3f}", _signed3(r.difference),
             "–" if pd.isna(r.low) else _italic_if_zero_in(f"[{_signed3(r.low)}, {_signed3(r.high)}]", r.low, r.high),
             r.seeds] for r in changes.itertuples()]
    return markdown_table(header, rows)


def _signed3(value: float) -> str:
    return f"{round(value, 3) + 0.0:+.3f}"  # + 0.0: a value that rounds to zero reads +0.000, not -0.000


def _italic_if_zero_in(text: str, low: float, high: float) -> str:
    return f"_{text}_" if low <= 0 <= high else text


def section_markdown(compared: pd.DataFrame, curves: pd.DataFrame, spread_note: str,
                     correlated: pd.DataFrame, cka: pd.DataFrame | None = None) -> str:
    table_rows = []
    for row in compared.itertuples():
        interval = "–" if pd.isna(row.low) else f"[{signed(row.low)}, {signed(row.high)}]"
        table_rows.append([row.model, row.set, row.stage, row.recipe, row.condition, str(row.layer),
                           f"{row.setting_value:.1f}", f"{row.against_value:.1f}", signed(row.difference), interval])
    header = ["model", "set", "stage", "recipe", "condition", "layer", "recipe's", "none's", "difference", "95% interval"]
    return (
        "# Cross-lingual alignment (Q-align)\n\n"
        "Does English intermediate-task training make cross-lingual alignment more or less stable under "
        "perturbation? Measure: centred retrieval accuracy, both directions, over the languages other than "
        "English; under a perturbation (of the other language's side), its drop from clean. A recipe's checkpoint "
        "is compared with `none`'s of the same stage: the encoder after the intermediate stage with the pretrained "
        "model, a target checkpoint with `none`'s of that target.\n\n"
        f"## Answer\n\n{answer(compared, spread_note)}\n"
        "## Per layer\n\nClean rows: the centred retrieval accuracy. Perturbed rows: its drop from clean "
        "(points).\n\n"
        f"{markdown_table(header, table_rows) if table_rows else 'No comparison.'}\n"
        "Every measure per checkpoint, set, condition, language and layer (retrieval both ways, raw and centred; "
        "margin, raw and centred; linear CKA): the `measures.csv` of each checkpoint under `results/align/`; "
        "their means over languages and seeds: [alignment_layers.csv](alignment_layers.csv).\n\n"
        "## Linear CKA\n\n"
        "Linear CKA (Kornblith et al. 2019) between English's and each other language's sentence matrix, the mean "
        "over the languages other than English; clean rows its value, perturbed rows its drop from clean. CKA has "
        "no per-sentence form, so its interval is over seeds alone (Welch, 95%) and a side with one seed gives "
        "none: with one seed a CKA difference is a reading, not a finding. In italics: an interval that holds 0. "
        "Also in [q_align_cka.csv](q_align_cka.csv).\n\n"
        f"{cka_markdown(cka if cka is not None else pd.DataFrame(columns=CKA_COLUMNS))}\n"
        "## Alignment and zero-shot scores\n\n"
        "Spearman's rho across the languages other than English, pooled over the target checkpoints (recipes "
        "and seeds) that feed each benchmark, between a checkpoint's centred retrieval in a language (clean, or "
        "its drop under a perturbation) and its clean zero-shot score there; 95% interval from Fisher's z, "
        "optimistic since the points share languages and recipes; * where it excludes 0. Perturbed values: "
        "[q_align_correlation.csv](q_align_correlation.csv).\n\n"
        f"{correlation_markdown(correlated)}\n"
        "![Alignment by layer](alignment_layers.png)\n\n"
        "![Change against none by layer](alignment_heatmap.png)\n"
    )


# ---------------------------------------------------------------------------- figures
def _stage_label(recipe: str, target: str) -> str:
    return recipe if target == ENCODER_TARGET else f"{recipe} / {target}"


def plot_layers(curves: pd.DataFrame) -> Figure:
    """Rows: the measures of CURVES; columns: clean, then each perturbation; one line per encoder
    (solid) and per target checkpoint averaged over seeds (thin, dashed)."""
    if curves.empty:
        return note_figure("no alignment measured")
    conditions = list(curves["condition"].drop_duplicates())
    recipes = list(curves["recipe"].drop_duplicates())
    colours = colormaps["tab10"]
    figure = new_figure(3.2 * len(conditions), 2.4 * len(CURVES))
    axes = figure.subplots(len(CURVES), len(conditions), squeeze=False, sharex=True)
    for j, condition in enumerate(conditions):
        for i, label in enumerate(CURVES):
            ax = axes[i][j]
            part = curves[curves["condition"] == condition]
            for (recipe, target), line in part.groupby(["recipe", "target"], sort=False):
                encoder = target == ENCODER_TARGET
                ax.plot(line["layer"], line[label], color=colours(recipes.index(recipe) % 10),
                        linestyle="-" if encoder else "--", linewidth=1.8 if encoder else 0.8,
                        label=_stage_label(recipe, target) if encoder else None)
            if i == 0:
                ax.set_title(condition)
            if j == 0:
                ax.set_ylabel(label)
            if i == len(CURVES) - 1:
                ax.set_xlabel("hidden layer (0: embeddings)")
    axes[0][0].legend(fontsize="small", loc="lower left", title="encoders (dashed: targets)")
    return figure


def plot_heatmap(compared: pd.DataFrame) -> Figure:
    """Recipe (and stage) x layer: the difference against `none`, clean alignment and each
    perturbation's drop side by side."""
    if compared.empty:
        return note_figure("no recipe besides none: nothing to compare")
    conditions = list(compared["condition"].drop_duplicates())
    compared = compared.assign(row=[_stage_label(r, s) for r, s in zip(compared["recipe"], compared["stage"])])
    rows = list(compared["row"].drop_duplicates())
    layers = sorted(compared["layer"].unique())
    figure = new_figure(2.2 + 0.45 * len(layers) * len(conditions), 2.0 + 0.3 * len(rows))
    axes = figure.subplots(1, len(conditions), squeeze=False, sharey=True)[0]
    limit = float(np.nanmax(np.abs(compared["difference"]))) or 1.0
    for ax, condition in zip(axes, conditions):
        grid = compared[compared["condition"] == condition].pivot_table(index="row", columns="layer",
                                                                       values="difference", sort=False)
        grid = grid.reindex(index=rows, columns=layers)
        # Blue is better on both: higher clean alignment, a smaller drop.
        image = ax.imshow(grid.to_numpy(dtype=float), cmap="RdBu" if condition == CLEAN else "RdBu_r",
                          vmin=-limit, vmax=limit, aspect="auto")
        ax.set_title(condition, fontsize="small")
        ax.set_xticks(range(len(layers)), [str(layer) for layer in layers])
        ax.set_yticks(range(len(rows)), rows)
        ax.set_xlabel("layer")
        label = "change (blue: higher)" if condition == CLEAN else "drop change (blue: smaller)"
        figure.colorbar(image, ax=ax, location="bottom", shrink=0.9, label=label)
    return figure


# ---------------------------------------------------------------------------- the section
def write_section(out_dir: str | Path, measures_files: Iterable[str | Path], hits_files: Iterable[str | Path],
                  seed_spread: Mapping[str, tuple[float, float]] | None,
                  scores_files: Iterable[str | Path] = ()) -> list[Path]:
    """The Q-align section's ALIGNMENT_FILES under `out_dir`, from the align jobs' measures and hits,
    the seed spread, and the clean scores of the benchmarks the target checkpoints feed."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    measures = load_measures(measures_files)
    hits = load_hits(hits_files)
    compared = compare_layers(measures, hits, seed_spread) if not measures.empty else pd.DataFrame(columns=COLUMNS)
    spread_note = _spread_note(seed_spread, compared)
    cka = cka_changes(measures) if not measures.empty else pd.DataFrame(columns=CKA_COLUMNS)
    curves = layer_curves(measures) if not measures.empty else pd.DataFrame()
    correlated = correlations(measures, load_scores(scores_files))
    write_csv(out_dir / "q_align.csv", compared)
    write_csv(out_dir / "q_align_correlation.csv", correlated)
    write_csv(out_dir / "q_align_cka.csv", cka)
    write_csv(out_dir / "q_align_seeds.csv",
              seed_cells(measures, hits) if not measures.empty else pd.DataFrame(columns=SEED_CELL_COLUMNS))
    write_csv(out_dir / "alignment_layers.csv", curves)
    write_figure(out_dir, "alignment_layers", plot_layers(curves))
    write_figure(out_dir, "alignment_heatmap", plot_heatmap(compared))
    write_text(out_dir / "alignment.md", section_markdown(compared, curves, spread_note, correlated, cka))
    return [out_dir / name for name in ALIGNMENT_FILES]


def _spread_note(seed_spread: Mapping[str, tuple[float, float]] | None, compared: pd.DataFrame) -> str:
    """What the single-seed intervals of the comparisons rest on (spread_of), said beside the answer."""
    single = compared[compared["interval"].astype(str).str.contains("spread|one seed")] if not compared.empty \
        else compared
    sources = {spread_of(seed_spread, r.set, r.condition, int(r.layer))[1] for r in single.itertuples()}
    if not sources:
        return "Every comparison has two or more seeds a side: its interval is over sentences and seeds."
    if sources == {"none"}:
        return ("Single-seed comparisons have no interval: `report.seed_spread` measured no alignment column and "
                "has no Tatoeba column to take the seed noise of retrieval from.")
    notes = []
    if "measured" in sources:
        notes.append("Where a side has one seed, the interval adds the seed spread of the same measure, set, condition "
                     "and layer, measured over seeds on this config (`report.seed_spread`, the columns `alignment "
                     "<set> <condition> layer <layer>`: `python -m xstilts.stats` on a multi-seed run's "
                     "q_align_seeds.csv).")
    if "borrowed" in sources:
        std, df = seed_spread[SPREAD_COLUMN]
        notes.append(f"Where a side has one seed and `report.seed_spread` measured no column of that set, condition "
                     f"and layer, the interval adds the seed spread of the Tatoeba score ({std:.2f} points, "
                     f"{int(df)} degrees of freedom): measured at the retrieval layer and uncentred, and taken there "
                     "for every layer, which is an assumption, not a measurement.")
    return " ".join(notes)
