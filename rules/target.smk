rule target:
    input:
        encoder=lambda w: encoder_files(w.model, w.recipe, w.seed),
        data=lambda w: training_inputs(w.model, [w.target]),
    output:
        target_checkpoint_files(),
        train_log="results/train_logs/{model}/target/{recipe}/{target}/seed{seed}.jsonl",
    params:
        tasks=lambda w: [task_spec(w.model, w.target)],
        hp=lambda w: PLAN.result_settings("target", w.model, w.target),
        # A param that takes `input` never triggers a rerun: these do not change results.
        runtime=lambda w, input: PLAN.runtime_settings("target", w.model, w.target),
        state_dir=lambda w: state_dir(f"{w.model}/target/{w.recipe}/{w.target}/seed{w.seed}"),
        checkpoint_dtype=PLAN.checkpoint_dtype,
        code=CODE["train"],
    resources:
        gpu=GPUS,
    log:
        "results/logs/target/{model}/{recipe}/{target}/seed{seed}.log",
    benchmark:
        "results/benchmarks/target/{model}/{recipe}/{target}/seed{seed}.tsv"
    conda:
        "../envs/xstilts.yaml"
    script:
        "../scripts/train.py"
