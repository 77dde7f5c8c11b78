from xstilts import stages
from xstilts.runtime import stage

with stage(snakemake):
    p = snakemake.params
    stages.tokenize(tokenizer_dir=snakemake.input.tokenizer.rsplit("/", 1)[0], task_type_name=p.task_type,
                    labels=p.labels, examples_path=snakemake.input.examples, settings=p.settings,
                    out=snakemake.output[0])
