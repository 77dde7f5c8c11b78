# Before the imports: on a warm run this hands the job to a process that has them (xstilts.warm);
# a light job's own start (the interpreter, the library, pyarrow) is most of its time.
from xstilts.warm import run_in_warm_child

run_in_warm_child(snakemake, __real_file__)

from xstilts.robustness.perturbed_sets import perturb_file
from xstilts.runtime import stage

with stage(snakemake, uses_torch=False):
    w, spec = snakemake.wildcards, dict(snakemake.params.spec)
    # for mixed_pair, local and transfer
    partner, local, reference = list(snakemake.input.partner), list(snakemake.input.local), list(snakemake.input.reference)
    perturb_file(examples_path=snakemake.input.examples, out=snakemake.output.examples,
                 summary_out=snakemake.output.summary, key=f"{w.task}/{w.split}/{w.lang}", lang=w.lang,
                 dictionaries=snakemake.params.dictionaries, partner_path=partner[0] if partner else None,
                 local_path=local[0] if local else None, reference_path=reference[0] if reference else None, **spec)
