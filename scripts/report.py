# Before the heavy imports: on a warm run this hands the job to a process that has them (xstilts.warm).
from xstilts.warm import run_in_warm_child

run_in_warm_child(snakemake, __real_file__)

from pathlib import Path

from xstilts import report, stats
from xstilts.report.robustness import load_evaluations, load_set_summaries
from xstilts.report.scaling import parameter_counts
from xstilts.runtime import stage

with stage(snakemake):
    p = snakemake.params
    spread = stats.read_seed_spread(snakemake.input.seed_spread[0]) if snakemake.input.seed_spread else None
    further = {tuple(pair) for pair in p.further_targets}
    report.write_report(report.load_results(snakemake.input.results, further), report.load_train_logs(p.train_logs),
                        Path(snakemake.output[0]).parent, recipe_order=p.recipe_order, bench_order=p.bench_order,
                        qa_benches=set(p.qa_benches), title=p.title, seed_spread=spread,
                        perturbed=load_evaluations(snakemake.input.robustness, further),
                        perturbed_sets=load_set_summaries(snakemake.input.perturbed_sets), mixed=p.mixed,
                        transfers=p.transfers, further_targets=further, language_info=p.language_info,
                        selection=p.selection, alignment=p.alignment, robust=p.robust,
                        parameters=parameter_counts({Path(path).parts[-3]: path for path in snakemake.input.model_configs}),
                        model_recipes=p.model_recipes,
                        # A further target not crossed with a recipe has no row after it, so no cell to name.
                        not_crossed={(m, r, b): (t, why) for m, r, t, b, why in p.not_crossed if (t, b) not in further})
