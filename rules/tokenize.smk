rule tokenize:
    input:
        tokenizer=lambda w: f"{pretrained_dir(w.model)}/tokenizer.json",
        examples="results/data/{task}/{split}/{lang}.jsonl",
    output:
        "results/features/{model}/{task}/{split}/{lang}.parquet",
    params:
        task_type=lambda w: PLAN.task(w.task)["type"],
        labels=lambda w: PLAN.task(w.task).get("labels"),
        settings=lambda w: PLAN.feature_settings(w.task),
        code=CODE["tokenize"],
    log:
        "results/logs/tokenize/{model}/{task}/{split}/{lang}.log",
    conda:
        "../envs/xstilts.yaml"
    script:
        "../scripts/tokenize.py"
