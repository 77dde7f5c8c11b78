def corpus_files(split):
    return [data_path("corpus", split, lang) for lang in PLAN.languages("corpus", split)]


rule pretrain:
    input:
        train=corpus_files("train"),
        dev=corpus_files("dev"),
    output:
        [RESULTS + "/models/{model}/pretrained/" + name for name in PRETRAINED_FILES],
        train_log=RESULTS + "/train_logs/{model}/pretrain.jsonl",
    params:
        architecture=lambda w: config["models"][w.model]["pretrain"],
        hp=lambda w: PLAN.training("pretrain", w.model),
        max_length=PLAN.features["max_length"]["mlm"],
        seed=config["data"].get("synthetic", {}).get("seed", 0),
        state_dir=lambda w: state_dir(f"{w.model}/pretrain"),
        code=CODE["pretrain"],
    resources:
        gpu=GPUS,
    log:
        RESULTS + "/logs/pretrain/{model}.log",
    benchmark:
        RESULTS + "/benchmarks/pretrain/{model}.tsv"
    conda:
        "../envs/xstilts.yaml"
    script:
        "../scripts/pretrain.py"
