"""The Islet flows and attested federated runs, from Python."""
import os

import numpy as np

import confml


def test_malicious_runtime_is_refused_on_its_rim(repo, tmp_path):
    r = confml.run(os.path.join(repo, "experiments/islet/e_malicious_runtime_refused.yaml"),
                   {"experiment.output_dir": str(tmp_path), "flow.pretrain_epochs": 50})
    assert r.outcome["inputs_leaked"] == 0
    assert r.outcome["runtime_rim_mismatch"] == 1
    refusals = [a for a in r.admissions if not a["admitted"]]
    assert refusals and refusals[0]["failed_checks"] == "rim"
    assert os.path.exists(os.path.join(r.run_dir, "outcome.h5"))
    assert r.tee_modeled_seconds > 0


def test_federated_run_in_realms_returns_rounds(repo):
    r = confml.run(os.path.join(repo, "experiments/fedavg_synthetic.yaml"),
                   {"federated.rounds": 2, "tee.name": "sim", "attestation.mode": "policy"},
                   write_run_dir=False)
    assert list(r.rounds["round"]) == [1, 2]
    assert np.all(r.rounds["clients_admitted"] == 5)
    assert len(r.final_state_hash) > 0
    assert all(a["admitted"] for a in r.admissions)
