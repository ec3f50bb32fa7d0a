#!/usr/bin/env bash
# Study tbptt (issue 13): truncated BPTT learns a dependency only when its window K spans it.
# Temporal order at T = 20 with train.tbptt = 5, 15 (shorter than the dependency) and 22 (the
# whole sequence), tanh RNN, LSTM and GRU, seeds 0 and 1 (18 jobs, grid in
# conf/experiment/study_tbptt.yaml). About 8 min on 2 shared cores.
#
#   experiments/tbptt.sh [EXTRA HYDRA OVERRIDES...]   # PYTHON=.venv/bin/python to pick
#
# Writes results/sweeps/tbptt (run directories, gitignored) and results/tbptt (README.md with
# the table and the verdict computed from the runs, tbptt.png, runs.csv).
source "$(dirname "$0")/_study.sh"
study_sweep tbptt "$@"
"$PY" experiments/tbptt_readme.py results/sweeps/tbptt results/tbptt
