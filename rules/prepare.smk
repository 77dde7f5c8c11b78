# One job per (task, split, language): a language added to a finished study prepares that
# language alone and leaves the files of the others, which training stages may read, untouched.


for task, split in DATA_SPLITS:

    rule:
        name:
            f"prepare_{rule_name(task)}_{split}"
        wildcard_constraints:
            lang=one_of(DATA_SPLITS[(task, split)]),
        output:
            f"results/data/{task}/{split}/{{lang}}.jsonl",
        params:
            task=task,
            split=split,
            source=PLAN.prepare_spec(task, split),
            access=hub_access(task),
            code=CODE["prepare"],
        log:
            f"results/logs/prepare/{task}/{split}/{{lang}}.log",
        conda:
            "../envs/xstilts.yaml"
        script:
            "../scripts/prepare.py"
