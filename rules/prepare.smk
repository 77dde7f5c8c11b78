rule prepare:
    output:
        "results/data/{task}/{split}/{lang}.jsonl",
    params:
        source=prepare_spec,
        code=CODE["prepare"],
    log:
        "results/logs/prepare/{task}/{split}/{lang}.log",
    conda:
        "../envs/xstilts.yaml"
    script:
        "../scripts/prepare.py"
