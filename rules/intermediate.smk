rule intermediate:
    input:
        encoder=lambda w: encoder_files(w.model, "none", w.seed),
        data=lambda w: training_inputs(w.model, PLAN.recipes[w.recipe]["tasks"], "intermediate", w.recipe),
    output:
        [f"results/models/{{model}}/intermediate/{{recipe}}/seed{{seed}}/{name}" for name in CHECKPOINT_FILES],
        train_log="results/train_logs/{model}/intermediate/{recipe}/seed{seed}.jsonl",
    params:
        stage=lambda w: train_spec("intermediate", w.model, w.recipe, PLAN.recipes[w.recipe]["tasks"],
                                   f"{w.model}/intermediate/{w.recipe}/seed{w.seed}"),
        # A param that takes `input` never triggers a rerun: these do not change results.
        runtime=lambda w, input: PLAN.runtime_settings("intermediate", w.model, w.recipe),
        checkpoint_dtype=PLAN.checkpoint_dtype,
        code=CODE["train"],
    resources:
        gpu=training_gpus(),
        gpu_slots=gpu_slots(GPUS),
        **training_nodes(),
    log:
        "results/logs/intermediate/{model}/{recipe}/seed{seed}.log",
    benchmark:
        "results/benchmarks/intermediate/{model}/{recipe}/seed{seed}.tsv"
    conda:
        "../envs/xstilts.yaml"
    script:
        "../scripts/train.py"
