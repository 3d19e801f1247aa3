"""Aggregators and attacks as objects (confml.defenses, confml.attacks): classes
generated from the registries' parameter declarations, validated like config
sections, usable on NumPy arrays and in confml.run."""

import inspect
import os

import h5py
import numpy as np
import pytest

import confml
from confml import attacks, defenses
from confml._components import class_name


def test_class_names_are_camel_case_of_registered_names():
    assert class_name("fang_krum") == "FangKrum"
    assert class_name("trimmed_mean") == "TrimmedMean"
    assert class_name("min-max") == "MinMax"
    assert class_name("fedavg") == "Fedavg"


def test_every_registered_component_has_a_class_listed_in_all():
    for module, names in ((defenses, confml.aggregator_names()), (attacks, confml.attack_names())):
        for name in names:
            cls = module.by_name(name)
            assert cls.registered_name == name
            assert getattr(module, class_name(name)) is cls
            assert class_name(name) in module.__all__
        assert sorted(class_name(n) for n in names) == sorted(
            n for n in module.__all__ if n[0].isupper() and n not in ("AggregatorComponent", "AttackComponent"))
    assert {"Krum", "TrimmedMean", "Flame", "Fedavg"} <= set(defenses.__all__)
    assert {"SignFlip", "FangKrum", "Dlg", "Idlg", "InvertingGradients"} <= set(attacks.__all__)
    ns = {}
    exec("from confml.attacks import *", ns)
    assert "SignFlip" in ns and "invert" in ns
    with pytest.raises(AttributeError):
        attacks.NoSuchAttack


def test_init_takes_exactly_the_declared_parameters():
    sig = inspect.signature(defenses.Krum)
    assert list(sig.parameters) == ["f"]
    assert sig.parameters["f"].kind is inspect.Parameter.KEYWORD_ONLY
    assert sig.parameters["f"].default == 1
    # FLAME's `lambda` is a Python keyword: shown and accepted as lambda_.
    assert "lambda_" in inspect.signature(defenses.Flame).parameters
    assert defenses.Flame(lambda_=0.01).params["lambda"] == 0.01
    assert defenses.Flame(**{"lambda": 0.02}).params["lambda"] == 0.02
    doc = defenses.Krum.__doc__
    assert "Number of Byzantine clients tolerated." in doc and "krum" in doc
    assert "Signed-Adam iterations" in attacks.InvertingGradients.__doc__
    with pytest.raises(TypeError):
        defenses.Krum(2)  # keyword only


def test_params_defaults_and_to_config():
    k = defenses.Krum(f=2)
    assert k.params == {"f": 2}
    assert k.to_config() == {"name": "krum", "f": 2}
    t = defenses.TrimmedMean()
    assert t.params == {"beta": 0.1}
    d = attacks.Dlg(iterations=50)
    assert d.params["iterations"] == 50 and d.params["lbfgs_max_iter"] == 20
    assert d.to_config()["name"] == "dlg"
    assert attacks.SignFlip(scale=4) == attacks.SignFlip(scale=4.0)  # int coerced to double
    assert attacks.SignFlip(scale=4).params["scale"] == 4.0
    assert isinstance(attacks.SignFlip(scale=4).params["scale"], float)
    assert repr(defenses.Krum(f=2)) == "Krum(f=2)"
    # NumPy scalars read as their Python values.
    assert defenses.Krum(f=np.int64(3)).params == {"f": 3}


@pytest.mark.parametrize("make, needle", [
    (lambda: defenses.Krum(ff=2), "unknown parameter 'ff' (did you mean 'f'?)"),
    (lambda: defenses.Krum(f=-1), "f"),
    (lambda: defenses.Krum(f=1.5), "f"),
    (lambda: defenses.Krum(f=True), "f"),
    (lambda: defenses.TrimmedMean(beta=0.7), "beta"),
    (lambda: attacks.SignFlip(scale=0), "scale"),
    (lambda: attacks.SignFlip(scael=4), "did you mean 'scale'?"),
    (lambda: attacks.Dlg(position="device"), "position"),
    (lambda: attacks.Dlg(iterations={"a": 1}), "parameter 'iterations'"),
])
def test_bad_values_raise_invalid_argument_naming_the_parameter(make, needle):
    with pytest.raises(confml.InvalidArgumentError) as e:
        make()
    assert needle in str(e.value)
    assert isinstance(e.value, ValueError)


def test_messages_match_config_validation(tmp_path, repo):
    # The same declaration validates both: the object's message is the one a
    # config gets (with the config's file:line prefix there).
    with pytest.raises(confml.InvalidArgumentError) as obj:
        defenses.TrimmedMean(beta=0.7)
    with pytest.raises(confml.InvalidArgumentError) as cfg:
        confml.resolve_config(os.path.join(repo, "experiments", "fedavg_synthetic.yaml"),
                              {"aggregator.name": "trimmed_mean", "aggregator.beta": 0.7})
    tail = str(obj.value).split("beta", 1)[1]
    assert tail in str(cfg.value)


def test_unknown_class_name_in_by_name():
    with pytest.raises(confml.NotFoundError):
        defenses.by_name("no_such_rule")


UPDATES = np.array([[1.0, 1.0], [1.1, 0.9], [0.9, 1.1], [1.0, 1.2], [1.2, 1.0], [10, 10], [-10, 5]],
                   dtype=np.float32)


def test_aggregate_returns_global_plus_the_rules_delta():
    g = np.array([0.5, -0.5], dtype=np.float32)
    # Krum with f=2: scores worked out in tests/defenses (argmin is row 0).
    k = defenses.Krum(f=2)
    new = k.aggregate(g, UPDATES)
    np.testing.assert_allclose(new, g + UPDATES[0], rtol=1e-6)
    assert k.last_report["selected_clients"] == [0]
    np.testing.assert_allclose(defenses.Median().aggregate_delta(UPDATES),
                               np.median(UPDATES, axis=0), rtol=1e-6)
    # FedAvg weights by sample counts.
    w = [1, 2, 3, 4, 5, 6, 7]
    np.testing.assert_allclose(defenses.Fedavg().aggregate(g, UPDATES, w),
                               g + (UPDATES * np.array(w)[:, None]).sum(0) / sum(w), rtol=1e-5)
    np.testing.assert_allclose(defenses.Fedavg(weighted=False).aggregate_delta(UPDATES, w),
                               UPDATES.mean(0), rtol=1e-5)
    # A list of 1-D arrays works as well as a 2-D array.
    np.testing.assert_allclose(defenses.Median().aggregate_delta(list(UPDATES)),
                               np.median(UPDATES, axis=0), rtol=1e-6)


def test_aggregate_rejects_non_finite_updates_and_bad_weights():
    u = UPDATES.copy()
    u[6, 1] = np.nan
    m = defenses.Median()
    out = m.aggregate_delta(u)
    assert np.all(np.isfinite(out))
    np.testing.assert_allclose(out, np.median(UPDATES[:6], axis=0), rtol=1e-6)
    assert m.last_report["rejected"][0][0] == 6 and "nan" in m.last_report["rejected"][0][1]
    with pytest.raises(confml.InvalidArgumentError, match="weights"):
        defenses.Fedavg().aggregate_delta(UPDATES, [1, 2])
    with pytest.raises(confml.InvalidArgumentError, match="n > 2f"):
        defenses.Krum(f=3).aggregate_delta(UPDATES[:5])


def test_flame_uses_the_global_model_and_seed():
    rng = np.random.default_rng(0)
    g = rng.normal(size=50).astype(np.float32)
    honest = (0.1 * rng.normal(size=(7, 50)) + 0.5).astype(np.float32)
    evil = -20 * np.ones((3, 50), dtype=np.float32)
    u = np.vstack([honest, evil])
    f = defenses.Flame(lambda_=0.001)
    a = f.aggregate(g, u, seed=5)
    selected = f.last_report["selected_clients"]
    # HDBSCAN keeps the majority's densest core (n//2+1 at least), never an outlier.
    assert len(selected) >= 6 and set(selected) <= set(range(7))
    assert {7, 8, 9} <= {c for c, _ in f.last_report["rejected"]}
    b = defenses.Flame(lambda_=0.001).aggregate(g, u, seed=5)
    c = defenses.Flame(lambda_=0.001).aggregate(g, u, seed=6)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    # Without noise, the mean of the admitted deltas clipped to the median norm of all.
    norms = np.linalg.norm(u, axis=1)
    s = np.median(norms)
    want = np.mean([u[i] * min(1, s / norms[i]) for i in selected], axis=0)
    np.testing.assert_allclose(defenses.Flame(lambda_=0).aggregate(g, u), g + want, rtol=1e-4,
                               atol=1e-6)


def run_synthetic(repo, tmp_path, **kwargs):
    config = os.path.join(repo, "experiments", "fedavg_synthetic.yaml")
    overrides = {"experiment.output_dir": str(tmp_path), "federated.rounds": 2,
                 "federated.workers": 1, "dataset.num_samples": 600}
    overrides.update(kwargs.pop("overrides", {}))
    return confml.run(config, overrides=overrides, write_run_dir=False, **kwargs)


def test_run_with_an_aggregator_object_equals_the_config(repo, tmp_path):
    by_object = run_synthetic(repo, tmp_path, aggregator=defenses.TrimmedMean(beta=0.2))
    by_override = run_synthetic(repo, tmp_path, overrides={"aggregator.name": "trimmed_mean",
                                                           "aggregator.beta": 0.2})
    assert by_object.final_state_hash == by_override.final_state_hash
    fedavg = run_synthetic(repo, tmp_path)
    assert fedavg.final_state_hash != by_object.final_state_hash
    assert "trimmed_mean" in by_object.config and "0.2" in by_object.config
    # The to_config() dict works too, in a dict config.
    cfg = {"experiment": {"name": "objs", "seed": 1, "threads": 1, "kind": "federated",
                          "output_dir": str(tmp_path)},
           "dataset": {"name": "synthetic", "num_samples": 600, "num_features": 20, "num_classes": 4,
                       "separation": 0.5, "noise": 1.0},
           "model": {"name": "mlp", "hidden": [64]},
           "optimizer": {"name": "sgd", "lr": 0.05, "momentum": 0.9},
           "federated": {"rounds": 2, "clients_per_round": 5, "local_epochs": 1, "batch_size": 32,
                         "workers": 1},
           "partition": {"name": "dirichlet", "num_clients": 20, "alpha": 1.0},
           "aggregator": defenses.TrimmedMean(beta=0.2).to_config()}
    assert confml.run(cfg, write_run_dir=False).final_state_hash == by_object.final_state_hash
    with pytest.raises(confml.InvalidArgumentError, match="aggregator="):
        run_synthetic(repo, tmp_path, aggregator=attacks.SignFlip())


def test_run_with_an_attack_object_keeps_the_section_keys(repo, tmp_path):
    by_object = run_synthetic(repo, tmp_path, attack=attacks.SignFlip(scale=4),
                              overrides={"attack.malicious_fraction": 0.3})
    by_override = run_synthetic(repo, tmp_path, overrides={
        "attack.name": "sign_flip", "attack.scale": 4, "attack.malicious_fraction": 0.3})
    assert by_object.final_state_hash == by_override.final_state_hash
    assert "attack.success" in by_object.outcome
    honest = run_synthetic(repo, tmp_path)
    assert honest.final_state_hash != by_object.final_state_hash
    # A dict config's malicious_fraction survives a change of attack.
    cfg = confml.resolve_config(os.path.join(repo, "experiments", "fedavg_synthetic.yaml"),
                                {"attack.name": "gaussian_noise", "attack.malicious_fraction": 0.3})
    import yaml

    d = yaml.safe_load(cfg)
    merged = confml._with_components(d, {"attack": attacks.SignFlip(scale=2)})
    a = merged["attack"]
    assert a["name"] == "sign_flip" and a["scale"] == 2.0 and a["malicious_fraction"] == 0.3
    assert "std" not in a and "additive" not in a  # gaussian_noise's own parameters are gone


class HalfMean(confml.Aggregator):
    """Mean of the updates times `factor` (a Python-defined rule)."""

    def __init__(self, factor=0.5):
        super().__init__()
        self.factor = factor

    def aggregate(self, updates):
        return self.factor * np.mean([v for _, _, v in updates], axis=0)


def test_python_registered_classes_appear_the_same_way(repo, tmp_path):
    confml.register_aggregator("test_half_mean", HalfMean, params={"factor": (0.5, "Scale.")})
    assert "TestHalfMean" in defenses.__all__
    cls = defenses.TestHalfMean
    assert list(inspect.signature(cls).parameters) == ["factor"]
    assert "Mean of the updates" in cls.__doc__
    h = cls(factor=0.25)
    np.testing.assert_allclose(h.aggregate_delta(UPDATES), 0.25 * UPDATES.mean(0), rtol=1e-6)
    with pytest.raises(confml.InvalidArgumentError, match="factor"):
        cls(factor="big")
    r = run_synthetic(repo, tmp_path, aggregator=h)
    r2 = run_synthetic(repo, tmp_path, overrides={"aggregator.name": "test_half_mean",
                                                  "aggregator.factor": 0.25})
    assert r.final_state_hash == r2.final_state_hash


class CaptureUpdate(confml.Attack):
    """A curious runtime keeping the first update it receives."""

    captured = []

    def role(self):
        return "runtime"

    def on_updates_received(self, round, global_state, updates):
        if not CaptureUpdate.captured:
            client, n, values = updates[0]
            CaptureUpdate.captured.append((global_state.copy(), values.copy(), n))

    def report(self):
        return dict(success_metric="captured", metrics={"captured": float(len(self.captured))},
                    received_input=bool(self.captured))


def test_invert_runs_the_cpp_inversion_on_a_captured_update(repo, tmp_path):
    confml.register_attack("test_capture_update", CaptureUpdate)
    assert "TestCaptureUpdate" in attacks.__all__
    base = os.path.join(repo, "experiments", "matrix", "inversion.yaml")
    # Unnormalised pixels: the reconstruction is then on the originals' [0, 1] scale.
    over = {"experiment.output_dir": str(tmp_path), "partition.num_clients": 16,
            "dataset.train_limit": 16, "dataset.normalize": False}
    CaptureUpdate.captured.clear()
    confml.run(base, overrides=over, attack=attacks.TestCaptureUpdate())
    global_state, update, n = CaptureUpdate.captured[0]
    assert n == 1
    # The built-in idlg, stopped before its first step, stores the victim's true
    # image (it attacks the same first update of round 1).
    r = confml.run(base, overrides=over, attack=attacks.Idlg(iterations=0, max_victims=1))
    with h5py.File(os.path.join(r.run_dir, "outcome.h5"), "r") as f:
        original = f["arrays/original"][()]
    # L-BFGS from some random starts diverges (so does the paper's); seed 0
    # converges here, and `restarts` is the remedy in general.
    target = dict(model="lenet_dlg", sample_shape=[1, 28, 28], num_classes=10, local_lr=0.1,
                  data_min=[0.0], data_max=[1.0], seed=0)
    start = attacks.invert(attacks.Idlg(iterations=0), global_state, update, **target)
    rec = attacks.invert(attacks.Idlg(iterations=4), global_state, update, **target)
    assert rec["images"].shape == (1, 1, 28, 28)
    assert rec["loss"] < 0.01 * start["loss"]

    def psnr(a, b):
        return 10 * np.log10(1.0 / np.mean((np.asarray(a, float) - np.asarray(b, float)) ** 2))

    # 4 steps already bring the image out of the noise (about 4 -> 16 dB here;
    # the papers' 300 steps go much further).
    assert psnr(original[0], np.clip(rec["images"][0], 0, 1)) > psnr(
        original[0], np.clip(start["images"][0], 0, 1)) + 8
    # Only the inversion attacks invert, by object or by name; sizes are checked.
    with pytest.raises(confml.InvalidArgumentError, match="not a gradient inversion attack"):
        attacks.invert(attacks.SignFlip(), global_state, update, **target)
    with pytest.raises(confml.InvalidArgumentError, match="not a gradient inversion attack"):
        attacks.invert("sign_flip", global_state, update, **target)
    with pytest.raises(confml.InvalidArgumentError):
        attacks.invert(attacks.Idlg(iterations=0), global_state, update[:-3], **target)
