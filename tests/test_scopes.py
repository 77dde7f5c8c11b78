"""Every config key reaches exactly the stages whose results it can change.

The expected plan of each key is written once, in tests/scopes.yaml; this file walks the leaf keys
of the schema, makes each change on a finished tiny run, and compares the dry run's plan with it.
Evaluation-side additions to a finished study (a benchmark, a language) plan no training."""

from __future__ import annotations

import copy
import fnmatch
import multiprocessing
import re
import shutil
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest
import yaml

from workflow_runs import TINY, planned_jobs
from xstilts.config import TRAINING_DEFAULTS, Plan, load_schema

ROOT = Path(__file__).resolve().parents[1]
SCOPES = yaml.safe_load((ROOT / "tests" / "scopes.yaml").read_text())


# ---- the schema's leaf keys ---------------------------------------------------------------
def schema_leaves(schema: dict, root: dict, path: str = "") -> set[str]:
    """Dotted paths of every settable leaf; `*` stands for a name the user chooses (a task, a
    model, a recipe, a target). A key that takes either a list or an object is a leaf and has
    the object's leaves too."""
    if "$ref" in schema:
        schema = root["$defs"][schema["$ref"].rsplit("/", 1)[1]]
    if "oneOf" in schema:
        return set().union(*(schema_leaves(option, root, path) for option in schema["oneOf"]))
    leaves = set()
    for name, sub in schema.get("properties", {}).items():
        leaves |= schema_leaves(sub, root, f"{path}.{name}" if path else name)
    if isinstance(schema.get("additionalProperties"), dict):
        leaves |= schema_leaves(schema["additionalProperties"], root, f"{path}.*")
    if not leaves:
        leaves.add(path)
    return leaves


def training_keys() -> set[str]:
    return set(load_schema()["$defs"]["training"]["properties"])


def declared_keys() -> set[str]:
    keys = set(SCOPES["keys"])
    for place in SCOPES["training_places"]:
        keys |= {f"{place}.{key}" for key in SCOPES["training_key_classes"]}
    return keys


def test_every_schema_key_has_a_declared_scope():
    """A new key (or a new training setting) without an entry in scopes.yaml fails here."""
    schema = load_schema()
    leaves = schema_leaves(schema, schema)
    assert training_keys() == set(SCOPES["training_key_classes"]), "training keys without a scope class"
    # A training setting that is an object (training.adversarial) is one setting: its scope is its fields'.
    settings = {f"{place}.{key}" for place in SCOPES["training_places"] for key in SCOPES["training_key_classes"]}
    leaves = {leaf for leaf in leaves if not any(leaf.startswith(key + ".") for key in settings)} | \
        {key for key in settings if any(leaf.startswith(key + ".") for leaf in leaves)}
    assert sorted(leaves - declared_keys()) == [], "schema keys missing from tests/scopes.yaml"
    assert sorted(declared_keys() - leaves) == [], "scopes.yaml names keys the schema does not have"


# ---- changes ----------------------------------------------------------------------------
def set_key(config: dict, dotted: str, value) -> None:
    *parents, last = dotted.split(".")
    node = config
    for name in parents:
        node = node.setdefault(name, {})
    node[last] = value


def get_key(config: dict, dotted: str, default=None):
    node = config
    for name in dotted.split("."):
        if not isinstance(node, dict) or name not in node:
            return default
        node = node[name]
    return node


def unset_key(config: dict, dotted: str) -> None:
    *parents, last = dotted.split(".")
    del get_key(config, ".".join(parents))[last]


def changed_value(value, key: str = ""):
    """Another valid value of a training setting."""
    if key == "micro_batch":
        return "auto" if value is None else None
    if value is None:  # a setting that is off unless given (training.adversarial)
        return {"method": "freelb", "eps": 0.1}
    if isinstance(value, dict):
        return {**value, "eps": value["eps"] / 2}
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    return value / 2 if value else 0.5


def training_change(place: str, key: str, tiny: dict) -> dict:
    spec = SCOPES["training_places"][place]
    config = copy.deepcopy(tiny)
    if "tasks_at" in spec:  # a recipe or target given as a bare list takes the object form
        entry, list_key = spec["tasks_at"].rsplit(".", 1)
        if isinstance(get_key(config, entry), list):
            set_key(config, entry, {list_key: get_key(config, entry)})
    block = get_key(config, spec["at"]) or {}
    current = block.get(key, get_key(tiny, f"training.defaults.{key}", TRAINING_DEFAULTS.get(key)))
    set_key(config, f"{spec['at']}.{key}", changed_value(current, key))
    return config


def key_change(key: str, tiny: dict) -> dict:
    entry = SCOPES["keys"][key]
    config = copy.deepcopy(tiny)
    for dotted in entry.get("unset", []):
        unset_key(config, dotted)
    for dotted, value in entry["set"].items():
        set_key(config, dotted, value)
    return config


def cases() -> list[tuple[str, str]]:
    """(key, expected plan name or 'error') for every declared key."""
    found = [(key, entry.get("plan", "error")) for key, entry in SCOPES["keys"].items()]
    for place, spec in SCOPES["training_places"].items():
        found += [(f"{place}.{key}", spec.get("except", {}).get(key, spec[kind]))
                  for key, kind in SCOPES["training_key_classes"].items()]
    return found


def expected_plan(name: str, full: Counter) -> Counter:
    """A named plan of scopes.yaml with its `*` families and `full` counts resolved."""
    expected = Counter()
    for rule, count in SCOPES["plans"][name].items():
        matching = fnmatch.filter(full, rule) if "*" in rule else [rule]
        for match in matching:
            if not (match in expected and "*" in rule):  # a named rule overrides its family's count
                expected[match] = full[match] if count == "full" else count
    expected = +expected  # a count of 0 says the family's rule runs no job
    if expected:
        expected["all"] = 1
    return expected


# ---- the walk ---------------------------------------------------------------------------
def changed_config(key: str, tiny: dict) -> dict:
    place = training_place(key)
    return training_change(place, key.rsplit(".", 1)[1], tiny) if place else key_change(key, tiny)


def training_place(key: str) -> str | None:
    return next((p for p in SCOPES["training_places"] if key.startswith(p + ".")), None)


def stage_settings(config: dict) -> dict:
    """What every training stage of `config` reruns on: its result settings, per (stage, model, name)."""
    plan = Plan(config)
    stages = {("pretrain", model, None) for model in plan.models if "pretrain" in config["models"][model]}
    stages |= {("intermediate", model, recipe) for model in plan.models for recipe, entry in plan.recipes.items()
               if entry["tasks"]}
    stages |= {("target", model, target) for model in plan.models for target in plan.targets}
    return {stage: plan.result_settings(*stage) for stage in sorted(stages, key=str)}


def changed_stages(key: str, tiny: dict, before: dict) -> set:
    after = stage_settings(changed_config(key, tiny))
    return {stage for stage, settings in after.items() if settings != before[stage]}


def dag_cases() -> tuple[list, dict]:
    """The cases the walk plans with Snakemake, and for every other training setting the case that
    stands for it. The training layers treat every setting of one scope class alike (config.py's
    RUNTIME_ONLY, SELECTION_ONLY, MLM_ONLY), so one setting per (place, class, plan) is planned; each
    other one must change the result settings of exactly the stages its stand-in changes, which the
    quick test below checks in Python (a plan costs about a second; there are 126 training settings)."""
    planned, stand_ins, first = [], {}, {}
    for key, plan_name in cases():
        place = training_place(key)
        if place is None:
            planned.append((key, plan_name))
            continue
        group = (place, SCOPES["training_key_classes"][key.rsplit(".", 1)[1]], plan_name)
        if group in first:
            stand_ins[key] = first[group]
        else:
            first[group] = key
            planned.append((key, plan_name))
    return planned, stand_ins


def test_each_training_setting_reaches_the_stages_of_the_setting_planned_for_its_class():
    """The half of the walk that needs no Snakemake: a setting that is not planned below changes the
    result settings of the same stages as its class's planned setting at the same place."""
    tiny = yaml.safe_load(TINY.read_text())
    before = stage_settings(tiny)
    _, stand_ins = dag_cases()
    assert len(stand_ins) > 80, "most training settings are checked here"
    reached = {stand_in: changed_stages(stand_in, tiny, before) for stand_in in set(stand_ins.values())}
    wrong = [f"{key} changes {sorted(map(str, got))}, {stand_in} changes {sorted(map(str, reached[stand_in]))}"
             for key, stand_in in stand_ins.items() if (got := changed_stages(key, tiny, before)) != reached[stand_in]]
    assert not wrong, "\n".join(wrong)


def wrong_plans(workdir: Path, cases: list[tuple[str, str]], full: Counter, scratch: Path) -> list[str]:
    """What went wrong with each (key, plan name) case on a finished run in `workdir`."""
    tiny = yaml.safe_load(TINY.read_text())
    wrong = []
    for key, plan_name in cases:
        path = scratch / "changed.yaml"
        # the order of recipes is the report's
        path.write_text(yaml.safe_dump(changed_config(key, tiny), sort_keys=False))
        if plan_name == "error":
            message = SCOPES["keys"][key]["error"]
            try:
                planned_jobs(workdir, path)
                wrong.append(f"{key}: planned, not refused with '{message}'")
            except Exception as error:  # the refusal a user sees
                if not re.search(message, str(error)):
                    wrong.append(f"{key}: refused with '{error}', not '{message}'")
            continue
        got, want = planned_jobs(workdir, path), expected_plan(plan_name, full)
        if got != want:
            extra, missing = got - want, want - got
            wrong.append(f"{key} (plan '{plan_name}'): planned too many {dict(extra)}, too few {dict(missing)}")
    return wrong


@pytest.mark.slow
def test_each_key_plans_exactly_its_declared_stages(finished_tiny_run, tmp_path):
    """The cases split between two processes (about a second of one core each), each planning on
    its own copy of the finished run."""
    workdir, _ = finished_tiny_run
    full = planned_jobs(workdir, TINY, forceall=True)
    assert planned_jobs(workdir, TINY) == Counter(), "the finished run is not complete"
    cases = dag_cases()[0]
    halves = [cases[0::2], cases[1::2]]
    folders = []
    for index in range(len(halves)):
        folders.append(tmp_path / f"copy{index}")
        shutil.copytree(workdir, folders[-1] / "run", symlinks=True)
    with ProcessPoolExecutor(len(halves), mp_context=multiprocessing.get_context("spawn")) as pool:
        found = pool.map(wrong_plans, [f / "run" for f in folders], halves, [full] * len(halves), folders)
        wrong = [line for lines in found for line in lines]
    assert not wrong, "\n".join(wrong)


@pytest.mark.slow
def test_adding_a_benchmark_or_a_language_to_a_finished_study_trains_nothing(finished_tiny_run, tmp_path):
    """A copy of the finished run as if it had never had MLQA, nor Chinese in XNLI (their files
    gone, and the report, which had neither; XNLI's features index and scores files go too: each
    named Chinese, and a real study's would rerun for the language added through their inputs and
    params, the scope of data.languages.*); the full config then plans their data, features and
    evaluations (Chinese XNLI's perturbed copies made again from its new clean set, its attack run
    again on the clean one) and the report,
    and no training job."""
    workdir, _ = finished_tiny_run
    study = tmp_path / "study"
    shutil.copytree(workdir, study, symlinks=True)
    results = study / "results"
    for path in [*results.glob("data/mlqa/**/*"), *results.glob("features/*/mlqa/**/*"), *results.glob("eval/*/*/*/mlqa/**/*"),
                 *results.glob("**/xnli/test/zh.*"), *results.glob("features/*/xnli/test/index.txt"),
                 *results.glob("eval/*/*/*/xnli/**/*"), *results.glob("report/*")]:
        if path.is_file():
            path.unlink()
    plan = planned_jobs(study, TINY)
    perturbed_zh = Counter({f"{stage}/xnli/test/{name}": 1 for stage in ("perturb", "tokenize", "index_features")
                            for name in ("typos", "switched", "mixed")})
    # flip's texts against mnli's checkpoint are made again for every language (its XNLI scores go)
    transfer_set = Counter({f"{stage}/xnli/test/flip-transfer": 1 if stage == "index_features" else 3
                            for stage in ("perturb", "tokenize", "index_features")})
    assert plan == Counter({"prepare/mlqa/test": 3, "tokenize/mlqa/test": 3, "index_features/mlqa/test": 1,
                            "evaluate/mlqa": 3, "prepare/xnli/test": 1, "tokenize/xnli/test": 1,
                            "index_features/xnli/test": 1, "evaluate/xnli": 3, "evaluate/xnli/typos": 3,
                            "evaluate/xnli/switched": 3, "evaluate/xnli/mixed": 3, "evaluate/xnli/probe": 3, "evaluate/xnli/flip": 3, "evaluate/xnli/flip-transfer": 3,
                            "report": 1,
                            "all": 1}) + perturbed_zh + transfer_set
