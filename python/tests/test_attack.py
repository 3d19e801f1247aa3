"""Python-defined attacks: registered by name, used from a federated config, and
subject to attestation exactly like the built-in ones."""

import os

import numpy as np
import pytest

import confml


class CountUpdates(confml.Attack):
    """A curious runtime that counts the updates it receives and their norms."""

    instances = []

    def __init__(self, scale=1.0):
        super().__init__()
        self.scale = scale
        self.updates = 0
        self.rounds = []
        self.norms = []
        CountUpdates.instances.append(self)

    def role(self):
        return "runtime"

    def on_updates_received(self, round, global_state, updates):
        assert global_state.dtype == np.float32 and global_state.ndim == 1
        for client_id, num_samples, values in updates:
            assert values.shape == global_state.shape and num_samples > 0
            self.norms.append(float(np.linalg.norm(values)))
        self.updates += len(updates)

    def on_round_end(self, metrics, global_state):
        self.rounds.append(metrics["round"])

    def report(self):
        return dict(success_metric="updates_seen",
                    metrics={"updates_seen": float(self.updates),
                             "mean_norm": float(np.mean(self.norms)) if self.norms else 0.0},
                    blind_guess=0.0, received_input=self.updates > 0)


class FlipSign(confml.Attack):
    """A poisoning device: negates and scales its update."""

    touched = []

    def __init__(self, boost=3.0):
        super().__init__()
        self.boost = boost

    def role(self):
        return "device"

    def on_client_update(self, client_id, round, global_state, update):
        assert client_id in self.env["malicious_clients"]
        FlipSign.touched.append(client_id)
        update *= -self.boost  # in place

    def report(self):
        return dict(success_metric="touched", metrics={"touched": float(len(FlipSign.touched))},
                    received_input=True)


class BrokenHook(confml.Attack):
    def role(self):
        return "runtime"

    def on_updates_received(self, round, global_state, updates):
        raise ValueError("deliberately broken hook")

    def report(self):
        return dict(success_metric="x", metrics={"x": 0.0})


class BadRole(confml.Attack):
    def role(self):
        return "janitor"

    def report(self):
        return dict(success_metric="x", metrics={"x": 0.0})


confml.register_attack("test_count_updates", CountUpdates, params={"scale": (1.0, "Unused.")})
confml.register_attack("test_flip_sign", FlipSign, params={"boost": 3.0})
confml.register_attack("test_broken_hook", BrokenHook)
confml.register_attack("test_bad_role", BadRole)


def run_small(repo, tmp_path, attack, **extra):
    config = os.path.join(repo, "experiments", "fedavg_synthetic.yaml")
    overrides = {"experiment.output_dir": str(tmp_path), "federated.rounds": 3,
                 "federated.workers": 2, "dataset.num_samples": 600, "attack.name": attack}
    overrides.update(extra)
    return confml.run(config, overrides=overrides)


def test_registered_names_and_config_schema():
    names = confml.attack_names()
    assert "test_count_updates" in names and "dlg" in names and "sign_flip" in names
    with pytest.raises(confml.Error, match="already"):  # a built-in's name
        confml.register_attack("dlg", CountUpdates)
    with pytest.raises(confml.InvalidArgumentError):
        confml.register_attack("not_an_attack", int)
    with pytest.raises(confml.Error):  # same name, other parameters
        confml.register_attack("test_count_updates", CountUpdates, params={"other": 1})


def test_runtime_attack_sees_updates_without_attestation(repo, tmp_path):
    CountUpdates.instances.clear()
    r = run_small(repo, tmp_path, "test_count_updates", **{"attack.scale": 2.0})
    (a,) = CountUpdates.instances
    assert a.scale == 2.0
    assert a.env["rounds"] == 3 and a.env["clients_per_round"] == 5
    assert a.rounds == [1, 2, 3]
    assert a.updates == 15  # 5 clients a round, none refused
    assert r.outcome["attack.updates_seen"] == 15.0
    assert r.outcome["attack.success"] == 15.0
    assert r.outcome["attack.received_input"] == 1
    assert r.outcome["attack.mean_norm"] > 0.0


def test_runtime_attack_under_policy_gets_nothing(repo, tmp_path):
    CountUpdates.instances.clear()
    r = run_small(repo, tmp_path, "test_count_updates",
                  **{"tee.name": "sim", "attestation.mode": "policy"})
    (a,) = CountUpdates.instances
    # The attack's code is in the runtime's Program, which the policy does not
    # list: every device refuses to send its update.
    assert a.updates == 0
    assert a.rounds == [1, 2, 3]
    assert r.outcome["attack.success"] == 0.0
    assert r.outcome["attack.received_input"] == 0
    assert sum(r.rounds["clients_refused"]) == 15
    assert sum(r.rounds["clients_admitted"]) == 0


def test_device_attack_modifies_only_malicious_updates(repo, tmp_path):
    FlipSign.touched.clear()
    clean = run_small(repo, tmp_path / "clean", "test_count_updates")
    r = run_small(repo, tmp_path / "poisoned", "test_flip_sign",
                  **{"attack.malicious_fraction": 0.25, "attack.boost": 5.0})
    assert r.outcome["attack.malicious_clients"] == 5.0
    assert FlipSign.touched, "no malicious client was sampled"
    assert r.final_state_hash != clean.final_state_hash


def test_hook_error_fails_the_run_with_the_python_message(repo, tmp_path):
    with pytest.raises(confml.InvalidArgumentError, match="deliberately broken hook"):
        run_small(repo, tmp_path, "test_broken_hook")


def test_bad_role_is_rejected(repo, tmp_path):
    with pytest.raises(confml.InvalidArgumentError, match="janitor"):
        run_small(repo, tmp_path, "test_bad_role")


class FakeInversion(confml.Attack):
    """Reports 'reconstructions' (the originals plus noise) so that plotting
    can be checked without running an optimisation."""

    def role(self):
        return "runtime"

    def report(self):
        rng = np.random.default_rng(0)
        yy, xx = np.mgrid[0:28, 0:28] / 27.0
        orig = np.stack([((np.sin(6 * xx * (i + 1)) + yy) / 2.0).clip(0, 1)[None] for i in range(4)])
        rec = (orig + rng.normal(scale=0.1, size=orig.shape)).clip(0, 1)
        mse = float(np.mean((orig - rec) ** 2))
        return dict(success_metric="psnr", metrics={"psnr": 10 * np.log10(1 / mse)},
                    blind_guess=5.0, received_input=True,
                    arrays={"original": orig.astype(np.float32), "reconstruction": rec.astype(np.float32),
                            "original_labels": np.arange(4, dtype=np.float32),
                            "reconstruction_labels": np.arange(4, dtype=np.float32)})


confml.register_attack("test_fake_inversion", FakeInversion)


def test_plot_writes_reconstruction_grid(repo, tmp_path):
    import subprocess
    import sys

    import h5py
    import matplotlib.image

    r = run_small(repo, tmp_path / "runs", "test_fake_inversion", **{"federated.rounds": 1})
    with h5py.File(os.path.join(r.run_dir, "outcome.h5"), "r") as f:
        assert f["arrays"]["reconstruction"].shape == (4, 1, 28, 28)
    # What `confml plot RUN_DIR` runs: python3 -m confml.plotting RUN_DIR OUT_DIR.
    pkg_parent = os.path.dirname(os.path.dirname(os.path.abspath(confml.__file__)))
    env = dict(os.environ, PYTHONPATH=pkg_parent + os.pathsep + os.environ.get("PYTHONPATH", ""))
    out = tmp_path / "png"
    proc = subprocess.run([sys.executable, "-m", "confml.plotting", r.run_dir, str(out)],
                          capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    png = out / "reconstructions.png"
    assert png.exists() and png.stat().st_size > 5000
    img = matplotlib.image.imread(str(png))
    assert img.shape[0] > 200 and img.shape[1] > 400
    assert float(np.std(img[..., :3])) > 0.05  # not a blank canvas
    assert (out / "rounds.png").exists()
