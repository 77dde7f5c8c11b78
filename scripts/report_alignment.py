# The Q-align section (xstilts.report.alignment), beside the report's own job.
# Before the heavy imports: on a warm run this hands the job to a process that has them (xstilts.warm).
from xstilts.warm import run_in_warm_child

run_in_warm_child(snakemake, __real_file__)

from pathlib import Path

from xstilts import stats
from xstilts.report import alignment
from xstilts.runtime import stage

with stage(snakemake):
    spread = stats.read_seed_spread(snakemake.input.seed_spread[0]) if snakemake.input.seed_spread else None
    alignment.write_section(Path(snakemake.output[0]).parent, snakemake.input.measures, snakemake.input.hits, spread,
                            snakemake.input.scores)
