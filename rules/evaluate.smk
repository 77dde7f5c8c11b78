# One job per (model, recipe, target, benchmark, condition, seed): it loads its checkpoint once and
# scores every language into one scores file.


rule evaluate:
    input:
        checkpoint=eval_checkpoint,
        features=eval_features,
        attack=attack_inputs,
    output:
        scores=f"{EVAL_PATTERN}/scores.json",
        predictions=f"{EVAL_PATTERN}/predictions.jsonl",
    wildcard_constraints:
        bench="|".join(re.escape(b) for b in PLAN.benches()),
        target="|".join(re.escape(t) for t in [*PLAN.targets, ENCODER_TARGET]),
        condition="|".join(EVAL_CONDITIONS),
    params:
        spec=eval_spec,
        # How many rows go through the model at once: speed and memory, not the result (a param
        # that takes `input` never triggers a rerun).
        batch_size=lambda w, input: PLAN.eval_batch_size,
        code=CODE["evaluate"],
    resources:
        gpu=whole_gpus(min(GPUS, 1)),  # evaluation runs on one device; only training runs data-parallel
        gpu_slots=gpu_slots(min(GPUS, 1)),
    log:
        "results/logs/evaluate/{model}/{recipe}/{target}/{bench}/{condition}/seed{seed}.log",
    benchmark:
        "results/benchmarks/evaluate/{model}/{recipe}/{target}/{bench}/{condition}/seed{seed}.tsv"
    conda:
        "../envs/xstilts.yaml"
    script:
        "../scripts/evaluate.py"


# Randomized smoothing: the majority vote over the copies' predictions, scored like an evaluation.
rule vote:
    input:
        draws=vote_draws,
        examples=lambda w: list(vote_spec(w)["languages"].values()),
    output:
        scores=f"{EVAL_PATTERN}/scores.json",
        predictions=f"{EVAL_PATTERN}/predictions.jsonl",
    wildcard_constraints:
        condition=one_of(PLAN.smoothing),
    params:
        spec=vote_spec,
        code=CODE["vote"],
    log:
        "results/logs/vote/{model}/{recipe}/{target}/{bench}/{condition}/seed{seed}.log",
    conda:
        "../envs/xstilts.yaml"
    script:
        "../scripts/vote.py"
