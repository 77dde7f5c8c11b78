# One rule per benchmark, because each has its own list of per-language outputs; each job
# loads its checkpoint once and writes every language.


def eval_checkpoint(bench):
    """Target checkpoint for task benchmarks; the intermediate (or plain) encoder for retrieval."""
    target = PLAN.target_of(bench)

    def files(w):
        if target is None:
            return encoder_files(w.model, w.recipe, w.seed)
        return [f"{target_dir(w.model, w.recipe, target, w.seed)}/{n}" for n in CHECKPOINT_FILES]

    return files


def eval_data(bench):
    splits = ["test", "dev"] if PLAN.task(bench)["metric"] == "bucc" else ["test"]

    def files(w):
        return [
            path
            for lang in bench_languages(bench)
            for split in splits
            for path in (features_path(w.model, bench, split, lang), data_path(bench, split, lang))
        ]

    return files


def eval_languages(bench):
    """Per language: the files the evaluation reads and writes (see xstilts.stages.evaluate)."""

    def spec(w):
        out = eval_dir(w.model, w.recipe, bench, w.seed)
        languages = {}
        for lang in bench_languages(bench):
            languages[lang] = {
                "features": features_path(w.model, bench, "test", lang),
                "examples": data_path(bench, "test", lang),
                "out": f"{out}/{lang}.json",
                "predictions": f"{out}/{lang}.predictions.jsonl",
            }
            if PLAN.task(bench)["metric"] == "bucc":
                languages[lang]["dev_features"] = features_path(w.model, bench, "dev", lang)
                languages[lang]["dev_examples"] = data_path(bench, "dev", lang)
        return languages

    return spec


def eval_params(bench):
    target = PLAN.target_of(bench)

    def checkpoint(w):
        if target is None:
            return encoder_dir(w.model, w.recipe, w.seed)
        return target_dir(w.model, w.recipe, target, w.seed)

    def meta(w):
        return {"model": w.model, "recipe": w.recipe, "target": target, "seed": int(w.seed)}

    def layer(w):
        return config["models"][w.model].get("retrieval_layer", -1)

    return checkpoint, meta, layer


for bench in PLAN.benches():
    checkpoint_dir, eval_meta, retrieval_layer = eval_params(bench)

    rule:
        name:
            f"evaluate_{bench}"
        input:
            checkpoint=eval_checkpoint(bench),
            data=eval_data(bench),
        output:
            **eval_outputs(bench),
        params:
            bench=bench,
            head=PLAN.target_of(bench),
            bench_type=PLAN.task(bench)["type"],
            metric=PLAN.task(bench)["metric"],
            settings={**PLAN.feature_settings(bench), "qa_max_answer_tokens": PLAN.features["qa_max_answer_tokens"]},
            checkpoint=checkpoint_dir,
            meta=eval_meta,
            retrieval_layer=retrieval_layer,
            languages=eval_languages(bench),
            batch_size=EVAL_BATCH_SIZE,
            code=CODE["evaluate"],
        resources:
            gpu=GPUS,
        log:
            RESULTS + "/logs/evaluate/{model}/{recipe}/" + bench + "/seed{seed}.log",
        benchmark:
            RESULTS + "/benchmarks/evaluate/{model}/{recipe}/" + bench + "/seed{seed}.tsv"
        conda:
            "../envs/xstilts.yaml"
        script:
            "../scripts/evaluate.py"
