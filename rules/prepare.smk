# One job per (task, split): it writes every language of that split.


for task, split in DATA_SPLITS:

    rule:
        name:
            f"prepare_{rule_name(task)}_{split}"
        output:
            [data_path(task, split, lang) for lang in DATA_SPLITS[(task, split)]],
        params:
            task=task,
            split=split,
            source=prepare_spec(task, split),
            code=CODE["prepare"],
        log:
            f"results/logs/prepare/{task}/{split}.log",
        conda:
            "../envs/xstilts.yaml"
        script:
            "../scripts/prepare.py"
