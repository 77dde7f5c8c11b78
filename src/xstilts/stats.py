"""How far a change between two recipes could be seed noise: the intervals the report puts beside
every comparison, and the seed spread measured once on a multi-seed run, for single-seed runs.

A change is a difference of two means over seeds. With at least two seeds on each side its 95%
interval is Welch's (each side its own variance, Welch-Satterthwaite degrees of freedom). A run
with one seed has no variance of its own: there the interval comes from a reference spread, the
pooled standard deviation over seeds of each main-table column measured once on the same config
with more seeds (for the demo: configs/demo_seed_spread.csv, made by `python -m xstilts.stats`).

    python -m xstilts.stats results/report/main_table.csv > configs/demo_seed_spread.csv
"""

from __future__ import annotations

import math
import sys

import pandas as pd
from scipy import stats

CONFIDENCE = 0.95
SPREAD_COLUMNS = ["column", "std", "df", "recipes"]


def _t(df: float, confidence: float) -> float:
    return float(stats.t.ppf(0.5 + confidence / 2, df))


def welch_half_width(std_a: float, n_a: int, std_b: float, n_b: int, confidence: float = CONFIDENCE) -> float:
    """Half-width of the interval of mean(a) - mean(b) from each side's seeds (n >= 2 each)."""
    var_a, var_b = std_a**2 / n_a, std_b**2 / n_b
    se = math.sqrt(var_a + var_b)
    if se == 0:
        return 0.0
    df = (var_a + var_b) ** 2 / (var_a**2 / (n_a - 1) + var_b**2 / (n_b - 1))
    return _t(df, confidence) * se


def reference_half_width(std: float, df: float, n_a: int, n_b: int, confidence: float = CONFIDENCE) -> float:
    """Half-width of the interval of mean(a) - mean(b) when both sides share a spread `std`
    estimated elsewhere with `df` degrees of freedom."""
    return _t(df, confidence) * std * math.sqrt(1 / n_a + 1 / n_b)


# Below this (in points), a spread over seeds is the rounding of identical values.
NO_SPREAD = 1e-9


def seed_spread(main_table: pd.DataFrame) -> pd.DataFrame:
    """Per main-table column (or any table of cells in its long shape: column, recipe, n_seeds, std,
    such as the Q-align section's q_align_seeds.csv): the standard deviation over seeds pooled across
    recipes (the mean of their variances, weighted by degrees of freedom) and its degrees of freedom."""
    # A cell with no spread (up to rounding) is one checkpoint read under several seeds (the
    # pretrained model under `none`: its retrieval scores, its alignment), not seeds that vary:
    # pooled, its zeros would shrink the spread of the cells that do.
    usable = main_table[(main_table["n_seeds"] >= 2) & (main_table["std"] > NO_SPREAD)]
    if usable.empty:
        raise ValueError("no main-table cell has two or more seeds: the seed spread needs a multi-seed run")
    rows = []
    for column, cells in usable.groupby("column", sort=False):
        df = (cells["n_seeds"] - 1).sum()
        pooled = math.sqrt(((cells["n_seeds"] - 1) * cells["std"] ** 2).sum() / df)
        rows.append({"column": column, "std": pooled, "df": int(df), "recipes": " ".join(cells["recipe"])})
    return pd.DataFrame(rows, columns=SPREAD_COLUMNS)


def read_seed_spread(path) -> dict[str, tuple[float, float]]:
    """column -> (std, df) from a file `seed_spread` wrote; a clear error for anything else."""
    table = pd.read_csv(path)
    missing = [c for c in ("column", "std", "df") if c not in table.columns]
    if missing:
        raise ValueError(f"seed spread {path}: lacks column(s) {', '.join(missing)} (expected {', '.join(SPREAD_COLUMNS)})")
    bad = table[~(table["std"] >= 0) | ~(table["df"] >= 1)]
    if not bad.empty:
        raise ValueError(f"seed spread {path}: column '{bad['column'].iloc[0]}' needs std >= 0 and df >= 1")
    return {row.column: (float(row.std), float(row.df)) for row in table.itertuples(index=False)}


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: python -m xstilts.stats <main_table.csv of a multi-seed run> [<q_align_seeds.csv> ...]")
    cells = pd.concat([pd.read_csv(path) for path in sys.argv[1:]], ignore_index=True)
    sys.stdout.write(seed_spread(cells).to_csv(index=False, float_format="%.4f"))
