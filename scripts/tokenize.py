from pathlib import Path

from xstilts import features
from xstilts.runtime import stage

with stage(snakemake, uses_torch=False):
    p = snakemake.params
    features.tokenize(tokenizer_dir=Path(snakemake.input.tokenizer).parent, task_type_name=p.task["type"],
                      labels=p.task["labels"], examples_paths=[snakemake.input.examples], settings=p.task["settings"],
                      outs=list(snakemake.output))
