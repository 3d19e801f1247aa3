"""confml.sweep / read_sweep / plot_sweep and `confml plot SWEEP_DIR` on a tiny real sweep."""

import math
import os
import shutil
import subprocess

import numpy as np
import pytest

import confml

SWEEP_YAML = """\
experiment: {name: py_sweep, seed: 1, threads: 1, kind: federated, output_dir: OUT}
dataset: {name: synthetic, num_samples: 400, num_features: 8, num_classes: 3}
model: {name: mlp, hidden: [16]}
optimizer: {name: sgd, lr: 0.1, momentum: 0.9}
federated: {rounds: 2, clients_per_round: 5, local_epochs: 1, batch_size: 32, workers: 1}
partition: {name: iid, num_clients: 5}
aggregator: {name: fedavg}
attack: {name: sign_flip, malicious_fraction: 0.2, scale: 4.0}
sweep:
  seeds: [1, 2]
  grid:
    aggregator.name: [fedavg, median]
    attack.malicious_fraction: [0.2, 0.4]
"""


def _write_config(folder):
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, "sweep.yaml")
    with open(path, "w") as f:
        f.write(SWEEP_YAML.replace("OUT", os.path.join(folder, "runs")))
    return path


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    """(config path, SweepResult) of one 2 x 2 cells x 2 seeds sweep (8 runs of 2 rounds)."""
    folder = str(tmp_path_factory.mktemp("sweep"))
    config = _write_config(folder)
    return config, confml.sweep(config)


def test_sweep_rows_follow_the_plan(swept):
    _, r = swept
    assert r.grid_keys == ["aggregator.name", "attack.malicious_fraction"]
    assert r.seeds == [1, 2] and r.kept == 0
    assert len(r.rows) == 8
    # Row-major over the grid keys (last fastest), seeds inside each cell.
    assert [(row.cell, row.values["aggregator.name"], row.values["attack.malicious_fraction"],
             row.seed) for row in r.rows[:4]] == [
        (0, "fedavg", "0.2", 1), (0, "fedavg", "0.2", 2), (1, "fedavg", "0.4", 1),
        (1, "fedavg", "0.4", 2)]
    for row in r.rows:
        assert os.path.isdir(os.path.join(r.dir, row.run_dir))
        assert 0.0 <= row.final_test_accuracy <= 1.0
        assert row.wall_seconds > 0
        assert "attack.test_error" in row.outcome  # the attack's outcome metrics are rows too
    assert "| cell |" in r.summary_markdown
    with open(os.path.join(r.dir, "summary.md")) as f:
        assert f.read() == r.summary_markdown


def test_a_sweep_run_equals_the_direct_run(swept, tmp_path):
    config, r = swept
    row = r.rows[3]  # cell 1 (fedavg, 0.4), seed 2
    direct = confml.run(config, overrides=[f"aggregator.name={row.values['aggregator.name']}",
                                           "attack.malicious_fraction=0.4", "experiment.seed=2",
                                           f"experiment.output_dir={tmp_path}"])
    assert direct.final_test_accuracy == row.final_test_accuracy
    # sweep.csv leaves out outcome names that are fixed columns; NaN != NaN.
    same = {k: v for k, v in direct.outcome.items() if k not in ("final_test_accuracy", "final_test_loss")}
    assert same.keys() == row.outcome.keys()
    for k, v in same.items():
        assert v == row.outcome[k] or (math.isnan(v) and math.isnan(row.outcome[k])), k


def test_read_sweep_gives_the_same_rows(swept):
    _, r = swept
    again = confml.read_sweep(r.dir)
    assert again.grid_keys == r.grid_keys and again.seeds == r.seeds
    assert len(again.rows) == len(r.rows)
    for a, b in zip(again.rows, r.rows):
        assert a.cell == b.cell and a.values == b.values and a.seed == b.seed
        assert a.run_dir == b.run_dir
        # 17 significant digits: the numbers read back exactly.
        assert a.final_test_accuracy == b.final_test_accuracy
        assert a.final_test_loss == b.final_test_loss
        assert a.outcome.keys() == b.outcome.keys()
        for k in a.outcome:
            assert a.outcome[k] == b.outcome[k] or (math.isnan(a.outcome[k]) and math.isnan(b.outcome[k]))


def test_summary_is_mean_and_sample_sd_per_cell(swept):
    _, r = swept
    cells = r.summary("final_test_accuracy")
    assert [c.cell for c in cells] == [0, 1, 2, 3]
    for c in cells:
        v = [row.final_test_accuracy for row in r.rows if row.cell == c.cell]
        assert c.n == 2 and c.seeds == [1, 2]
        assert c.mean == pytest.approx(np.mean(v), abs=1e-15)
        assert c.sd == pytest.approx(np.std(v, ddof=1), abs=1e-15)
        # summary.md prints the same mean (4 significant digits).
        assert f"{c.mean:.4g}" in r.summary_markdown
    assert confml.sweep_summary(r.dir, "final_test_loss")[0].n == 2
    with pytest.raises(confml.InvalidArgumentError, match="no metric 'nope'"):
        r.summary("nope")


def test_resume_keeps_every_finished_run(swept):
    config, r = swept
    again = confml.sweep(config, resume_dir=r.dir)
    assert again.dir == r.dir and again.kept == len(r.rows)
    assert [x.final_test_accuracy for x in again.rows] == [x.final_test_accuracy for x in r.rows]


def test_seeds_and_grid_arguments(tmp_path):
    config = _write_config(str(tmp_path))
    r = confml.sweep(config, overrides={"federated.rounds": 1}, seeds=[4],
                     grid={"aggregator.name": ["median"], "model.hidden": [[8], [8, 4]]})
    assert r.grid_keys == ["aggregator.name", "attack.malicious_fraction", "model.hidden"]
    assert r.seeds == [4]
    assert len(r.rows) == 1 * 2 * 2
    assert {row.values["model.hidden"] for row in r.rows} == {"[8]", "[8, 4]"}


def test_bad_input_raises_the_module_errors(tmp_path):
    config = _write_config(str(tmp_path))
    with pytest.raises(confml.InvalidArgumentError, match="medain"):
        confml.sweep(config, grid={"aggregator.name": ["medain"]})
    assert not os.path.exists(os.path.join(str(tmp_path), "runs"))  # nothing written
    with pytest.raises(confml.InvalidArgumentError, match="seed"):
        confml.sweep(config, seeds=[1, 1])
    with pytest.raises(confml.InvalidArgumentError, match="integer >= 0"):
        confml.sweep(config, seeds=[-1])
    with pytest.raises(confml.InvalidArgumentError, match="list of values"):
        confml.sweep(config, grid={"aggregator.name": "median"})
    with pytest.raises(confml.InvalidArgumentError, match="section.key"):
        confml.sweep(config, grid={"seedless": [1]})
    with pytest.raises(confml.InvalidArgumentError, match="path of a YAML file"):
        confml.sweep({"experiment": {"name": "x"}})
    with pytest.raises(confml.NotFoundError):
        confml.sweep(os.path.join(str(tmp_path), "missing.yaml"))
    with pytest.raises(ValueError):  # InvalidArgumentError is a ValueError
        confml.sweep(config, overrides=["federated.rounds=0"])


def test_read_sweep_rejects_what_is_not_a_sweep(swept, tmp_path):
    _, r = swept
    with pytest.raises(confml.NotFoundError, match="does not exist"):
        confml.read_sweep(tmp_path / "nope")
    with pytest.raises(confml.NotFoundError, match="not a sweep folder"):
        confml.read_sweep(os.path.join(r.dir, r.rows[0].run_dir))  # a run folder
    broken = tmp_path / "broken"
    shutil.copytree(r.dir, broken, ignore=shutil.ignore_patterns("py_sweep-2*"))
    with open(broken / "sweep.csv", "a") as f:
        f.write("9,fedavg,0.2,1\n")
    with pytest.raises(confml.DataLossError, match=r"sweep.csv:10"):
        confml.read_sweep(broken)
    (broken / "sweep.csv").write_text("hello,world\n")
    with pytest.raises(confml.DataLossError, match="header"):
        confml.read_sweep(broken)


def _assert_real_png(path):
    import matplotlib.image as mpimg

    assert os.path.getsize(path) > 10_000
    img = mpimg.imread(path)
    assert img.shape[0] > 300 and img.shape[1] > 500
    assert float(np.std(img[..., :3])) > 0.05  # Not a blank canvas.


def test_plot_sweep_draws_every_metric(swept, tmp_path):
    _, r = swept
    out = tmp_path / "figs"
    paths = confml.plot_sweep(r.dir, out)
    names = [os.path.basename(p) for p in paths]
    # Outcome metrics whose finite values differ between runs; constants
    # (the number of malicious clients) are left out.
    varying = sorted({k for row in r.rows for k in row.outcome
                      if len({v.outcome.get(k) for v in r.rows
                              if not math.isnan(v.outcome.get(k, math.nan))}) > 1})
    assert "attack.received_input" in r.rows[0].outcome
    assert "attack.received_input" not in varying  # 1 in every run of this sweep
    assert names == ["sweep_final_test_accuracy.png"] + [f"sweep_{m}.png" for m in varying]
    for p in paths:
        _assert_real_png(p)
    assert not [f for f in os.listdir(out) if f.endswith(".tmp.png")]
    assert confml.plot(r.dir, out) == paths  # confml.plot recognises a sweep folder


def test_plot_sweep_x_and_metric_choices(swept, tmp_path):
    _, r = swept
    # Categorical x (aggregator names); one line per malicious fraction.
    (p,) = confml.plot_sweep(r.dir, tmp_path, metric="final_test_loss", x="aggregator.name")
    _assert_real_png(p)
    assert os.path.basename(p) == "sweep_final_test_loss.png"
    with pytest.raises(ValueError, match="no metric 'accuracy'"):
        confml.plot_sweep(r.dir, tmp_path, metric="accuracy")
    with pytest.raises(ValueError, match="not a grid key"):
        confml.plot_sweep(r.dir, tmp_path, x="federated.rounds")
    with pytest.raises(confml.NotFoundError, match="not a sweep folder"):
        confml.plot_sweep(str(tmp_path), tmp_path)


def test_cli_plot_detects_a_sweep_folder(swept, tmp_path, confml_cli):
    _, r = swept
    out = tmp_path / "cli"
    proc = subprocess.run([confml_cli, "plot", r.dir, str(out), "--metric", "final_test_accuracy",
                           "--x", "attack.malicious_fraction"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == [str(out / "sweep_final_test_accuracy.png")]
    _assert_real_png(out / "sweep_final_test_accuracy.png")

    bad = subprocess.run([confml_cli, "plot", r.dir, str(out), "--metric", "nope"],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and "no metric 'nope'" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1
    bad = subprocess.run([confml_cli, "plot", r.dir, "--x"], capture_output=True, text=True)
    assert bad.returncode == 2 and "--x needs a value" in bad.stderr
    bad = subprocess.run([confml_cli, "plot", r.dir, "--colour", "red"], capture_output=True, text=True)
    assert bad.returncode == 2 and "unknown option '--colour'" in bad.stderr
    half = tmp_path / "half"
    half.mkdir()
    shutil.copy(os.path.join(r.dir, "sweep.csv"), half / "sweep.csv")
    bad = subprocess.run([confml_cli, "plot", str(half)], capture_output=True, text=True)
    assert bad.returncode == 2 and "no sweep.yaml" in bad.stderr
    run_dir = os.path.join(r.dir, r.rows[0].run_dir)
    bad = subprocess.run([confml_cli, "plot", run_dir, "--metric", "x"], capture_output=True, text=True)
    assert bad.returncode == 2 and "apply to a sweep folder" in bad.stderr


def test_jobs_give_the_same_rows_as_one_process(swept, tmp_path, confml_cli):
    config, r = swept
    assert confml._confml._cli_path == confml_cli  # the build tree's own worker by default
    par = confml.sweep(config, overrides={"experiment.output_dir": str(tmp_path)}, jobs=2)
    assert [(x.cell, x.values, x.seed) for x in par.rows] == [(x.cell, x.values, x.seed) for x in r.rows]
    assert [x.final_test_accuracy for x in par.rows] == [x.final_test_accuracy for x in r.rows]
    assert [x.final_test_loss for x in par.rows] == [x.final_test_loss for x in r.rows]
    assert os.path.isdir(os.path.join(par.dir, "logs"))


def test_bad_jobs_and_worker(tmp_path):
    config = _write_config(str(tmp_path))
    for jobs in (0, -1, 1.5, True):
        with pytest.raises(confml.InvalidArgumentError, match="jobs"):
            confml.sweep(config, jobs=jobs)
    with pytest.raises(confml.InvalidArgumentError, match="nope"):
        confml.sweep(config, jobs=2, worker=tmp_path / "nope")


def test_ctrl_c_stops_a_parallel_sweep_and_it_resumes(tmp_path, confml_cli):
    import signal
    import sys
    import time

    config = _write_config(str(tmp_path))
    script = tmp_path / "run.py"
    # SIGINT is ignored in a background child of a non-interactive shell; restore Python's handler.
    script.write_text(
        "import signal, sys, confml\n"
        "signal.signal(signal.SIGINT, signal.default_int_handler)\n"
        "try:\n"
        f"    confml.sweep({config!r}, overrides={{'federated.rounds': 150, 'attack.scale': 1.0}}, jobs=2)\n"
        "    print('finished')\n"
        "except KeyboardInterrupt:\n"
        "    print('interrupted')\n")
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True,
                            env=dict(os.environ, OMP_NUM_THREADS="1"))
    runs = tmp_path / "runs"
    deadline = time.time() + 120
    csv_path = None
    while time.time() < deadline and csv_path is None:
        found = list(runs.glob("*/sweep.csv")) if runs.exists() else []
        # Header and at least one row: a run has finished.
        csv_path = found[0] if found and len(found[0].read_text().splitlines()) > 1 else None
        time.sleep(0.1)
    assert csv_path is not None, "no run finished"
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=120)
    assert out.strip() == "interrupted"
    partial = confml.read_sweep(csv_path.parent)
    assert 1 <= len(partial.rows) < 8
    done = confml.sweep(config, overrides={"federated.rounds": 150, "attack.scale": 1.0},
                        resume_dir=csv_path.parent)
    assert done.kept == len(partial.rows) and len(done.rows) == 8
