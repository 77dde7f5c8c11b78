from pathlib import Path

from xstilts import train_stages
from xstilts.runtime import stage

with stage(snakemake):
    train_stages.import_model(snakemake.params.source, Path(snakemake.output[0]).parent)
