rule pretrain:
    wildcard_constraints:
        model=one_of(PRETRAINED_HERE),
    input:
        train=corpus_files("train"),
        dev=corpus_files("dev"),
    output:
        [f"results/models/{{model}}/pretrained/{name}" for name in PRETRAINED_FILES],
        train_log="results/train_logs/{model}/pretrain.jsonl",
    params:
        architecture=lambda w: PLAN.pretrain_architecture(w.model),
        hp=lambda w: PLAN.result_settings("pretrain", w.model),
        # A param that takes `input` never triggers a rerun: these do not change results.
        runtime=lambda w, input: PLAN.runtime_settings("pretrain", w.model),
        max_length=PLAN.features["max_length"]["mlm"],
        seed=config["data"].get("synthetic", {}).get("seed", 0),
        state_dir=lambda w: state_dir(f"{w.model}/pretrain"),
        torch_threads=PRETRAIN_THREADS,
        code=CODE["pretrain"],
    threads: PRETRAIN_THREADS  # nothing else can run before the model exists
    resources:
        gpu=training_gpus(),
        gpu_slots=gpu_slots(GPUS),
        **training_nodes(),
    log:
        "results/logs/pretrain/{model}.log",
    benchmark:
        "results/benchmarks/pretrain/{model}.tsv"
    conda:
        "../envs/xstilts.yaml"
    script:
        "../scripts/pretrain.py"


rule import_model:
    wildcard_constraints:
        model=one_of(FROM_HUB),
    output:
        [f"results/models/{{model}}/pretrained/{name}" for name in PRETRAINED_FILES],
    params:
        source=lambda w: config["models"][w.model]["hub"],
        code=CODE["import"],
    log:
        "results/logs/import_model/{model}.log",
    conda:
        "../envs/xstilts.yaml"
    script:
        "../scripts/import_model.py"


rule shipped_model:
    wildcard_constraints:
        model=one_of(list(SHIPPED)),
    input:
        lambda w: [SHIPPED[w.model][0] / name for name in SHIPPED[w.model][1]["files"]],
    output:
        [f"results/models/{{model}}/pretrained/{name}" for name in PRETRAINED_FILES],
    params:
        folder=lambda w: str(SHIPPED[w.model][0]),
        files=lambda w: SHIPPED[w.model][1]["files"],  # name -> sha256, checked again as they are copied
        code=CODE["shipped"],
    log:
        "results/logs/shipped_model/{model}.log",
    conda:
        "../envs/xstilts.yaml"
    script:
        "../scripts/shipped_model.py"
