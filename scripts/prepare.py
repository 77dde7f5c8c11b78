# Before the imports: on a warm run this hands the job to a process that has them (xstilts.warm);
# a light job's own start (the interpreter, the library, pyarrow) is most of its time.
from xstilts.warm import run_in_warm_child

run_in_warm_child(snakemake, __real_file__)

from xstilts import data
from xstilts.runtime import stage

with stage(snakemake, uses_torch=False):
    p, w = snakemake.params, snakemake.wildcards
    data.prepare(task=w.task, split=w.split, lang=w.lang, source=p.source["source"],
                 spec={**p.source["spec"], **p.access}, out=snakemake.output[0])
