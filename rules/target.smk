def target_checkpoint_files():
    files = [RESULTS + "/models/{model}/target/{recipe}/{target}/seed{seed}/" + n for n in CHECKPOINT_FILES]
    return files if config.get("keep_target_checkpoints", False) else [temp(f) for f in files]


rule target:
    input:
        encoder=lambda w: encoder_files(w.model, w.recipe, w.seed),
        data=lambda w: training_inputs(w.model, [w.target]),
    output:
        target_checkpoint_files(),
        train_log=RESULTS + "/train_logs/{model}/target/{recipe}/{target}/seed{seed}.jsonl",
    params:
        tasks=lambda w: [task_spec(w.model, w.target)],
        hp=lambda w: PLAN.training("target", w.model, w.target),
        encoder_dir=lambda w: encoder_dir(w.model, w.recipe, w.seed),
        out_dir=lambda w: target_dir(w.model, w.recipe, w.target, w.seed),
        state_dir=lambda w: state_dir(f"{w.model}/target/{w.recipe}/{w.target}/seed{w.seed}"),
        eval_batch_size=EVAL_BATCH_SIZE,
        code=CODE["train"],
    resources:
        gpu=GPUS,
    log:
        RESULTS + "/logs/target/{model}/{recipe}/{target}/seed{seed}.log",
    benchmark:
        RESULTS + "/benchmarks/target/{model}/{recipe}/{target}/seed{seed}.tsv"
    conda:
        "../envs/xstilts.yaml"
    script:
        "../scripts/train.py"
