#!/usr/bin/env bash
# Re-resolve the project's dependencies in a fresh virtualenv and pin every package to what was
# resolved, in envs/constraints.txt (the lock that the README's commands, .ci/run and the conda
# environment install with). Then run the demo's regression check (README, "Reproducing the demo")
# and commit the lock together with any change of the expected numbers.
#   bash envs/refresh-lock.sh            # torch 2.13.0, as .ci/run installs it
#   TORCH_VERSION=2.14.0 bash envs/refresh-lock.sh
set -euo pipefail
cd "$(dirname "$0")/.."
torch_version=${TORCH_VERSION:-2.13.0}
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
python3 -m venv "$scratch/venv"
"$scratch/venv/bin/pip" install --quiet --upgrade pip
"$scratch/venv/bin/pip" install --quiet "torch==$torch_version"
"$scratch/venv/bin/pip" install --quiet -e ".[test]"
{
  echo "# The dependency lock: every package as resolved by envs/refresh-lock.sh on $(date -u +%Y-%m-%d)"
  echo "# (Python $("$scratch/venv/bin/python" -c 'import platform; print(platform.python_version())')). Install with: pip install -c envs/constraints.txt -e ."
  echo "# torch is pinned without its local build tag, so the CPU and the CUDA builds of it both match."
  "$scratch/venv/bin/pip" freeze --exclude-editable | sed -E 's/^(torch==[^+]+)\+.*/\1/'
} > envs/constraints.txt
echo "wrote envs/constraints.txt ($(grep -vc '^#' envs/constraints.txt) packages)"
