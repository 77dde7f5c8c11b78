# One rule, one job per (task, split, language): a language added to a finished study prepares that
# language alone and leaves the files of the others, which training stages may read, untouched.
# Force one split with `snakemake -R results/data/<task>/<split>/<lang>.jsonl ...` (one path per language).


rule prepare:
    wildcard_constraints:
        task=one_of(sorted({task for task, _ in DATA_SPLITS})),
        lang=one_of(sorted({lang for languages in DATA_SPLITS.values() for lang in languages})),
    output:
        "results/data/{task}/{split}/{lang}.jsonl",
    params:
        source=lambda w: prepare_spec(w.task, w.split, w.lang),
        access=lambda w, input: PLAN.hub_access(w.task),  # how the hub is reached: never a rerun trigger
        code=CODE["prepare"],
    log:
        "results/logs/prepare/{task}/{split}/{lang}.log",
    conda:
        "../envs/xstilts.yaml"
    script:
        "../scripts/prepare.py"
