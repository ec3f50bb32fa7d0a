#!/usr/bin/env bash
# Study 2 (issue 8): copy task and LSTM initialisation (Arjovsky et al. 2016; Tallec & Ollivier
# 2018). LSTM with PyTorch's default init, forget bias 1 and chrono init, and a GRU, at copy gaps
# T = 10, 20, 50, seeds 0 and 1 (24 jobs, hidden 64, Adam 5e-3, 5000 steps; grid in
# conf/experiment/study_copy_init.yaml): which runs stay on the memoryless baseline
# 10 ln 8 / (T + 20) and which escape it. About 8 min on 2 cores.
#
#   experiments/copy_init.sh [EXTRA HYDRA OVERRIDES...]      # PYTHON=.venv/bin/python to pick
#
# Writes results/sweeps/copy_init (run directories, gitignored) and results/copy_init (report.md,
# CSVs, figures, README.md with the result next to the published one).
source "$(dirname "$0")/_study.sh"
study_sweep copy_init "$@"
study_report copy_init
