# Intermediate and target training: the same loop, different tasks and encoder; data-parallel
# when the job claimed several GPUs.
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
    eval_batch_size, device_memory_gb = runtime.pop("eval_batch_size"), runtime.pop("device_memory_gb")
    jobs_per_device = runtime.pop("jobs_per_gpu")
    hp = {**p.stage["hp"], **runtime}
    local_grad_accum(hp["grad_accum"], workers.count)  # an unsupported split fails before any worker starts
    tasks = [{**spec, "eval_examples": hp["eval_examples"]} for spec in p.stage["tasks"]]
    # Plain strings and paths: the arguments travel pickled to the workers, and Snakemake's file
    # objects do not unpickle.
    workers.run(
        train_stages.train_stage,
        encoder_path=Path(snakemake.input.encoder[0]).parent, tasks=tasks, hp=hp,
        seed=int(snakemake.wildcards.seed), out_dir=Path(snakemake.output[0]).parent,
        log_out=str(snakemake.output.train_log), state_dir=str(p.stage["state_dir"]), code=p.code,
        eval_batch_size=eval_batch_size, checkpoint_dtype=p.checkpoint_dtype, device_memory_gb=device_memory_gb,
        jobs_per_device=jobs_per_device,
    )
