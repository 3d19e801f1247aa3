"""confml.run(path, aggregator=..., attack=...) rewrites the file's sections;
the run must still stand for that file, as `confml run FILE` loads it, from
any working directory: the config's source is the file (its folder anchors a
matrix's row bases; provenance names it), and paths such as
federated.initial_model stay relative to the working directory, as on the
command line."""
import os
import shutil

import confml
from confml import attacks, defenses


def _tiny_federated(repo, folder):
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, "fl.yaml")
    shutil.copy(os.path.join(repo, "experiments", "fedavg_synthetic.yaml"), path)
    return path


TINY = {"federated.rounds": 1, "dataset.num_samples": 400, "partition.num_clients": 5}


def test_rewritten_config_stands_for_its_file(repo, tmp_path, monkeypatch):
    path = _tiny_federated(repo, str(tmp_path / "configs"))
    os.makedirs(tmp_path / "elsewhere")
    monkeypatch.chdir(tmp_path / "elsewhere")
    rel = os.path.relpath(path)  # ../configs/fl.yaml
    over = {**TINY, "experiment.output_dir": str(tmp_path / "runs"),
            "attack.malicious_fraction": 0.4}
    by_object = confml.run(rel, over, attack=attacks.SignFlip(scale=2),
                           aggregator=defenses.Median())
    plain = confml.run(rel, {**over, "attack.name": "sign_flip", "attack.scale": 2,
                             "aggregator.name": "median"})
    assert by_object.final_state_hash == plain.final_state_hash
    assert by_object.provenance["config_source"] == plain.provenance["config_source"] == rel
    assert by_object.provenance["command_line"][:3] == ["python", "confml.run", rel]
    # A dict has no file: its relative paths are the working directory's.
    d = confml.run({"experiment": {"name": "d", "kind": "federated", "threads": 1,
                                   "output_dir": str(tmp_path / "runs")},
                    "dataset": {"name": "synthetic", "num_samples": 200, "num_features": 4},
                    "model": {"name": "mlp", "hidden": [8]}, "optimizer": {"name": "sgd"},
                    "federated": {"rounds": 1, "clients_per_round": 2},
                    "partition": {"name": "iid", "num_clients": 2},
                    "aggregator": {"name": "fedavg"}}, attack=attacks.SignFlip())
    assert d.provenance["config_source"] == "<dict>"

