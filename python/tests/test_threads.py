"""Attack work called from Python outside confml.run gives the same bits at
any LibTorch thread count (torch.set_num_threads acts on the same LibTorch
confml links): attacks::ReconstructFromUpdate, behind confml.attacks.invert,
runs every tensor computation at one intra-op thread itself (the binding adds
no scope of its own), so this fails if any of it escapes that."""
import os

import numpy as np
import pytest

import confml
from confml import attacks

from test_components import CaptureUpdate  # a curious runtime keeping the first update

torch = pytest.importorskip("torch")


def test_invert_is_the_same_at_one_and_two_torch_threads(repo, tmp_path):
    confml.register_attack("test_capture_update", CaptureUpdate)  # again: same spec, allowed
    CaptureUpdate.captured.clear()
    base = os.path.join(repo, "experiments", "matrix", "inversion.yaml")
    confml.run(base, overrides={"experiment.output_dir": str(tmp_path), "partition.num_clients": 8,
                                "dataset.train_limit": 16, "dataset.normalize": False},
               attack=attacks.TestCaptureUpdate())
    global_state, update, n = CaptureUpdate.captured[0]
    target = dict(model="lenet_dlg", sample_shape=[1, 28, 28], num_classes=10, num_samples=n,
                  local_lr=0.1, data_min=[0.0], data_max=[1.0], seed=0)
    before = torch.get_num_threads()
    out = {}
    try:
        for threads in (1, 2):
            torch.set_num_threads(threads)
            out[threads] = [attacks.invert(a, global_state, update, **target) for a in
                            (attacks.InvertingGradients(iterations=30), attacks.Dlg(iterations=2))]
    finally:
        torch.set_num_threads(before)
    for one, two in zip(out[1], out[2]):
        assert one["images"].tobytes() == two["images"].tobytes()
        assert one["loss"] == two["loss"] and one["labels"] == two["labels"]
    assert np.isfinite(out[1][0]["loss"])
    # labels="known": the caller's labels are the reconstruction's, and are required.
    known = attacks.InvertingGradients(iterations=3, labels="known")
    labels = list(range(n))
    assert attacks.invert(known, global_state, update, labels=labels, **target)["labels"] == labels
    with pytest.raises(confml.InvalidArgumentError, match="no labels= were given"):
        attacks.invert(known, global_state, update, **target)
    with pytest.raises(confml.InvalidArgumentError, match="only with its parameter"):
        attacks.invert(attacks.InvertingGradients(iterations=3), global_state, update,
                       labels=labels, **target)
