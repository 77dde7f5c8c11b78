from xstilts import stages
from xstilts.runtime import stage

with stage(snakemake):
    w = snakemake.wildcards
    stages.prepare(task=w.task, split=w.split, lang=w.lang, **snakemake.params.source, out=snakemake.output[0])
