"""The report of a run, one module per section: `grid` (the paper's tables and figures: main
table, per-language tables, changes against `none`, training curves, and the index) and
`robustness` (scores under each perturbation, drops against clean and against `none`'s drop,
and the answer to Q-adv); `render` holds the formatting and file writing they share."""

from .grid import AVG_JIANT, AVG_XTREME, REPORT_FILES, load_results, load_train_logs, write_report

__all__ = ["AVG_JIANT", "AVG_XTREME", "REPORT_FILES", "load_results", "load_train_logs", "write_report"]
