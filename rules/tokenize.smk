# One job per (model, task, split, language). The features depend on the tokenizer and the task
# type's lengths only, so every stage that reads the same split shares them.


for task, split in DATA_SPLITS:
    if task == "corpus":
        continue  # the pretrain stage tokenizes its corpus with the tokenizer it trains

    rule:
        name:
            f"tokenize_{rule_name(task)}_{split}"
        wildcard_constraints:
            lang=one_of(DATA_SPLITS[(task, split)]),
        input:
            tokenizer="results/models/{model}/pretrained/tokenizer.json",
            examples=f"results/data/{task}/{split}/{{lang}}.jsonl",
        output:
            f"results/features/{{model}}/{task}/{split}/{{lang}}.parquet",
        params:
            task_type=PLAN.task(task)["type"],
            labels=PLAN.task(task).get("labels"),
            settings=PLAN.feature_settings(task),
            code=CODE["tokenize"],
        log:
            f"results/logs/tokenize/{{model}}/{task}/{split}/{{lang}}.log",
        conda:
            "../envs/xstilts.yaml"
        script:
            "../scripts/tokenize.py"
