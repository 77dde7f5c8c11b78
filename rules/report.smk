# The scores files the robustness section reads (with the predictions beside them), listed once.
ROBUSTNESS_RESULTS = robustness_results()


rule report:
    input:
        results=eval_results(),
        robustness=ROBUSTNESS_RESULTS,
        predictions=[path.replace("scores.json", "predictions.jsonl") for path in ROBUSTNESS_RESULTS],
        perturbed_sets=[data_path(bench, f"{split}/{name}", lang).replace(".jsonl", ".summary.json")
                        for (bench, split, name), langs in PERTURBED_SPLITS.items() if not PLAN.is_draw(name)
                        for lang in langs],
        train_logs=list(all_train_logs().values()),
        seed_spread=seed_spread_file(),
        # Q-scale: each model's parameters, counted from its config (only with two or more models).
        model_configs=[f"{pretrained_dir(m)}/config.json" for m in PLAN.models] if len(PLAN.models) > 1 else [],
    output:
        [report(f, category="figures") if f.endswith((".png", ".pdf")) else f for f in report_files()],
    params:
        train_logs=all_train_logs(),
        recipe_order=list(PLAN.recipes),
        # Model -> the recipes it runs (models.<m>.recipes): its tables hold those rows only.
        model_recipes={model: PLAN.model_recipes(model) for model in PLAN.models},
        bench_order=PLAN.benches(),
        qa_benches=[b for b in PLAN.benches() if PLAN.task(b)["type"] == "span_qa"],
        # Mixed pairs with several partner languages: condition -> (perturbation, partner).
        mixed={name: (p["base"], p["options"]["partner"]) for name, p in PLAN.perturbations.items() if "base" in p},
        # The attacks' transfer sets, which the report shows with the attacks, and their references.
        transfers={name: "`{recipe}` (seed {seed}, {model})".format(**PLAN.perturbations[name]["options"]["reference"])
                   for name in PLAN.transfer_sets()},
        # (recipe, target, benchmark) for the cells not run: the target is not trained after the recipe.
        not_crossed=PLAN.not_crossed(),
        # (target, benchmark) for each benchmark's targets after its first: rows `recipe / target`.
        further_targets=PLAN.further_targets(),
        # Per benchmark, its languages' script, family (or constructed properties) and distance to English.
        language_info=PLAN.language_profiles(),
        # Q-robust-int: the recipes trained otherwise, and the English-only recipe they are compared with.
        robust=PLAN.robust_comparison(),
        # Targets chosen on several languages' dev sets (selection: multilingual), said in the report.
        selection=PLAN.selection_notes(),
        # The Q-align section is written by rule report_alignment; the index links it.
        alignment=bool(PLAN.alignment["sets"]),
        title=f"xstilts report: {config.get('run_name', 'run')}",
        code=CODE["report"],
    log:
        "results/logs/report.log",
    conda:
        "../envs/xstilts.yaml"
    script:
        "../scripts/report.py"


# Q-align: its own job, so that it runs beside the report's (which names its file in the index).
rule report_alignment:
    input:
        measures=alignment_files(),
        hits=alignment_files("retrieval_hits.npz"),
        scores=alignment_scores(),
        seed_spread=seed_spread_file(),
    output:
        [report(f, category="figures") if f.endswith((".png", ".pdf")) else f for f in alignment_report_files()],
    params:
        code=CODE["report_alignment"],
    log:
        "results/logs/report_alignment.log",
    conda:
        "../envs/xstilts.yaml"
    script:
        "../scripts/report_alignment.py"
