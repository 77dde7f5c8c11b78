from pathlib import Path

from xstilts.robustness.codeswitch import write_dictionaries
from xstilts.runtime import stage

with stage(snakemake, uses_torch=False):
    written = {str(path) for path in write_dictionaries(Path(snakemake.output[0]).parent, snakemake.params.seed)}
    unexpected = written ^ set(snakemake.output)
    if unexpected:  # the rule declares one file per ordered pair of the generator's languages
        raise RuntimeError(f"the generator's dictionaries and the rule's outputs differ: {sorted(unexpected)}")
