# Before the heavy imports: on a warm run this hands the job to a process that has them (xstilts.warm).
from xstilts.warm import run_in_warm_child

run_in_warm_child(snakemake, __real_file__)

from pathlib import Path

from xstilts.robust_training.adversarial_data import adversarial_training_file
from xstilts.runtime import stage

with stage(snakemake) as device:
    w = snakemake.wildcards
    adversarial_training_file(checkpoint=Path(snakemake.input.checkpoint[0]).parent, **snakemake.params.spec,
                              examples_path=snakemake.input.examples, out=snakemake.output.examples,
                              summary_out=snakemake.output.summary, key=f"{w.task}/train/{w.condition}/{w.lang}",
                              lang=w.lang, device=device, batch_size=snakemake.params.batch_size)
