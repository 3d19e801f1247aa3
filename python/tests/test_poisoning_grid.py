"""bench/poisoning_grid.py at a tiny size: 2 attacks (plus the clean `none`
row) x 2 aggregators, 1 seed, 2 warm-up rounds and 1 attacked round on 500
training images. Checks the CSV and Markdown it writes, and that a second run
with the same --out reads every cell back instead of running it again."""
import csv
import glob
import math
import os
import subprocess
import sys

import pytest

ATTACKS = ["sign_flip", "label_flip"]
AGGREGATORS = ["fedavg", "median"]


def _grid(repo, confml_cli, out):
    cmd = [sys.executable, os.path.join(repo, "bench", "poisoning_grid.py"), "--confml", confml_cli,
           "--out", str(out), "--seeds", "1", "--extra-aggregators", "",
           "--attacks", ",".join(ATTACKS), "--aggregators", ",".join(AGGREGATORS),
           "--train-limit", "500", "--test-limit", "200", "--warmup-rounds", "2",
           "--attack-rounds", "1"]
    p = subprocess.run(cmd, capture_output=True, text=True,
                       env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert p.returncode == 0, p.stdout + p.stderr
    with open(out / "grid.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    return p.stdout, rows, (out / "grid.md").read_text()


def test_poisoning_grid_tiny(repo, confml_cli, tmp_path):
    if not os.path.exists("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"):
        pytest.skip("no Fashion-MNIST")
    out = tmp_path / "grid"
    stdout, rows, md = _grid(repo, confml_cli, out)

    cells = {(r["attack"], r["aggregator"]) for r in rows}
    assert len(rows) == len(cells) == 3 * 2, rows  # one row per cell
    assert cells == {(a, g) for a in ["none"] + ATTACKS for g in AGGREGATORS}
    for col in ["attack", "aggregator", "seed", "test_error", "clean_start_error", "success_rate",
                "flip_success_rate", "seconds"]:
        assert col in rows[0], col
    for r in rows:
        assert float(r["seed"]) == 1
        for col in ["test_error", "clean_start_error", "seconds"]:
            v = float(r[col])
            assert math.isfinite(v), (col, r)
        assert 0.0 <= float(r["test_error"]) <= 1.0
    # Every cell starts from the same clean model of seed 1.
    assert len({r["clean_start_error"] for r in rows}) == 1
    # label_flip reports how many flipped samples the model now mislabels.
    flips = [float(r["flip_success_rate"]) for r in rows if r["attack"] == "label_flip"]
    assert all(math.isfinite(v) and 0.0 <= v <= 1.0 for v in flips)

    assert "| attack | fedavg | median |" in md
    for a in ["none"] + ATTACKS:
        line = next(l for l in md.splitlines() if l.startswith(f"| {a} |"))
        assert line.count("|") == 4 and "| - |" not in line, line
    assert "Clean start models (FedAvg, 2 rounds): test error" in md
    assert md in stdout

    # Same --out again: the finished cells are read back from their logs.
    logs = sorted(glob.glob(str(out / "cells" / "*.log")))
    assert len(logs) == 1 + 6  # the clean run and the cells
    before = {p: os.stat(p).st_mtime_ns for p in logs}
    run_dirs = sorted(os.listdir(out / "runs"))
    _, again, md_again = _grid(repo, confml_cli, out)
    assert {p: os.stat(p).st_mtime_ns for p in logs} == before
    assert sorted(os.listdir(out / "runs")) == run_dirs  # nothing ran
    assert [(r["attack"], r["aggregator"], r["test_error"]) for r in again] == \
        [(r["attack"], r["aggregator"], r["test_error"]) for r in rows]
    assert all(math.isnan(float(r["seconds"])) for r in again)  # no time measured: cached
    assert md_again == md
