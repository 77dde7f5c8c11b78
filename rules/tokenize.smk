# One rule, one job per (model, task, split, language). The features depend on the tokenizer and
# the task type's lengths only, so every stage that reads the same split shares them. The
# pretrain stage tokenizes its corpus itself, with the tokenizer it trains. A perturbed set is a
# split named `<split>/<perturbation>` here (rules/perturb.smk makes its examples).


rule tokenize:
    wildcard_constraints:
        task=one_of(sorted({task for task, _ in FEATURE_SPLITS} - {"corpus"})),
        split=one_of(sorted({split for _, split in FEATURE_SPLITS})),
        lang=one_of(sorted({lang for languages in FEATURE_SPLITS.values() for lang in languages})),
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


# One file per (model, benchmark, split) that an evaluation reads, listing the split's feature
# files. An evaluation declares it instead of one input per language: a study's plan matches every
# declared input against the rules' outputs, and the evaluations' features were half of them
# (benchmarks/README.md). It is rewritten whenever a feature file of its split is, so an
# evaluation reruns exactly when it did with the files declared one by one. A shell command runs
# in one of Snakemake's threads; a `run:` block would start a Snakemake process (2 s a job).
localrules:
    index_features,


rule index_features:
    wildcard_constraints:
        task=one_of(PLAN.benches()),
        split=one_of(sorted({split for _, split in FEATURE_SPLITS})),
    input:
        lambda w: [features_path(w.model, w.task, w.split, lang) for lang in FEATURE_SPLITS[(w.task, w.split)]],
    output:
        features_index_path("{model}", "{task}", "{split}"),
    log:
        "results/logs/index_features/{model}/{task}/{split}.log",
    conda:
        "../envs/xstilts.yaml"
    shell:
        "printf '%s\\n' {input:q} > {output:q} 2> {log:q}"
