import os
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture
def repo():
    return REPO


@pytest.fixture
def confml_cli():
    """The `confml` command line of the build tree the imported module comes from."""
    import confml as pkg

    build = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(pkg.__file__))))
    path = os.path.join(build, "experiments", "confml")
    if not os.access(path, os.X_OK):
        pytest.skip(f"no confml executable at {path} (build the target `confml`)")
    return path


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
