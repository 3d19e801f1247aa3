"""Python-defined aggregators: registered by name and used from a federated config."""

import os
import threading

import numpy as np
import pytest

import confml


class PyMean(confml.Aggregator):
    """Weighted mean, written the way FedAvg is in C++ (double accumulation, fixed order)."""

    def __init__(self, weighted=True):
        super().__init__()
        self.weighted = weighted
        self.calls = []

    def aggregate(self, updates):
        self.calls.append((threading.get_ident(), [cid for cid, _, _ in updates]))
        PyMean.instances.append(self)
        total = float(sum(n if self.weighted else 1 for _, n, _ in updates))
        acc = np.zeros(updates[0][2].shape, dtype=np.float64)
        for _, n, values in updates:
            acc += ((n if self.weighted else 1) / total) * values.astype(np.float64)
        return acc.astype(np.float32)


PyMean.instances = []


class WithContext(confml.Aggregator):
    def __init__(self, scale=1.0):
        super().__init__()
        self.scale = scale
        self.rounds = []

    def aggregate(self, updates, context):
        self.rounds.append(context["round"])
        assert context["global"] is not None and context["global"].shape == updates[0][2].shape
        return self.scale * np.mean([u for _, _, u in updates], axis=0)


class Broken(confml.Aggregator):
    def aggregate(self, updates):
        raise ValueError("deliberately broken")


class WrongShape(confml.Aggregator):
    def aggregate(self, updates):
        return np.zeros(3, dtype=np.float32)


confml.register_aggregator("test_py_mean", PyMean, params={"weighted": (True, "Weight by sample count.")})
confml.register_aggregator("test_with_context", WithContext, params={"scale": 1.0})
confml.register_aggregator("test_broken", Broken)
confml.register_aggregator("test_wrong_shape", WrongShape)


def small_config(repo, tmp_path, aggregator):
    return os.path.join(repo, "experiments", "fedavg_synthetic.yaml"), {
        "experiment.output_dir": str(tmp_path),
        "federated.rounds": 3,
        "federated.workers": 2,
        "dataset.num_samples": 600,
        **{f"aggregator.{k}": v for k, v in aggregator.items()},
    }


def test_direct_call_matches_builtin_fedavg():
    rng = np.random.default_rng(0)
    updates = [(i, int(n), rng.normal(size=50).astype(np.float32)) for i, n in enumerate([3, 10, 7])]
    mine = PyMean().aggregate(updates)
    assert np.array_equal(mine, confml.aggregate_fedavg(updates))
    builtin = confml.create_aggregator("fedavg", weighted=False)
    assert builtin.name() == "fedavg"
    assert np.array_equal(builtin.aggregate(updates), confml.aggregate_fedavg(updates, weighted=False))
    via_registry = confml.create_aggregator("test_py_mean", weighted=False)
    assert isinstance(via_registry, PyMean) and via_registry.name() == "test_py_mean"
    assert "weighted=false" in via_registry.config_text()
    assert np.array_equal(via_registry.aggregate(updates), confml.aggregate_fedavg(updates, weighted=False))


def test_python_aggregator_in_config_equals_fedavg(repo, tmp_path):
    PyMean.instances.clear()
    path, over = small_config(repo, tmp_path, {"name": "fedavg"})
    reference = confml.run(path, over, write_run_dir=False)
    path, over = small_config(repo, tmp_path, {"name": "test_py_mean"})
    mine = confml.run(path, over, write_run_dir=False)
    assert PyMean.instances, "the Python aggregator was never called"
    inst = PyMean.instances[0]
    assert len(inst.calls) == 3  # once per round
    assert all(ids == sorted(ids) and len(ids) == 5 for _, ids in inst.calls)
    # confml.run released the GIL; the trampoline took it back for every call.
    assert all(isinstance(tid, int) for tid, _ in inst.calls)
    assert mine.final_test_accuracy == reference.final_test_accuracy
    assert mine.final_test_accuracy > 0.4  # Four classes: well above chance.


def test_context_and_params_from_config(repo, tmp_path):
    path, over = small_config(repo, tmp_path, {"name": "test_with_context", "scale": 0.5})
    confml.run(path, over, write_run_dir=False)
    with pytest.raises(confml.InvalidArgumentError, match="scale"):
        path, over = small_config(repo, tmp_path, {"name": "test_with_context", "scael": 0.5})
        confml.run(path, over, write_run_dir=False)


def test_errors_become_exceptions(repo, tmp_path):
    path, over = small_config(repo, tmp_path, {"name": "test_broken"})
    with pytest.raises(confml.InvalidArgumentError, match="deliberately broken"):
        confml.run(path, over, write_run_dir=False)
    path, over = small_config(repo, tmp_path, {"name": "test_wrong_shape"})
    with pytest.raises(confml.InvalidArgumentError, match="shape"):
        confml.run(path, over, write_run_dir=False)
    with pytest.raises(confml.InvalidArgumentError, match="subclass of confml.Aggregator"):
        confml.register_aggregator("test_not_a_subclass", dict)
    # Rebinding a name (a notebook cell run twice) works with the same parameters only.
    confml.register_aggregator("test_broken", Broken)
    with pytest.raises(confml.Error, match="already registered"):
        confml.register_aggregator("test_broken", Broken, params={"x": 1})
    with pytest.raises(confml.Error, match="already registered"):
        confml.register_aggregator("fedavg", PyMean)
