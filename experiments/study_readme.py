"""results/<study>/README.md for the studies, from the tables committed in results/<study>/.

    python experiments/study_readme.py STUDY [--results DIR]

Each study has a generator `experiments/studies/<study>.py` (the numbers, the tables and the
verdicts, each verdict computed from the data against the criterion its docstring states) and a
template `experiments/studies/<study>.md` (the prose, with {placeholders}). The inputs are the
report's tables (runs.csv, learning_curves.csv, gradient_*.csv) and timing.json: nothing is
re-run and no run directory is read. Writes README.md and the study_*.csv tables, atomically.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # experiments/studies

from studies import common  # noqa: E402

STUDIES = ("adding_length", "copy_init", "exploding", "temporal_order", "vanishing")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="experiments/study_readme.py")
    parser.add_argument("study", choices=STUDIES)
    parser.add_argument("--results", type=Path, help="the results directory (default: results/)")
    args = parser.parse_args(argv)
    runs = (args.results or common.ROOT / "results") / args.study / "runs.csv"
    if not runs.is_file():
        print(f"error: {runs}: no such file (run the study first)", file=sys.stderr)
        return 2
    study = common.load(args.study, args.results)
    values = importlib.import_module(f"studies.{args.study}").facts(study)
    for path in common.write(study, common.render(study, values)):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
