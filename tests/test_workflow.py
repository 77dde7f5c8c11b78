"""The workflow end to end on a tiny config, and what Snakemake plans after a config change."""

import json
import re
import subprocess
from collections import Counter
from pathlib import Path

import pytest
import yaml

from workflow_runs import ROOT, TINY, consumers_of, dry_run_dag, snakemake
from workflow_runs import planned_jobs as plan_of
from xstilts.io import read_json
from xstilts.layout import SCALING_FILES

pytestmark = pytest.mark.slow


def run_config(tmp_path: Path, config: dict, name: str = "run") -> Path:
    """Write `config`, run the workflow on it in a fresh working directory; its results folder."""
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config))
    workdir = tmp_path / f"{name}-work"
    workdir.mkdir()
    result = snakemake(workdir, path)
    assert result.returncode == 0, result.stderr[-6000:]
    return workdir / "results"


def planned_jobs(result: subprocess.CompletedProcess) -> dict[str, int]:
    """Rule -> job count from a dry run's job-stats table (empty when nothing is to be done)."""
    assert result.returncode == 0, result.stdout + result.stderr
    counts = {}
    table = re.search(r"Job stats:\n(.*?)\n\s*\n", result.stdout + "\n\n", re.S)
    if table:
        for line in table.group(1).splitlines()[2:]:
            rule, count = line.split()
            if rule != "total":
                counts[rule] = int(count)
    return counts


@pytest.fixture
def finished_run(finished_tiny_run):
    return finished_tiny_run


def changed_config(workdir: Path, config: Path, change) -> Path:
    data = yaml.safe_load(config.read_text())
    change(data)
    path = workdir / "changed.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_report_has_every_benchmark_recipe_seed_and_language(finished_run):
    workdir, config = finished_run
    data = yaml.safe_load(config.read_text())
    main = (workdir / "results" / "report" / "main_table.csv").read_text()
    for recipe in data["recipes"]:
        assert f",{recipe}," in main
    for bench in ["xnli", "panx", "xquad", "mlqa", "tatoeba", "bucc2018"]:
        assert bench in main
    # One scores file per evaluation job: 3 recipes x 1 seed x (6 benchmarks clean + 4 perturbed
    # conditions + 2 attacks + 1 transfer set), under (model, recipe, target, benchmark, condition,
    # seed); retrieval is scored on the encoder.
    scores = sorted((workdir / "results" / "eval").rglob("scores.json"))
    keys = {path.relative_to(workdir / "results" / "eval").parts[:6] for path in scores}
    assert len(scores) == len(keys) == 3 * (6 + 4 + 3)
    assert {key[2:5] for key in keys} == {("mnli", "xnli", "clean"), ("panx", "panx", "clean"), ("squad_v1", "xquad", "clean"),
                                          ("squad_v1", "mlqa", "clean"), ("encoder", "tatoeba", "clean"),
                                          ("encoder", "bucc2018", "clean"), ("mnli", "xnli", "typos"),
                                          ("mnli", "xnli", "switched"), ("mnli", "xnli", "mixed"),
                                          ("panx", "panx", "typos"), ("mnli", "xnli", "probe"),
                                          ("mnli", "xnli", "flip"), ("mnli", "xnli", "flip-transfer")}
    languages = 0
    for path in scores:
        records = json.loads(path.read_text())["results"]
        predicted = Counter(line["lang"] for line in map(json.loads, (path.parent / "predictions.jsonl").open()))
        for record in records:
            assert 0.0 <= record["score"] <= 100.0, path
            assert predicted[record["lang"]] >= 1, path
        assert set(predicted) == {record["lang"] for record in records}
        languages += len(records)
    # xnli, panx, xquad, mlqa and the 7 other conditions: 3 languages; tatoeba, bucc2018: 2
    assert languages == 3 * ((4 + 7) * 3 + 2 * 2)
    index = (workdir / "results" / "report" / "index.md").read_text()
    assert "| none |" in index


def test_checkpoints_and_outputs_are_complete(finished_run):
    workdir, _ = finished_run
    intermediate = workdir / "results" / "models" / "tiny" / "intermediate" / "multi" / "seed1"
    summary = json.loads((intermediate / "training_summary.json").read_text())
    assert summary["tasks"] == ["mnli", "squad_v1", "hellaswag", "ccg"]
    heads = json.loads((intermediate / "heads.json").read_text())
    assert set(heads) == {"mnli", "squad_v1", "hellaswag", "ccg"}
    assert not (workdir / "results" / ".state").exists() or not any((workdir / "results" / ".state").rglob("state.pt"))
    # Target checkpoints are kept by default: an evaluation-side change never retrains them.
    targets = list((workdir / "results" / "models" / "tiny" / "target").rglob("model.safetensors"))
    assert len(targets) == 3 * 3


def test_jobs_run_the_pinned_cpu_code_paths(finished_run):
    """Every torch job runs torch's, oneDNN's and MKL's AVX2 code paths whatever the host has."""
    workdir, _ = finished_run
    logs = list((workdir / "results" / "logs").glob("*/tiny/**/*.log")) + [workdir / "results/logs/pretrain/tiny.log"]
    torch_logs = [log for log in logs if "[xstilts] device" in log.read_text()]
    assert len(torch_logs) == 1 + 2 + 9 + 39  # pretrain, intermediate, target and evaluation jobs
    for log in torch_logs:
        assert "CPU code paths: ATEN_CPU_CAPABILITY=avx2, ONEDNN_MAX_CPU_ISA=AVX2, MKL_CBWR=AVX2" in log.read_text(), log


def test_nothing_changed_plans_nothing(finished_run):
    workdir, config = finished_run
    assert planned_jobs(snakemake(workdir, config, "-n")) == {}


def test_target_learning_rate_change_plans_only_that_target(finished_run):
    workdir, config = finished_run

    def change(data):
        data["targets"]["panx"] = {"benches": ["panx"], "training": {"lr": 1.0e-3}}

    plan = plan_of(workdir, changed_config(workdir, config, change))
    assert plan == {"target": 3, "evaluate/panx": 3, "evaluate/panx/typos": 3, "report": 1, "all": 1}


def test_intermediate_change_plans_that_recipe_and_downstream_only(finished_run):
    workdir, config = finished_run

    def change(data):
        data["recipes"]["mnli"] = {"tasks": ["mnli"], "training": {"lr": 1.0e-3}}

    plan = plan_of(workdir, changed_config(workdir, config, change))
    per_bench = {f"evaluate/{b}": 1 for b in ["xnli", "panx", "xquad", "mlqa", "tatoeba", "bucc2018", "xnli/typos",
                                              "xnli/switched", "xnli/mixed", "panx/typos", "xnli/probe", "xnli/flip"]}
    # mnli's checkpoint is the reference of flip's transfer set: the set and every score of it follow.
    transfer_set = {"perturb/xnli/test/flip-transfer": 3, "tokenize/xnli/test/flip-transfer": 3,
                    "index_features/xnli/test/flip-transfer": 1, "evaluate/xnli/flip-transfer": 3}
    assert plan == {"intermediate": 1, "target": 3, **per_bench, **transfer_set, "report": 1, "all": 1}


def test_robustness_study_dry_run_plans_its_job_counts(tmp_path):
    """configs/robustness.yaml (Q-adv) plans with no data, model or dictionaries present: six recipes,
    six targets and benchmarks, five perturbations of every benchmark, mixed pairs and three attacks
    of the two pair benchmarks, hotflip's transfer set of each, three seeds; and the translate-train-all
    targets of XNLI, PAWS-X and XQuAD-R (Q-direct), each after `none` and one English recipe."""
    plan = plan_of(tmp_path, ROOT / "configs" / "robustness.yaml")
    assert plan["intermediate"] == 5 * 3 and plan["target"] == 6 * 6 * 3 + 3 * 2 * 3
    english_rows = {"xcopa": 6, "udpos_r": 6, "panx_r": 6, "xnli": 6 + 2, "pawsx": 6 + 2, "xquad_r": 6 + 2}
    for bench, rows in english_rows.items():
        assert plan[f"evaluate/{bench}"] == rows * 3
        for perturbation in ["char_noise_05", "char_noise_10", "word_noise_05", "word_noise_10", "codeswitch_30"]:
            assert plan[f"evaluate/{bench}/{perturbation}"] == rows * 3
    # translate-train-all reads each translated language's train split (XNLI 15, PAWS-X 7, SQuAD 11:
    # no Romanian) and English dev
    assert plan["prepare/mnli_mt/train"] == plan["tokenize/mnli_mt/train"] == 15
    assert plan["prepare/pawsx_mt/train"] == 7 and plan["prepare/squad_mt_all/train"] == 11
    assert plan["prepare/squad_mt_all/dev"] == 1
    # One perturbed set per (benchmark, test language, perturbation): XNLI 15, PAWS-X 7, XCOPA 11,
    # UD-POS-R 38, PAN-X-R 48, XQuAD-R 12 test languages.
    assert plan["evaluate/xnli/mixed_pair"] == plan["evaluate/pawsx/mixed_pair"] == 8 * 3
    assert "evaluate/xcopa/mixed_pair" not in plan
    for bench in ["xnli", "pawsx"]:
        for condition in ["pgd", "hotflip", "codeswitch_attack", "hotflip-transfer"]:
            assert plan[f"evaluate/{bench}/{condition}"] == 8 * 3
    assert "evaluate/xcopa/pgd" not in plan
    # mixed pairs and hotflip's transfer sets: one per XNLI (15) and PAWS-X (7) test language
    assert sum(n for label, n in plan.items() if label.startswith("perturb/")) == 5 * 131 + 2 * (15 + 7)
    assert plan["perturb/xnli/test/codeswitch_30"] == plan["tokenize/xnli/test/codeswitch_30"] == 15
    direct = 3 * 2 * 3 + (11 + 11 + 6) * 2 * 3 + 2 * (15 + 7 + 11 + 3)  # targets, evaluations, data
    assert sum(plan.values()) == 2520 + 4 * 2 * 6 * 3 + 2 * (15 + 7) + 2 + direct and plan["report"] == 1


def test_paper_grid_dry_run_plans_the_design_job_counts(tmp_path):
    """configs/paper.yaml builds its whole DAG with no data or model present."""
    plan = plan_of(tmp_path, ROOT / "configs" / "paper.yaml")
    assert plan["import_model"] == 1
    # nine tasks, multi, mnli_mlm and mnli_mt, three seeds ('none' needs none)
    assert plan["intermediate"] == 12 * 3
    assert plan["target"] == 13 * 6 * 3  # xquad and mlqa share squad_v1's checkpoint
    for bench in ["xnli", "pawsx", "udpos", "panx", "xquad", "mlqa", "tydiqa", "tatoeba", "bucc2018"]:
        assert plan[f"evaluate/{bench}"] == 13 * 3
    # The variants read every language (one job each) of translated MNLI's and the MLM corpus's train splits.
    assert plan["prepare/mnli_mt/train"] == plan["prepare/wiki_mlm/train"] == 15
    assert plan["tokenize/mnli_mt/train"] == 15
    assert "prepare/wiki_mlm/dev" not in plan  # MLM corpora take no part in selection
    assert plan["prepare/xnli/test"] == plan["tokenize/xnli/test"] == 15  # one job per language
    assert plan["prepare/mnli/dev"] == 1  # selection reads English dev only
    assert plan["report"] == 1


def test_a_target_trained_after_some_recipes_runs_their_cells_only(tmp_path):
    """targets.panx.recipes: [none]: PAN-X's target trains after `none` alone, so its evaluations
    (clean and perturbed) run for `none` alone; the other targets and the retrieval benchmarks keep
    every recipe."""
    config = yaml.safe_load(TINY.read_text())
    config["targets"]["panx"] = {"benches": ["panx"], "recipes": ["none"]}
    path = tmp_path / "crossed.yaml"
    path.write_text(yaml.safe_dump(config))
    plan = plan_of(tmp_path, path)
    assert plan["target"] == 3 + 1 + 3  # mnli and squad_v1 after each recipe, panx after none
    assert plan["evaluate/panx"] == plan["evaluate/panx/typos"] == 1
    assert plan["evaluate/xnli"] == plan["evaluate/tatoeba"] == 3


def test_a_second_model_size_crossed_with_some_recipes_and_targets_runs_those_cells_only(tmp_path):
    """models.small.recipes: [none, mnli] and .targets: [mnli]: the second size pre-trains, trains MNLI
    as its one intermediate stage and XNLI's target after both recipes; XNLI (clean, perturbed and
    attacked) and the retrieval sets are scored on it for those recipes only; the report gains Q-scale."""
    config = yaml.safe_load(TINY.read_text())
    config["models"]["small"] = {**config["models"]["tiny"], "recipes": ["none", "mnli"], "targets": ["mnli"]}
    config["models"]["small"]["pretrain"] = {**config["models"]["tiny"]["pretrain"], "hidden_size": 48}
    path = tmp_path / "two_sizes.yaml"
    path.write_text(yaml.safe_dump(config))
    one = plan_of(tmp_path, TINY)
    two = plan_of(tmp_path, path)
    assert two["pretrain"] == 2 and two["intermediate"] == one["intermediate"] + 1
    assert two["target"] == one["target"] + 2  # mnli after none and mnli
    for job in ("evaluate/xnli", "evaluate/xnli/typos", "evaluate/xnli/probe", "evaluate/tatoeba", "evaluate/bucc2018"):
        assert two[job] == one[job] + 2, job
    for job in ("evaluate/panx", "evaluate/xquad", "evaluate/mlqa", "evaluate/panx/typos"):
        assert two[job] == one[job], job
    with dry_run_dag(tmp_path, path) as dag:
        report = next(job for job in dag.jobs if job.rule.name == "report")
        outputs = {Path(str(path)).name for path in report.output}
        evaluated = {str(path) for path in report.input if "/eval/small/" in str(path)}
    assert set(SCALING_FILES) <= outputs
    assert evaluated and all(path.split("/")[3] in ("none", "mnli") for path in evaluated)
    assert {path.split("/")[5] for path in evaluated} == {"xnli", "tatoeba", "bucc2018"}


def test_a_second_target_of_a_benchmark_adds_its_own_jobs_and_keeps_exact_scopes(finished_run, tmp_path):
    """Translated MNLI (mnli_mt, English and German) feeds XNLI beside English MNLI, trained after
    `none` alone: on the finished run it plans its own data, one training and XNLI's evaluations of
    that checkpoint, sharing every clean XNLI prepare and tokenize job; its checkpoint read both
    languages' rows and no other; the report gains the row `none / mnli_mt`. Adding Chinese to its
    training data then plans that language's data, that target's training, its evaluations and the
    report, nothing of the English target."""
    import shutil

    workdir, config = finished_run
    study = tmp_path / "study"
    shutil.copytree(workdir, study, symlinks=True)

    def direct(languages):
        def change(data):
            data["targets"]["mnli_mt"] = {"benches": ["xnli"], "recipes": ["none"]}
            data.setdefault("data", {}).setdefault("languages", {})["mnli_mt"] = languages
        return change

    conditions = ["typos", "switched", "mixed", "probe", "flip", "flip-transfer"]
    evaluations = Counter({"evaluate/xnli": 1, **{f"evaluate/xnli/{name}": 1 for name in conditions}})
    two = changed_config(study, config, direct(["en", "de"]))
    assert plan_of(study, two) == Counter({"prepare/mnli_mt/train": 2, "prepare/mnli_mt/dev": 1,
                                           "tokenize/mnli_mt/train": 2, "tokenize/mnli_mt/dev": 1, "target": 1,
                                           "report": 1, "all": 1}) + evaluations
    result = snakemake(study, two)
    assert result.returncode == 0, result.stderr[-5000:]
    summary = read_json(study / "results" / "models" / "tiny" / "target" / "none" / "mnli_mt" / "seed1"
                        / "training_summary.json")
    rows = {lang: len(Path(study, "results", "data", "mnli_mt", "train", f"{lang}.jsonl").read_text().splitlines())
            for lang in ("en", "de")}
    assert summary["train_rows"] == {"mnli_mt": rows} and rows["en"] == rows["de"] > 0
    main = (study / "results" / "report" / "main_table.md").read_text()
    assert "| none / mnli_mt |" in main and "| mnli / mnli_mt |" not in main
    three = changed_config(study, config, direct(["en", "de", "zh"]))
    assert plan_of(study, three) == Counter({"prepare/mnli_mt/train": 1, "tokenize/mnli_mt/train": 1, "target": 1,
                                             "report": 1, "all": 1}) + evaluations


def test_a_target_selected_on_every_language_reads_the_benchmarks_dev_sets(finished_run, tmp_path):
    """`selection: multilingual` on the XNLI target: the run prepares XNLI's dev sets (English's
    is not the target task's own, MNLI's), retrains that target and what reads it; the log holds
    each set's score beside their mean, and the report says which dev sets chose the checkpoint."""
    import shutil

    workdir, config = finished_run
    study = tmp_path / "study"
    shutil.copytree(workdir, study, symlinks=True)

    def multilingual(data):
        data["targets"]["mnli"] = {"benches": ["xnli"], "selection": "multilingual"}

    changed = changed_config(study, config, multilingual)
    plan = plan_of(study, changed)
    assert plan["prepare/xnli/dev"] == plan["tokenize/xnli/dev"] == 3 and plan["target"] == 3
    assert not plan["intermediate"] and not plan["evaluate/panx"]
    result = snakemake(study, changed)
    assert result.returncode == 0, result.stderr[-5000:]
    log = [json.loads(line) for line in (study / "results" / "train_logs" / "tiny" / "target" / "none" / "mnli"
                                         / "seed1.jsonl").read_text().splitlines()]
    evaluated = [line for line in log if "dev_score" in line]
    assert evaluated and all(set(line["dev_sets"]["mnli"]) == {"xnli/en", "xnli/de", "xnli/zh"} for line in evaluated)
    for line in evaluated:
        assert line["dev_score"] == pytest.approx(sum(line["dev_sets"]["mnli"].values()) / 3)
    index = (study / "results" / "report" / "index.md").read_text()
    assert "Target `mnli`: the mean over the dev sets of xnli in en, de, zh (`selection: multilingual`)." in index


def test_alignment_added_to_a_finished_study_measures_every_checkpoint_and_trains_nothing(finished_run, tmp_path):
    """`alignment.sets: [tatoeba, xnli]`, clean and under typos (Tatoeba added to the perturbation), on a
    copy of the finished tiny run: one align job per checkpoint (each recipe's encoder, every target's)
    and Tatoeba's perturbed sets and scores, nothing trained (XNLI's translated sentences come from
    its examples, clean and perturbed, which the run has); every set, condition, language and hidden
    layer measured; at the retrieval layer, English-to-other retrieval on a recipe's encoder is
    Tatoeba's score, clean and perturbed."""
    import csv
    import shutil

    workdir, config = finished_run
    study = tmp_path / "study"
    shutil.copytree(workdir, study, symlinks=True)

    def add_alignment(data):
        data["perturbations"]["typos"]["benchmarks"].append("tatoeba")
        data["alignment"] = {"sets": ["tatoeba", "xnli"], "perturbations": ["typos"]}

    aligned = changed_config(tmp_path, config, add_alignment)
    assert plan_of(study, aligned) == Counter({"align": 12, "perturb/tatoeba/test/typos": 2,
                                               "tokenize/tatoeba/test/typos": 2, "index_features/tatoeba/test/typos": 1,
                                               "evaluate/tatoeba/typos": 3, "report": 1, "report_alignment": 1,
                                               "all": 1})
    result = snakemake(study, aligned)
    assert result.returncode == 0, result.stderr[-5000:]
    data = yaml.safe_load(config.read_text())
    layers = data["models"]["tiny"]["pretrain"]["num_hidden_layers"] + 1  # the embeddings' output is layer 0
    for recipe in data["recipes"]:
        for target in ["encoder", *data["targets"]]:
            with open(study / f"results/align/tiny/{recipe}/{target}/seed1/measures.csv") as rows:
                records = list(csv.DictReader(rows))
            assert [(r["set"], r["condition"], r["lang"], int(r["layer"])) for r in records] == [
                (name, condition, lang, layer) for name in ("tatoeba", "xnli") for condition in ("clean", "typos")
                for lang in ("de", "zh") for layer in range(layers)]
            sentences = {(r["set"], r["lang"]): int(r["sentences"]) for r in records}
            examples = data["data"]["synthetic"]["sizes"]["test"]
            assert {sentences["tatoeba", lang] for lang in ("de", "zh")} == {examples}
            # Both texts of most of XNLI's examples: those whose premise or hypothesis repeats are left out.
            assert all(examples < sentences["xnli", lang] <= 2 * examples for lang in ("de", "zh")), sentences
            typos = {(r["condition"], r["lang"], r["layer"]): r["margin"] for r in records if r["set"] == "xnli"}
            assert all(typos["clean", lang, layer] != typos["typos", lang, layer] for lang in ("de", "zh")
                       for layer in map(str, range(layers)))  # the typos are in the sentences measured
            if target != "encoder":
                continue
            for condition in ("clean", "typos"):
                scores = read_json(study / f"results/eval/tiny/{recipe}/encoder/tatoeba/{condition}/seed1/scores.json")
                at_layer = {r["lang"]: float(r["retrieval_en_to_xx"]) for r in records
                            if r["set"] == "tatoeba" and r["condition"] == condition and int(r["layer"]) == data["models"]["tiny"]["retrieval_layer"]}
                assert at_layer == {row["lang"]: row["score"] for row in scores["results"]}, (recipe, condition)
    assert plan_of(study, aligned) == Counter(), "a finished alignment plans nothing"
    assert "[alignment.md](alignment.md)" in (study / "results/report/index.md").read_text()
    answer = (study / "results/report/alignment.md").read_text()
    assert "**`mnli`**, its encoder against the pretrained model" in answer and "instability under typos" in answer


def test_temporary_target_checkpoints_are_measured_before_they_go(tmp_path):
    """keep_target_checkpoints: false makes target checkpoints temp(): with alignment set, every target
    job's checkpoint is read by an align job as well as by its evaluations, so Snakemake deletes it
    only after it was measured."""
    data = yaml.safe_load(TINY.read_text())
    data["keep_target_checkpoints"] = False
    data["alignment"] = {"sets": ["tatoeba"]}
    config = tmp_path / "temp.yaml"
    config.write_text(yaml.safe_dump(data))
    targets = consumers_of(tmp_path, config, "target")
    assert len(targets) == len(data["recipes"]) * len(data["targets"])
    for wildcards, temporary, consumers in targets:
        folder = "results/models/tiny/target/{recipe}/{target}/seed{seed}".format(**wildcards)
        assert f"{folder}/model.safetensors" in temporary, wildcards
        assert {"align", "evaluate"} <= consumers, wildcards


def test_scaling_study_dry_run_plans_its_job_counts_and_the_q_scale_section(tmp_path):
    """configs/scaling.yaml (Q-scale) plans with no data or model present: four XLM-R sizes, each imported;
    four intermediate recipes (MNLI in English, in German, in fifteen languages; SIQA for XCOPA), XNLI's and
    PAWS-X's targets after the MNLI recipes and `none`, COPA after every recipe, three seeds; the report
    with the Q-scale section."""
    plan = plan_of(tmp_path, ROOT / "configs" / "scaling.yaml")
    assert plan["import_model"] == 4 and plan["intermediate"] == 4 * 4 * 3
    assert plan["target"] == 4 * (2 * 4 + 5) * 3
    assert plan["evaluate/xnli"] == plan["evaluate/xnli/char_noise_10"] == plan["evaluate/xnli/pgd"] == 4 * 4 * 3
    assert plan["evaluate/xcopa"] == plan["evaluate/xcopa/codeswitch_30"] == 4 * 5 * 3 and "evaluate/xcopa/pgd" not in plan
    assert sum(plan.values()) == 2068
    with dry_run_dag(tmp_path, ROOT / "configs" / "scaling.yaml") as dag:
        report = next(job for job in dag.jobs if job.rule.name == "report")
        outputs = {Path(str(path)).name for path in report.output}
        configs = sorted(str(path) for path in report.input if str(path).endswith("pretrained/config.json"))
    assert set(SCALING_FILES) <= outputs
    assert configs == [f"results/models/{m}/pretrained/config.json" for m in ("xlmr-base", "xlmr-large", "xlmr-xl",
                                                                                "xlmr-xxl")]


def test_robust_intermediate_study_dry_run_plans_its_job_counts(tmp_path):
    """configs/robust_intermediate.yaml (Q-robust-int) plans with no data, model or dictionaries present:
    eleven recipes (MNLI in English, German, Russian and all fifteen languages; plain, code-switched with a
    draw per epoch, adversarial; English with code-mixed adversarial examples), twelve with `none`, five
    XTREME-R targets, three seeds."""
    plan = plan_of(tmp_path, ROOT / "configs" / "robust_intermediate.yaml")
    assert plan["intermediate"] == 11 * 3 and plan["target"] == 12 * 5 * 3
    # The adversarial examples: made once, against `none`'s MNLI checkpoint (seed 1), for every seed.
    assert plan["adversarial_data"] == 1 and plan["tokenize/mnli/train/polygloss-for-mnli_polygloss"] == 1
    # The code-switched recipes' data: English MNLI and XNLI-MT's fifteen languages, three draws each.
    for draw in ("codeswitch_train", "codeswitch_train@2", "codeswitch_train@3"):
        assert plan[f"perturb/mnli/train/{draw}"] == plan[f"tokenize/mnli/train/{draw}"] == 1
        assert plan[f"perturb/mnli_mt/train/{draw}"] == plan[f"tokenize/mnli_mt/train/{draw}"] == 15
    assert plan["prepare/mnli_mt/train"] == 15 and not any("codeswitch_train" in label for label in plan
                                                            if label.startswith("evaluate/"))
    assert plan["evaluate/xnli"] == plan["evaluate/xnli/codeswitch_30"] == plan["evaluate/xnli/pgd"] == 12 * 3
    assert plan["evaluate/xnli/polygloss"] == plan["evaluate/pawsx/polygloss"] == 12 * 3


def gpu_asks(workdir: Path, configfile: Path) -> dict[str, set[tuple[int, int]]]:
    """Rule -> the (gpu, gpu_slots) its jobs ask Snakemake for, in a dry run of everything."""
    asks: dict[str, set[tuple[int, int]]] = {}
    with dry_run_dag(workdir, configfile, forceall=True) as dag:
        for job in dag.jobs:
            asks.setdefault(job.rule.name, set()).add((job.resources.get("gpu", 0), job.resources.get("gpu_slots", 0)))
    return asks


def test_with_several_jobs_per_gpu_the_gpu_jobs_ask_for_slots_not_gpus(tmp_path):
    """Snakemake rounds a fractional `gpu` down to 0: with resources.jobs_per_gpu > 1 a GPU job asks for one
    `gpu_slots` per device instead (`--resources gpu_slots=<GPUs x K>`), and for no `gpu`."""
    config = yaml.safe_load(TINY.read_text())
    one = gpu_asks(tmp_path / "one", TINY)
    shared = gpu_asks(tmp_path / "shared", run_config_file(tmp_path, {**config, "resources": {"jobs_per_gpu": 4}}))
    for rule in ("pretrain", "intermediate", "target", "evaluate"):
        assert one[rule] == {(1, 0)} and shared[rule] == {(0, 1)}, rule
    assert one["prepare"] == shared["prepare"] == {(0, 0)}, "a job without torch asks for neither"


def run_config_file(tmp_path: Path, config: dict) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path
