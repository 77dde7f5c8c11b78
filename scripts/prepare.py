from xstilts import data
from xstilts.runtime import stage

with stage(snakemake, uses_torch=False):
    p, w = snakemake.params, snakemake.wildcards
    data.prepare(task=w.task, split=w.split, lang=w.lang, source=p.source["source"],
                 spec={**p.source["spec"], **p.access}, out=snakemake.output[0])
