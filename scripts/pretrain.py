from pathlib import Path

from xstilts import train_stages
from xstilts.runtime import stage

with stage(snakemake) as device:
    p = snakemake.params
    runtime = dict(p.runtime)
    eval_batch_size = runtime.pop("eval_batch_size")
    train_stages.pretrain(
        corpus_train=list(snakemake.input.train), corpus_dev=list(snakemake.input.dev),
        architecture=p.architecture, hp={**p.hp, **runtime}, max_length=p.max_length,
        max_positions=p.max_positions, seed=p.seed, out_dir=Path(snakemake.output[0]).parent,
        log_out=snakemake.output.train_log, state_dir=p.state_dir, code=p.code, device=device,
        eval_batch_size=eval_batch_size,
    )
