# Before the heavy imports: on a warm run this hands the job to a process that has them (xstilts.warm).
from xstilts.warm import run_in_warm_child

run_in_warm_child(snakemake, __real_file__)

from pathlib import Path

from xstilts import train_stages
from xstilts.runtime import stage

with stage(snakemake):
    train_stages.import_model(snakemake.params.source, Path(snakemake.output[0]).parent)
