rule pretrain:
    input:
        train=corpus_files("train"),
        dev=corpus_files("dev"),
    output:
        [f"results/models/{{model}}/pretrained/{name}" for name in PRETRAINED_FILES],
        train_log="results/train_logs/{model}/pretrain.jsonl",
    params:
        architecture=lambda w: config["models"][w.model]["pretrain"],
        hp=lambda w: PLAN.training("pretrain", w.model),
        max_length=PLAN.features["max_length"]["mlm"],
        max_positions=max(PLAN.features["max_length"].values()),
        seed=config["data"].get("synthetic", {}).get("seed", 0),
        state_dir=lambda w: state_dir(f"{w.model}/pretrain"),
        code=CODE["pretrain"],
    threads: workflow.cores  # nothing else can run before the model exists
    resources:
        gpu=GPUS,
    log:
        "results/logs/pretrain/{model}.log",
    benchmark:
        "results/benchmarks/pretrain/{model}.tsv"
    conda:
        "../envs/xstilts.yaml"
    script:
        "../scripts/pretrain.py"
