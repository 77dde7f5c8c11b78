rule target:
    input:
        encoder=target_encoder,
        data=lambda w: training_inputs(w.model, [w.target], "target"),
    output:
        target_checkpoint_files(),
        train_log="results/train_logs/{model}/target/{recipe}/{target}/seed{seed}.jsonl",
    params:
        stage=lambda w: train_spec("target", w.model, w.target, [w.target], f"{w.model}/target/{w.recipe}/{w.target}/seed{w.seed}"),
        # A param that takes `input` never triggers a rerun: these do not change results.
        runtime=lambda w, input: PLAN.runtime_settings("target", w.model, w.target),
        checkpoint_dtype=PLAN.checkpoint_dtype,
        code=CODE["train"],
    resources:
        gpu=training_gpus(),
        gpu_slots=gpu_slots(GPUS),
        **training_nodes(),
    log:
        "results/logs/target/{model}/{recipe}/{target}/seed{seed}.log",
    benchmark:
        "results/benchmarks/target/{model}/{recipe}/{target}/seed{seed}.tsv"
    conda:
        "../envs/xstilts.yaml"
    script:
        "../scripts/train.py"
