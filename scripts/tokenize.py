from pathlib import Path

from xstilts import features
from xstilts.runtime import stage

with stage(snakemake, uses_torch=False):
    p = snakemake.params
    features.tokenize(tokenizer_dir=Path(snakemake.input.tokenizer).parent, task_type_name=p.task_type,
                      labels=p.labels, examples_paths=[snakemake.input.examples], settings=p.settings,
                      outs=list(snakemake.output))
