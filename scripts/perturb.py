from xstilts.robustness.perturbed_sets import perturb_file
from xstilts.runtime import stage

with stage(snakemake, uses_torch=False):
    w, spec = snakemake.wildcards, dict(snakemake.params.spec)
    english, local = list(snakemake.input.english), list(snakemake.input.local)  # for mixed_pair and local
    perturb_file(examples_path=snakemake.input.examples, out=snakemake.output.examples,
                 summary_out=snakemake.output.summary, key=f"{w.task}/{w.split}/{w.lang}", lang=w.lang,
                 dictionaries=snakemake.params.dictionaries, english_path=english[0] if english else None,
                 local_path=local[0] if local else None, **spec)
