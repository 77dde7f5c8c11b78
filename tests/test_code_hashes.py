"""Each stage's code hash covers the library code its script runs (xstilts.code_hashes): the
import closure that the Snakefile reads with a regular expression, checked here against Python's
own parser, and a change in that code changing that stage's hash and no other."""

import ast
import shutil
from pathlib import Path

import pytest

from xstilts import code_hashes
from xstilts.code_hashes import NOT_RESULTS, STAGE_SCRIPTS, stage_code, stage_code_hashes

LIBRARY = code_hashes.LIBRARY


def module_file(parts: list[str]) -> Path | None:
    path = LIBRARY.joinpath(*parts)
    if parts and path.with_suffix(".py").is_file():
        return path.with_suffix(".py")
    return path / "__init__.py" if (path / "__init__.py").is_file() else None


def parsed_imports(path: Path) -> set[Path]:
    """The library files the import statements of `path` name, from its syntax tree."""
    package = list(path.relative_to(LIBRARY).parent.parts) if path.is_relative_to(LIBRARY) else None
    files = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level and package is not None:
            base = package[:len(package) - node.level + 1] + (node.module.split(".") if node.module else [])
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "xstilts":
            base = node.module.split(".")[1:]
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "xstilts":
                    files |= {f for depth in range(len(alias.name.split(".")))
                              if (f := module_file(alias.name.split(".")[1:depth + 1]))}
            continue
        else:
            continue
        candidates = [base[:depth] for depth in range(len(base) + 1)] + [base + [a.name] for a in node.names]
        files |= {f for parts in candidates if (f := module_file(parts))}
    return files


def parsed_closure(script: Path) -> set[str]:
    seen, pending = set(), list(parsed_imports(script))
    while pending:
        file = pending.pop()
        if file not in seen:
            seen.add(file)
            pending.extend(parsed_imports(file))
    return {f.relative_to(LIBRARY).as_posix() for f in seen} - NOT_RESULTS


@pytest.mark.parametrize("stage", list(STAGE_SCRIPTS))
def test_a_stage_hashes_exactly_the_library_code_its_script_imports(stage):
    script = code_hashes.SCRIPTS / f"{STAGE_SCRIPTS[stage]}.py"
    assert set(stage_code(stage)) == parsed_closure(script)


def test_the_attack_code_is_the_evaluations_and_the_drop_statistics_the_reports():
    """Both were missing from the hand-kept lists these closures replaced."""
    assert {"robustness/pgd.py", "robustness/word_attack.py", "robustness/attacks.py"} <= set(stage_code("evaluate"))
    assert "robustness/drops.py" in stage_code("report")
    assert "robustness/drops.py" not in stage_code("perturb")
    # Training perturbs the embeddings as the PGD attack does (training.adversarial), and needs no other attack.
    train = [module for module in stage_code("train") if module.startswith("robust")]
    assert train == ["robust_training/__init__.py", "robust_training/adversarial.py", "robustness/__init__.py",
                     "robustness/pgd.py"]


def test_a_changed_module_changes_the_hashes_of_the_stages_that_import_it_and_no_other(tmp_path, monkeypatch):
    library = tmp_path / "xstilts"
    shutil.copytree(LIBRARY, library, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(code_hashes, "LIBRARY", library)
    before = stage_code_hashes()
    with open(library / "robustness" / "word_attack.py", "a", encoding="utf-8") as handle:
        handle.write("\n# a changed line\n")
    after = stage_code_hashes()
    changed = {stage for stage in before if before[stage] != after[stage]}
    assert changed == {stage for stage in before if "robustness/word_attack.py" in stage_code(stage)} == {"evaluate", "adversarial_data"}
