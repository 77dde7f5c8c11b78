"""configs/paper.yaml's recipes, targets and benchmarks run end to end on fixture data with a
tiny random XLM-R saved locally in the hub's layout (no network), so that every code path of the
real study runs: import of a `hub:` model, every intermediate recipe (the nine tasks, multi-task,
continued MLM, translated data), every target type, every benchmark, the report.

The NLI chain and both variants read hub-layout fixtures through the hub source (GLUE's MNLI,
facebook/xnli's translated MNLI, google/xtreme's XNLI, Wikipedia); every other task reads local
files in the internal schema, written from the embedded generator. Two runs keep the grid small:
all recipes into the MNLI target (+ Tatoeba), then the plain model into every target (+ BUCC).
Sizes and steps are shrunk; the structure is paper.yaml's.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import yaml
from datasets import ClassLabel, Value

from xstilts import synthetic
from xstilts.config import Plan
from xstilts.io import read_json, write_jsonl
from xstilts.sources.local import file_for

from helpers import hub_repo, tiny_pretrained
from test_workflow import ROOT, run_config

pytestmark = pytest.mark.slow

PAPER = yaml.safe_load((ROOT / "configs" / "paper.yaml").read_text())
HUB_TASKS = ("mnli", "mnli_mt", "xnli", "wiki_mlm")
SIZES = {"train": 24, "dev": 8, "test": 6}
NLI = ["entailment", "neutral", "contradiction"]


def generator_lang(lang: str) -> str:
    """The embedded generator's language standing in for a benchmark language."""
    if lang in synthetic.LANGUAGES:
        return lang
    others = [code for code in synthetic.LANGUAGES if code != "en"]
    return others[sum(map(ord, lang)) % len(others)]


def generated(plan: Plan, task: str, split: str, lang: str) -> list[dict]:
    spec = plan.task(task)["sources"]["synthetic"]
    return synthetic.generate(spec["kind"], split=split, lang=generator_lang(lang), n=SIZES[split], seed=5,
                              stream=task, **spec.get("options", {}))


def paper_config(model_dir: Path, data_root: Path, hub_repos: dict[str, Path], **grid) -> dict:
    config = copy.deepcopy(PAPER)
    config["models"] = {"xlmr-tiny": {"hub": str(model_dir), "retrieval_layer": 1}}
    config["seeds"] = [1]
    config["data"]["sources"] = {task: "hub" for task in HUB_TASKS}
    config["data"]["source"] = "local"
    config["data"]["local"] = {"root": str(data_root)}
    config["data"]["hub"] = {"offline": True, "cache_dir": str(data_root / "hf-cache"),
                             "overrides": {repo: str(path) for repo, path in hub_repos.items()}}
    config["data"]["max_examples"] = {"wiki_mlm": 10}
    config["data"]["languages"] = LANGUAGES
    config["features"] = {"max_length": {kind: 64 for kind in config["features"]["max_length"]}, "qa_stride": 24}
    # compile off: a GPU setting, whose compilation would dominate CPU steps this short
    # (tests/test_compile_buckets.py counts the compiled graphs)
    config["training"]["defaults"].update(max_steps=2, batch_size=8, grad_accum=1, eval_every=2, eval_examples=8,
                                          compile=False)
    # Hundreds of two-step jobs: forked warm, as the demo's (a runtime setting; results unchanged).
    config.setdefault("resources", {})["warm_processes"] = True
    config.update(grid)
    return config


# Three languages of each benchmark, English and scripts or segmentation of their own (every
# language runs the same code, and each costs a prepare, a tokenize and a scoring job).
LANGUAGES = {"xnli": ["en", "ar", "zh"], "pawsx": ["en", "ja", "ko"], "udpos": ["en", "ru", "ta"],
             "panx": ["en", "hi", "th"], "xquad": ["en", "th", "zh"], "mlqa": ["en", "ar", "zh"],
             "tydiqa": ["en", "bn", "ko"], "tatoeba": ["ar", "ja", "jv"], "bucc2018": ["de", "ru", "zh"]}


def write_local_fixtures(plan: Plan, root: Path) -> None:
    for (task, split), languages in plan.data_splits().items():
        if plan.source(task) != "local":
            continue
        spec = {**plan.task(task)["sources"]["local"], "root": str(root)}
        for lang in languages:
            write_jsonl(file_for(task, split, lang, spec), generated(plan, task, split, lang))


def nli_columns(rows: list[dict], **extra) -> dict:
    return {"premise": [r["text_a"] for r in rows], "hypothesis": [r["text_b"] for r in rows],
            "label": [NLI.index(r["label"]) for r in rows], **extra}


def write_hub_fixtures(plan: Plan, root: Path) -> dict[str, Path]:
    """The four hub repositories the NLI chain and the variants read, in the hub's layout."""
    mnli = {"train": nli_columns(generated(plan, "mnli", "train", "en"), idx=list(range(SIZES["train"]))),
            "validation_matched": nli_columns(generated(plan, "mnli", "dev", "en"), idx=list(range(SIZES["dev"])))}
    glue_features = {"premise": Value("string"), "hypothesis": Value("string"), "label": ClassLabel(names=NLI),
                     "idx": Value("int32")}
    xnli_languages = plan.task("mnli_mt")["languages"]
    translated = {lang: {"train": nli_columns(generated(plan, "mnli_mt", "train", lang)),
                         "validation": nli_columns(generated(plan, "mnli_mt", "dev", lang))} for lang in xnli_languages}
    translated_features = {k: v for k, v in glue_features.items() if k != "idx"}
    xtreme_rows = {lang: generated(plan, "xnli", "test", lang) for lang in plan.task("xnli")["languages"]}
    xtreme_test = {"language": [lang for lang, rows in xtreme_rows.items() for _ in rows],
                   "sentence1": [r["text_a"] for rows in xtreme_rows.values() for r in rows],
                   "sentence2": [r["text_b"] for rows in xtreme_rows.values() for r in rows],
                   "gold_label": [r["label"] for rows in xtreme_rows.values() for r in rows]}
    wiki_languages = plan.task("wiki_mlm")["languages"]
    wiki = {f"20231101.{lang}": {"train": wiki_columns(generated(plan, "wiki_mlm", "train", lang), lang)}
            for lang in wiki_languages}
    wiki_features = {name: Value("string") for name in ("id", "url", "title", "text")}
    return {
        "nyu-mll/glue": hub_repo(root / "glue", {"mnli": mnli}, {"mnli": glue_features}),
        "facebook/xnli": hub_repo(root / "xnli", translated, {lang: translated_features for lang in xnli_languages}),
        "google/xtreme": hub_repo(root / "xtreme", {"XNLI": {"test": xtreme_test}},
                                  {"XNLI": {"language": Value("string"), "sentence1": Value("string"),
                                            "sentence2": Value("string"), "gold_label": Value("string")}}),
        "wikimedia/wikipedia": hub_repo(root / "wikipedia", wiki, {name: wiki_features for name in wiki}),
    }


def wiki_columns(rows: list[dict], lang: str) -> dict:
    return {"id": [str(i) for i in range(len(rows))], "url": [f"https://{lang}.wikipedia.org/{i}" for i in range(len(rows))],
            "title": [f"T{i}" for i in range(len(rows))], "text": [r["text"] for r in rows]}


def run_paper_grid(tmp_path: Path, **grid) -> tuple[Path, Plan]:
    model_dir = tiny_pretrained(tmp_path / "xlmr-tiny", hidden_size=32, layers=2)
    data_root = tmp_path / "data"
    plan = Plan(paper_config(model_dir, data_root, {}, **grid))
    repos = write_hub_fixtures(plan, tmp_path / "hub")
    config = paper_config(model_dir, data_root, repos, **grid)
    plan = Plan(config)
    write_local_fixtures(plan, data_root)
    return run_config(tmp_path, config, "paper-fixture"), plan


def assert_every_evaluation(results: Path, plan: Plan) -> None:
    for recipe, target, bench in plan.evaluations("xlmr-tiny"):
        folder = results / "eval" / "xlmr-tiny" / recipe / (target or "encoder") / bench / "clean" / "seed1"
        scored = read_json(folder / "scores.json")
        assert [s["lang"] for s in scored["results"]] == plan.languages(bench, plan.bench_split(bench))
        for result in scored["results"]:
            assert isinstance(result["score"], float), (recipe, bench, result["lang"])
    table = (results / "report" / "main_table.csv").read_text()
    for recipe in plan.recipes:
        assert recipe in table


def test_every_paper_recipe_and_every_target_run_end_to_end(tmp_path):
    """One run: every recipe into the MNLI target and the retrieval benchmarks, and the plain model
    into every target (`targets.<t>.recipes: [none]` keeps the other targets off the recipes)."""
    targets = {name: entry if name == "mnli" else {**entry, "recipes": ["none"]}
               for name, entry in PAPER["targets"].items()}
    results, plan = run_paper_grid(tmp_path, targets=targets)
    assert set(plan.recipes) == set(PAPER["recipes"]) and set(plan.targets) == set(PAPER["targets"])
    assert plan.retrieval == PAPER["retrieval"]
    assert_every_evaluation(results, plan)
    checkpoints = results / "models" / "xlmr-tiny" / "intermediate"
    for recipe, tasks in PAPER["recipes"].items():
        if recipe == "none":
            continue
        summary = read_json(checkpoints / recipe / "seed1" / "training_summary.json")
        assert summary["tasks"] == tasks
        supervised = {t for t in tasks if plan.task(t)["type"] != "mlm"}
        assert set(read_json(checkpoints / recipe / "seed1" / "heads.json")) == supervised
    # The variants read every language of their data, from the hub fixtures.
    assert sorted(p.stem for p in (results / "data" / "mnli_mt" / "train").glob("*.jsonl")) == \
        sorted(plan.task("mnli_mt")["languages"])
    wiki_de = (results / "data" / "wiki_mlm" / "train" / "de.jsonl").read_text().splitlines()
    assert len(wiki_de) == 10, "data.max_examples caps the corpus per language"
    first_mnli = json.loads((results / "data" / "mnli" / "train" / "en.jsonl").read_text().splitlines()[0])
    assert first_mnli["id"] == "0", "MNLI came through the hub source (GLUE's idx column)"
    assert (results / "models" / "xlmr-tiny" / "pretrained" / "model.safetensors").exists()
