"""The levels at which the report's comparisons of two settings are read, shared by the sections
that compare settings on the same examples (Q-direct, Q-robust-int): English against the other
languages, each grouping of the languages' profiles (xstilts.languages: script, family, distance
to English; the demo's constructed properties), and each language; with the table of those
profiles and a difference written with its interval."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.figure import Figure

from ..languages import ENGLISH
from .render import MISSING, markdown_table, new_figure, note_figure, signed


def language_groups(languages: Iterable[str]) -> dict[str, list[str]]:
    """The groups compared: English, and the other languages together."""
    others = [lang for lang in languages if lang != ENGLISH]
    return {name: langs for name, langs in (("English", [ENGLISH] if ENGLISH in languages else []),
                                            ("non-English", others)) if langs}


def grouped_levels(languages: Iterable[str], profiles: Mapping[str, dict]) -> list[tuple[str, str, list[str]]]:
    """(grouping, group, its non-English languages) for each grouping of the languages' profiles
    (xstilts.languages: script, family, distance; the demo's script, lexicon, order), groups in the
    order of their first language."""
    others = [lang for lang in languages if lang != ENGLISH and lang in profiles]
    groupings = list(dict.fromkeys(key for lang in others for key in profiles[lang]["groups"]))
    levels = []
    for grouping in groupings:
        members: dict[str, list[str]] = {}
        for lang in others:
            members.setdefault(profiles[lang]["groups"][grouping], []).append(lang)
        levels += [(grouping, group, langs) for group, langs in members.items()]
    return levels


def all_levels(languages: list[str], profiles: Mapping[str, dict]) -> list[tuple[str, str, list[str]]]:
    """(level, group, languages): the two groups, the profiles' groupings, then each language."""
    levels = [("group", name, langs) for name, langs in language_groups(languages).items()]
    levels += grouped_levels(languages, profiles)
    return levels + [("language", lang, [lang]) for lang in languages]


def profiles_of(language_info: Mapping[str, dict] | None, bench: str) -> dict[str, dict]:
    """A benchmark's languages' profiles (Plan.language_profiles: bench -> {"source", "languages"})."""
    return ((language_info or {}).get(bench) or {}).get("languages", {})


def reading(row, *, above: str, below: str) -> str:
    """How a difference with its interval (row.difference, row.low, row.high) reads: no interval, noise,
    or `above` / `below` zero."""
    if pd.isna(row.low):
        return " (no interval)"
    if row.low <= 0 <= row.high:
        return " (cannot be told from noise)"
    return f" ({above})" if row.difference > 0 else f" ({below})"


def with_interval(value: float, low: float, high: float) -> str:
    """A difference with its interval; in italics where the interval contains 0."""
    if pd.isna(value):
        return MISSING
    if pd.isna(low):
        return signed(value)
    text = f"{signed(value)} [{signed(low)}, {signed(high)}]"
    return f"_{text}_" if low <= 0 <= high else text


def languages_markdown(benches: Iterable[str], language_info: Mapping[str, dict] | None) -> str:
    """Per benchmark, its languages' groups and distances to English, and their source."""
    parts = []
    for bench in dict.fromkeys(benches):
        info = (language_info or {}).get(bench)
        if not info:
            continue
        profiles = info["languages"]
        groupings = list(dict.fromkeys(key for profile in profiles.values() for key in profile["groups"]))
        measures = list(dict.fromkeys(key for profile in profiles.values() for key in profile["distances"]))
        header = ["language"] + groupings + [f"{measure} distance" for measure in measures]
        lines = [[lang] + [profile["groups"].get(g, MISSING) for g in groupings]
                 + [f"{profile['distances'][m]:.3f}" if m in profile["distances"] else MISSING for m in measures]
                 for lang, profile in profiles.items()]
        parts.append(f"### {bench}\n\nSource: {info['source']}.\n\n" + markdown_table(header, lines))
    return "\n".join(parts) if parts else "No language groups were given.\n"


def distance_figure(rows: pd.DataFrame, language_info: Mapping[str, dict] | None, *, ylabel: str,
                    title: Callable[[str, str, str], str], empty: str) -> Figure:
    """One panel per (model, bench, condition) of `rows` (a comparison table's per-language rows):
    each non-English language's difference (setting minus against, with its interval) against its
    distance to English, one marker per compared pair, pairs side by side; `title(model, bench,
    condition)` names a panel, `empty` says why there is none."""
    panels = [(key, cells) for key, cells in rows.groupby(["model", "bench", "condition"], sort=False)
              if profiles_of(language_info, key[1])]
    if not panels:
        return note_figure(empty)
    figure = new_figure(7.0, 2.6 * len(panels))
    axes = figure.subplots(len(panels), 1, squeeze=False)[:, 0]
    colors = colormaps["tab10"]
    for ax, ((model, bench, condition), cells) in zip(axes, panels):
        profiles = profiles_of(language_info, bench)
        measure = next(iter(next(iter(profiles.values()))["distances"]))
        series = list(cells.groupby(["setting", "against"], sort=False))
        distances = [profile["distances"][measure] for profile in profiles.values()]
        dodge = 0.015 * ((max(distances) - min(distances)) or 1.0)  # pairs side by side, not on top
        for index, ((setting, against), pair) in enumerate(series):
            pair = pair[pair["group"].isin([lang for lang in profiles if lang != ENGLISH])]
            shift = (index - (len(series) - 1) / 2) * dodge
            x = [profiles[lang]["distances"][measure] + shift for lang in pair["group"]]
            y = pair["difference"].to_numpy(dtype=float)
            errors = np.abs([y - pair["low"].to_numpy(dtype=float), pair["high"].to_numpy(dtype=float) - y])
            ax.errorbar(x, y, yerr=np.nan_to_num(errors), marker="os^vDP"[index % 6], linestyle="none", capsize=2,
                        color=colors(index % colors.N), label=f"{setting} − {against}")
            for lang, xi, yi in zip(pair["group"], x, y):
                ax.annotate(lang, (xi, yi), fontsize=7, xytext=(3, 3), textcoords="offset points")
        ax.axhline(0.0, color="grey", linewidth=0.8)
        ax.set_xlabel(f"{measure} distance to English")
        ax.set_ylabel(ylabel)
        ax.set_title(f"{title(model, bench, condition)} (a picture, not a tested relation)", fontsize=9)
        ax.legend(fontsize=7, loc="upper left")
    return figure
