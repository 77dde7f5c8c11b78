"""Pretrained models the project ships: the demo starts from a small masked LM made by the
project's own `pretrain` stage (Phang et al.'s first phase is "a publicly available MLM"), so
that a demo run does not pre-train it again.

A shipped model is a folder in the hub's layout plus `provenance.json`: the config it was made
from, the generator's seed and code hash (it was trained on the generator's corpora), the pretrain
stage's code hash, and the sha256 of every file. A config that uses it with another generator seed
or another generator code is refused by name, as is a file whose sha256 differs, so a changed
generator never meets a stale model. `python -m xstilts.shipped rebuild` makes it again with the
pretrain stage: the same tokenizer byte for byte, and on another processor weights equal only up
to float rounding (README, "Not yet across vendors"), so the shipped files are one run.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

from .code_hashes import GENERATOR, code_hash, stage_code_hashes
from .io import read_json, write_json

PROVENANCE = "provenance.json"
ROOT = Path(__file__).resolve().parents[2]  # the checkout: Snakefile, configs/, pretrained/
DEMO_MODEL_CONFIG = ROOT / "configs" / "demo_model.yaml"
DEMO_MODEL = "demo-tiny"
DEMO_MODEL_FOLDER = ROOT / "pretrained" / DEMO_MODEL


class ShippedModelError(ValueError):
    """A shipped model that does not fit the config, or whose files changed, named with the reason."""


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_provenance(folder: Path) -> dict:
    path = Path(folder) / PROVENANCE
    if not path.is_file():
        raise ShippedModelError(f"{folder}: no {PROVENANCE}; a shipped model is made by "
                                f"`python -m xstilts.shipped rebuild` (README, 'The demo's model')")
    return json.loads(path.read_text(encoding="utf-8"))


def check(folder: Path, *, generator_seed: int | None) -> dict:
    """The provenance of a shipped model after checking it against the config's generator seed
    (None: the config generates no data) and the generator's current code, and every file against
    its recorded sha256; ShippedModelError naming the mismatch otherwise."""
    folder = Path(folder)
    provenance = read_provenance(folder)
    made = provenance["generator"]
    if generator_seed is not None and generator_seed != made["seed"]:
        raise ShippedModelError(f"{folder} was pre-trained on the corpora of generator seed {made['seed']}, "
                                f"but this config's data.synthetic.seed is {generator_seed}: rebuild it for this "
                                "seed or pre-train in the workflow (models.<name>.pretrain)")
    current = code_hash(*GENERATOR)
    if current != made["code"]:
        raise ShippedModelError(f"{folder} was pre-trained on the corpora of another generator (code {made['code']}, "
                                f"now {current}): src/xstilts/synthetic.py changed since, so its languages may "
                                f"differ from the model's; run `python -m xstilts.shipped rebuild --model {provenance['model']}` and "
                                "commit the result")
    for name, digest in provenance["files"].items():
        path = folder / name
        if not path.is_file():
            raise ShippedModelError(f"{path}: missing (the shipped model lists it in {PROVENANCE})")
        if sha256(path) != digest:
            raise ShippedModelError(f"{path}: sha256 differs from the one {PROVENANCE} records: the file changed "
                                    "since the model was made; restore it or rebuild the model")
    return provenance


def copy_checked(folder: Path, out_dir: Path, digests: dict[str, str]) -> None:
    """The shipped files into the workflow's `pretrained` folder, each checked against its sha256
    as it is copied (a file changed after planning fails here, naming it); training_summary.json last."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for name in sorted(digests, key=lambda n: n == "training_summary.json"):
        tmp = out_dir / f".{name}.tmp"
        shutil.copyfile(Path(folder) / name, tmp)
        if sha256(tmp) != digests[name]:
            tmp.unlink()
            raise ShippedModelError(f"{Path(folder) / name}: sha256 differs from the one {PROVENANCE} records")
        os.replace(tmp, out_dir / name)


# ---- rebuilding ------------------------------------------------------------------------
def rebuild(config_path: Path = DEMO_MODEL_CONFIG, model: str = DEMO_MODEL, out: Path | None = None,
            cores: int = 2) -> dict:
    """Run the pretrain stage of `model` (one with `pretrain:` in `config_path`) in a scratch working
    directory and write its files with their provenance to `out` (default pretrained/<model>)."""
    config = yaml.safe_load(Path(config_path).read_text(encoding="utf-8"))
    if "pretrain" not in config["models"].get(model, {}):
        raise ShippedModelError(f"{config_path}: no model '{model}' with `pretrain:` (it has: "
                                f"{', '.join(config['models'])})")
    with tempfile.TemporaryDirectory(prefix="xstilts-ship-") as workdir:
        pretrained = Path(workdir) / "results" / "models" / model / "pretrained"
        subprocess.run([sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile"), "--directory",
                        workdir, "--configfile", str(Path(config_path).resolve()), "--cores", str(cores),
                        f"results/models/{model}/pretrained/training_summary.json"], check=True)
        return pack(pretrained, config_path, out or ROOT / "pretrained" / model, model)


def pack(pretrained: Path, config_path: Path, out: Path, model: str = DEMO_MODEL) -> dict:
    """The files of the `pretrained` folder the pretrain stage wrote for `model` of `config_path`, with
    their provenance, into `out` (replaced whole, never left half-written)."""
    config = yaml.safe_load(Path(config_path).read_text(encoding="utf-8"))
    files = sorted(p.name for p in Path(pretrained).iterdir() if p.is_file() and not p.name.startswith("."))
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=Path(out).parent))
    try:
        for name in files:
            shutil.copyfile(Path(pretrained) / name, staging / name)
        # The one wall-clock figure the stage records: dropped, so two packings of one run are identical.
        summary = read_json(staging / "training_summary.json")
        summary.pop("seconds", None)
        write_json(staging / "training_summary.json", summary)
        provenance = {
            "model": model,
            "made_by": f"python -m xstilts.shipped rebuild --config {_relative(Path(config_path))} --model {model}",
            "generator": {"seed": config["data"]["synthetic"]["seed"], "code": code_hash(*GENERATOR)},
            "pretrain_code": stage_code_hashes()["pretrain"],
            "config": {"data": config["data"], "features": config.get("features", {}),
                       "models": {model: config["models"][model]}, "training": config.get("training", {})},
            "files": {name: sha256(staging / name) for name in files},
        }
        os.chmod(staging, 0o755)  # mkdtemp's folder is private; the model is not
        (staging / PROVENANCE).write_text(json.dumps(provenance, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        if Path(out).exists():
            shutil.rmtree(out)
        os.replace(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return provenance


def _relative(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m xstilts.shipped", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    make = commands.add_parser("rebuild", help="pre-train the shipped model again and write it with its provenance")
    make.add_argument("--config", type=Path, default=DEMO_MODEL_CONFIG)
    make.add_argument("--model", default=DEMO_MODEL, help="which of the config's models (default %(default)s)")
    make.add_argument("--out", type=Path, default=None, help="default: pretrained/<model>")
    make.add_argument("--cores", type=int, default=2)
    show = commands.add_parser("check", help="check a shipped model's files against its provenance")
    show.add_argument("folder", type=Path, nargs="?", default=DEMO_MODEL_FOLDER)
    args = parser.parse_args(argv)
    if args.command == "rebuild":
        provenance = rebuild(args.config, args.model, args.out, args.cores)
    else:
        provenance = check(args.folder, generator_seed=None)
    for name, digest in provenance["files"].items():
        print(f"{digest}  {name}")


if __name__ == "__main__":
    main()
