# Pre-training of the demo's tokenizer and tiny masked LM; data-parallel when the job claimed
# several GPUs.
# Before the heavy imports: on a warm run this hands the job to a process that has them (xstilts.warm).
from xstilts.warm import run_in_warm_child

run_in_warm_child(snakemake, __real_file__)

from pathlib import Path

from xstilts import train_stages
from xstilts.runtime import stage
from xstilts.training import local_grad_accum

with stage(snakemake, data_parallel=True) as workers:
    p = snakemake.params
    runtime = dict(p.runtime)
    eval_batch_size = runtime.pop("eval_batch_size")
    # the memory estimate and sharding cover the fine-tuning stages
    runtime.pop("device_memory_gb"), runtime.pop("jobs_per_gpu"), runtime.pop("sharding")
    hp = {**p.hp, **runtime}
    local_grad_accum(hp["grad_accum"], workers.count)  # an unsupported split fails before any worker starts
    workers.run(
        train_stages.pretrain,
        # Plain strings: the arguments travel pickled to the workers, and Snakemake's file objects do not unpickle.
        corpus_train=[str(path) for path in snakemake.input.train],
        corpus_dev=[str(path) for path in snakemake.input.dev],
        architecture=p.architecture, hp=hp, max_length=p.max_length,
        max_positions=p.architecture["max_positions"], seed=p.seed, out_dir=Path(snakemake.output[0]).parent,
        log_out=str(snakemake.output.train_log), state_dir=str(p.state_dir), code=p.code,
        eval_batch_size=eval_batch_size,
    )
