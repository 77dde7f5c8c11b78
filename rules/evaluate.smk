# One rule per benchmark, because each has its own list of per-language outputs; each job
# loads its checkpoint once and writes every language.


for bench in PLAN.benches():
    eval_meta, retrieval_layer = eval_params(bench)

    rule:
        name:
            f"evaluate_{bench}"
        input:
            checkpoint=eval_checkpoint(bench),
            features=eval_features(bench),
        output:
            **eval_outputs(bench),
        params:
            bench=bench,
            head=PLAN.target_of(bench),
            bench_type=PLAN.task(bench)["type"],
            metric=PLAN.task(bench)["metric"],
            settings=PLAN.task_settings(bench),
            meta=eval_meta,
            split=PLAN.bench_split(bench),
            retrieval_layer=retrieval_layer,
            languages=eval_languages(bench),
            pool=eval_pool(bench),
            # How many rows go through the model at once: speed and memory, not the result (a param
            # that takes `input` never triggers a rerun).
            batch_size=lambda w, input: PLAN.eval_batch_size,
            code=CODE["evaluate"],
        resources:
            gpu=min(GPUS, 1),  # evaluation runs on one device; only training runs data-parallel
        log:
            f"results/logs/evaluate/{{model}}/{{recipe}}/{bench}/seed{{seed}}.log",
        benchmark:
            f"results/benchmarks/evaluate/{{model}}/{{recipe}}/{bench}/seed{{seed}}.tsv"
        conda:
            "../envs/xstilts.yaml"
        script:
            "../scripts/evaluate.py"
