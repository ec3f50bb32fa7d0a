#!/usr/bin/env bash
# Study 3 (issue 8): exploding gradients and clipping (Pascanu, Mikolov & Bengio 2013). tanh RNN
# (50 units) on adding T = 25, recurrent spectral radius 0.5, 1.0, 1.5, 2.0, 3.0, SGD without and
# with global-norm clipping at 1, seeds 0 and 1 (20 jobs; grid in
# conf/experiment/study_exploding.yaml): gradient growth, divergence, and whether clipping
# recovers learning. About 2 min on 2 cores.
#
#   experiments/exploding.sh [EXTRA HYDRA OVERRIDES...]      # PYTHON=.venv/bin/python to pick
#
# Writes results/sweeps/exploding (run directories, gitignored) and results/exploding (report.md,
# CSVs, gradient figures, README.md).
source "$(dirname "$0")/_study.sh"
study_sweep exploding "$@"
study_diagnostics exploding
study_report exploding
