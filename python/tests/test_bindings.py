"""Tests of the confml Python bindings (run with Debian's /usr/bin/python3)."""

import os

import numpy as np
import pytest

import confml


def test_version_and_exception_hierarchy():
    assert confml.__version__
    assert issubclass(confml.InvalidArgumentError, confml.Error)
    assert issubclass(confml.InvalidArgumentError, ValueError)
    assert issubclass(confml.NotFoundError, LookupError)
    assert issubclass(confml.DataLossError, confml.Error)
    assert issubclass(confml.UnimplementedError, NotImplementedError)


def test_fashion_mnist_arrays():
    x, y = confml.load_fashion_mnist(split="test")
    assert x.shape == (10000, 1, 28, 28) and x.dtype == np.float32
    assert y.shape == (10000,) and y.dtype == np.int64
    assert 0.0 <= x.min() and x.max() <= 1.0
    assert np.array_equal(np.bincount(y), np.full(10, 1000))


def test_fashion_mnist_errors():
    with pytest.raises(confml.NotFoundError, match="nonexistent"):
        confml.load_fashion_mnist("/nonexistent")
    with pytest.raises(ValueError, match="split"):
        confml.load_fashion_mnist(split="validation")


def test_partitions_cover_disjointly_and_are_seeded():
    labels = np.repeat(np.arange(10), 50)
    for parts in (confml.partition_iid(labels, 7, 1),
                  confml.partition_dirichlet(labels, 10, 7, 0.5, 1),
                  confml.partition_shards(labels, 10, 2, 1)):
        allidx = np.concatenate(parts)
        assert len(np.unique(allidx)) == len(allidx)
    a = confml.partition_dirichlet(labels, 10, 7, 0.5, 1)
    b = confml.partition_dirichlet(labels, 10, 7, 0.5, 1)
    c = confml.partition_dirichlet(labels, 10, 7, 0.5, 2)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not all(len(x) == len(y) and np.array_equal(x, y) for x, y in zip(a, c))
    with pytest.raises(confml.InvalidArgumentError):
        confml.partition_dirichlet(labels, 10, 7, -1.0, 1)


def test_run_dict_config_in_memory_is_reproducible(synthetic_config):
    a = confml.run(synthetic_config, write_run_dir=False)
    b = confml.run(synthetic_config, write_run_dir=False)
    assert a.run_dir == ""
    assert list(a.metrics["epoch"]) == [1, 2]
    assert np.array_equal(a.metrics["test_accuracy"], b.metrics["test_accuracy"])
    assert np.array_equal(a.metrics["train_loss"], b.metrics["train_loss"])
    assert a.final_test_accuracy > 0.5  # Three separable blobs: far above 1/3.


def test_run_writes_folder_and_load_reads_it_back(synthetic_config, tmp_path):
    r = confml.run(synthetic_config, overrides={"train.epochs": 3})
    assert os.path.isdir(r.run_dir)
    assert r.provenance["seed"] == 3
    back = confml.load(r.run_dir)
    assert back.complete
    assert np.array_equal(back.metrics["test_accuracy"], r.metrics["test_accuracy"])
    assert back.final_test_accuracy == pytest.approx(r.final_test_accuracy)
    assert "py_synth" in back.config


def test_overrides_as_list_and_errors(synthetic_config, tmp_path):
    r = confml.run(synthetic_config, ["train.epochs=1"], write_run_dir=False)
    assert len(r.metrics["epoch"]) == 1
    with pytest.raises(confml.InvalidArgumentError):
        confml.run(synthetic_config, "train.epochs=1")


def test_bad_config_raises_and_writes_nothing(synthetic_config, tmp_path):
    synthetic_config["model"]["hiden"] = [4]
    with pytest.raises(confml.InvalidArgumentError, match="did you mean 'model.hidden'"):
        confml.run(synthetic_config)
    assert not os.path.exists(tmp_path / "runs")
    synthetic_config["model"].pop("hiden")
    synthetic_config["train"]["epochs"] = -1
    with pytest.raises(ValueError, match="train.epochs"):
        confml.run(synthetic_config)
    with pytest.raises(confml.NotFoundError):
        confml.run(str(tmp_path / "missing.yaml"))
    with pytest.raises(confml.NotFoundError):
        confml.load(tmp_path / "no_such_run")


def test_yaml_config_file(repo, tmp_path):
    path = os.path.join(repo, "experiments", "synthetic_mlp.yaml")
    resolved = confml.resolve_config(path)
    assert "experiment:" in resolved
    r = confml.run(path, {"experiment.output_dir": str(tmp_path), "train.epochs": 1}, write_run_dir=False)
    assert r.metrics["epoch"].shape == (1,)


def test_plot_writes_nontrivial_png(synthetic_config):
    import matplotlib.image as mpimg

    r = confml.run(synthetic_config)
    paths = confml.plot(r.run_dir)
    assert len(paths) == 1 and paths[0].endswith(".png")
    img = mpimg.imread(paths[0])
    assert img.shape[0] > 200 and img.shape[1] > 400
    assert float(np.std(img[..., :3])) > 0.05  # Not a blank canvas.


def test_schema_and_reference_list_every_key():
    schema = confml.config_schema()
    names = {s["name"] for s in schema}
    assert {"experiment", "dataset", "model", "optimizer", "train"} <= names
    md = confml.config_reference_markdown()
    for s in schema:
        for p in s["keys"]["params"]:
            assert p["name"] in md
        for c in s["components"]:
            assert c["name"] in md
            for p in c["params"]:
                assert p["name"] in md
    models = next(s for s in schema if s["name"] == "model")
    assert {"mlp", "lenet5", "small_cnn", "resnet_small", "char_rnn"} <= {c["name"] for c in models["components"]}


def test_cli_plot_writes_png(synthetic_config, tmp_path, confml_cli):
    import subprocess

    r = confml.run(synthetic_config)
    out = tmp_path / "figs"
    proc = subprocess.run([confml_cli, "plot", r.run_dir, str(out)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    png = out / "curves.png"
    assert png.exists() and png.stat().st_size > 10_000
    bad = subprocess.run([confml_cli, "plot", str(tmp_path / "nope")], capture_output=True, text=True)
    assert bad.returncode == 2 and "does not exist" in bad.stderr
