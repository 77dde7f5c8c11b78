# xstilts: intermediate-task training and zero-shot cross-lingual transfer.
# The default config runs the embedded demo; see README.md for the paper's config.

from snakemake.utils import min_version

min_version("9.0")


# The demo config is the default; a --configfile on the command line replaces it entirely,
# so that no demo setting leaks into another run.
if not workflow.overwrite_configfiles:

    configfile: "config.yaml"



include: "rules/common.smk"
include: "rules/prepare.smk"
include: "rules/pretrain.smk"
include: "rules/perturb.smk"
include: "rules/tokenize.smk"
include: "rules/intermediate.smk"
include: "rules/target.smk"
include: "rules/evaluate.smk"
include: "rules/align.smk"
include: "rules/report.smk"


rule all:
    input:
        report_files(),
        alignment_report_files(),
    default_target: True
