#!/usr/bin/env bash
# Study 1 (issue 8): adding problem, length sweep (Hochreiter & Schmidhuber 1997; Le et al. 2015).
# tanh RNN, IRNN, LSTM and GRU at T = 25, 50, 100, 200, seeds 0 and 1 (32 jobs, hidden 32, Adam
# 5e-3, 4000 steps; grid in conf/experiment/study_adding_length.yaml): up to which T each cell
# beats the memoryless MSE 1/6 and solves the task (MSE < 0.01). About 7 min on 2 cores.
#
#   experiments/adding_length.sh [EXTRA HYDRA OVERRIDES...]      # PYTHON=.venv/bin/python to pick
#
# Writes results/sweeps/adding_length (run directories, gitignored) and results/adding_length
# (report.md, CSVs, figures, README.md with the table next to the published numbers).
source "$(dirname "$0")/_study.sh"
study_sweep adding_length "$@"
study_report adding_length
