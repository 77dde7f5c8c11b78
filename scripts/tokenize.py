# Before the imports: on a warm run this hands the job to a process that has them (xstilts.warm);
# a light job's own start (the interpreter, the library, pyarrow) is most of its time.
from xstilts.warm import run_in_warm_child

run_in_warm_child(snakemake, __real_file__)

from pathlib import Path

from xstilts import features
from xstilts.runtime import stage

with stage(snakemake, uses_torch=False):
    p = snakemake.params
    features.tokenize(tokenizer_dir=Path(snakemake.input.tokenizer).parent, task_type_name=p.task["type"],
                      labels=p.task["labels"], examples_paths=[snakemake.input.examples], settings=p.task["settings"],
                      outs=list(snakemake.output))
