# Before the heavy imports: on a warm run this hands the job to a process that has them (xstilts.warm).
from xstilts.warm import run_in_warm_child

run_in_warm_child(snakemake, __real_file__)

from pathlib import Path

from xstilts import evaluation
from xstilts.runtime import stage

with stage(snakemake) as device:
    p = snakemake.params
    evaluation.evaluate(checkpoint=Path(snakemake.input.checkpoint[0]).parent, head=p.head, bench=p.bench, bench_type=p.bench_type,
                    metric=p.metric, languages=p.languages, retrieval_layer=p.retrieval_layer,
                    settings=p.settings, meta={**p.meta, "split": p.split}, device=device, batch_size=p.batch_size,
                    pool=p.pool)
