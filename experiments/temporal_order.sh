#!/usr/bin/env bash
# Study 5 (issue 8): temporal order (Hochreiter & Schmidhuber 1997, experiment 6a): which cells
# solve it. tanh RNN, LSTM (PyTorch init), LSTM with chrono init and GRU at T = 50, 100, 200,
# seeds 0 and 1 (24 jobs, hidden 32, Adam 5e-3, 3000 steps; grid in
# conf/experiment/study_temporal_order.yaml). About 6 min on 2 cores.
#
#   experiments/temporal_order.sh [EXTRA HYDRA OVERRIDES...]   # PYTHON=.venv/bin/python to pick
#
# Writes results/sweeps/temporal_order (run directories, gitignored) and results/temporal_order
# (report.md, CSVs, figures, README.md with the result next to the published one).
source "$(dirname "$0")/_study.sh"
study_sweep temporal_order "$@"
study_report temporal_order
