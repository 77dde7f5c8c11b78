from pathlib import Path

from xstilts import shipped
from xstilts.runtime import stage

with stage(snakemake, uses_torch=False):
    shipped.copy_checked(Path(snakemake.params.folder), Path(snakemake.output[0]).parent, snakemake.params.files)
