from xstilts import data
from xstilts.runtime import stage

with stage(snakemake, uses_torch=False):
    p = snakemake.params
    languages = [path.rsplit("/", 1)[1].removesuffix(".jsonl") for path in snakemake.output]
    for lang, out in zip(languages, snakemake.output):
        data.prepare(task=p.task, split=p.split, lang=lang, **p.source, out=out)
