# Intermediate and target training: the same loop, different tasks and encoder.
from pathlib import Path

from xstilts import train_stages
from xstilts.runtime import stage

with stage(snakemake) as device:
    p = snakemake.params
    runtime = dict(p.runtime)
    eval_batch_size = runtime.pop("eval_batch_size")
    tasks = [{**spec, "eval_examples": p.hp["eval_examples"]} for spec in p.tasks]
    train_stages.train_stage(
        encoder_path=Path(snakemake.input.encoder[0]).parent, tasks=tasks, hp={**p.hp, **runtime},
        seed=int(snakemake.wildcards.seed), out_dir=Path(snakemake.output[0]).parent,
        log_out=snakemake.output.train_log, state_dir=p.state_dir, code=p.code, device=device,
        eval_batch_size=eval_batch_size, checkpoint_dtype=p.checkpoint_dtype,
    )
