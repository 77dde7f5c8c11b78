"""What the report says about checkpoint selection (the index and the Q-direct section both say it)."""

from __future__ import annotations

from collections.abc import Mapping


def selection_markdown(selection: Mapping[str, str] | None) -> str:
    """Which dev sets chose the checkpoints: English unless a target says otherwise."""
    exceptions = "".join(f" Target `{target}`: {what} (`selection: multilingual`)." for target, what in
                         sorted((selection or {}).items()))
    return ("Checkpoints are chosen on the English dev set of each stage's tasks (strict zero-shot)"
            + (", except where a target says otherwise." if exceptions else ".") + exceptions + "\n")
