"""Language groups: the shipped URIEL table covers every language of every benchmark the catalog
knows, its builder computes family and distances from lang2vec's files (tiny hand-made ones here),
the demo's languages are grouped by what the generator builds them from, and a benchmark language
without a group is refused when the config is read."""

from __future__ import annotations

import copy
import json
import unicodedata
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import yaml

from xstilts import languages, synthetic
from xstilts.catalog import load_catalog
from xstilts.config import ConfigError, Plan
from xstilts.languages import uriel

ROOT = Path(__file__).resolve().parents[1]


def _catalog_languages(catalog: dict) -> set[str]:
    found: set[str] = set()

    def walk(node):
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("languages", "pool") and isinstance(value, list):
                    found.update(value)
                else:
                    walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)
    walk(catalog)
    return found


def test_every_language_the_catalog_names_has_a_script_family_and_both_distances():
    table = languages.real_table()["languages"]
    assert _catalog_languages(load_catalog()) <= set(table)
    for lang, row in table.items():
        assert row["script"] and row["family"], lang
        assert 0 <= row["featural"] <= 1 and 0 <= row["genetic"] <= 1, lang
    assert table["en"]["featural"] == table["en"]["genetic"] == 0
    # Orders a linguist would expect: German nearer English than Japanese, on both measures.
    assert table["de"]["featural"] < table["ja"]["featural"] and table["de"]["genetic"] < table["ja"]["genetic"]
    assert table["sw"]["family"] == "Atlantic-Congo" and table["fi"]["family"] == "Uralic"


def _write_uriel(folder, families: dict[str, list[str]], features: dict[str, list[float]]) -> None:
    """lang2vec's three files for a few ISO 639-3 codes: clade memberships and feature vectors."""
    clades = sorted({clade for members in families.values() for clade in members})
    fam_langs = sorted(families)
    fam = np.array([[[1.0] if clade in families[code] else [0.0] for clade in clades] for code in fam_langs])
    np.savez(folder / "family_features.npz", feats=np.array([f"F_{c}" for c in clades]),
             langs=np.array(fam_langs), sources=np.array(["FAM"]), data=fam)
    feat_langs = sorted(features)
    data = np.array([[[v] for v in features[code]] for code in feat_langs])
    np.savez(folder / "feature_predictions.npz", feats=np.array(["S_SVO", "S_SOV", "P_X"]),
             langs=np.array(feat_langs), sources=np.array(["predicted"]), data=data)
    (folder / "letter_codes.json").write_text(json.dumps({"en": "eng", "de": "deu", "ja": "jpn"}))


def test_the_builder_takes_the_largest_clade_as_the_family_and_computes_both_distances(tmp_path):
    _write_uriel(tmp_path, {"eng": ["IE", "Germanic", "West Germanic", "Anglo-Frisian"],
                            "deu": ["IE", "Germanic", "West Germanic", "High German"],
                            "nld": ["IE", "Germanic", "West Germanic", "Low Franconian"],
                            "hin": ["IE", "Indo-Iranian"], "jpn": ["Japonic"]},
                 {"eng": [1.0, 0.0, 1.0], "deu": [0.0, 1.0, 1.0], "jpn": [0.0, 1.0, 0.0]})
    table = uriel.build(tmp_path, ["en", "de", "ja"])["languages"]
    assert table["de"]["family"] == "IE" and table["ja"]["family"] == "Japonic"
    # en and de share IE, Germanic, West Germanic of five nodes each (four clades and themselves).
    assert table["de"]["genetic"] == pytest.approx(1 - 3 / 5) and table["ja"]["genetic"] == 1.0
    assert table["de"]["featural"] == pytest.approx(0.5)  # cosine of (1,0,1) and (0,1,1)
    assert table["ja"]["featural"] == pytest.approx(1.0)
    assert table["ja"]["iso639_3"] == "jpn" and table["de"]["script"] == "Latin"


def test_the_builder_names_a_language_its_files_lack(tmp_path):
    _write_uriel(tmp_path, {"eng": ["IE"], "deu": ["IE"]}, {"eng": [1.0, 0.0, 1.0], "deu": [0.0, 1.0, 1.0]})
    with pytest.raises(uriel.UrielError, match="no row for jpn"):
        uriel.build(tmp_path, ["en", "ja"])
    with pytest.raises(uriel.UrielError, match="missing"):
        uriel.build(tmp_path / "elsewhere", ["en"])


def _script(token: str) -> str:
    return unicodedata.name(token[0]).split()[0]


def _order(tags: list[str]) -> str:
    words = [tag for tag in tags if tag != "PUNCT"]
    return "verb-first" if words[0] == "VERB" else "verb-final" if words[-1] == "VERB" else "SVO"


@pytest.mark.parametrize("lang", synthetic.LANGUAGES)
def test_the_demos_profiles_say_what_the_generator_writes(lang):
    """Script and word order of each profile, against tagged sentences of the generator."""
    profile = languages.SYNTHETIC_PROFILES[lang]
    examples = synthetic.generate("pos", split="test", lang=lang, n=30, seed=7, stream="udpos")
    scripts = Counter(_script(token) for ex in examples for i, (token, tag) in enumerate(zip(ex["tokens"], ex["tags"]))
                      if tag not in ("PUNCT", "NUM") and i not in ex["protected"])
    assert {"LATIN": "Latin", "CYRILLIC": "Cyrillic", "ARABIC": "Arabic", "CJK": "CJK, no spaces"}[
        scripts.most_common(1)[0][0]] == profile["script"]
    assert Counter(_order(ex["tags"]) for ex in examples).most_common(1)[0][0] == profile["order"]
    assert set(languages.SYNTHETIC_PROFILES) == set(synthetic.LANGUAGES)


def test_the_demos_languages_are_grouped_by_what_they_are_built_from_not_by_their_codes():
    found = languages.profiles(["en", "de", "ru", "ar", "zh"], synthetic=True)
    assert found["ru"]["groups"] == {"script": "Cyrillic", "lexicon": "transcribed English stems", "order": "SVO"}
    assert found["de"]["groups"]["order"] == "verb-final"
    assert found["en"]["distances"] == {"constructed": 0.0} and found["ar"]["distances"]["constructed"] == 4.0
    assert "family" not in found["de"]["groups"]  # never URIEL's Indo-European for the demo's "de"
    real = languages.profiles(["de"], synthetic=False)["de"]
    assert real["groups"]["family"] == "Indo-European" and set(real["distances"]) == {"featural", "genetic"}


def test_a_benchmark_language_without_a_group_is_refused_when_the_config_is_read():
    config = yaml.safe_load((ROOT / "configs" / "paper.yaml").read_text(encoding="utf-8"))
    catalog = copy.deepcopy(load_catalog())
    catalog["xnli"]["languages"] = [*catalog["xnli"]["languages"], "xx"]
    with pytest.raises(ConfigError, match=r"benchmark 'xnli': no group or distance for xx: not in the language table"):
        Plan(config, catalog)
    info = Plan(config).language_profiles()
    assert set(info["xnli"]["languages"]) == set(load_catalog()["xnli"]["languages"])
    assert info["xnli"]["source"].startswith("URIEL via lang2vec 1.1.2")


@pytest.mark.parametrize("name", sorted(path.name for path in (ROOT / "configs").glob("*.yaml")) + ["../config.yaml"])
def test_every_language_of_every_benchmark_of_every_shipped_config_has_a_group_and_a_distance(name):
    """What the Q-direct and Q-robust-int sections group by, for each config the project ships (its
    demo's synthetic languages by construction, the grids' real ones from the URIEL table)."""
    plan = Plan(yaml.safe_load((ROOT / "configs" / name).read_text(encoding="utf-8")))
    info = plan.language_profiles()
    assert set(info) == set(plan.benches())
    for bench in plan.benches():
        langs = plan.languages(bench, plan.bench_split(bench))
        assert set(info[bench]["languages"]) == set(langs), bench
        assert all(profile["groups"] and profile["distances"] for profile in info[bench]["languages"].values())
