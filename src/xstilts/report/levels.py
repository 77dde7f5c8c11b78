"""The levels at which the report's comparisons of two settings are read, shared by the sections
that compare settings on the same examples (Q-direct, Q-robust-int): English against the other
languages, each grouping of the languages' profiles (xstilts.languages: script, family, distance
to English; the demo's constructed properties), and each language; with the table of those
profiles and a difference written with its interval."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import pandas as pd

from ..languages import ENGLISH
from .render import MISSING, markdown_table, signed


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
