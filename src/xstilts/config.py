"""The run configuration: validation against the schema and the catalog, and resolution of
what each stage needs (task lists, languages, hyperparameters).

Snakemake and the library read the config through `Plan`, so there is one place that knows
how a recipe, a target or a hyperparameter is resolved.
"""

from __future__ import annotations

import copy
from functools import cached_property
from pathlib import Path

import jsonschema

from .catalog import hub_ids, load_catalog
from .io import parse_yaml
from .languages import ENGLISH, UnknownLanguage, profiles, source as language_source

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "schemas" / "config.schema.yaml"
STAGES = ("pretrain", "intermediate", "target")
# Where a model comes from: the hub (or a local folder in its layout), pre-training in the workflow,
# or a folder the project ships with its provenance (xstilts.shipped).
MODEL_SOURCES = ("hub", "pretrain", "shipped")
# Types with no task head to train as a target: MLM trains the encoder's own LM head (pretraining,
# or continued multilingual MLM inside an intermediate recipe), retrieval is evaluation-only.
UNTRAINABLE_TYPES = ("mlm", "retrieval")
RECIPE_ONLY_TYPES = ("mlm",)
# Ranking benchmarks (Mewsli-X, LAReQA) rank every language's queries against one candidate pool:
# it is prepared, tokenized and encoded once, as this pseudo-language of the benchmark's split.
RANKING_POOL = "pool"
# An evaluation's condition: clean inputs, or a perturbation's name (perturbations: in the config).
CLEAN = "clean"
# The task types each perturbation kind applies to: the noise kinds and codeswitch to every type a
# benchmark has (xstilts.robustness.examples), mixed_pair to sentence pairs (xstilts.robustness.mixed).
PERTURBABLE_TYPES = ("classification", "multiple_choice", "tagging", "span_qa", "retrieval")
PERTURBATION_TYPES = {"char_noise": PERTURBABLE_TYPES, "word_noise": PERTURBABLE_TYPES,
                      "codeswitch": PERTURBABLE_TYPES, "mixed_pair": ("classification",), "local": PERTURBABLE_TYPES}
# The kinds that edit a text in place, and so can edit a recipe's training data (recipes.<r>.augment).
AUGMENT_KINDS = ("char_noise", "word_noise", "codeswitch")
# Randomized smoothing votes over predicted labels: the task types whose prediction is one label.
SMOOTHING_TYPES = ("classification", "multiple_choice")
# The options each kind takes.
PERTURBATION_OPTIONS = {"char_noise": ("side",), "word_noise": ("side",), "codeswitch": ("languages", "dictionaries", "side"),
                        "mixed_pair": ("order", "partners"), "local": ("path", "languages")}
# Which texts of a parallel pair (a retrieval benchmark) a noise kind edits: xstilts.robustness.examples.
PARALLEL_SIDES = ("other", "english", "both")
# The sentence fields of each task type whose translated test sets are parallel sets for alignment
# (xstilts.alignment.translated): a classification pair's two texts, a QA question (not its paragraph).
SENTENCE_FIELDS = {"classification": ("text_a", "text_b"), "span_qa": ("question",)}
# The kinds that edit each text in place, and so can edit either side of a parallel pair.
SIDED_KINDS = tuple(kind for kind, options in PERTURBATION_OPTIONS.items() if "side" in options)
RATELESS_KINDS = ("mixed_pair", "local")
# White-box attacks (xstilts.robustness): the task types each kind applies to (those with a trained
# head, whose own loss it ascends) and its settings, with their defaults (None: required).
ATTACK_TYPES = {"pgd": ("classification", "multiple_choice", "tagging", "span_qa"),
                "hotflip": ("classification", "multiple_choice"), "codeswitch_attack": ("classification", "multiple_choice")}
ATTACK_SETTINGS = {"pgd": {"eps": None, "steps": None, "step_size": None, "norm": "l2", "random_start": False},
                   "hotflip": {"max_changes": None},
                   "codeswitch_attack": {"max_changes": None, "languages": None, "dictionaries": ""}}
ATTACK_COMMON = ("kind", "seed", "benchmarks", "max_examples", "transfer_from")
# The kinds whose adversarial texts can be scored by other checkpoints (a transfer set).
TEXT_ATTACKS = ("hotflip", "codeswitch_attack")
TRANSFER_SUFFIX = "-transfer"


def adversarial_set_name(attack: str, recipe: str) -> str:
    """Where a recipe's adversarial training examples live: train/<attack>-for-<recipe>."""
    return f"{attack}-for-{recipe}"


# Built-in hyperparameters: the jiant/XTREME protocol of REFERENCE.md, which the config
# overrides under training.defaults, training.<stage>, and a recipe's or target's `training`.
TRAINING_DEFAULTS = {
    "lr": 1e-5,
    "weight_decay": 0.01,
    "warmup_ratio": 0.1,
    "batch_size": 4,
    "grad_accum": 8,
    "epochs": 3,
    "max_steps": 0,
    "eval_every": 1000,
    "eval_examples": 500,
    "patience": 30,
    "max_grad_norm": 1.0,
    "log_every": 10,
    "save_every": 500,
    "num_workers": 0,
    "bf16": True,
    "compile": False,
    "gradient_checkpointing": False,
    "mlm_probability": 0.15,
}
# The scope of each training setting: which stages' results it can change. Settings outside a
# stage's scope travel in its runtime params, which never trigger a rerun.
# - how a run goes, never what it computes (checkpointing recomputes the forward pass with the
#   same dropout; MLM masks are drawn per batch from the seed, not from a loader process):
RUNTIME_ONLY = ("log_every", "save_every", "num_workers", "gradient_checkpointing")
# - best-checkpoint selection and early stopping: only stages that select on a dev set;
SELECTION_ONLY = ("eval_every", "eval_examples", "patience")
# - masking: only stages that train a masked LM (pre-training, MLM inside a recipe).
MLM_ONLY = ("mlm_probability",)
# - how the fine-tuning stages split their effective batch: not the pre-training's.
FINETUNE_ONLY = ("micro_batch",)
# A pre-trained model's position table is part of its architecture, not of a feature length: the
# later stages' inputs must fit it (checked), but changing them never retrains the model. Dropout
# is XLM-R's; the model keeps it in its config, so later stages train with it too.
PRETRAIN_DEFAULTS = {"max_positions": 512, "dropout": 0.1}
FEATURE_DEFAULTS = {
    "max_length": {"classification": 256, "multiple_choice": 256, "tagging": 256,
                   "span_qa": 384, "retrieval": 512, "mlm": 256},
    "qa_stride": 128,
    "qa_max_answer_tokens": 30,
}


class ConfigError(ValueError):
    """A config that cannot run, with a message that names the offending entry."""


def load_schema() -> dict:
    return parse_yaml(SCHEMA_PATH.read_text(encoding="utf-8"))


def check_schema(config: dict) -> None:
    """Schema errors as one readable message naming the key path."""
    validator = jsonschema.Draft202012Validator(load_schema())
    errors = sorted(validator.iter_errors(config), key=lambda e: list(e.absolute_path))
    if errors:
        lines = []
        for error in errors[:10]:
            where = "/".join(str(p) for p in error.absolute_path) or "(top level)"
            lines.append(f"  config key '{where}': {error.message}")
        raise ConfigError("invalid config:\n" + "\n".join(lines))


def _as_entry(value, list_key: str) -> dict:
    """Recipes and targets may be a bare list or an object with a list and `training`; a target's
    entry also says after which `recipes` it is trained (None: every recipe)."""
    entry = {list_key: list(value), "training": {}} if isinstance(value, list) else \
        {list_key: list(value[list_key]), "training": dict(value.get("training", {}))}
    if list_key == "tasks":
        entry["augment"] = {} if isinstance(value, list) else {
            task: _augment_entry(given) for task, given in value.get("augment", {}).items()}
        entry["languages"] = {} if isinstance(value, list) else {task: list(langs) for task, langs
                                                                  in value.get("languages", {}).items()}
        entry["targets"] = None if isinstance(value, list) else value.get("targets")
    if list_key == "benches":
        entry["recipes"] = None if isinstance(value, list) else value.get("recipes")
        entry["selection"] = "english" if isinstance(value, list) else value.get("selection", "english")
    return entry


def _augment_entry(given) -> dict:
    """A recipe's augmentation of one task: a perturbation's copy (by name, or {perturbation, draws}),
    or an attack's adversarial examples added to the clean data ({attack, against, ratio, seed})."""
    if isinstance(given, str):
        return {"perturbation": given, "draws": 1}
    if "attack" in given:
        return {"attack": given["attack"], "against": dict(given["against"]), "ratio": given.get("ratio", 1.0),
                "seed": given.get("seed", 0)}
    return {"draws": 1, **given}


class Plan:
    """A validated config plus the catalog, answering every question the rules ask."""

    def __init__(self, config: dict, catalog: dict | None = None):
        check_schema(config)
        self.config = config
        self.catalog = catalog if catalog is not None else load_catalog()
        self.recipes = {name: _as_entry(v, "tasks") for name, v in config["recipes"].items()}
        self.targets = {name: _as_entry(v, "benches") for name, v in config["targets"].items()}
        self.retrieval = list(config.get("retrieval", []))
        self.alignment = {"sets": [], "perturbations": [], **config.get("alignment", {})}
        self.seeds = list(config["seeds"])
        self.models = list(config["models"])
        self._check_names()
        self.perturbations = {}
        for name, spec in config.get("perturbations", {}).items():
            self.perturbations.update(self._expanded(name, self._perturbation(name, spec)))
        self.attacks = {name: self._attack(name, spec) for name, spec in config.get("attacks", {}).items()}
        for name in set(self.attacks) & set(self.perturbations):
            raise ConfigError(f"attacks.{name}: a perturbation has this name too; conditions need distinct names")
        for name, attack in self.attacks.items():
            if attack["transfer_from"]:
                if f"{name}{TRANSFER_SUFFIX}" in self.perturbations:
                    raise ConfigError(f"attacks.{name}.transfer_from: its set is named {name}{TRANSFER_SUFFIX}, "
                                      "which a perturbation has too")
                self.perturbations[f"{name}{TRANSFER_SUFFIX}"] = self._transfer_set(name, attack)
        for name in self.alignment["perturbations"]:
            self._check_alignment_perturbation(name)
        for recipe in self.recipes:
            self._check_augment(recipe)
            self._check_recipe_languages(recipe)
        self.smoothing = {name: self._smoothing(name, spec) for name, spec in config.get("smoothing", {}).items()}
        self.perturbations.update(self._fresh_draws())
        self.robust_comparison()  # report.english_only named wrongly fails here, before any job
        self._check_micro_batches()

    # ---- validation beyond the schema ---------------------------------------------------
    def _check_names(self) -> None:
        if "none" in self.recipes and self.recipes["none"]["tasks"]:
            raise ConfigError("recipe 'none' is the plain pretrained model and must list no tasks")
        for recipe, entry in self.recipes.items():
            if recipe != "none" and not entry["tasks"]:
                raise ConfigError(f"recipe '{recipe}' lists no tasks (only 'none' may be empty)")
            for task in entry["tasks"]:
                self._require_task(task, f"recipe '{recipe}'", split="train", allowed=RECIPE_ONLY_TYPES)
            unknown = [t for t in entry["targets"] or () if t not in self.targets]
            if unknown:
                raise ConfigError(f"recipes.{recipe}.targets: {', '.join(unknown)} not among the targets "
                                  f"({', '.join(self.targets)})")
            if entry["tasks"] and all(self.task(t)["type"] in RECIPE_ONLY_TYPES for t in entry["tasks"]):
                raise ConfigError(f"recipe '{recipe}' has only MLM tasks: pair the corpus with a supervised task")
        for target, entry in self.targets.items():
            self._require_task(target, f"target '{target}'", split="train")
            unknown = [r for r in entry["recipes"] or () if r not in self.recipes]
            if unknown:
                raise ConfigError(f"targets.{target}.recipes: {', '.join(unknown)} not among the recipes "
                                  f"({', '.join(self.recipes)})")
            if not entry["benches"]:
                raise ConfigError(f"target '{target}' feeds no benchmark")
            for bench in entry["benches"]:
                self._require_task(bench, f"target '{target}'", split="test")
                self._check_compatible(target, bench)
        for bench in self.retrieval:
            self._require_task(bench, "retrieval", split="test")
            if self.task(bench)["type"] != "retrieval":
                raise ConfigError(f"retrieval benchmark '{bench}' has type '{self.task(bench)['type']}', not retrieval")
        for name in self.alignment["sets"]:
            self._check_parallel_set(name)
        for model, spec in self.config["models"].items():
            if sum(source in spec for source in MODEL_SOURCES) != 1:
                raise ConfigError(f"model '{model}' needs exactly one of {', '.join(map(repr, MODEL_SOURCES))}")
            for key, known in (("recipes", self.recipes), ("targets", self.targets)):
                unknown = [name for name in spec.get(key, ()) if name not in known]
                if unknown:
                    raise ConfigError(f"models.{model}.{key}: {', '.join(unknown)} not among the {key} "
                                      f"({', '.join(known)})")
        for task in self.all_tasks():
            if self.source(task) == "xtreme_dir" and "xtreme_dir" not in self.config["data"]:
                raise ConfigError(f"task '{task}' reads source 'xtreme_dir' but data.xtreme_dir (the folder) is not set")
        for bench in self.benches():
            self._require_task(bench, f"benchmark '{bench}'", split=self.bench_split(bench))
        self._check_language_choices()
        for (task, split), languages in self.data_splits().items():
            if not languages:
                raise ConfigError(f"data.languages leaves task '{task}' no language in its '{split}' split")
        self._check_pretrained_positions()
        self.language_profiles()  # every language of every benchmark has its groups and distances
        for target in self.targets:
            self._check_selection(target)
        for task in self.config["data"].get("max_examples", {}):
            if task not in self.catalog:  # a typo would silently leave a corpus uncapped
                raise ConfigError(f"data.max_examples: unknown task '{task}' (the catalog has: "
                                  f"{', '.join(sorted(self.catalog))})")
            if self.task(task)["type"] == "retrieval":
                raise ConfigError(f"data.max_examples: '{task}' is a retrieval set; cutting it would drop "
                                  "the partners and candidates its lines refer to")

    def _check_parallel_set(self, name: str) -> None:
        split = self.bench_split(name)
        self._require_task(name, "alignment.sets", split=split)
        task = self.task(name)
        if task["type"] in SENTENCE_FIELDS:  # a translated test set, paired with English by example id
            if "en" not in self.languages(name, split) or len(self.languages(name, split)) < 2:
                raise ConfigError(f"alignment.sets: '{name}' pairs each language's {split} set with English's, and "
                                  f"this study reads it in {', '.join(self.languages(name, split))}")
            return
        # Alignment pairs line i of each side with line i of the other: BUCC's distractors and a
        # ranking benchmark's pool have no partner.
        if task["type"] != "retrieval" or task["metric"] != "tatoeba":
            raise ConfigError(f"alignment.sets: '{name}' is not a parallel set (type '{task['type']}', metric "
                              f"'{task['metric']}'); a set in Tatoeba's layout is, and so is a translated test set "
                              f"of type {' or '.join(SENTENCE_FIELDS)}")

    def translated_sets(self) -> list[str]:
        """The alignment sets made from translated test sets (xstilts.alignment.translated); asked
        before the sets are checked, so an unknown name is none."""
        return [name for name in self.alignment["sets"] if self.catalog.get(name, {}).get("type") in SENTENCE_FIELDS]

    def _check_alignment_perturbation(self, name: str) -> None:
        if name not in self.perturbations:
            raise ConfigError(f"alignment.perturbations: '{name}' is not a perturbation of this study (it has: "
                              f"{', '.join(self.perturbations) or 'none'})")
        missing = [s for s in self.alignment["sets"] if s not in self.perturbations[name]["benchmarks"]]
        if missing:
            raise ConfigError(f"alignment.perturbations: '{name}' does not perturb {', '.join(map(repr, missing))}: "
                              f"add it to perturbations.{name}.benchmarks")
        kind = self.perturbations[name]["kind"]
        if self.translated_sets() and kind not in SIDED_KINDS:
            raise ConfigError(f"alignment.perturbations: '{name}' ({kind}) does not edit each sentence in place, so "
                              f"the translated sets {', '.join(self.translated_sets())} cannot pair its sentences "
                              f"with the clean ones (kinds that do: {', '.join(SIDED_KINDS)})")

    def alignment_conditions(self) -> list[str]:
        """`clean`, then each perturbation alignment measures."""
        return [CLEAN, *self.alignment["perturbations"]]

    def _require_task(self, task: str, where: str, split: str, allowed: tuple[str, ...] = ()) -> None:
        if task not in self.catalog:
            known = ", ".join(sorted(self.catalog))
            raise ConfigError(f"{where}: unknown task '{task}' (the catalog has: {known})")
        if split not in self.catalog[task]["splits"]:
            raise ConfigError(f"{where}: task '{task}' has no '{split}' split in the catalog")
        task_type = self.catalog[task]["type"]
        if split == "train" and task_type in UNTRAINABLE_TYPES and task_type not in allowed:
            raise ConfigError(f"{where}: task '{task}' has type '{self.catalog[task]['type']}', "
                              "which has no head to train here")

    def _check_compatible(self, target: str, bench: str) -> None:
        target_type, bench_type = self.task(target)["type"], self.task(bench)["type"]
        if target_type != bench_type:
            raise ConfigError(f"target '{target}' ({target_type}) cannot feed benchmark '{bench}' ({bench_type})")
        if self.task(target).get("labels") != self.task(bench).get("labels"):
            raise ConfigError(f"target '{target}' and benchmark '{bench}' have different label sets")

    # ---- perturbations -----------------------------------------------------------------
    def _perturbation(self, name: str, spec: dict) -> dict:
        """A perturbation with its defaults, checked against this study's benchmarks and its kind."""
        where, kind = f"perturbations.{name}", spec["kind"]
        partners = spec.get("options", {}).get("partners") or ["en"]
        planned = [b for b in self.benches() if self._perturbs(kind, b, partners)]
        benches = list(spec.get("benchmarks", planned))
        for bench in benches:
            if bench not in self.benches():
                raise ConfigError(f"{where}.benchmarks: '{bench}' is not a benchmark of this study (it has: "
                                  f"{', '.join(self.benches())})")
            if not self._perturbs(kind, bench, partners):
                raise ConfigError(f"{where}.benchmarks: {kind} does not apply to '{bench}' (type "
                                  f"'{self.task(bench)['type']}'" + (f", test languages {', '.join(partners)}"
                                                                      if kind == "mixed_pair" else "") + ")")
        if not benches and not self._augments_with(name):
            raise ConfigError(f"{where}: no benchmark to perturb (and no recipe's training data)")
        if kind not in RATELESS_KINDS and "rate" not in spec:
            raise ConfigError(f"{where}.rate: {kind} needs a rate (the share of words edited)")
        return {"kind": kind, "rate": spec.get("rate"), "seed": spec.get("seed", 0),
                "options": self._perturbation_options(where, kind, dict(spec.get("options", {})), benches),
                "benchmarks": benches}

    def _augments_with(self, name: str) -> bool:
        return any(name in (a.get("perturbation"), a.get("attack"))
                   for entry in self.recipes.values() for a in entry["augment"].values())

    def _fresh_draws(self) -> dict[str, dict]:
        """Draw d >= 2 of a perturbation that some recipe draws afresh per epoch (augment draws) or a
        smoothed evaluation votes over (smoothing copies): a set condition `<name>@<d>`, the
        perturbation's own settings, drawn from its seed and d, scored on the benchmarks of the
        smoothings with d copies or more (none for training data). Draw 1 is the perturbation's own set."""
        draws = {}
        for entry in self.recipes.values():
            for augment in entry["augment"].values():
                if "attack" in augment:
                    continue
                name = augment["perturbation"]
                draws[name] = max(draws.get(name, 1), augment["draws"])
        for smoothing in self.smoothing.values():
            name = smoothing["perturbation"]
            draws[name] = max(draws.get(name, 1), smoothing["copies"])

        def scored(name: str, d: int) -> list[str]:
            return list(dict.fromkeys(bench for s in self.smoothing.values() if s["perturbation"] == name
                                      and s["copies"] >= d for bench in s["benchmarks"]))
        return {f"{name}@{d}": {**self.perturbations[name], "benchmarks": scored(name, d), "draw": d}
                for name, count in draws.items() for d in range(2, count + 1)}

    def _smoothing(self, name: str, spec: dict) -> dict:
        """A smoothed evaluation (xstilts.robust_training.smoothing): its perturbation edits texts at
        random, and each of its benchmarks predicts one label, which the perturbation can edit. Its
        benchmarks join the perturbation's own (draw 1 is scored like any condition)."""
        where, perturbation = f"smoothing.{name}", spec["perturbation"]
        if name in self.perturbations or name in self.attacks:
            raise ConfigError(f"{where}: a perturbation or an attack has this name too; conditions need distinct names")
        if perturbation not in self.perturbations or self.perturbations[perturbation]["kind"] not in AUGMENT_KINDS:
            usable = [p for p, s in self.perturbations.items() if s["kind"] in AUGMENT_KINDS]
            raise ConfigError(f"{where}.perturbation: '{perturbation}' is not a random text perturbation of this "
                              f"study (usable: {', '.join(usable) or 'none'})")
        kind = self.perturbations[perturbation]["kind"]
        benches = spec.get("benchmarks") or [b for b in self.perturbations[perturbation]["benchmarks"]
                                             if self.task(b)["type"] in SMOOTHING_TYPES]
        for bench in benches:
            if bench not in self.benches():
                raise ConfigError(f"{where}.benchmarks: '{bench}' is not a benchmark of this study")
            task_kind = self.task(bench)["type"]
            if task_kind not in SMOOTHING_TYPES or task_kind not in PERTURBATION_TYPES[kind]:
                raise ConfigError(f"{where}.benchmarks: '{bench}' ({task_kind}) cannot be smoothed by {perturbation} "
                                  f"({kind}): a vote needs one label per example ({', '.join(SMOOTHING_TYPES)})")
        if not benches:
            raise ConfigError(f"{where}: no benchmark to smooth ({perturbation} reaches none that predicts one label)")
        own = self.perturbations[perturbation]["benchmarks"]
        self.perturbations[perturbation] = {**self.perturbations[perturbation],
                                            "benchmarks": own + [bench for bench in benches if bench not in own]}
        return {"perturbation": perturbation, "copies": spec["copies"], "benchmarks": list(benches)}

    def _check_augment(self, recipe: str) -> None:
        """A recipe's augmented tasks: its own, each by a perturbation that edits texts and applies to it."""
        for task, augment in self.recipes[recipe]["augment"].items():
            where = f"recipes.{recipe}.augment.{task}"
            if task not in self.recipes[recipe]["tasks"]:
                raise ConfigError(f"{where}: '{task}' is not a task of the recipe ({', '.join(self.recipes[recipe]['tasks'])})")
            if "attack" in augment:
                self._check_adversarial_augment(where, recipe, task, augment)
                continue
            name = augment["perturbation"]
            if name not in self.perturbations:
                raise ConfigError(f"{where}: no perturbation '{name}' (perturbations: "
                                  f"{', '.join(self.perturbations) or 'none'})")
            kind = self.perturbations[name]["kind"]
            if kind not in AUGMENT_KINDS or self.task(task)["type"] not in PERTURBATION_TYPES[kind]:
                raise ConfigError(f"{where}: {name} ({kind}) cannot edit the training data of '{task}' (type "
                                  f"'{self.task(task)['type']}'); the kinds that can: {', '.join(AUGMENT_KINDS)}")
            if kind == "codeswitch":
                self._check_dictionaries(where, [task], self.perturbations[name]["options"].get("dictionaries"))

    def _check_recipe_languages(self, recipe: str) -> None:
        for task, chosen in self.recipes[recipe]["languages"].items():
            where = f"recipes.{recipe}.languages.{task}"
            if task not in self.recipes[recipe]["tasks"]:
                raise ConfigError(f"{where}: '{task}' is not a task of the recipe ({', '.join(self.recipes[recipe]['tasks'])})")
            unknown = [lang for lang in chosen if lang not in self.train_languages(task)]
            if unknown or not chosen:
                raise ConfigError(f"{where}: {', '.join(unknown) or 'no language'}: the task trains on "
                                  f"{', '.join(self.train_languages(task))} in this study")

    def recipe_train_languages(self, recipe: str | None, task: str) -> list[str]:
        """The languages of a task's training data that a recipe trains on: all of them, or the
        recipe's choice (`recipes.<r>.languages`: MNLI in German alone from the translated split)."""
        chosen = self.recipes[recipe]["languages"].get(task) if recipe in self.recipes else None
        return [lang for lang in self.train_languages(task) if chosen is None or lang in chosen]

    def training_splits(self, recipe: str | None, task: str) -> list[str]:
        """The splits a recipe trains a task on, one per epoch in turn: `train`, or its perturbed copy
        `train/<perturbation>`, or with `draws: N` that and N-1 fresh draws (`train/<perturbation>@<d>`)."""
        augment = self.recipes[recipe]["augment"].get(task) if recipe in self.recipes else None
        if not augment:
            return ["train"]
        if "attack" in augment:
            return [f"train/{adversarial_set_name(augment['attack'], recipe)}"]
        name = augment["perturbation"]
        return [f"train/{name}"] + [f"train/{name}@{d}" for d in range(2, augment["draws"] + 1)]

    def augmented_splits(self) -> dict[tuple[str, str, str], list[str]]:
        """(task, "train", perturbation) -> languages, for every recipe task trained on perturbed data."""
        found = {}
        for recipe, entry in self.recipes.items():
            for task in entry["augment"]:
                for split in self.training_splits(recipe, task):
                    languages = found.setdefault((task, "train", split.split("/", 1)[1]), [])
                    languages += [lang for lang in self.recipe_train_languages(recipe, task) if lang not in languages]
        return {key: [lang for lang in self.train_languages(key[0]) if lang in languages]
                for key, languages in found.items()}

    def _check_adversarial_augment(self, where: str, recipe: str, task: str, augment: dict) -> None:
        """Offline adversarial augmentation: a text attack of this study that applies to the task, run
        against a checkpoint fine-tuned on that task (the target of the same name) that this recipe
        does not itself lead to."""
        name, against = augment["attack"], augment["against"]
        if name not in self.attacks or self.attacks[name]["kind"] not in TEXT_ATTACKS:
            usable = [a for a, spec in self.attacks.items() if spec["kind"] in TEXT_ATTACKS]
            raise ConfigError(f"{where}.attack: '{name}' is not a text attack of this study (usable: "
                              f"{', '.join(usable) or 'none'}; pgd makes no texts)")
        kind = self.attacks[name]["kind"]
        if self.task(task)["type"] not in ATTACK_TYPES[kind]:
            raise ConfigError(f"{where}.attack: {name} ({kind}) cannot attack '{task}' (type "
                              f"'{self.task(task)['type']}')")
        for key, known in (("model", self.models), ("recipe", list(self.recipes)), ("seed", self.seeds)):
            if against[key] not in known:
                raise ConfigError(f"{where}.against.{key}: {against[key]!r} is not one of this study's "
                                  f"({', '.join(map(str, known))})")
        if task not in self.targets or not self.trains_after(task, against["recipe"], against["model"]):
            raise ConfigError(f"{where}.against: the attack needs a checkpoint fine-tuned on '{task}', the target "
                              f"'{task}' trained after '{against['recipe']}' on {against['model']}, which this study "
                              "does not train")
        if against["recipe"] == recipe:
            raise ConfigError(f"{where}.against.recipe: '{recipe}' cannot be trained on data made against its own "
                              "checkpoint")
        if adversarial_set_name(name, recipe) in self.perturbations:
            raise ConfigError(f"{where}: its training set is named {adversarial_set_name(name, recipe)}, which a "
                              "perturbation has too")
        if not 0 < augment["ratio"] <= 1:
            raise ConfigError(f"{where}.ratio: {augment['ratio']} is not a share of the training examples in (0, 1]")

    def adversarial_sets(self) -> dict[tuple[str, str], dict]:
        """(task, set name) -> what makes a recipe's adversarial training examples
        (xstilts.robust_training.adversarial_data): the attack's spec, the checkpoint it runs against,
        the share of the examples attacked, its seed, and the languages of the recipe's training data."""
        found = {}
        for recipe, entry in self.recipes.items():
            for task, augment in entry["augment"].items():
                if "attack" in augment:
                    name, attack = augment["attack"], self.attacks[augment["attack"]]
                    # what makes the texts: not the attack's benchmarks, nor how many of theirs it attacks
                    found[(task, adversarial_set_name(name, recipe))] = {
                        "name": name, "attack": {"kind": attack["kind"], **{key: attack[key] for key in
                                                                          ATTACK_SETTINGS[attack["kind"]]}},
                        "against": augment["against"],
                        "ratio": augment["ratio"], "seed": augment["seed"],
                        "languages": self.recipe_train_languages(recipe, task)}
        return found

    def _perturbation_options(self, where: str, kind: str, options: dict, benches: list[str]) -> dict:
        """A perturbation's options, checked against its kind, with their defaults."""
        wrong = [option for option in options if option not in PERTURBATION_OPTIONS.get(kind, ())]
        if wrong:
            raise ConfigError(f"{where}.options: {', '.join(wrong)} do not apply to {kind}")
        if kind == "codeswitch":
            if not options.get("languages"):
                raise ConfigError(f"{where}.options.languages: codeswitch needs the languages words are switched into")
            self._check_dictionaries(f"{where}.options.dictionaries", benches, options.get("dictionaries"))
        if kind == "mixed_pair":
            options.setdefault("order", "both")
        if options.get("side", "other") != "other":
            self._check_side(f"{where}.options.side", options["side"], benches)
        if kind == "local" and "path" not in options:
            raise ConfigError(f"{where}.options.path: a local challenge set needs its files (a template with "
                              "{bench}, {split} and {lang})")
        for bench in benches if kind == "local" and "languages" in options else ():
            if not set(options["languages"]) & set(self.languages(bench, self.bench_split(bench))):
                raise ConfigError(f"{where}.options.languages: none of them is a test language of '{bench}'")
        return options

    def _check_side(self, where: str, side: str, benches: list[str]) -> None:
        if side not in PARALLEL_SIDES:
            raise ConfigError(f"{where}: '{side}' is not a side of a parallel pair (one of: {', '.join(PARALLEL_SIDES)})")
        unpaired = [b for b in benches if self.task(b)["type"] != "retrieval" and b not in self.translated_sets()]
        if unpaired:
            raise ConfigError(f"{where}: only a parallel set (a retrieval benchmark, or a translated test set among "
                              f"alignment.sets) has an English side to perturb; {', '.join(unpaired)} "
                              f"{'is' if len(unpaired) == 1 else 'are'} not one")

    def _check_dictionaries(self, where: str, benches: list[str], folder: str | None) -> None:
        """Dictionary switching reads the generator's dictionaries on generated data; others need a folder."""
        real = [b for b in benches if self.source(b) != "synthetic"]
        if real and not folder:
            raise ConfigError(f"{where}: {', '.join(real)} are not generated data, so the generator's dictionaries "
                              "do not cover them: name a folder of MUSE-format {src}-{tgt}.txt files")

    def _perturbs(self, kind: str, bench: str, partners=("en",)) -> bool:
        """Whether a perturbation kind applies to a benchmark: mixed_pair needs its partners' test sets."""
        if self.task(bench)["type"] not in PERTURBATION_TYPES[kind]:
            return False
        return kind != "mixed_pair" or set(partners) <= set(self.languages(bench, self.bench_split(bench)))

    @staticmethod
    def _expanded(name: str, perturbation: dict) -> dict[str, dict]:
        """A mixed_pair with `partners` is one condition per partner language, `<name>-<partner>`
        (the language x language table); any other perturbation is its own condition."""
        partners = perturbation["options"].get("partners")
        if perturbation["kind"] != "mixed_pair" or not partners:
            return {name: perturbation}
        return {f"{name}-{partner}": {**perturbation, "base": name,
                                      "options": {**perturbation["options"], "partner": partner}}
                for partner in partners}

    def conditions(self, bench: str) -> list[str]:
        """The evaluation conditions of a benchmark: clean, each perturbation of it (a smoothing's copies
        among them), each attack on it, each smoothed evaluation of it."""
        return [CLEAN] + [name for name, p in [*self.perturbations.items(), *self.attacks.items(),
                                               *self.smoothing.items()] if bench in p["benchmarks"]]

    def is_draw(self, condition: str) -> bool:
        """A fresh draw `<p>@<d>` of a perturbation: a copy a smoothed evaluation votes over, which the
        report shows through the vote, not on its own."""
        return "draw" in self.perturbations.get(condition, {})

    def smoothing_draws(self, name: str) -> list[str]:
        """The conditions a smoothed evaluation votes over: its perturbation and draws 2..copies."""
        smoothing = self.smoothing[name]
        return [smoothing["perturbation"]] + [f"{smoothing['perturbation']}@{d}" for d in range(2, smoothing["copies"] + 1)]

    def perturbed_splits(self) -> dict[tuple[str, str, str], list[str]]:
        """(benchmark, split, perturbation) -> languages, for every perturbed set an evaluation reads:
        the scored split (BUCC's dev split, where its threshold is tuned, and a ranking benchmark's
        candidate pool stay clean: a perturbation is of the inputs scored, not of the index)."""
        found = {}
        for name, p in self.perturbations.items():
            for bench in p["benchmarks"]:
                languages = self.languages(bench, self.bench_split(bench))
                if p["kind"] == "local" and "languages" in p["options"]:  # the languages the challenge set has
                    languages = [lang for lang in languages if lang in p["options"]["languages"]]
                found[(bench, self.bench_split(bench), name)] = languages
        return found

    def perturbation_spec(self, name: str, bench: str) -> dict:
        """What a perturbed set depends on: the kind, its settings and the benchmark's task type (not
        the list of benchmarks, which adds or removes sets without changing the others)."""
        p = self.perturbations[name]
        spec = {"kind": p["kind"], "rate": p["rate"], "seed": p["seed"], "task_type": self.task(bench)["type"]}
        # The default leaves the sets made before sides as they are; a translated set's side is which
        # of its perturbed sets alignment reads, not a change to them.
        if p["options"].get("side", "other") != "other" and spec["task_type"] == "retrieval":
            spec["side"] = p["options"]["side"]
        if p["kind"] == "codeswitch":
            spec["languages"] = list(p["options"]["languages"])
        if p["kind"] == "mixed_pair":
            spec["order"] = p["options"]["order"]
            spec["partner"] = p["options"].get("partner", "en")
        if p["kind"] in ("local", "transfer"):
            spec["labels"] = self.task(bench).get("labels")
        if "draw" in p:  # a fresh draw of a recipe's training data (_fresh_draws)
            spec["draw"] = p["draw"]
        return spec

    # ---- attacks -------------------------------------------------------------------------
    def _attack(self, name: str, spec: dict) -> dict:
        """An attack with its defaults, checked against its kind and this study's benchmarks."""
        where, kind = f"attacks.{name}", spec["kind"]
        settings = ATTACK_SETTINGS[kind]
        wrong = [key for key in spec if key not in settings and key not in ATTACK_COMMON]
        if wrong:
            raise ConfigError(f"{where}: {', '.join(wrong)} do not apply to {kind} (it takes: "
                              f"{', '.join([*settings, *ATTACK_COMMON[1:]])})")
        missing = [key for key, default in settings.items() if default is None and key not in spec]
        if missing:
            raise ConfigError(f"{where}: {kind} needs {', '.join(missing)}")
        attacked = [b for b in self.benches() if self.task(b)["type"] in ATTACK_TYPES[kind]]
        benches = list(spec.get("benchmarks", attacked))
        for bench in benches:
            if bench not in attacked:
                raise ConfigError(f"{where}.benchmarks: {kind} does not apply to '{bench}'" + (
                    f" (type '{self.task(bench)['type']}')" if bench in self.benches()
                    else f" (not a benchmark of this study; it has: {', '.join(self.benches())})"))
        if not benches and not self._augments_with(name):
            raise ConfigError(f"{where}: no benchmark to attack (and no recipe's training data)")
        if kind == "codeswitch_attack":
            self._check_dictionaries(f"{where}.dictionaries", benches, spec.get("dictionaries"))
        reference = self._reference(where, kind, benches, spec.get("transfer_from"))
        return {"kind": kind, **{key: spec.get(key, default) for key, default in settings.items()},
                "seed": spec.get("seed", 0), "max_examples": spec.get("max_examples"), "benchmarks": benches,
                "transfer_from": reference}

    def _reference(self, where: str, kind: str, benches: list[str], reference: dict | None) -> dict | None:
        """The checkpoint whose adversarial texts make the transfer set, checked against the study."""
        if reference is None:
            return None
        where = f"{where}.transfer_from"
        if kind not in TEXT_ATTACKS:
            raise ConfigError(f"{where}: {kind} makes no texts to transfer (only {', '.join(TEXT_ATTACKS)} do)")
        for key, known in (("model", self.models), ("recipe", list(self.recipes)), ("seed", self.seeds)):
            if reference[key] not in known:
                raise ConfigError(f"{where}.{key}: {reference[key]!r} is not one of this study's ({', '.join(map(str, known))})")
        for bench in benches:
            target = reference.get("target", self.first_target(bench))
            if target not in self.targets_of(bench):
                raise ConfigError(f"{where}.target: '{target}' does not feed '{bench}' "
                                  f"({', '.join(self.targets_of(bench))} do)")
            if not self.trains_after(target, reference["recipe"], reference["model"]):
                why = self.crossing_settings(target, reference["recipe"], reference["model"])
                raise ConfigError(f"{where}.recipe: {target} is not trained after '{reference['recipe']}' on "
                                  f"{reference['model']} ({why})")
        return {"model": reference["model"], "recipe": reference["recipe"], "seed": reference["seed"],
                "target": reference.get("target")}

    def _transfer_set(self, name: str, attack: dict) -> dict:
        """An attack's transfer set, as the perturbation of its benchmarks that it is (kind `transfer`)."""
        return {"kind": "transfer", "rate": None, "seed": 0, "benchmarks": attack["benchmarks"],
                "options": {"attack": name, "reference": attack["transfer_from"]}}

    def is_attack(self, condition: str) -> bool:
        return condition in self.attacks

    def attack_spec(self, name: str) -> dict:
        """What an attacked evaluation computes beyond the clean one (not the list of benchmarks, nor
        the reference of its transfer set)."""
        return {key: value for key, value in self.attacks[name].items() if key not in ("benchmarks", "transfer_from")}

    def transfer_sets(self) -> list[str]:
        return [name for name, p in self.perturbations.items() if p["kind"] == "transfer"]

    # ---- tasks, sources, languages ------------------------------------------------------
    def task(self, name: str) -> dict:
        return self.catalog[name]

    def all_tasks(self) -> list[str]:
        tasks = [t for e in self.recipes.values() for t in e["tasks"]]
        tasks += list(self.targets) + [b for e in self.targets.values() for b in e["benches"]]
        tasks += self.retrieval + self.alignment["sets"]
        if any("pretrain" in spec for spec in self.config["models"].values()):
            tasks.append("corpus")
        return list(dict.fromkeys(tasks))

    def source(self, task: str) -> str:
        data = self.config["data"]
        source = data.get("sources", {}).get(task, data["source"])
        if source not in self.task(task)["sources"]:
            have = ", ".join(self.task(task)["sources"])
            raise ConfigError(f"task '{task}' cannot be read from source '{source}' (it has: {have})")
        return source

    def uses_generator(self) -> bool:
        """Whether some split of this study comes from the embedded benchmark's generator."""
        return any(self.source(task) == "synthetic" for task, _ in self.data_splits())

    def source_spec(self, task: str) -> dict:
        return self.task(task)["sources"][self.source(task)]

    def languages(self, task: str, split: str) -> list[str]:
        """The languages of a split: the catalog's (or the generator's), narrowed to those the config
        chooses in data.languages, in the catalog's order."""
        chosen = self.config["data"].get("languages", {}).get(task)
        return [lang for lang in self.catalog_languages(task, split) if chosen is None or lang in chosen]

    def catalog_languages(self, task: str, split: str) -> list[str]:
        spec = self.task(task)["splits"][split]
        if isinstance(spec, list):
            return list(spec)
        if self.source(task) == "synthetic":
            every = list(self.config["data"]["synthetic"]["languages"])
        else:
            every = list(self.task(task).get("languages", ["en"]))
        return [lang for lang in every if lang != "en"] if spec == "non_en" else every

    def _check_language_choices(self) -> None:
        for task, chosen in self.config["data"].get("languages", {}).items():
            if task not in self.catalog:
                raise ConfigError(f"data.languages: unknown task '{task}' (the catalog has: "
                                  f"{', '.join(sorted(self.catalog))})")
            known = list(dict.fromkeys(lang for split in self.task(task)["splits"]
                                       for lang in self.catalog_languages(task, split)))
            unknown = [lang for lang in chosen if lang not in known]
            if unknown:
                raise ConfigError(f"data.languages: task '{task}' has no language(s) {', '.join(unknown)} "
                                  f"(it has: {', '.join(known)})")

    def _check_pretrained_positions(self) -> None:
        """Every input a stage feeds a model pre-trained here must fit its position table."""
        types = {self.task(task)["type"] for task in self.all_tasks()}
        for model, spec in self.config["models"].items():
            if "pretrain" not in spec:
                continue
            positions = self.pretrain_architecture(model)["max_positions"]
            too_long = {t: n for t, n in self.features["max_length"].items() if t in types and n > positions}
            if too_long:
                raise ConfigError(f"models.{model}.pretrain.max_positions is {positions}, but features.max_length "
                                  f"asks for {too_long}: raise max_positions or lower the lengths")

    def data_splits(self) -> dict[tuple[str, str], list[str]]:
        """(task, split) -> languages, for every split some stage reads."""
        needed: dict[tuple[str, str], list[str]] = {}

        def add(task: str, split: str, only_english: bool = False) -> None:
            if split in self.task(task)["splits"]:
                languages = ["en"] if only_english else self.languages(task, split)
                known = needed.setdefault((task, split), [])
                known += [lang for lang in languages if lang not in known]

        for task in [t for e in self.recipes.values() for t in e["tasks"]] + list(self.targets):
            add(task, "train")  # English, or every language of translated data and MLM corpora
            if self.selects_on_dev(task):
                add(task, "dev", only_english=True)  # model selection reads the English dev set only
        for target in self.targets:
            for bench, _ in self.multilingual_dev(target):
                add(bench, "dev")
        for bench in self.benches():
            add(bench, self.bench_split(bench))
            if self.has_pool(bench):
                needed[(bench, self.bench_split(bench))].append(RANKING_POOL)
            if self.task(bench)["metric"] == "bucc":
                add(bench, "dev")  # the mining threshold is tuned on dev
        for name in self.alignment["sets"]:
            add(name, self.bench_split(name))
        if any("pretrain" in spec for spec in self.config["models"].values()):
            add("corpus", "train")
            add("corpus", "dev")
        return needed

    def prepare_spec(self, task: str, split: str) -> dict:
        """What `prepare` reads for one split: the source and the catalog's spec for it, plus what
        the config decides for that source alone (the generator's size and seed; hub overrides of
        the ids this task reads; a folder), so that a setting reaches only the tasks it concerns."""
        source = self.source(task)
        entry, data = self.task(task), self.config["data"]
        spec = {**self.source_spec(task), "type": entry["type"], "labels": entry.get("labels")}
        if source == "synthetic":
            spec["n"] = self.synthetic_size(task, split)
            spec["seed"] = data["synthetic"]["seed"]
        elif source == "hub":  # how the hub is reached (offline, cache) is a runtime setting: hub_access
            overrides = data.get("hub", {}).get("overrides", {})
            spec["overrides"] = {k: v for k, v in overrides.items() if k in hub_ids(spec)}
        elif source == "xtreme_dir":
            spec["root"] = data["xtreme_dir"]
        elif source == "local":
            local = data.get("local", {})
            spec["root"] = local.get("root", "data/local")
            if task in local.get("paths", {}):
                spec["path"] = local["paths"][task]
        if self.max_examples(task):
            spec["max_examples"] = self.max_examples(task)
        return {"source": source, "spec": spec}

    def has_pool(self, task: str) -> bool:
        """Whether a benchmark ranks its queries against a shared candidate pool (mAP@k)."""
        entry = self.task(task)
        return entry["type"] == "retrieval" and entry["metric"].startswith("map_at_")

    def selects_on_dev(self, task: str) -> bool:
        """Whether a training task's English dev score enters checkpoint selection: not for MLM
        corpora trained alongside a recipe's supervised tasks (selection is on those)."""
        return "dev" in self.task(task)["splits"] and self.task(task)["type"] not in RECIPE_ONLY_TYPES

    def multilingual_dev(self, target: str) -> list[tuple[str, str]]:
        """(benchmark, language) of each dev set a target with `selection: multilingual` is selected
        on: every language of the dev split of each benchmark it feeds that has one; [] for English
        selection (the target task's English dev set, strict zero-shot)."""
        entry = self.targets.get(target)
        if entry is None or entry["selection"] != "multilingual":
            return []
        return [(bench, lang) for bench in entry["benches"] if "dev" in self.task(bench)["splits"]
                for lang in self.languages(bench, "dev")]

    def selection_notes(self) -> dict[str, str]:
        """Target -> the dev sets it is chosen on, for the targets not chosen on English dev data."""
        notes = {}
        for target in self.targets:
            by_bench: dict[str, list[str]] = {}
            for bench, lang in self.multilingual_dev(target):
                by_bench.setdefault(bench, []).append(lang)
            if by_bench:
                notes[target] = "the mean over the dev sets of " + "; ".join(
                    f"{bench} in {', '.join(langs)}" for bench, langs in by_bench.items())
        return notes

    def _check_selection(self, target: str) -> None:
        entry = self.targets[target]
        if entry["selection"] == "multilingual" and len({lang for _, lang in self.multilingual_dev(target)}) < 2:
            raise ConfigError(f"targets.{target}.selection: multilingual needs a benchmark with a dev split in "
                              f"two or more languages, and {', '.join(entry['benches'])} "
                              f"{'has' if len(entry['benches']) == 1 else 'have'} no such split")

    def train_languages(self, task: str) -> list[str]:
        """The languages a training stage reads: English, except for tasks whose catalog train split
        lists more (machine-translated training data, multilingual MLM corpora)."""
        return self.languages(task, "train")

    def max_examples(self, task: str) -> int | None:
        """data.max_examples caps each language of each split of a task (large corpora, quick runs)."""
        return self.config["data"].get("max_examples", {}).get(task)

    def bench_split(self, bench: str) -> str:
        """The split benchmarks are scored on: test, or dev where test labels are withheld
        (XTREME's download script strips them)."""
        return self.config.get("evaluation", {}).get("split", "test")

    def synthetic_size(self, task: str, split: str) -> int:
        synthetic = self.config["data"]["synthetic"]
        return synthetic.get("task_sizes", {}).get(task, {}).get(split, synthetic["sizes"][split])

    # ---- stage settings ----------------------------------------------------------------
    def training(self, stage: str, model: str, name: str | None = None) -> dict:
        """Resolved hyperparameters: built-ins < defaults < stage < model < recipe/target."""
        layers = self.config.get("training", {})
        resolved = dict(TRAINING_DEFAULTS)
        resolved.update(layers.get("defaults", {}))
        resolved.update(layers.get(stage, {}))
        resolved.update(self.config["models"][model].get("training", {}))
        if stage == "intermediate":
            resolved.update(self.recipes[name]["training"])
        elif stage == "target":
            resolved.update(self.targets[name]["training"])
        # Sorted, so that a param's repr (what Snakemake compares) does not depend on key order.
        return dict(sorted(resolved.items()))

    def result_settings(self, stage: str, model: str, name: str | None = None) -> dict:
        """The hyperparameters that can change this stage's result (rerun when they change)."""
        resolved = self.training(stage, model, name)
        return {k: v for k, v in resolved.items() if self._in_scope(k, stage, name)}

    def runtime_settings(self, stage: str, model: str, name: str | None = None) -> dict:
        """The rest of the stage's settings: what it runs with, but what cannot change its result."""
        resolved = self.training(stage, model, name)
        settings = {k: v for k, v in resolved.items() if not self._in_scope(k, stage, name)}
        settings["eval_batch_size"] = self.eval_batch_size
        # what the training stages' memory estimate is checked against (xstilts.scaling.memory)
        settings["device_memory_gb"] = self.config.get("resources", {}).get("device_memory_gb")
        # jobs that may share a device, which the estimate's device memory is shared between
        settings["jobs_per_gpu"] = self.config.get("resources", {}).get("jobs_per_gpu", 1)
        # how a data-parallel training stage holds the model (xstilts.scaling.sharding)
        settings["sharding"] = self.config.get("resources", {}).get("sharding", "none")
        return settings

    def _in_scope(self, key: str, stage: str, name: str | None) -> bool:
        if key in RUNTIME_ONLY:
            return False
        if stage == "pretrain":  # a masked LM, selected on its corpus's dev split
            return key not in FINETUNE_ONLY
        tasks = self.stage_tasks(stage, name)
        if key in SELECTION_ONLY:
            return any(self.selects_on_dev(task) for task in tasks)
        if key in MLM_ONLY:
            return any(self.task(task)["type"] == "mlm" for task in tasks)
        return True

    def _check_micro_batches(self) -> None:
        """A micro-batch size given as a number divides each fine-tuning stage's effective batch."""
        stages = [("intermediate", recipe) for recipe, entry in self.recipes.items() if entry["tasks"]]
        stages += [("target", target) for target in self.targets]
        for model in self.models:
            for stage, name in stages:
                hp = self.training(stage, model, name)
                rows, effective = hp.get("micro_batch"), hp["batch_size"] * hp["grad_accum"]
                if isinstance(rows, int) and effective % rows:
                    raise ConfigError(f"training.micro_batch: {rows} does not divide the effective batch of the "
                                      f"{stage} stage '{name}' of {model} (batch_size {hp['batch_size']} x grad_accum "
                                      f"{hp['grad_accum']} = {effective})")

    def stage_tasks(self, stage: str, name: str | None) -> list[str]:
        """The training tasks of an intermediate recipe or a target stage."""
        return self.recipes[name]["tasks"] if stage == "intermediate" else [name]

    @property
    def eval_batch_size(self) -> int:
        return self.config.get("evaluation", {}).get("batch_size", 64)

    @cached_property
    def features(self) -> dict:
        resolved = copy.deepcopy(FEATURE_DEFAULTS)
        given = self.config.get("features", {})
        resolved["max_length"].update(given.get("max_length", {}))
        for key in ("qa_stride", "qa_max_answer_tokens"):
            resolved[key] = given.get(key, resolved[key])
        return resolved

    def feature_settings(self, task: str) -> dict:
        """What tokenizing a task depends on: its type's maximum length (and QA's window stride)."""
        task_type = self.task(task)["type"]
        settings = {"max_length": self.features["max_length"][task_type]}
        if task_type == "span_qa":
            settings["stride"] = self.features["qa_stride"]
            if self.task(task).get("null_answers"):
                settings["null_answers"] = True
        return settings

    def parallel_feature_settings(self) -> dict:
        """How a translated set's sentences are tokenized for alignment: as a retrieval benchmark's."""
        return {"max_length": self.features["max_length"]["retrieval"]}

    def task_settings(self, task: str) -> dict:
        """What scoring a task's predictions depends on as well: span QA's answer length limit, which
        reaches QA evaluations and the stages that select checkpoints on QA dev scores only."""
        settings = self.feature_settings(task)
        if self.task(task)["type"] == "span_qa":
            settings["qa_max_answer_tokens"] = self.features["qa_max_answer_tokens"]
        return settings

    def pretrain_architecture(self, model: str) -> dict:
        """A model pre-trained here: its shape, with the built-in position table size."""
        return dict(sorted({**PRETRAIN_DEFAULTS, **self.config["models"][model]["pretrain"]}.items()))

    def retrieval_layer(self, model: str) -> int:
        return self.config["models"][model].get("retrieval_layer", -1)

    def hub_access(self, task: str) -> dict:
        """How a hub task is read (offline, cache folder): a runtime setting of its prepare jobs."""
        if self.source(task) != "hub":
            return {}
        hub = self.config["data"].get("hub", {})
        return {"offline": hub.get("offline", True), "cache_dir": hub.get("cache_dir")}

    @property
    def keep_target_checkpoints(self) -> bool:
        return self.config.get("keep_target_checkpoints", True)

    @property
    def checkpoint_dtype(self) -> str:
        return self.config.get("checkpoint_dtype", "float32")

    def model_recipes(self, model: str) -> list[str]:
        """The recipes run on a model, in the config's order: models.<m>.recipes, every one by default."""
        chosen = self.config["models"][model].get("recipes")
        return [recipe for recipe in self.recipes if chosen is None or recipe in chosen]

    def model_trains(self, model: str, target: str) -> bool:
        """Whether a target is trained on a model at all: models.<m>.targets, every one by default."""
        chosen = self.config["models"][model].get("targets")
        return chosen is None or target in chosen

    def trains_after(self, target: str, recipe: str, model: str | None = None) -> bool:
        """Whether `target` is trained after `recipe` (on `model`, where given): targets.<t>.recipes,
        recipes.<r>.targets and models.<m>.recipes and .targets, each every one by default."""
        crossed, chosen = self.targets[target]["recipes"], self.recipes[recipe]["targets"]
        if model is not None and not (recipe in self.model_recipes(model) and self.model_trains(model, target)):
            return False
        return (crossed is None or recipe in crossed) and (chosen is None or target in chosen)

    def crossing_settings(self, target: str, recipe: str, model: str) -> str:
        """The settings that keep `target` from being trained after `recipe` on `model`, for messages."""
        if recipe not in self.model_recipes(model):
            return f"models.{model}.recipes"
        if not self.model_trains(model, target):
            return f"models.{model}.targets"
        return f"targets.{target}.recipes or recipes.{recipe}.targets"

    def targets_of(self, bench: str) -> list[str]:
        """The targets whose checkpoints a benchmark is scored on, in the config's order ([] for
        retrieval, scored on the encoder a recipe hands on)."""
        return [target for target, entry in self.targets.items() if bench in entry["benches"]]

    def first_target(self, bench: str) -> str | None:
        """The first target feeding a benchmark: its cells sit in the recipe's own row of the report;
        any other target feeding it (multilingual fine-tuning beside English, say) gets rows of its own."""
        return next(iter(self.targets_of(bench)), None)

    def evaluations(self, model: str) -> list[tuple[str, str | None, str]]:
        """(recipe, target, benchmark) for every checkpoint of `model` a benchmark is scored on: each
        target of the benchmark trained after the recipe; target None for retrieval (the recipe's encoder)."""
        return [(recipe, target, bench) for recipe in self.model_recipes(model) for bench in self.benches()
                for target in self.targets_of(bench) or [None]
                if target is None or self.trains_after(target, recipe, model)]

    def aligned_checkpoints(self, model: str) -> list[tuple[str, str | None]]:
        """(recipe, target) for every checkpoint of `model` the alignment stage measures when
        `alignment.sets` names any: each recipe's encoder (target None: the pretrained model for `none`)
        and every target trained after the recipe."""
        if not self.alignment["sets"]:
            return []
        return [(recipe, target) for recipe in self.model_recipes(model)
                for target in [None, *(t for t in self.targets if self.trains_after(t, recipe, model))]]

    def not_crossed(self) -> list[tuple[str, str, str, str, str]]:
        """(model, recipe, target, benchmark, the settings why) for each target of a benchmark not
        trained after a recipe the model runs."""
        return [(model, recipe, target, bench, self.crossing_settings(target, recipe, model))
                for model in self.models for recipe in self.model_recipes(model) for bench in self.benches()
                for target in self.targets_of(bench) if not self.trains_after(target, recipe, model)]

    def further_targets(self) -> list[tuple[str, str]]:
        """(target, benchmark) for every target of a benchmark after its first: the report's own rows."""
        return [(target, bench) for bench in self.benches() for target in self.targets_of(bench)[1:]]

    def language_profiles(self) -> dict[str, dict]:
        """Benchmark -> {"source": where its groups come from, "languages": language -> its groups and
        distances to English} (xstilts.languages): the generator's constructed properties for the
        demo's languages, URIEL's for real ones."""
        found = {}
        for bench in self.benches():
            synthetic = self.source(bench) == "synthetic"
            try:
                langs = profiles(self.languages(bench, self.bench_split(bench)), synthetic=synthetic)
            except UnknownLanguage as error:
                raise ConfigError(f"benchmark '{bench}': {error}") from None
            found[bench] = {"source": language_source(synthetic), "languages": langs}
        return found

    def _is_plain_english(self, recipe: str) -> bool:
        """A recipe that trains on English data as it comes: no augmentation, no language chosen, no
        adversarial training for any model, every task's training data English only."""
        entry = self.recipes[recipe]
        return (bool(entry["tasks"]) and not entry["augment"] and not entry["languages"]
                and not any(self.training("intermediate", model, recipe).get("adversarial") for model in self.models)
                and all(self.recipe_train_languages(recipe, task) == [ENGLISH] for task in entry["tasks"]))

    def robust_comparison(self) -> dict:
        """Q-robust-int: {"against": the English-only recipe, "recipes": those compared with it}. The
        compared recipes are every one trained otherwise (augmented, adversarial, on other languages);
        `report.english_only` names the one they are compared with, by default the first recipe of
        the config trained plainly on English data; None where there is none."""
        chosen = self.config.get("report", {}).get("english_only")
        if chosen is not None:
            if chosen not in self.recipes or not self._is_plain_english(chosen):
                plain = [r for r in self.recipes if self._is_plain_english(r)]
                raise ConfigError(f"report.english_only: '{chosen}' is not a recipe trained plainly on English data "
                                  f"(no augment, languages or adversarial training, English tasks); such recipes "
                                  f"here: {', '.join(plain) or 'none'}")
            against = chosen
        else:
            against = next((r for r in self.recipes if self._is_plain_english(r)), None)
        compared = [r for r in self.recipes if self.recipes[r]["tasks"] and not self._is_plain_english(r)]
        return {"against": against, "recipes": compared if against else []}

    def benches(self) -> list[str]:
        return list(dict.fromkeys(b for e in self.targets.values() for b in e["benches"])) + self.retrieval
