from xstilts import data
from xstilts.runtime import stage

with stage(snakemake, uses_torch=False):
    p = snakemake.params
    data.prepare(task=p.task, split=p.split, lang=snakemake.wildcards.lang, source=p.source["source"],
                 spec={**p.source["spec"], **p.access}, out=snakemake.output[0])
