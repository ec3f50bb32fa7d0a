"""PyTorch, the test oracle: required under CI (CI=true), skipped elsewhere when missing."""

import os

import pytest


def import_torch():
    if os.environ.get("CI"):
        import torch  # CI installs the oracle: a missing torch fails rather than skips

        return torch
    return pytest.importorskip("torch")
