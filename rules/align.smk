# Cross-lingual alignment (Q-align): one job per checkpoint (model, recipe, target, seed), where the
# target `encoder` is the recipe's encoder (the pretrained model for `none`). It loads the checkpoint
# once and measures every parallel set, language and hidden layer (xstilts.alignment).


rule align:
    input:
        checkpoint=checkpoint_files,
        sets=align_inputs,
    output:
        measures="results/align/{model}/{recipe}/{target}/seed{seed}/measures.csv",
        # Per sentence, whether retrieval found its translation: what the report's bootstrap resamples.
        hits="results/align/{model}/{recipe}/{target}/seed{seed}/retrieval_hits.npz",
    wildcard_constraints:
        target="|".join(re.escape(t) for t in [*PLAN.targets, ENCODER_TARGET]),
    params:
        sets=align_sets,
        max_examples=PLAN.alignment.get("max_examples"),
        # Speed and memory, not the result (a param that takes `input` never triggers a rerun).
        batch_size=lambda w, input: PLAN.eval_batch_size,
        code=CODE["align"],
    resources:
        gpu=whole_gpus(min(GPUS, 1)),
        gpu_slots=gpu_slots(min(GPUS, 1)),
    log:
        "results/logs/align/{model}/{recipe}/{target}/seed{seed}.log",
    benchmark:
        "results/benchmarks/align/{model}/{recipe}/{target}/seed{seed}.tsv"
    conda:
        "../envs/xstilts.yaml"
    script:
        "../scripts/align.py"
