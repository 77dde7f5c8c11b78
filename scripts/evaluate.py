# Before the heavy imports: on a warm run this hands the job to a process that has them (xstilts.warm).
from xstilts.warm import run_in_warm_child

run_in_warm_child(snakemake, __real_file__)

from pathlib import Path

from xstilts import evaluation
from xstilts.runtime import stage

with stage(snakemake) as device:
    p = snakemake.params
    evaluation.evaluate(checkpoint=Path(snakemake.input.checkpoint[0]).parent, **p.spec, device=device,
                        batch_size=p.batch_size,
                        out={"scores": snakemake.output.scores, "predictions": snakemake.output.predictions})
