from xstilts import data
from xstilts.runtime import stage

with stage(snakemake, uses_torch=False):
    w = snakemake.wildcards
    data.prepare(task=w.task, split=w.split, lang=w.lang, **snakemake.params.source, out=snakemake.output[0])
