import os
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture
def repo():
    return REPO


@pytest.fixture
def synthetic_config(tmp_path):
    """A tiny synthetic-data experiment as a dict, writing under tmp_path."""
    return {
        "experiment": {"name": "py_synth", "seed": 3, "threads": 1, "output_dir": str(tmp_path / "runs")},
        "dataset": {"name": "synthetic", "num_samples": 400, "num_features": 8, "num_classes": 3},
        "model": {"name": "mlp", "hidden": [16]},
        "optimizer": {"name": "sgd", "lr": 0.1, "momentum": 0.9},
        "train": {"epochs": 2, "batch_size": 32},
    }
