"""Build the shipped table of real languages (uriel.yaml) from lang2vec's URIEL files.

    python -m xstilts.languages.uriel <lang2vec's data folder> [ISO 639-1 codes ...]

lang2vec 1.1.2 (PyPI) does not import on Python 3.11 and its release lacks `distance()`, so the
project reads the package's data files itself (numpy .npz archives) and ships the result; the table
names the source and version. What is computed, per language (its ISO 639-3 code from lang2vec's
own letter_codes.json):
- family: the top-level Glottolog family, i.e. the largest of the clades (`F_` features of
  family_features.npz) the language belongs to (UNCLASSIFIED for the two in none);
- genetic distance to English: 1 - shared nodes / the larger node count, counting each language's
  clades and the language itself (URIEL's definition: the share of the Glottolog path not shared);
- featural distance to English: the cosine distance of the kNN-predicted syntax, phonology and
  inventory features (feature_predictions.npz), URIEL's "featural" vector. URIEL's own distance
  files were made from its full database, so these values can differ from theirs in the second
  decimal.
The script is not in URIEL: each language's usual script (CLDR's likely subtags) is listed below.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import yaml

TABLE = Path(__file__).with_name("uriel.yaml")
SOURCE = "URIEL via lang2vec 1.1.2 (family_features.npz, feature_predictions.npz, letter_codes.json)"
ENGLISH = "eng"

# ISO 639-1 -> (English name, the script CLDR's likely subtags give).
LANGUAGES: dict[str, tuple[str, str]] = {
    "af": ("Afrikaans", "Latin"), "ar": ("Arabic", "Arabic"), "az": ("Azerbaijani", "Latin"),
    "bg": ("Bulgarian", "Cyrillic"), "bn": ("Bengali", "Bengali"), "de": ("German", "Latin"),
    "el": ("Greek", "Greek"), "en": ("English", "Latin"), "es": ("Spanish", "Latin"), "et": ("Estonian", "Latin"),
    "eu": ("Basque", "Latin"), "fa": ("Persian", "Arabic"), "fi": ("Finnish", "Latin"), "fr": ("French", "Latin"),
    "gu": ("Gujarati", "Gujarati"), "he": ("Hebrew", "Hebrew"), "hi": ("Hindi", "Devanagari"),
    "ht": ("Haitian Creole", "Latin"), "hu": ("Hungarian", "Latin"), "id": ("Indonesian", "Latin"),
    "it": ("Italian", "Latin"), "ja": ("Japanese", "Japanese"), "jv": ("Javanese", "Latin"),
    "ka": ("Georgian", "Georgian"), "kk": ("Kazakh", "Cyrillic"), "ko": ("Korean", "Hangul"),
    "lt": ("Lithuanian", "Latin"), "ml": ("Malayalam", "Malayalam"), "mr": ("Marathi", "Devanagari"),
    "ms": ("Malay", "Latin"), "my": ("Burmese", "Myanmar"), "nl": ("Dutch", "Latin"), "pa": ("Punjabi", "Gurmukhi"),
    "pl": ("Polish", "Latin"), "pt": ("Portuguese", "Latin"), "qu": ("Quechua", "Latin"), "ro": ("Romanian", "Latin"),
    "ru": ("Russian", "Cyrillic"), "sw": ("Swahili", "Latin"), "ta": ("Tamil", "Tamil"), "te": ("Telugu", "Telugu"),
    "th": ("Thai", "Thai"), "tl": ("Tagalog", "Latin"), "tr": ("Turkish", "Latin"), "uk": ("Ukrainian", "Cyrillic"),
    "ur": ("Urdu", "Arabic"), "vi": ("Vietnamese", "Latin"), "wo": ("Wolof", "Latin"), "yo": ("Yoruba", "Latin"),
    "zh": ("Chinese", "Han"),
}


# URIEL gives these no clade (Basque is an isolate; `que` is the Quechua macrolanguage, whose
# varieties Glottolog puts in the Quechuan family): their family as Glottolog names it.
UNCLASSIFIED = {"eu": "Basque (isolate)", "qu": "Quechuan"}


class UrielError(ValueError):
    """lang2vec's files are missing, or lack a language."""


def _load(folder: Path, name: str) -> dict[str, np.ndarray]:
    path = folder / name
    if not path.is_file():
        raise UrielError(f"{path}: missing (expected lang2vec's data folder, e.g. site-packages/lang2vec/data)")
    with np.load(path, allow_pickle=True) as archive:
        return {key: archive[key] for key in archive.files}


def _rows(archive: dict[str, np.ndarray], codes: list[str], what: str) -> dict[str, np.ndarray]:
    index = {code: i for i, code in enumerate(archive["langs"].tolist())}
    missing = [code for code in codes if code not in index]
    if missing:
        raise UrielError(f"{what}: no row for {', '.join(missing)}")
    return {code: np.asarray(archive["data"][index[code]], dtype=float).reshape(-1) for code in codes}


def families(fam: dict[str, np.ndarray], codes: list[str]) -> dict[str, tuple[str | None, frozenset[str]]]:
    """ISO 639-3 code -> (top-level family, or None where URIEL gives none; every clade it belongs to)."""
    names = [str(name)[2:] if str(name).startswith("F_") else str(name) for name in fam["feats"].tolist()]
    members = (np.asarray(fam["data"], dtype=float).reshape(len(fam["langs"]), len(names)) > 0).sum(axis=0)
    found = {}
    for code, row in _rows(fam, codes, "family_features.npz").items():
        clades = np.flatnonzero(row > 0)
        # The root holds every member of its sub-clades; on a tie (a family of one branch) the first
        # listed, as URIEL lists a clade before its sub-clades.
        top = names[clades[np.argmax(members[clades])]] if clades.size else None
        found[code] = (top, frozenset(names[i] for i in clades))
    return found


def genetic_distance(a: tuple[str, frozenset[str]], b: tuple[str, frozenset[str]]) -> float:
    """1 - shared nodes / the larger node count; each side is (its own code, its clades)."""
    nodes_a, nodes_b = a[1] | {a[0]}, b[1] | {b[0]}
    return 1.0 - len(nodes_a & nodes_b) / max(len(nodes_a), len(nodes_b))


def featural_distance(a: np.ndarray, b: np.ndarray) -> float:
    return float(1.0 - a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def build(folder: Path, langs: list[str]) -> dict:
    """The table for `langs` (ISO 639-1 codes of LANGUAGES) from lang2vec's data folder."""
    unknown = [lang for lang in langs if lang not in LANGUAGES]
    if unknown:
        raise UrielError(f"no name and script listed for {', '.join(unknown)} (xstilts.languages.uriel.LANGUAGES)")
    letters_file = folder / "letter_codes.json"
    if not letters_file.is_file():
        raise UrielError(f"{letters_file}: missing (expected lang2vec's data folder, e.g. site-packages/lang2vec/data)")
    letters = json.loads(letters_file.read_text(encoding="utf-8"))
    iso3 = {lang: letters.get(lang, lang) for lang in langs}
    codes = sorted({*iso3.values(), ENGLISH})
    fam = families(_load(folder, "family_features.npz"), codes)
    features = _rows(_load(folder, "feature_predictions.npz"), codes, "feature_predictions.npz")
    table = {}
    for lang in langs:
        code = iso3[lang]
        name, script = LANGUAGES[lang]
        family = fam[code][0] or UNCLASSIFIED.get(lang)
        if family is None:
            raise UrielError(f"{lang} ({code}): URIEL gives no family; name it in UNCLASSIFIED")
        table[lang] = {"name": name, "iso639_3": code, "script": script, "family": family,
                       "genetic": round(genetic_distance((code, fam[code][1]), (ENGLISH, fam[ENGLISH][1])), 3),
                       "featural": round(featural_distance(features[code], features[ENGLISH]), 3)}
    return {"source": SOURCE, "languages": table}


def main(argv: list[str]) -> None:
    if not argv:
        raise SystemExit(__doc__)
    folder, langs = Path(argv[0]), argv[1:] or sorted(LANGUAGES)
    table = build(folder, langs)
    lines = [f"  {lang}: {yaml.safe_dump(row, default_flow_style=True, sort_keys=False, width=1000).strip()}"
             for lang, row in table["languages"].items()]
    TABLE.write_text("# Generated by `python -m xstilts.languages.uriel <lang2vec data folder>`; do not edit.\n"
                     f"source: {table['source']}\nlanguages:\n" + "\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {TABLE} ({len(langs)} languages)")


if __name__ == "__main__":
    main(sys.argv[1:])
