def prepare_spec(wildcards):
    """What `prepare` reads: the task's source and, for the generator, its size and seed."""
    source = PLAN.source(wildcards.task)
    spec = dict(PLAN.source_spec(wildcards.task))
    if source == "synthetic":
        spec["n"] = PLAN.synthetic_size(wildcards.task, wildcards.split)
        spec["seed"] = config["data"]["synthetic"]["seed"]
    return {"source": source, "spec": spec}


rule prepare:
    output:
        RESULTS + "/data/{task}/{split}/{lang}.jsonl",
    params:
        source=prepare_spec,
        code=CODE["prepare"],
    log:
        RESULTS + "/logs/prepare/{task}/{split}/{lang}.log",
    conda:
        "../envs/xstilts.yaml"
    script:
        "../scripts/prepare.py"
