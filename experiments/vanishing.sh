#!/usr/bin/env bash
# Study 4 (issue 8): vanishing gradients through time. tanh RNN, LSTM (PyTorch init), LSTM (chrono
# init) and GRU on adding T = 100, seeds 0 and 1 (8 jobs; grid in
# conf/experiment/study_vanishing.yaml, built on vanishing_gradients.yaml): ||dL/dh_t|| against
# the distance to the loss at initialisation and after training, next to the theoretical slope
# rho^(T - t). About 4 min on 2 cores.
#
#   experiments/vanishing.sh [EXTRA HYDRA OVERRIDES...]      # PYTHON=.venv/bin/python to pick
#
# Writes results/sweeps/vanishing (run directories, gitignored) and results/vanishing (report.md,
# CSVs, gradient figures, README.md).
source "$(dirname "$0")/_study.sh"
study_sweep vanishing "$@"
study_diagnostics vanishing
study_report vanishing
