# Config -> job lists and paths. Every helper the rules use lives here.

import functools
import os
import re
import sys
from pathlib import Path

from xstilts import shipped
from xstilts.code_hashes import stage_code_hashes
from xstilts.config import CLEAN, RANKING_POOL, SENTENCE_FIELDS, ConfigError, Plan
from xstilts.layout import (ALIGNMENT_FILES, CHECKPOINT_FILES, DIRECT_FILES, ENCODER_TARGET, PRETRAINED_FILES,
                            REPORT_FILES, ROBUST_INT_FILES, ROBUSTNESS_FILES, SCALING_FILES)

try:
    PLAN = Plan(config)
except ConfigError as error:
    raise WorkflowError(str(error)) from None

wildcard_constraints:
    model="[a-z0-9_-]+",
    recipe="[a-z0-9_-]+",
    target="[a-z0-9_-]+",
    task="[a-z0-9_-]+",
    split="train|dev|test",
    lang="[a-z0-9_-]+",
    seed=r"\d+",


CODE = stage_code_hashes()
# CPU results are a property of the commit, not of the host: torch's own kernels, oneDNN's and MKL
# take their AVX2 code paths on any x86 processor that has more (AVX-512 and AMX would sum in other
# orders: oneDNN's alone moved the demo's pre-trained weights on a Sapphire Rapids host), and the
# pre-training job runs a fixed number of threads whatever --cores says. Users may export others.
os.environ.setdefault("ATEN_CPU_CAPABILITY", "avx2")
os.environ.setdefault("ONEDNN_MAX_CPU_ISA", "AVX2")
os.environ.setdefault("MKL_CBWR", "AVX2")
PRETRAIN_THREADS = 2
GPUS = config.get("resources", {}).get("gpus_per_job", 1)
GPU_LOCK_DIR = config.get("resources", {}).get("gpu_lock_dir", ".xstilts-gpu-locks")
# Several jobs per GPU (resources.jobs_per_gpu, local runs): a GPU job then asks for `gpu_slots`, K of
# which make a device (`snakemake --resources gpu_slots=<GPUs x K>`), since Snakemake rounds a fractional
# `gpu` down to 0; with one job per GPU it asks for `gpu` as always.
JOBS_PER_GPU = config.get("resources", {}).get("jobs_per_gpu", 1)


def whole_gpus(count):
    return count if JOBS_PER_GPU == 1 else 0


def gpu_slots(count):
    return count if JOBS_PER_GPU > 1 else 0


# Training jobs on several nodes (resources.nodes_per_job, Slurm only): a training rule asks the Slurm
# plugin for the nodes, for `gpus_per_job` GPUs on each (`gres`, per node, where `gpu` would be the
# job's total, spread over the nodes as Slurm likes), and for one task per GPU (`tasks` is the plugin's
# --ntasks-per-gpu for a GPU job), which the job's srun step fills (xstilts.scaling.multinode). With one
# node it asks for none of these, as before.
NODES = config.get("resources", {}).get("nodes_per_job", 1)


def training_gpus():
    """The `gpu` of a training job: none with several nodes, whose GPUs are in `gres`."""
    return whole_gpus(GPUS) if NODES == 1 else 0


def training_nodes():
    """The resources a training rule adds for a job on several nodes."""
    if NODES == 1:
        return {}
    if GPUS == 0:  # one CPU rank per node
        return {"nodes": NODES, "tasks": NODES}
    return {"nodes": NODES, "gres": f"gpu:{GPUS}", "tasks": 1}

DATA_SPLITS = PLAN.data_splits()
# (benchmark, split, perturbation) -> languages of every perturbed set; tokenized like a split
# named `<split>/<perturbation>`, which is where its files live.
PERTURBED_SPLITS = PLAN.perturbed_splits()
# Recipes' training data edited by a perturbation (recipes.<r>.augment): made by the same perturb rule.
AUGMENTED_SPLITS = PLAN.augmented_splits()
# (task, set name) -> what makes a recipe's adversarial training examples (recipes.<r>.augment with an attack).
ADVERSARIAL_SETS = PLAN.adversarial_sets()
FEATURE_SPLITS = {**DATA_SPLITS, **{(task, f"{split}/{name}"): langs for (task, split, name), langs
                                    in [*PERTURBED_SPLITS.items(), *AUGMENTED_SPLITS.items()]}}


# ---- paths ------------------------------------------------------------------------------------
def data_path(task, split, lang):
    """The examples of a split (`test`), or of a perturbed copy of one (`test/<perturbation>`)."""
    return f"results/data/{task}/{split}/{lang}.jsonl"


def features_path(model, task, split, lang):
    return f"results/features/{feature_model(model)}/{task}/{split}/{lang}.parquet"


def features_index_path(model, task, split):
    return f"results/features/{feature_model(model)}/{task}/{split}/index.txt"


@functools.cache
def feature_model(model):
    """The model whose features `model` reads: the config's first shipped model with byte-identical
    tokenizer files (the demo's two sizes share one tokenizer), so that each set is tokenized once;
    the model itself otherwise (a hub or pre-trained model's tokenizer is known only once it is made).
    Cached: every features path of the plan asks."""
    if model not in SHIPPED:
        return model
    mine = tokenizer_digests(model)
    return next(other for other in PLAN.models if other in SHIPPED and tokenizer_digests(other) == mine)


def tokenizer_digests(model):
    """The sha256 of a shipped model's tokenizer files, from its checked provenance."""
    return {name: digest for name, digest in SHIPPED[model][1]["files"].items() if name.startswith("tokenizer")}


def pretrained_dir(model):
    return f"results/models/{model}/pretrained"


def encoder_dir(model, recipe, seed):
    """The checkpoint a recipe hands on: the plain pretrained model for `none`."""
    if recipe == "none":
        return pretrained_dir(model)
    return f"results/models/{model}/intermediate/{recipe}/seed{seed}"


def encoder_files(model, recipe, seed):
    files = PRETRAINED_FILES if recipe == "none" else CHECKPOINT_FILES
    return [f"{encoder_dir(model, recipe, seed)}/{name}" for name in files]


def target_dir(model, recipe, target, seed):
    return f"results/models/{model}/target/{recipe}/{target}/seed{seed}"


# An evaluation is keyed by (model, recipe, target, benchmark, condition, seed); one job scores every
# language. The target is the training task whose checkpoint the benchmark is scored on, or
# ENCODER_TARGET for retrieval benchmarks, scored on the encoder a recipe hands on. The condition is
# `clean`, a perturbation's name (its inputs perturbed) or an attack's (the clean inputs attacked).
EVAL_CONDITIONS = [CLEAN, *PLAN.perturbations, *PLAN.attacks]
EVAL_PATTERN = "results/eval/{model}/{recipe}/{target}/{bench}/{condition}/seed{seed}"


def eval_dir(model, recipe, target, bench, seed, condition=CLEAN):
    """An evaluation's folder; target None for a retrieval benchmark (scored on the encoder)."""
    return EVAL_PATTERN.format(model=model, recipe=recipe, target=target or ENCODER_TARGET, bench=bench,
                               condition=condition, seed=seed)


def state_dir(stage_path):
    """Resumable training state: outside the declared outputs, which Snakemake deletes on failure."""
    return f"results/.state/{stage_path}"


# ---- what a stage reads -----------------------------------------------------------------------
def task_spec(model, task, stage, recipe=None):
    """Everything the training loop needs to know of one training task. A target selected on
    several languages (`selection: multilingual`) has one dev set per (benchmark, language); a
    recipe may train on a perturbed copy of the task's training data (recipes.<r>.augment)."""
    entry = PLAN.task(task)
    english = PLAN.selects_on_dev(task)
    languages = PLAN.recipe_train_languages(recipe, task)
    first, *draws = [[features_path(model, task, split, lang) for lang in languages]
                     for split in PLAN.training_splits(recipe, task)]
    spec = {
        "name": task,
        "type": entry["type"],
        "labels": entry.get("labels"),
        "metric": entry["metric"],
        "settings": PLAN.task_settings(task),
        "train": first,
        "dev": features_path(model, task, "dev", "en") if english else None,
        "dev_examples": data_path(task, "dev", "en") if english else None,
    }
    if draws:  # fresh draws, one per later epoch in turn (recipes.<r>.augment draws)
        spec["train_draws"] = draws
    if multilingual := (PLAN.multilingual_dev(task) if stage == "target" else []):
        spec["dev"] = {f"{bench}/{lang}": features_path(model, bench, "dev", lang) for bench, lang in multilingual}
        spec["dev_examples"] = {f"{bench}/{lang}": data_path(bench, "dev", lang) for bench, lang in multilingual}
        spec["dev_metrics"] = {f"{bench}/{lang}": PLAN.task(bench)["metric"] for bench, lang in multilingual}
    return spec


def training_inputs(model, tasks, stage, recipe=None):
    files = []
    for task in tasks:
        spec = task_spec(model, task, stage, recipe)
        files += spec["train"] + [path for draw in spec.get("train_draws", []) for path in draw]
        for key in ("dev", "dev_examples"):
            files += list(spec[key].values()) if isinstance(spec[key], dict) else [spec[key]] if spec[key] else []
    return files


def train_spec(stage, model, name, tasks, path):
    """What a training job computes (one param: a planned study calls each param function of each
    job): its tasks, the settings that decide its result, and where its resumable state lives."""
    recipe = name if stage == "intermediate" else None
    return {"tasks": [task_spec(model, task, stage, recipe) for task in tasks],
            "hp": PLAN.result_settings(stage, model, name),
            "state_dir": state_dir(path)}


def bench_languages(bench):
    return PLAN.languages(bench, PLAN.bench_split(bench))


def eval_results(perturbed=False):
    """One scores file per evaluation job (each holds every language), clean or under a perturbation:
    the report reads these, and one file per job instead of one per language keeps a study's plan
    quick."""
    return [f"{eval_dir(model, recipe, target, bench, seed, condition)}/scores.json"
            for model in PLAN.models for recipe, target, bench in PLAN.evaluations(model)
            for condition in PLAN.conditions(bench) if (condition != CLEAN) == perturbed for seed in PLAN.seeds]


def robustness_results():
    """The scores files the report's robustness, Q-direct, Q-robust-int and Q-scale sections read (with
    the predictions beside them): every perturbed or attacked evaluation, and the clean evaluation of each
    benchmark they reach, a further target feeds or a recipe Q-robust-int compares is scored on, and with
    two or more models every benchmark's."""
    compared = set(PLAN.robust_comparison()["recipes"])
    perturbed = {bench for condition in [*PLAN.perturbations.values(), *PLAN.attacks.values(),
                                         *PLAN.smoothing.values()]
                 for bench in condition["benchmarks"]} | {bench for _, bench in PLAN.further_targets()}
    perturbed |= {bench for model in PLAN.models for recipe, _, bench in PLAN.evaluations(model) if recipe in compared}
    if len(PLAN.models) > 1:  # Q-scale compares every benchmark's clean scores across model sizes
        perturbed |= set(PLAN.benches())
    # A smoothed evaluation's copies are read by its vote, not by the report.
    return [f"{eval_dir(model, recipe, target, bench, seed, condition)}/scores.json"
            for model in PLAN.models for recipe, target, bench in PLAN.evaluations(model)
            if bench in perturbed for condition in PLAN.conditions(bench) if not PLAN.is_draw(condition)
            for seed in PLAN.seeds]


def all_train_logs():
    logs = {}
    for model in PLAN.models:
        for seed in PLAN.seeds:
            for recipe in PLAN.model_recipes(model):
                if recipe != "none":
                    logs[f"{model}/intermediate/{recipe}/seed{seed}"] = (
                        f"results/train_logs/{model}/intermediate/{recipe}/seed{seed}.jsonl"
                    )
                for target in [t for t in PLAN.targets if PLAN.trains_after(t, recipe, model)]:
                    logs[f"{model}/target/{recipe}/{target}/seed{seed}"] = (
                        f"results/train_logs/{model}/target/{recipe}/{target}/seed{seed}.jsonl"
                    )
    return logs


def report_files():
    # A perturbation that only makes training data (recipes.<r>.augment) scores no benchmark.
    perturbed = any(p["benchmarks"] for p in [*PLAN.perturbations.values(), *PLAN.attacks.values()])
    names = REPORT_FILES + (ROBUSTNESS_FILES if perturbed else ())
    names += DIRECT_FILES if PLAN.further_targets() else ()
    names += ROBUST_INT_FILES if PLAN.robust_comparison()["recipes"] else ()
    names += SCALING_FILES if len(PLAN.models) > 1 else ()
    return [f"results/report/{name}" for name in names]


def align_sets(w):
    """Parallel set -> condition (clean, or a perturbation) -> language -> its features file, or for a
    translated set what it is made from (translated_set_files)."""
    translated = PLAN.translated_sets()
    return {name: {condition: {lang: translated_set_files(w.model, name, condition, lang) if name in translated
                               else features_path(w.model, name, scored_split(name, condition), lang)
                               for lang in parallel_languages(name, condition)}
                   for condition in PLAN.alignment_conditions()}
            for name in PLAN.alignment["sets"]}


def parallel_languages(name, condition):
    """The languages a parallel set pairs with English under a condition."""
    if name in PLAN.translated_sets():
        return [lang for lang in DATA_SPLITS[(name, PLAN.bench_split(name))] if lang != "en"]
    return FEATURE_SPLITS[(name, scored_split(name, condition))]


def translated_set_files(model, name, condition, lang):
    """A translated set's pairs of `lang` under a condition (xstilts.alignment.translated): the
    benchmark's examples of each side, perturbed on the side or sides the perturbation edits
    (perturbations.<p>.options.side), the clean ones the pairs are chosen on, and how the sentences
    are tokenized (the model's tokenizer, as a retrieval benchmark)."""
    side = PLAN.perturbations[condition]["options"].get("side", "other") if condition != CLEAN else None
    split = PLAN.bench_split(name)
    return {"fields": list(SENTENCE_FIELDS[PLAN.task(name)["type"]]),
            "other": data_path(name, scored_split(name, condition) if side in ("other", "both") else split, lang),
            "english": data_path(name, scored_split(name, condition) if side in ("english", "both") else split, "en"),
            "other_clean": data_path(name, split, lang), "english_clean": data_path(name, split, "en"),
            "tokenizer": pretrained_dir(model), "settings": PLAN.parallel_feature_settings()}


def align_inputs(w):
    """The files the parallel sets are read from: each retrieval set's feature index per condition,
    and every examples file of a translated set with the model's tokenizer."""
    translated = PLAN.translated_sets()
    found = [features_index_path(w.model, name, scored_split(name, condition))
             for name in PLAN.alignment["sets"] if name not in translated for condition in PLAN.alignment_conditions()]
    for name in translated:
        found.append(f"{pretrained_dir(w.model)}/tokenizer.json")
        found += [path for condition in PLAN.alignment_conditions() for lang in parallel_languages(name, condition)
                  for key, path in translated_set_files(w.model, name, condition, lang).items()
                  if key in ("other", "english", "other_clean", "english_clean")]
    return list(dict.fromkeys(found))


def alignment_files(name="measures.csv"):
    """One file `name` (measures.csv, retrieval_hits.npz) per checkpoint and seed when `alignment.sets`
    names any (rules/align.smk)."""
    return [f"results/align/{model}/{recipe}/{target or ENCODER_TARGET}/seed{seed}/{name}"
            for model in PLAN.models for recipe, target in PLAN.aligned_checkpoints(model) for seed in PLAN.seeds]


def alignment_scores():
    """The clean scores of the benchmarks each aligned target checkpoint feeds: the Q-align section
    correlates them with the checkpoint's alignment (retrieval benchmarks left out: on the encoder
    they are the alignment)."""
    if not PLAN.alignment["sets"]:
        return []
    aligned = {model: set(PLAN.aligned_checkpoints(model)) for model in PLAN.models}
    return [f"{eval_dir(model, recipe, target, bench, seed, CLEAN)}/scores.json"
            for model in PLAN.models for recipe, target, bench in PLAN.evaluations(model)
            if target and (recipe, target) in aligned[model] for seed in PLAN.seeds]


def alignment_report_files():
    """The Q-align section's files, its own job beside the report's (rule report_alignment)."""
    return [f"results/report/{name}" for name in ALIGNMENT_FILES] if PLAN.alignment["sets"] else []


def seed_spread_file():
    """report.seed_spread, relative to the workflow's folder (it ships with the configs); [] if unset."""
    path = config.get("report", {}).get("seed_spread")
    if not path:
        return []
    found = Path(workflow.basedir) / path
    if not found.is_file():  # a missing input of a finished report would go unnoticed until it reruns
        raise WorkflowError(f"report.seed_spread: no file {found} (make one with `python -m xstilts.stats "
                            "<main_table.csv of a multi-seed run>`)")
    return [str(found)]




# ---- per-stage inputs and params ---------------------------------------------------------
def data_split_path(task, split, lang):
    """The examples of one (task, split, language) some stage reads, clean or perturbed; a clear
    error for any other, which only a target named on the command line can ask for."""
    if lang not in FEATURE_SPLITS.get((task, split), []):
        raise WorkflowError(f"no stage of this config reads {task}/{split}/{lang}: it prepares "
                            + (", ".join(f"{t}/{s}/{{{','.join(l)}}}" for (t, s), l in FEATURE_SPLITS.items())))
    return data_path(task, split, lang)


def prepare_spec(task, split, lang):
    data_split_path(task, split, lang)
    return PLAN.prepare_spec(task, split)


# ---- perturbed sets ---------------------------------------------------------------------
GENERATED_DICTIONARIES = "results/dictionaries/generated"


def perturbed_spec(task, split, condition, lang):
    data_split_path(task, f"{split}/{condition}", lang)
    return PLAN.perturbation_spec(condition, task)


def perturbation_kind(w):
    return PLAN.perturbations[w.condition]["kind"]


def transfer_reference(condition, bench):
    """The predictions file of the attack whose texts make a transfer set, on its reference checkpoint."""
    options = PLAN.perturbations[condition]["options"]
    reference = options["reference"]
    target = reference["target"] or PLAN.first_target(bench)
    folder = eval_dir(reference["model"], reference["recipe"], target, bench, reference["seed"], options["attack"])
    return f"{folder}/predictions.jsonl"


def local_challenge_file(condition, bench, split, lang):
    """A local perturbation's file for one benchmark split and language."""
    from xstilts.robustness.local import local_file

    return str(local_file(PLAN.perturbations[condition]["options"]["path"], bench=bench, split=split, lang=lang))


def check_local_challenge_files():
    """Every file of a local challenge set, before any job: on a finished study Snakemake would
    otherwise leave a perturbation whose files are missing out of the plan without a word."""
    for (bench, split, name), langs in PERTURBED_SPLITS.items():
        if PLAN.perturbations[name]["kind"] == "local":
            for lang in langs:
                path = local_challenge_file(name, bench, split, lang)
                if not Path(path).is_file():
                    raise WorkflowError(f"perturbations.{name}.options.path: no file {path} (the challenge set of "
                                        f"{bench} {split}/{lang}, in the benchmark's schema with the clean ids)")


def switching(condition):
    """(folder, languages) of a condition that switches words by dictionary (a codeswitch
    perturbation, a codeswitch_attack), None for the others."""
    if condition in PLAN.perturbations and PLAN.perturbations[condition]["kind"] == "codeswitch":
        options = PLAN.perturbations[condition]["options"]
        return options.get("dictionaries") or GENERATED_DICTIONARIES, options["languages"]
    if condition in PLAN.attacks and PLAN.attacks[condition]["kind"] == "codeswitch_attack":
        attack = PLAN.attacks[condition]
        return attack["dictionaries"] or GENERATED_DICTIONARIES, attack["languages"]
    return None


def adversarial_checkpoint(w):
    """The checkpoint an adversarial training set is made against: the target of the task's name."""
    against = ADVERSARIAL_SETS[(w.task, w.condition)]["against"]
    return [f"{target_dir(against['model'], against['recipe'], w.task, against['seed'])}/{n}" for n in CHECKPOINT_FILES]


def adversarial_attack_inputs(w):
    """The attack's tokenizer (the attacked model's) and the dictionaries from the set's language."""
    made = ADVERSARIAL_SETS[(w.task, w.condition)]
    return [f"{pretrained_dir(made['against']['model'])}/tokenizer.json", *dictionary_files(made["name"], w.lang)]


def adversarial_data_spec(w):
    """What an adversarial training set is made of, as keywords of adversarial_training_file."""
    made = ADVERSARIAL_SETS[(w.task, w.condition)]
    attack = {**made["attack"], "tokenizer": pretrained_dir(made["against"]["model"])}
    if switching(made["name"]):
        attack["dictionaries"] = dictionary_folder(made["name"])
    return {"head": w.task, "attack": attack, "ratio": made["ratio"], "seed": made["seed"],
            "settings": PLAN.task_settings(w.task)}


def dictionary_folder(condition):
    """Where a condition reads its dictionaries (None where it reads none)."""
    return (switching(condition) or (None, []))[0]


def dictionary_files(condition, lang):
    """The dictionaries from `lang` into the condition's languages that exist: a pair without a
    file is skipped, and the perturbed set's summary names it."""
    folder = dictionary_folder(condition)
    if folder is None:
        return []
    targets = [t for t in switching(condition)[1] if t != lang]
    if folder == GENERATED_DICTIONARIES:
        return [f"{folder}/{lang}-{t}.txt" for t in targets if (lang, t) in GENERATED_PAIRS]
    return [f"{folder}/{lang}-{t}.txt" for t in targets if Path(folder, f"{lang}-{t}.txt").is_file()]


def perturbed_dictionary_files(condition, lang):
    """The dictionaries a perturbed set reads: from its language, and from English where the
    perturbation edits the English side of a parallel set (perturbations.<p>.options.side, which the
    plan allows on parallel sets only; the sides' fields: xstilts.robustness.examples.PARALLEL_SIDES)."""
    side = PLAN.perturbations[condition]["options"].get("side", "other")
    sources = {"other": [lang], "english": ["en"], "both": [lang, "en"]}[side]
    return list(dict.fromkeys(path for source in sources for path in dictionary_files(condition, source)))


def generated_dictionary_pairs():
    """Every ordered pair of the generator's languages, where some condition switches words by them."""
    if not any(dictionary_folder(name) == GENERATED_DICTIONARIES for name in EVAL_CONDITIONS[1:]):
        return []
    from xstilts.synthetic import LANGUAGES

    return [(src, tgt) for src in LANGUAGES for tgt in LANGUAGES if src != tgt]


GENERATED_PAIRS = generated_dictionary_pairs()


def warn_of_missing_dictionary_folders():
    """A codeswitch folder that is not there is a typo or a download still to make, not a set of
    missing pairs: said at every start, and the perturb jobs refuse to run without it (a dry run of
    a study whose data are not downloaded yet still plans)."""
    for name in EVAL_CONDITIONS[1:]:
        folder = dictionary_folder(name)
        key = f"attacks.{name}.dictionaries" if PLAN.is_attack(name) else f"perturbations.{name}.options.dictionaries"
        if folder not in (None, GENERATED_DICTIONARIES) and not Path(folder).is_dir():
            print(f"xstilts: {key}: no folder {folder} (it should hold MUSE-format files named <src>-<tgt>.txt); "
                  f"its {'evaluate' if PLAN.is_attack(name) else 'perturb'} jobs will fail", file=sys.stderr)


warn_of_missing_dictionary_folders()
check_local_challenge_files()


def corpus_files(split):
    return [data_path("corpus", split, lang) for lang in DATA_SPLITS.get(("corpus", split), [])]


def one_of(names):
    """A wildcard regex matching exactly these names (nothing when there are none)."""
    return "|".join(re.escape(n) for n in names) or "(?!)"


PRETRAINED_HERE = [m for m, spec in config["models"].items() if "pretrain" in spec]
FROM_HUB = [m for m, spec in config["models"].items() if "hub" in spec]


def checked_shipped_models():
    """model -> (folder, provenance) of every shipped model, each checked against this config's
    generator seed and code and its files' sha256 before any job runs."""
    seed = config["data"].get("synthetic", {}).get("seed") if PLAN.uses_generator() else None
    found = {}
    for model, spec in config["models"].items():
        if "shipped" in spec:
            folder = Path(workflow.basedir) / spec["shipped"]
            try:
                found[model] = (folder, shipped.check(folder, generator_seed=seed))
            except shipped.ShippedModelError as error:
                raise WorkflowError(f"models.{model}.shipped: {error}") from None
    return found


SHIPPED = checked_shipped_models()


def target_encoder(w):
    """The encoder a target trains from: the recipe's, where the target is trained after that recipe."""
    if not PLAN.trains_after(w.target, w.recipe, w.model):
        raise WorkflowError(f"{w.target} is not trained after recipe '{w.recipe}' on {w.model} "
                            f"({PLAN.crossing_settings(w.target, w.recipe, w.model)})")
    return encoder_files(w.model, w.recipe, w.seed)


def target_checkpoint_files():
    files = [f"results/models/{{model}}/target/{{recipe}}/{{target}}/seed{{seed}}/{n}" for n in CHECKPOINT_FILES]
    return files if PLAN.keep_target_checkpoints else [temp(f) for f in files]


if not PLAN.keep_target_checkpoints:
    print("xstilts: keep_target_checkpoints is false: target checkpoints are temp(), deleted once evaluated, "
          "so adding or changing anything on the evaluation side later retrains them", file=sys.stderr)


def eval_bench(w):
    """The benchmark of an evaluation job, checked against its target (the path names both)."""
    scored_on = PLAN.targets_of(w.bench) or [ENCODER_TARGET]
    if w.target not in scored_on:
        raise WorkflowError(f"{w.bench} is scored on {', '.join(scored_on)}, not on {w.target}")
    if w.recipe not in PLAN.model_recipes(w.model):
        raise WorkflowError(f"recipe '{w.recipe}' is not run on {w.model} (models.{w.model}.recipes)")
    if w.target != ENCODER_TARGET and not PLAN.trains_after(w.target, w.recipe, w.model):
        raise WorkflowError(f"{w.target} is not trained after recipe '{w.recipe}' on {w.model} "
                            f"({PLAN.crossing_settings(w.target, w.recipe, w.model)})")
    return w.bench


def checkpoint_files(w):
    """A target's checkpoint, or for ENCODER_TARGET the encoder a recipe hands on (intermediate, or
    the pretrained model for `none`)."""
    if w.target == ENCODER_TARGET:
        return encoder_files(w.model, w.recipe, w.seed)
    return [f"{target_dir(w.model, w.recipe, w.target, w.seed)}/{n}" for n in CHECKPOINT_FILES]


def eval_checkpoint(w):
    """Target checkpoint for task benchmarks; the intermediate (or plain) encoder for retrieval."""
    eval_bench(w)
    return checkpoint_files(w)


def eval_splits(bench):
    """The test split, and for BUCC also the dev split its threshold is chosen on."""
    return list(dict.fromkeys([PLAN.bench_split(bench)] + (["dev"] if PLAN.task(bench)["metric"] == "bucc" else [])))


def scored_split(bench, condition):
    """Where the scored split's files of a condition live: `test`, or `test/<perturbation>` (an attack
    reads the clean split)."""
    split = PLAN.bench_split(bench)
    return f"{split}/{condition}" if condition in PLAN.perturbations else split


def eval_features(w):
    """The features an evaluation reads (every language's, with the candidate pool of a ranking
    benchmark), declared through the index of each split (rule index_features). It reads the
    examples files too (gold answers, ids), but does not declare them: each is the input of the
    features made from it, so a changed example already reruns the evaluation through its features.
    Under a perturbation the scored split is the perturbed one; BUCC's dev split stays clean; an
    attack reads the clean split."""
    bench = eval_bench(w)
    if w.condition not in PLAN.conditions(bench):
        raise WorkflowError(f"{w.bench} is not perturbed by '{w.condition}' (its conditions: "
                            f"{', '.join(PLAN.conditions(bench))})")
    splits = [scored_split(bench, w.condition)] + eval_splits(bench)[1:]
    return [features_index_path(w.model, bench, split) for split in splits]


def eval_pool(w):
    """The shared candidate pool of a ranking benchmark (None for the others)."""
    if not PLAN.has_pool(w.bench):
        return None
    split = PLAN.bench_split(w.bench)
    return {"features": features_path(w.model, w.bench, split, RANKING_POOL),
            "examples": data_path(w.bench, split, RANKING_POOL)}


def eval_languages(w):
    """Per language: the files the evaluation reads (see xstilts.evaluation.evaluate)."""
    bench, split = w.bench, scored_split(w.bench, w.condition)
    languages = {}
    for lang in FEATURE_SPLITS[(bench, split)] if w.condition in PLAN.perturbations else bench_languages(bench):
        languages[lang] = {"features": features_path(w.model, bench, split, lang), "examples": data_path(bench, split, lang)}
        if PLAN.task(bench)["metric"] == "bucc":
            languages[lang]["dev_features"] = features_path(w.model, bench, "dev", lang)
            languages[lang]["dev_examples"] = data_path(bench, "dev", lang)
    return languages


def vote_draws(w):
    """The predictions of the copies a smoothed evaluation votes over (xstilts.robust_training.smoothing)."""
    return [f"{eval_dir(w.model, w.recipe, w.target, w.bench, w.seed, draw)}/predictions.jsonl"
            for draw in PLAN.smoothing_draws(w.condition)]


def vote_spec(w):
    """A smoothed evaluation's settings, as keyword arguments of smoothing.evaluate_vote; the gold labels
    are the clean examples' (the perturbation keeps every example and its label)."""
    task = PLAN.task(w.bench)
    return {"bench": w.bench, "bench_type": task["type"], "labels": task.get("labels"), "metric": task["metric"],
            "languages": {lang: data_path(w.bench, PLAN.bench_split(w.bench), lang) for lang in bench_languages(w.bench)},
            "meta": {"model": w.model, "recipe": w.recipe, "target": w.target, "condition": w.condition,
                     "seed": int(w.seed), "split": PLAN.bench_split(w.bench)}}


def eval_spec(w):
    """What an evaluation job computes, as keyword arguments of xstilts.evaluation.evaluate: one
    param, since a planned study calls each param function of each job (and no part of it changes
    without the others' job rerunning anyway)."""
    bench = eval_bench(w)
    task, head = PLAN.task(bench), None if w.target == ENCODER_TARGET else w.target
    return {
        "bench": bench,
        "head": head,
        "bench_type": task["type"],
        "metric": task["metric"],
        "settings": PLAN.task_settings(bench),
        "meta": {"model": w.model, "recipe": w.recipe, "target": head, "condition": w.condition,
                 "seed": int(w.seed), "split": PLAN.bench_split(bench)},
        # The pooled layer reaches retrieval benchmarks only.
        "retrieval_layer": PLAN.retrieval_layer(w.model) if task["type"] == "retrieval" else None,
        "languages": eval_languages(w),
        "pool": eval_pool(w),
        "attack": attack_spec(w) if PLAN.is_attack(w.condition) else None,
    }


def attack_spec(w):
    """An attack's settings, with the model's tokenizer folder (word attacks) and the dictionary
    folder (codeswitch_attack), whose files attack_inputs declares."""
    spec = PLAN.attack_spec(w.condition)
    if spec["kind"] != "pgd":
        spec["tokenizer"] = f"results/models/{w.model}/pretrained"
    if switching(w.condition):
        spec["dictionaries"] = dictionary_folder(w.condition)
    return spec


def attack_inputs(w):
    """What an attacked evaluation reads beyond the clean one: a word attack's tokenizer, and the
    dictionaries of every language a codeswitch_attack switches from."""
    if not PLAN.is_attack(w.condition) or PLAN.attacks[w.condition]["kind"] == "pgd":
        return []
    files = [f"results/models/{w.model}/pretrained/tokenizer.json"]
    return files + sorted({path for lang in bench_languages(w.bench) for path in dictionary_files(w.condition, lang)})
