# Perturbed evaluation sets: one job per (benchmark, split, language, perturbation), made from the
# clean examples and tokenized by the one tokenize rule like any split. A perturbation's settings
# reach its own sets only (Plan.perturbation_spec), so adding one perturbs nothing else.


rule perturb:
    wildcard_constraints:
        task=one_of(sorted({task for task, _, _ in [*PERTURBED_SPLITS, *AUGMENTED_SPLITS]})),
        condition=one_of(sorted(PLAN.perturbations)),
    input:
        examples=lambda w: data_path(w.task, w.split, w.lang),
        dictionaries=lambda w: perturbed_dictionary_files(w.condition, w.lang),
        # mixed_pair: the partner language's set of the same split (English by default), whose
        # translations it takes.
        partner=lambda w: [data_path(w.task, w.split, perturbed_spec(w.task, w.split, w.condition, w.lang)["partner"])]
        if perturbation_kind(w) == "mixed_pair" else [],
        # local: the challenge set's file (checked before any job: check_local_challenge_files).
        local=lambda w: [local_challenge_file(w.condition, w.task, w.split, w.lang)]
        if perturbation_kind(w) == "local" else [],
        # transfer: the predictions of the attack on the reference checkpoint, which hold its texts.
        reference=lambda w: [transfer_reference(w.condition, w.task)] if perturbation_kind(w) == "transfer" else [],
    output:
        examples="results/data/{task}/{split}/{condition}/{lang}.jsonl",
        summary="results/data/{task}/{split}/{condition}/{lang}.summary.json",
    params:
        spec=lambda w: perturbed_spec(w.task, w.split, w.condition, w.lang),
        # The folder of the dictionary files (which are inputs): no rerun trigger of its own.
        dictionaries=lambda w, input: dictionary_folder(w.condition),
        code=CODE["perturb"],
    log:
        "results/logs/perturb/{task}/{split}/{condition}/{lang}.log",
    conda:
        "../envs/xstilts.yaml"
    script:
        "../scripts/perturb.py"


# Offline adversarial augmentation: a recipe's training data plus the adversarial versions of a share
# of it, made by a text attack against a checkpoint fine-tuned on the task
# (xstilts.robust_training.adversarial_data); tokenized like any training split.
if ADVERSARIAL_SETS:

    rule adversarial_data:
        wildcard_constraints:
            task=one_of(sorted({task for task, _ in ADVERSARIAL_SETS})),
            condition=one_of(sorted({name for _, name in ADVERSARIAL_SETS})),
        input:
            examples=lambda w: data_path(w.task, "train", w.lang),
            checkpoint=adversarial_checkpoint,
            attack=adversarial_attack_inputs,
        output:
            examples="results/data/{task}/train/{condition}/{lang}.jsonl",
            summary="results/data/{task}/train/{condition}/{lang}.summary.json",
        params:
            spec=adversarial_data_spec,
            batch_size=lambda w, input: PLAN.eval_batch_size,  # speed, not the result
            code=CODE["adversarial_data"],
        resources:
            gpu=whole_gpus(min(GPUS, 1)),
            gpu_slots=gpu_slots(min(GPUS, 1)),
        log:
            "results/logs/adversarial_data/{task}/{condition}/{lang}.log",
        benchmark:
            "results/benchmarks/adversarial_data/{task}/{condition}/{lang}.tsv"
        conda:
            "../envs/xstilts.yaml"
        script:
            "../scripts/adversarial_data.py"


# The generator's vocabulary as bilingual dictionaries (only where a codeswitch perturbation reads them).
if GENERATED_PAIRS:

    # One MUSE-format file per ordered pair of its languages: what codeswitch reads on generated
    # data when no folder is named.
    rule export_dictionaries:
        output:
            [f"{GENERATED_DICTIONARIES}/{src}-{tgt}.txt" for src, tgt in GENERATED_PAIRS],
        params:
            seed=lambda w: config["data"]["synthetic"]["seed"],
            code=CODE["dictionaries"],
        log:
            "results/logs/export_dictionaries.log",
        conda:
            "../envs/xstilts.yaml"
        script:
            "../scripts/export_dictionaries.py"
