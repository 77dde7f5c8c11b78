"""The files that make each stage's output complete: the file contracts the rules declare and the
library writes. Free of heavy imports, because the Snakefile reads it at every start (importing
modeling.py for one tuple cost a dry run 2.5 s of torch and transformers)."""

# A training stage's checkpoint folder; training_summary.json is written last.
CHECKPOINT_FILES = ("config.json", "model.safetensors", "heads.safetensors", "heads.json", "training_summary.json")
# The pretrained (or imported) model the stages start from.
PRETRAINED_FILES = ("config.json", "model.safetensors", "tokenizer.json", "training_summary.json")
REPORT_FILES: tuple[str, ...] = (
    "main_table.csv",
    "main_table.md",
    "main_table.tex",
    "per_language.csv",
    "per_language.md",
    "per_language.tex",
    "deltas_heatmap.png",
    "deltas_heatmap.pdf",
    "per_language_bars.png",
    "per_language_bars.pdf",
    "training_curves.png",
    "training_curves.pdf",
    "index.md",
)
# The robustness section's files, written where the config has perturbations.
ROBUSTNESS_FILES: tuple[str, ...] = (
    "robustness_per_language.csv",
    "robustness_table.csv",
    "robustness_gaps.csv",
    "robustness.md",
    "robustness.tex",
    "robustness_drops.png",
    "robustness_drops.pdf",
)
# The Q-direct section's files, written where a benchmark has a further target (direct multilingual
# fine-tuning beside the English target).
DIRECT_FILES: tuple[str, ...] = ("q_direct.csv", "q_direct_gaps.csv", "q_direct.md", "q_direct_drops.png",
                                  "q_direct_drops.pdf", "q_direct_distance.png", "q_direct_distance.pdf")
# The Q-robust-int section's files, written where a recipe is trained otherwise than plainly on English
# data (Plan.robust_comparison).
ROBUST_INT_FILES: tuple[str, ...] = ("q_robust_int.csv", "q_robust_int.md", "q_robust_int_distance.png",
                                     "q_robust_int_distance.pdf")
# The Q-scale section's files, written where the study has two or more models.
SCALING_FILES: tuple[str, ...] = ("q_scale.md", "q_scale.csv", "q_scale_sizes.csv", "q_scale.png", "q_scale.pdf")
# The Q-align section's files (its own job, rule report_alignment), written where `alignment.sets` names any.
ALIGNMENT_FILES: tuple[str, ...] = ("alignment.md", "q_align.csv", "q_align_correlation.csv", "q_align_cka.csv",
                                    "q_align_seeds.csv", "alignment_layers.csv",
                                    "alignment_layers.png", "alignment_layers.pdf", "alignment_heatmap.png",
                                    "alignment_heatmap.pdf")
# The target part of an evaluation's or alignment's key for a checkpoint that is a recipe's encoder (the
# pretrained model for `none`), not a target's.
ENCODER_TARGET = "encoder"
