# Intermediate and target training: the same loop, different tasks and encoder.
from pathlib import Path

from xstilts import stages
from xstilts.runtime import stage

with stage(snakemake) as device:
    p = snakemake.params
    tasks = [{**spec, "eval_examples": p.hp["eval_examples"]} for spec in p.tasks]
    stages.train_stage(encoder_path=Path(snakemake.input.encoder[0]).parent, tasks=tasks, hp=p.hp, seed=int(snakemake.wildcards.seed),
                       out_dir=Path(snakemake.output[0]).parent, log_out=snakemake.output.train_log, state_dir=p.state_dir,
                       device=device, eval_batch_size=p.eval_batch_size)
