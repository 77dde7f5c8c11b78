import pytest
import yaml

from xstilts.config import TRAINING_DEFAULTS, ConfigError, Plan


def test_demo_config_is_valid(demo_config):
    plan = Plan(demo_config)
    assert list(plan.recipes)[0] == "none"
    assert plan.targets["squad_v1"]["benches"] == ["xquad", "mlqa"]
    assert plan.languages("xnli", "test") == ["en", "de", "ru", "ar", "zh"]
    assert "en" not in plan.languages("tatoeba", "test")
    assert plan.languages("mnli", "train") == ["en"]


def test_unknown_top_level_key_is_named(demo_config):
    demo_config["recipies"] = {}
    with pytest.raises(ConfigError, match="recipies"):
        Plan(demo_config)


def test_wrong_type_is_named_with_its_path(demo_config):
    demo_config["training"]["defaults"]["lr"] = "fast"
    with pytest.raises(ConfigError, match="training/defaults/lr"):
        Plan(demo_config)


def test_unknown_task_in_recipe_is_named(demo_config):
    demo_config["recipes"]["mnli"] = ["mnlii"]
    with pytest.raises(ConfigError, match="recipe 'mnli': unknown task 'mnlii'"):
        Plan(demo_config)


def test_unknown_benchmark_is_named(demo_config):
    demo_config["targets"]["mnli"] = ["xnlii"]
    with pytest.raises(ConfigError, match="unknown task 'xnlii'"):
        Plan(demo_config)


def test_target_and_benchmark_types_must_match(demo_config):
    demo_config["targets"]["mnli"] = ["udpos"]
    with pytest.raises(ConfigError, match="cannot feed benchmark 'udpos'"):
        Plan(demo_config)


def test_none_recipe_must_be_empty(demo_config):
    demo_config["recipes"]["none"] = ["mnli"]
    with pytest.raises(ConfigError, match="recipe 'none'"):
        Plan(demo_config)


def test_bad_wildcard_name_is_rejected(demo_config):
    demo_config["recipes"]["Bad Name"] = ["mnli"]
    with pytest.raises(ConfigError, match="Bad Name"):
        Plan(demo_config)


def test_hyperparameters_resolve_in_layers(demo_config):
    demo_config["targets"]["pawsx"] = {"benches": ["pawsx"], "training": {"lr": 0.5}}
    plan = Plan(demo_config)
    pawsx = plan.training("target", "demo-tiny", "pawsx")
    udpos = plan.training("target", "demo-tiny", "udpos")
    assert pawsx["lr"] == 0.5
    assert udpos["lr"] == demo_config["training"]["defaults"]["lr"]
    assert udpos["weight_decay"] == TRAINING_DEFAULTS["weight_decay"]
    assert plan.training("pretrain", "demo-tiny")["epochs"] == demo_config["training"]["pretrain"]["epochs"]


def test_languages_narrow_in_the_catalogs_order_and_unknown_ones_are_named(demo_config):
    demo_config["data"]["languages"] = {"xnli": ["zh", "en", "de"], "bucc2018": ["de"]}
    plan = Plan(demo_config)
    assert plan.languages("xnli", "test") == ["en", "de", "zh"]
    assert plan.languages("bucc2018", "test") == ["de"] and plan.languages("bucc2018", "dev") == ["de"]
    assert plan.languages("pawsx", "test") == ["en", "de", "ru", "ar", "zh"]  # not narrowed
    demo_config["data"]["languages"] = {"xnli": ["en", "fr"]}
    with pytest.raises(ConfigError, match="task 'xnli' has no language\\(s\\) fr"):
        Plan(demo_config)
    demo_config["data"]["languages"] = {"xnlii": ["en"]}
    with pytest.raises(ConfigError, match="data.languages: unknown task 'xnlii'"):
        Plan(demo_config)


def test_narrowing_a_split_to_nothing_is_refused(demo_config):
    demo_config["data"]["languages"] = {"tatoeba": ["en"]}  # Tatoeba's test split has no English
    with pytest.raises(ConfigError, match="tatoeba"):
        Plan(demo_config)


def test_hub_access_is_runtime_and_overrides_reach_only_their_tasks():
    import yaml

    from conftest import ROOT

    config = yaml.safe_load((ROOT / "configs" / "paper.yaml").read_text())
    plan = Plan(config)
    spec = plan.prepare_spec("mnli", "train")
    config["data"]["hub"] = {"offline": False, "cache_dir": "/elsewhere"}
    moved = Plan(config)
    assert moved.prepare_spec("mnli", "train") == spec  # how the hub is reached is no rerun trigger
    assert moved.hub_access("mnli") == {"offline": False, "cache_dir": "/elsewhere"}
    config["data"]["hub"]["overrides"] = {"rajpurkar/squad": "/data/squad"}
    overridden = Plan(config)
    assert overridden.prepare_spec("mnli", "train") == spec
    assert overridden.prepare_spec("squad_v1", "train")["spec"]["overrides"] == {"rajpurkar/squad": "/data/squad"}


def test_feature_lengths_must_fit_a_pretrained_models_positions(demo_config):
    demo_config["models"]["demo-tiny"]["pretrain"]["max_positions"] = 100
    with pytest.raises(ConfigError, match="max_positions is 100.*span_qa"):
        Plan(demo_config)


def test_qa_decoding_reaches_span_qa_tasks_only(demo_config):
    plan = Plan(demo_config)
    assert "qa_max_answer_tokens" in plan.task_settings("squad_v1")
    assert "qa_max_answer_tokens" not in plan.task_settings("mnli")
    assert "qa_max_answer_tokens" not in plan.feature_settings("squad_v1")  # tokenizing does not decode


def test_settings_outside_a_stages_scope_travel_as_runtime(demo_config):
    plan = Plan(demo_config)
    result, runtime = plan.result_settings("intermediate", "demo-tiny", "mnli"), plan.runtime_settings(
        "intermediate", "demo-tiny", "mnli")
    assert "mlm_probability" in runtime and "mlm_probability" not in result  # no MLM task in the recipe
    assert "eval_every" in result and "log_every" in runtime
    assert set(result) | set(runtime) == set(TRAINING_DEFAULTS) | {"eval_batch_size", "device_memory_gb", "jobs_per_gpu", "sharding"}
    assert "mlm_probability" in plan.result_settings("pretrain", "demo-tiny")


def test_configuration_reads_no_module_of_the_data_side(demo_config, tmp_path):
    """Configuration is read by the others and reads nothing of theirs: planning a study (the
    Snakefile's whole use of it) loads neither the data sources nor the generator nor torch."""
    import subprocess
    import sys

    (tmp_path / "config.yaml").write_text(yaml.safe_dump(demo_config))
    probe = ("import sys, yaml; from xstilts.config import Plan; "
             f"plan = Plan(yaml.safe_load(open({str(tmp_path / 'config.yaml')!r}))); "
             "[plan.prepare_spec(t, s) for t, s in plan.data_splits()]; "
             "print(sorted(m for m in sys.modules if m.startswith(('xstilts.', 'torch', 'transformers'))))")
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    # io: file helpers; languages: the table of language groups the config is checked against.
    assert eval(loaded) == ["xstilts.catalog", "xstilts.config", "xstilts.io", "xstilts.languages"]


def test_a_target_may_list_only_recipes_of_the_study(demo_config):
    demo_config["targets"]["panx"] = {"benches": ["panx"], "recipes": ["none", "mnli_mt"]}
    with pytest.raises(ConfigError, match=r"targets.panx.recipes: mnli_mt not among the recipes \(none, mnli, "):
        Plan(demo_config)
    demo_config["targets"]["panx"]["recipes"] = ["mnli"]
    plan = Plan(demo_config)
    evaluated = plan.evaluations("demo-tiny")
    assert ("mnli", "panx", "panx") in evaluated and ("none", "panx", "panx") not in evaluated
    assert ("none", None, "tatoeba") in evaluated  # retrieval: the recipe's encoder
    assert ("none", "mnli", "xnli") in evaluated  # a target without `recipes` is trained after every recipe
    not_crossed = [(recipe, target, bench) for model, recipe, target, bench, _ in plan.not_crossed() if model == "demo-tiny"]
    assert ("none", "panx", "panx") in not_crossed and ("mnli", "panx", "panx") not in not_crossed


def test_a_benchmark_may_be_fed_by_several_targets_each_its_own_evaluations(demo_config):
    """English MNLI and translated MNLI both feed XNLI: each is scored after the recipes it is
    trained after, and the second one's cells are the report's rows of their own."""
    demo_config["targets"]["mnli_mt"] = {"benches": ["xnli"], "recipes": ["none", "mnli"]}
    plan = Plan(demo_config)
    assert plan.targets_of("xnli") == ["mnli", "mnli_mt"] and plan.first_target("xnli") == "mnli"
    assert plan.benches().count("xnli") == 1
    xnli = [(recipe, target) for recipe, target, bench in plan.evaluations("demo-tiny") if bench == "xnli"]
    assert xnli == [("none", "mnli"), ("none", "mnli_mt"), ("mnli", "mnli"), ("mnli", "mnli_mt"), ("multi", "mnli"),
                    ("mnli_cs", "mnli"), ("mnli_freelb", "mnli"), ("mnli_polygloss", "mnli")]
    assert plan.further_targets() == [("mnli_mt", "xnli")]
    assert ("demo-tiny", "multi", "mnli_mt", "xnli", "targets.mnli_mt.recipes or recipes.multi.targets") \
        in plan.not_crossed()
    # The translations train: every language of mnli_mt's train split; selection on English dev.
    assert plan.data_splits()[("mnli_mt", "train")] == list(demo_config["data"]["synthetic"]["languages"])
    assert plan.data_splits()[("mnli_mt", "dev")] == ["en"]


def test_an_attack_transfer_reference_names_a_target_of_its_benchmark(demo_config):
    demo_config["targets"]["mnli_mt"] = {"benches": ["xnli"], "recipes": ["none"]}
    reference = demo_config["attacks"]["hotflip"]["transfer_from"]
    Plan(demo_config)  # the first target (mnli) by default
    reference["target"] = "mnli_mt"
    assert Plan(demo_config).attacks["hotflip"]["transfer_from"]["target"] == "mnli_mt"
    reference["target"] = "pawsx"
    with pytest.raises(ConfigError, match=r"transfer_from.target: 'pawsx' does not feed 'xnli' \(mnli, mnli_mt do\)"):
        Plan(demo_config)
    reference.update(target="mnli_mt", recipe="mnli")
    with pytest.raises(ConfigError, match=r"transfer_from.recipe: mnli_mt is not trained after 'mnli'"):
        Plan(demo_config)


def test_multilingual_selection_reads_every_language_of_the_benchmarks_dev_split(demo_config):
    """English selection reads the target task's English dev set only; `selection: multilingual`
    reads the dev split of the benchmarks it feeds in all their languages, and the report says so."""
    plan = Plan(demo_config)
    assert plan.multilingual_dev("panx") == [] and plan.data_splits()[("panx", "dev")] == ["en"]
    assert plan.selection_notes() == {}
    demo_config["targets"]["panx"] = {"benches": ["panx"], "selection": "multilingual"}
    plan = Plan(demo_config)
    langs = ["en", "de", "ru", "ar", "zh"]
    assert plan.multilingual_dev("panx") == [("panx", lang) for lang in langs]
    assert plan.data_splits()[("panx", "dev")] == langs
    assert plan.selection_notes() == {"panx": "the mean over the dev sets of panx in en, de, ru, ar, zh"}


def test_multilingual_selection_without_a_multilingual_dev_split_is_refused(demo_config):
    demo_config["targets"]["squad_v1"] = {"benches": ["xquad"], "selection": "multilingual"}
    with pytest.raises(ConfigError, match="targets.squad_v1.selection: multilingual needs a benchmark with a dev "
                                          "split in two or more languages, and xquad has no such split"):
        Plan(demo_config)
    demo_config["targets"]["squad_v1"] = {"benches": ["xquad"], "selection": "everywhere"}
    with pytest.raises(ConfigError, match="selection"):
        Plan(demo_config)


def test_alignment_reads_one_to_one_parallel_sets_only(demo_config):
    """Alignment pairs each line with its translation: BUCC's distractors and a tagging benchmark's
    sentences (UD's treebanks are not translations) have none, and are refused by name; a Tatoeba-like
    set is read like a benchmark (its test split), even where the config scores no retrieval benchmark;
    a translated test set is read in English too, the side every language is paired with."""
    demo_config["retrieval"] = []
    for perturbation in demo_config["perturbations"].values():  # the demo perturbs Tatoeba for its alignment
        perturbation["benchmarks"] = [b for b in perturbation["benchmarks"] if b != "tatoeba"]
    demo_config["alignment"] = {"sets": ["tatoeba"], "max_examples": 50}
    plan = Plan(demo_config)
    assert plan.data_splits()[("tatoeba", "test")] == ["de", "ru", "ar", "zh"]
    assert ("none", None) in plan.aligned_checkpoints("demo-tiny") and ("mnli", "mnli_mt") in plan.aligned_checkpoints("demo-tiny")
    assert ("multi", "mnli_mt") not in plan.aligned_checkpoints("demo-tiny")  # mnli_mt is trained after none and mnli only
    demo_config["alignment"] = {"sets": ["xnli", "xquad"]}
    plan = Plan(demo_config)
    assert plan.translated_sets() == ["xnli", "xquad"] and plan.data_splits()[("xquad", "test")][0] == "en"
    demo_config["data"]["languages"] = {"xnli": ["de", "zh"]}
    with pytest.raises(ConfigError, match="alignment.sets: 'xnli' pairs each language's test set with English's"):
        Plan(demo_config)
    del demo_config["data"]["languages"]
    for name, message in (("bucc2018", "metric 'bucc'"), ("udpos", "type 'tagging'"),
                          ("nosuch", "unknown task 'nosuch'")):
        demo_config["alignment"] = {"sets": [name]}
        with pytest.raises(ConfigError, match=f"alignment.sets.*{message}"):
            Plan(demo_config)
    demo_config["alignment"] = {"sets": []}
    assert Plan(demo_config).aligned_checkpoints("demo-tiny") == []


def test_alignment_measures_a_perturbation_only_where_it_perturbs_the_sets(demo_config):
    demo_config["retrieval"] = ["tatoeba"]
    demo_config["perturbations"]["char_noise"]["benchmarks"].remove("tatoeba")
    demo_config["alignment"] = {"sets": ["tatoeba"], "perturbations": ["char_noise"]}
    with pytest.raises(ConfigError, match="alignment.perturbations: 'char_noise' does not perturb 'tatoeba': "
                                          "add it to perturbations.char_noise.benchmarks"):
        Plan(demo_config)
    demo_config["alignment"]["perturbations"] = ["typos"]
    with pytest.raises(ConfigError, match="alignment.perturbations: 'typos' is not a perturbation of this study"):
        Plan(demo_config)
    demo_config["perturbations"]["char_noise"]["benchmarks"].append("tatoeba")
    demo_config["alignment"]["perturbations"] = ["char_noise"]
    plan = Plan(demo_config)
    assert plan.alignment_conditions() == ["clean", "char_noise"]
    assert ("tatoeba", "test", "char_noise") in plan.perturbed_splits()


def test_a_translated_alignment_set_takes_in_place_edits_on_either_side(demo_config):
    """A translated set pairs a perturbed sentence with the clean one chosen at its place: a mixed
    pair moves texts between languages and is refused; the side a noise kind edits may be set for
    it as for Tatoeba, and only chooses which of the benchmark's perturbed sets alignment reads, so
    the benchmark's own perturbed sets keep their spec."""
    demo_config["alignment"] = {"sets": ["xnli"], "perturbations": ["mixed_pair"]}
    with pytest.raises(ConfigError, match=r"alignment.perturbations: 'mixed_pair' \(mixed_pair\) does not edit each "
                                          "sentence in place, so the translated sets xnli cannot"):
        Plan(demo_config)
    demo_config["alignment"] = {"sets": ["xnli", "xquad"], "perturbations": ["char_noise"]}
    demo_config["perturbations"]["char_noise"]["benchmarks"] = ["xnli", "xquad", "tatoeba"]
    before = Plan(demo_config).perturbation_spec("char_noise", "xnli")
    demo_config["perturbations"]["char_noise"]["options"] = {"side": "both"}
    plan = Plan(demo_config)
    assert plan.perturbations["char_noise"]["options"]["side"] == "both"
    assert plan.perturbation_spec("char_noise", "xnli") == before
    assert plan.perturbation_spec("char_noise", "tatoeba")["side"] == "both"
    demo_config["alignment"]["sets"] = ["tatoeba"]
    with pytest.raises(ConfigError, match="options.side: only a parallel set .* xnli, xquad are not one"):
        Plan(demo_config)


def test_a_recipe_trains_on_a_perturbed_copy_of_its_tasks_data(demo_config):
    demo_config["recipes"]["mnli_cs"] = {"tasks": ["mnli"], "augment": {"mnli": "codeswitch"}}
    del demo_config["recipes"]["mnli_polygloss"]  # its adversarial set: tests/test_adversarial_data.py
    plan = Plan(demo_config)
    assert plan.training_splits("mnli_cs", "mnli") == ["train/codeswitch"]
    assert plan.training_splits("mnli", "mnli") == plan.training_splits(None, "mnli") == ["train"]
    assert plan.augmented_splits() == {("mnli", "train", "codeswitch"): ["en"]}
    # Drawn afresh for each of three epochs: the perturbation's own set, and two more draws of it.
    demo_config["recipes"]["mnli_cs"]["augment"] = {"mnli": {"perturbation": "codeswitch", "draws": 3}}
    plan = Plan(demo_config)
    assert plan.training_splits("mnli_cs", "mnli") == ["train/codeswitch", "train/codeswitch@2", "train/codeswitch@3"]
    assert set(plan.augmented_splits()) == {("mnli", "train", c) for c in ("codeswitch", "codeswitch@2", "codeswitch@3")}
    assert plan.perturbation_spec("codeswitch@3", "mnli") == {**plan.perturbation_spec("codeswitch", "mnli"), "draw": 3}
    assert "codeswitch@2" not in plan.conditions("xnli")


@pytest.mark.parametrize("augment, message", [
    ({"squad_v1": "codeswitch"}, r"recipes.mnli_cs.augment.squad_v1: 'squad_v1' is not a task of the recipe \(mnli\)"),
    ({"mnli": "typo"}, r"recipes.mnli_cs.augment.mnli: no perturbation 'typo' \(perturbations: char_noise, "),
    ({"mnli": "mixed_pair"}, r"mixed_pair \(mixed_pair\) cannot edit the training data of 'mnli'"),
])
def test_a_bad_augmentation_is_named(demo_config, augment, message):
    demo_config["recipes"]["mnli_cs"] = {"tasks": ["mnli"], "augment": augment}
    with pytest.raises(ConfigError, match=message):
        Plan(demo_config)


def test_a_perturbation_may_serve_training_data_alone(demo_config):
    demo_config["perturbations"]["train_noise"] = {"kind": "word_noise", "rate": 0.2, "benchmarks": []}
    with pytest.raises(ConfigError, match="perturbations.train_noise: no benchmark to perturb"):
        Plan(demo_config)
    demo_config["recipes"]["mnli_noisy"] = {"tasks": ["mnli"], "augment": {"mnli": "train_noise"}}
    plan = Plan(demo_config)
    assert "train_noise" not in plan.conditions("xnli") and plan.training_splits("mnli_noisy", "mnli") == ["train/train_noise"]


def test_a_recipe_trains_on_the_languages_it_chooses(demo_config):
    demo_config["recipes"]["mnli_de"] = {"tasks": ["mnli_mt"], "languages": {"mnli_mt": ["de"]}}
    plan = Plan(demo_config)
    assert plan.recipe_train_languages("mnli_de", "mnli_mt") == ["de"]
    assert plan.recipe_train_languages(None, "mnli_mt") == plan.train_languages("mnli_mt") == ["en", "de", "ru", "ar", "zh"]
    demo_config["recipes"]["mnli_de"]["languages"] = {"mnli_mt": ["de", "fr"]}
    with pytest.raises(ConfigError, match=r"recipes.mnli_de.languages.mnli_mt: fr: the task trains on en, de, ru, ar, zh"):
        Plan(demo_config)


def test_a_recipe_may_feed_only_some_targets(demo_config):
    demo_config["recipes"]["mnli_cs"] = {"tasks": ["mnli"], "targets": ["mnli"]}
    plan = Plan(demo_config)
    assert plan.trains_after("mnli", "mnli_cs") and not plan.trains_after("pawsx", "mnli_cs")
    assert {(target, bench) for recipe, target, bench in plan.evaluations("demo-tiny") if recipe == "mnli_cs"} == \
        {("mnli", "xnli"), (None, "tatoeba"), (None, "bucc2018")}
    demo_config["recipes"]["mnli_cs"]["targets"] = ["mnli", "xnli"]
    with pytest.raises(ConfigError, match=r"recipes.mnli_cs.targets: xnli not among the targets \(mnli, pawsx, "):
        Plan(demo_config)


def test_a_model_may_run_only_some_recipes_and_targets(demo_config):
    """models.<m>.recipes and .targets: the demo's second size runs `none` and `mnli`, fine-tuned on MNLI
    only; its retrieval sets are scored on both recipes' encoders; everything else stays demo-tiny's."""
    assert demo_config["models"]["demo-small"]["recipes"] == ["none", "mnli"]
    plan = Plan(demo_config)
    assert plan.model_recipes("demo-small") == ["none", "mnli"] and plan.model_recipes("demo-tiny") == list(plan.recipes)
    assert plan.evaluations("demo-small") == [(recipe, target, bench) for recipe in ("none", "mnli")
                                              for target, bench in (("mnli", "xnli"), (None, "tatoeba"),
                                                                    (None, "bucc2018"))]
    assert len(plan.evaluations("demo-tiny")) > 3 * len(plan.evaluations("demo-small"))
    assert plan.trains_after("pawsx", "none") and not plan.trains_after("pawsx", "none", "demo-small")
    assert not plan.trains_after("mnli", "multi", "demo-small") and plan.trains_after("mnli", "multi", "demo-tiny")
    assert plan.aligned_checkpoints("demo-small") == [("none", None), ("none", "mnli"), ("mnli", None), ("mnli", "mnli")]
    assert ("demo-small", "none", "pawsx", "pawsx", "models.demo-small.targets") in plan.not_crossed()
    assert not any(model == "demo-small" and recipe == "multi" for model, recipe, *_ in plan.not_crossed())


@pytest.mark.parametrize("key, names, message", [
    ("recipes", ["none", "mnli_x"], r"models.demo-small.recipes: mnli_x not among the recipes \(none, mnli, "),
    ("targets", ["mnli", "xnli"], r"models.demo-small.targets: xnli not among the targets \(mnli, pawsx, "),
])
def test_a_model_may_list_only_recipes_and_targets_of_the_study(demo_config, key, names, message):
    demo_config["models"]["demo-small"][key] = names
    with pytest.raises(ConfigError, match=message):
        Plan(demo_config)


def test_an_attack_may_not_transfer_from_a_recipe_its_model_does_not_run(demo_config):
    demo_config["attacks"]["hotflip"]["transfer_from"] = {"model": "demo-small", "recipe": "multi", "seed": 1}
    with pytest.raises(ConfigError, match=r"transfer_from.recipe: mnli is not trained after 'multi' on demo-small "
                                          r"\(models.demo-small.recipes\)"):
        Plan(demo_config)
    demo_config["attacks"]["hotflip"]["transfer_from"]["recipe"] = "mnli"
    assert Plan(demo_config).perturbations["hotflip-transfer"]["options"]["reference"]["model"] == "demo-small"
