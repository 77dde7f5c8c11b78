"""Who a study's languages are: the groups a report pools them by and their distance to English.

- Real languages (ISO 639-1 codes): script, top-level family, and URIEL's genetic and featural
  distances to English, from the shipped table uriel.yaml (built from lang2vec's files by
  xstilts.languages.uriel, which says how each is computed).
- The demo's synthetic languages are grouped by what the generator builds them from
  (SYNTHETIC_PROFILES: script, lexicon, word order, morphology; xstilts.synthetic's docstring),
  never looked up under the real languages their codes name; their distance is the number of those
  properties not shared with English.

A profile is plain data (JSON-able, so that it can travel as a rule's param):
{"groups": {grouping: group}, "distances": {measure: distance to English}}.
"""

from __future__ import annotations

import functools
import statistics
from collections.abc import Iterable
from pathlib import Path

import yaml

TABLE = Path(__file__).with_name("uriel.yaml")
ENGLISH = "en"
# The demo's groupings: morphology enters the distance only, every demo language's being its own.
SYNTHETIC_GROUPINGS = ("script", "lexicon", "order")
# What the generator builds each language from (xstilts.synthetic; README's table). Kept here, not in
# the generator, whose code is part of the shipped model's identity; tests/test_languages.py checks
# the scripts and word orders against generated text.
SYNTHETIC_PROFILES: dict[str, dict[str, str]] = {
    "en": {"script": "Latin", "lexicon": "English", "order": "SVO", "morphology": "articles, plural -s"},
    "de": {"script": "Latin", "lexicon": "cognates of English", "order": "verb-final",
           "morphology": "gendered articles, agreement suffixes"},
    "ru": {"script": "Cyrillic", "lexicon": "transcribed English stems", "order": "SVO",
           "morphology": "case suffixes, no articles"},
    "ar": {"script": "Arabic", "lexicon": "transcribed English stems", "order": "verb-first",
           "morphology": "attached article, adjective after noun"},
    "zh": {"script": "CJK, no spaces", "lexicon": "unrelated", "order": "SVO",
           "morphology": "measure words, no inflection"},
}


class UnknownLanguage(ValueError):
    """A language the shipped table (or the generator) does not describe."""


@functools.lru_cache(maxsize=1)
def real_table() -> dict:
    """The shipped table: {"source": ..., "languages": {code: {name, iso639_3, script, family, genetic, featural}}}."""
    return yaml.safe_load(TABLE.read_text(encoding="utf-8"))


@functools.lru_cache(maxsize=1)
def _featural_thirds() -> tuple[float, float]:
    """Cut points splitting the table's non-English languages into near, middle and far thirds."""
    values = [row["featural"] for lang, row in real_table()["languages"].items() if lang != ENGLISH]
    low, high = statistics.quantiles(values, n=3, method="inclusive")
    return low, high


def _third(featural: float) -> str:
    low, high = _featural_thirds()
    if featural == 0:
        return "English"
    if featural < low:
        return f"near (< {low:.3f})"
    return f"far (≥ {high:.3f})" if featural >= high else f"middle ({low:.3f}–{high:.3f})"


def real_profile(lang: str) -> dict:
    row = real_table()["languages"].get(lang)
    if row is None:
        raise UnknownLanguage(lang)
    return {"groups": {"script": row["script"], "family": row["family"], "distance": _third(row["featural"])},
            "distances": {"featural": row["featural"], "genetic": row["genetic"]}}


def synthetic_profile(lang: str) -> dict:
    properties = SYNTHETIC_PROFILES.get(lang)
    if properties is None:
        raise UnknownLanguage(lang)
    differing = sum(value != SYNTHETIC_PROFILES[ENGLISH][key] for key, value in properties.items())
    return {"groups": {key: properties[key] for key in SYNTHETIC_GROUPINGS},
            "distances": {"constructed": float(differing)}}


def profiles(langs: Iterable[str], *, synthetic: bool) -> dict[str, dict]:
    """Language -> profile; UnknownLanguage naming every language without one."""
    langs = list(dict.fromkeys(langs))
    describe = synthetic_profile if synthetic else real_profile
    found, missing = {}, []
    for lang in langs:
        try:
            found[lang] = describe(lang)
        except UnknownLanguage:
            missing.append(lang)
    if missing:
        where = ("the generator's languages (xstilts.languages.SYNTHETIC_PROFILES)" if synthetic
                 else f"the language table {TABLE} (add them with `python -m xstilts.languages.uriel`)")
        raise UnknownLanguage(f"no group or distance for {', '.join(missing)}: not in {where}")
    return found


def source(synthetic: bool) -> str:
    """Where the groups and distances come from, for the report."""
    if synthetic:
        return ("the generator's constructed properties (xstilts.languages.SYNTHETIC_PROFILES); distance: the "
                "number of script, lexicon, word order and morphology not shared with English")
    return f"{real_table()['source']}; script from CLDR's likely subtags"
