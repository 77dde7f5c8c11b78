# Before the heavy imports: on a warm run this hands the job to a process that has them (xstilts.warm).
from xstilts.warm import run_in_warm_child

run_in_warm_child(snakemake, __real_file__)

from xstilts.robust_training.smoothing import evaluate_vote
from xstilts.runtime import stage

with stage(snakemake):
    evaluate_vote(draws=list(snakemake.input.draws), **snakemake.params.spec,
                  out={"scores": snakemake.output.scores, "predictions": snakemake.output.predictions})
