"""Rendering shared by the report's sections: numbers as text, Markdown and LaTeX tables, figures
on an Agg canvas, and files written whole (under a temporary name, then renamed)."""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Callable
from pathlib import Path

import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

MISSING = "–"
LATEX_SPECIALS = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#",
                  "_": r"\_", "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}


def number(value: float) -> str:
    return MISSING if pd.isna(value) else f"{value:.1f}"


def signed(value: float) -> str:
    if pd.isna(value):
        return MISSING
    text = f"{value:+.1f}"
    return "+0.0" if text == "-0.0" else text


def mean_std(mean: float, std: float, plus_minus: str = "±") -> str:
    if pd.isna(mean):
        return MISSING
    return f"{mean:.1f} {plus_minus} {std:.1f}" if not pd.isna(std) else f"{mean:.1f}"


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    def line(cells):
        return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"

    rule = "|" + "|".join([":---"] + ["---:"] * (len(header) - 1)) + "|"
    return "\n".join([line(header), rule] + [line(row) for row in rows]) + "\n"


def latex_escape(text: str) -> str:
    return "".join(LATEX_SPECIALS.get(char, char) for char in str(text))


def latex_signed(value: float) -> str:
    # Math mode, so that a minus sign is a minus and not a hyphen.
    return "--" if pd.isna(value) else f"${signed(value)}$"


def latex_label(*parts: str) -> str:
    return "tab:" + "-".join(re.sub(r"[^a-z0-9]+", "-", part.lower()).strip("-") for part in parts)


def latex_tabular(header: list[str], blocks: list[list[list[str]]], notes: list[str | None]) -> list[str]:
    """A booktabs tabular; each block of rows is introduced by a \\midrule and an optional note row."""
    lines = [r"\begin{tabular}{l" + "r" * (len(header) - 1) + "}", r"\toprule",
             " & ".join(header) + r" \\"]
    for block, note in zip(blocks, notes):
        lines.append(r"\midrule")
        if note:
            lines.append(rf"\multicolumn{{{len(header)}}}{{l}}{{\emph{{{note}}}}} \\")
        lines += [" & ".join(row) + r" \\" for row in block]
    return lines + [r"\bottomrule", r"\end{tabular}"]


def new_figure(width: float, height: float) -> Figure:
    # A Figure on an Agg canvas, not pyplot: no display, no global backend switch for callers.
    figure = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def note_figure(text: str) -> Figure:
    figure = new_figure(6, 2)
    axes = figure.subplots()
    axes.text(0.5, 0.5, text, ha="center", va="center")
    axes.set_axis_off()
    return figure


def replace_atomically(path: Path, write: Callable[[Path], None]) -> None:
    """Write through a temporary file in the same folder, then rename it into place.

    An interrupted run leaves at most a hidden temporary file, never a partial `path`.
    """
    # A unique name rather than mkstemp: mkstemp's files are private (0600), ours follow the umask.
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        write(temporary)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def write_text(path: Path, text: str) -> None:
    replace_atomically(path, lambda temporary: temporary.write_text(text, encoding="utf-8", newline="\n"))


def write_csv(path: Path, table: pd.DataFrame) -> None:
    write_text(path, table.to_csv(index=False, float_format="%.6g", lineterminator="\n"))


def write_figure(out_dir: Path, stem: str, figure: Figure) -> None:
    replace_atomically(out_dir / f"{stem}.png", lambda temporary: figure.savefig(temporary, format="png", dpi=150))
    # The constrained layout, solved for the PNG, is kept for the PDF (positions are fractions of the
    # figure) rather than solved again: the solve is most of a figure's time.
    figure.set_layout_engine("none")
    # No creation date in the PDF, so that a rerun on the same results gives the same bytes.
    replace_atomically(out_dir / f"{stem}.pdf",
                        lambda temporary: figure.savefig(temporary, format="pdf", metadata={"CreationDate": None}))
