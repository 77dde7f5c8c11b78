# One rule, one job per (model, task, split, language). The features depend on the tokenizer and
# the task type's lengths only, so every stage that reads the same split shares them. The
# pretrain stage tokenizes its corpus itself, with the tokenizer it trains.


rule tokenize:
    wildcard_constraints:
        task=one_of(sorted({task for task, _ in DATA_SPLITS} - {"corpus"})),
        lang=one_of(sorted({lang for languages in DATA_SPLITS.values() for lang in languages})),
    input:
        tokenizer="results/models/{model}/pretrained/tokenizer.json",
        examples=lambda w: data_split_path(w.task, w.split, w.lang),
    output:
        "results/features/{model}/{task}/{split}/{lang}.parquet",
    params:
        # One param: a planned study calls each param function of each job.
        task=lambda w: {"type": PLAN.task(w.task)["type"], "labels": PLAN.task(w.task).get("labels"),
                        "settings": PLAN.feature_settings(w.task)},
        code=CODE["tokenize"],
    log:
        "results/logs/tokenize/{model}/{task}/{split}/{lang}.log",
    conda:
        "../envs/xstilts.yaml"
    script:
        "../scripts/tokenize.py"
