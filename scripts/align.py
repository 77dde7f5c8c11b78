# Before the heavy imports: on a warm run this hands the job to a process that has them (xstilts.warm).
from xstilts.warm import run_in_warm_child

run_in_warm_child(snakemake, __real_file__)

from pathlib import Path

from xstilts.alignment.stage import measure_checkpoint, write_hits, write_measures
from xstilts.runtime import stage

with stage(snakemake) as device:
    p = snakemake.params
    records, hits = measure_checkpoint(Path(snakemake.input.checkpoint[0]).parent, p.sets, device=device,
                                       batch_size=p.batch_size, max_examples=p.max_examples)
    write_hits(snakemake.output.hits, hits)
    write_measures(snakemake.output.measures, records)
