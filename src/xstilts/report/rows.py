"""What a row of the report is. A recipe's row holds every benchmark, each scored on the first
target that feeds it (Plan.first_target: the English target of the zero-shot grid). A benchmark may
be fed by further targets (multilingual fine-tuning beside English, Q-direct): their scores go in
rows of their own, `recipe / target`, which hold the benchmarks that target feeds. Both loaders of
the report (grid.load_results, robustness.load_evaluations) name rows here, so that the two targets'
results of one (recipe, benchmark) never meet in one cell."""

from __future__ import annotations

from collections.abc import Collection

SEPARATOR = " / "
FurtherTargets = Collection[tuple[str, str]]  # (target, benchmark) for every target of a benchmark after its first


def row_label(recipe: str, target: str | None, bench: str, further_targets: FurtherTargets = ()) -> str:
    return f"{recipe}{SEPARATOR}{target}" if (target, bench) in further_targets else recipe


def row_benches(label: str, further_targets: FurtherTargets) -> set[str] | None:
    """The benchmarks a further target's row holds; None for a recipe's own row (every benchmark)."""
    if SEPARATOR not in label:
        return None
    target = label.split(SEPARATOR, 1)[1]
    return {bench for t, bench in further_targets if t == target}


def row_order(recipes: list[str], further_targets: FurtherTargets, present: Collection[str]) -> list[str]:
    """Each recipe's row followed by its further targets' rows that have results."""
    targets = list(dict.fromkeys(target for target, _ in further_targets))
    return [label for recipe in recipes
            for label in [recipe] + [f"{recipe}{SEPARATOR}{t}" for t in targets if f"{recipe}{SEPARATOR}{t}" in present]]
