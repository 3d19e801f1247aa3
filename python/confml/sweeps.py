"""Sweeps from Python: run a config's seeds x grid, read a sweep folder, summarise it.

    r = confml.sweep("experiments/sweeps/sign_flip_aggregators.yaml",
                     overrides={"federated.rounds": 3}, seeds=[1, 2],
                     grid={"aggregator.name": ["fedavg", "median"]})
    r.dir, r.grid_keys, r.rows[0].values, r.rows[0].final_test_accuracy
    again = confml.read_sweep(r.dir)          # the same rows, from sweep.csv
    again.summary("final_test_accuracy")      # mean and sd over the seeds, per cell

A run of the sweep is the run `confml sweep` makes (docs/sweeps.md): the binding
calls the same PlanSweep/RunSweep. Errors are the module's exceptions with the
C++ message (a bad grid value is an InvalidArgumentError naming its cell).
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional, Sequence, Union

from . import _confml
from ._confml import DataLossError, InvalidArgumentError, NotFoundError

# The columns of sweep.csv that are not outcome metrics (experiments/src/sweep.cc).
_FIXED_COLUMNS = ("seed", "run_dir", "final_test_accuracy", "final_test_loss", "wall_seconds")


@dataclass
class SweepRow:
    """One finished run: its grid cell, the cell's values (override text by
    grid key), seed, run folder (relative to the sweep folder) and metrics."""

    cell: int
    values: dict
    seed: int
    run_dir: str
    final_test_accuracy: float
    final_test_loss: float
    wall_seconds: float
    outcome: dict = field(default_factory=dict)

    def metric(self, name: str) -> float:
        """final_test_accuracy, final_test_loss, wall_seconds or an outcome
        metric; NaN when this run did not report it."""
        if name in ("final_test_accuracy", "final_test_loss", "wall_seconds"):
            return getattr(self, name)
        return self.outcome.get(name, math.nan)


@dataclass
class CellSummary:
    """Mean and sample standard deviation (n - 1) of a metric over one cell's
    seeds; NaN values are left out (n counts the others), sd is NaN for n < 2."""

    cell: int
    values: dict
    seeds: list
    n: int
    mean: float
    sd: float


@dataclass
class SweepResult:
    """A sweep folder's rows (plan order); `kept` counts the rows a resumed
    sweep took over, `summary_markdown` is its summary.md."""

    dir: str
    grid_keys: list
    rows: list
    seeds: list = field(default_factory=list)
    kept: int = 0
    summary_markdown: str = ""

    def metrics(self) -> list[str]:
        """final_test_accuracy, final_test_loss, then every outcome metric any row has (sorted)."""
        names = sorted({k for r in self.rows for k in r.outcome})
        return ["final_test_accuracy", "final_test_loss"] + names

    def summary(self, metric: str = "final_test_accuracy") -> list[CellSummary]:
        """Per grid cell (in cell order): mean ± sd of `metric` over the seeds,
        with summary.md's own function (MeanAndSd). InvalidArgumentError for
        a metric no row has."""
        if metric not in self.metrics() and metric != "wall_seconds":
            raise InvalidArgumentError(
                f"sweep {self.dir}: no metric '{metric}'; it has {', '.join(self.metrics())}")
        cells: dict[int, list[SweepRow]] = {}
        for r in self.rows:
            cells.setdefault(r.cell, []).append(r)
        out = []
        for cell in sorted(cells):
            rows = cells[cell]
            mean, sd, n = _confml._mean_and_sd([r.metric(metric) for r in rows])
            out.append(CellSummary(cell=cell, values=dict(rows[0].values),
                                   seeds=[r.seed for r in rows], n=n, mean=mean, sd=sd))
        return out


def _rows(dicts) -> list[SweepRow]:
    return [SweepRow(**d) for d in dicts]


def _value_text(key: str, v: Any) -> str:
    """A grid value as override text, as `--grid key=v1,v2` would write it."""
    if isinstance(v, str):
        if not v:
            raise InvalidArgumentError(f"grid {key}: an empty value")
        return v
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, (list, tuple)):
        return json.dumps(list(v))  # a flow list: [64, 32]
    raise InvalidArgumentError(f"grid {key}: {v!r} is not a scalar or a list")


def _grid_args(grid: Optional[Mapping[str, Sequence[Any]]]) -> list[tuple[str, list[str]]]:
    if grid is None:
        return []
    if not isinstance(grid, Mapping):
        raise InvalidArgumentError(
            f"grid must be a dict {{'section.key': [values]}}, not {type(grid).__name__}")
    out = []
    for key, values in grid.items():
        if not isinstance(key, str) or "." not in key:
            raise InvalidArgumentError(f"grid key {key!r}: expected 'section.key'")
        if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
            raise InvalidArgumentError(f"grid {key}: expected a list of values, got {values!r}")
        out.append((key, [_value_text(key, v) for v in values]))
    return out


def _seed_args(seeds: Optional[Sequence[int]]) -> Optional[list[int]]:
    if seeds is None:
        return None
    if isinstance(seeds, (str, bytes)) or not isinstance(seeds, Sequence):
        raise InvalidArgumentError(f"seeds must be a list of integers >= 0, not {seeds!r}")
    out = []
    for s in seeds:
        if isinstance(s, bool) or not isinstance(s, int) or s < 0:
            raise InvalidArgumentError(f"seeds: {s!r} is not a seed (an integer >= 0)")
        out.append(int(s))
    return out


def sweep(config: Union[str, os.PathLike], overrides=None, seeds: Optional[Sequence[int]] = None,
          grid: Optional[Mapping[str, Sequence[Any]]] = None,
          resume_dir: Union[str, os.PathLike, None] = None, *, jobs: int = 1,
          worker: Union[str, os.PathLike, None] = None, progress: bool = False) -> SweepResult:
    """Runs a config file's sweep (seeds x grid cells) as `confml sweep` does.

    overrides: a dict or list of 'key.sub=value' applied to every run.
    seeds: replaces the file's sweep.seeds (--seeds). grid: {key: [values]}
    replaces those keys' values or adds keys at the end (--grid key=v1,v2).
    resume_dir: an existing sweep folder; only its missing runs run (--resume).
    jobs: how many runs at once (--jobs). 1 runs them in this process; N > 1
    runs each as a child `confml run` process, with the same numbers.
    worker: the `confml` executable of those children; default the one of
    this build tree (confml._confml._cli_path). Ctrl-C stops the children
    (the finished runs stay recorded: resume_dir continues the folder).
    progress: True prints `confml sweep`'s line per finished run on stderr.
    Every run's config is validated before the first starts; the GIL is
    released while the sweep runs.
    """
    from . import _override_list

    if not isinstance(config, (str, os.PathLike)):
        # PlanSweep anchors relative paths and provenance at the file, and the
        # resume check compares against it: a sweep needs a file.
        raise InvalidArgumentError(
            f"sweep: config must be the path of a YAML file, not {type(config).__name__}")
    path = os.fspath(config)
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise InvalidArgumentError(f"jobs must be an integer >= 1, not {jobs!r}")
    worker = _confml._cli_path if worker is None else os.fspath(worker)
    r = _confml._sweep(path, _override_list(overrides), _seed_args(seeds), _grid_args(grid),
                       "" if resume_dir is None else os.fspath(resume_dir), bool(progress),
                       jobs, worker if jobs > 1 else "")
    return SweepResult(dir=r["dir"], grid_keys=list(r["grid_keys"]), rows=_rows(r["rows"]),
                       seeds=list(r["seeds"]), kept=int(r["kept"]),
                       summary_markdown=r["summary"])


def is_sweep_dir(path: Union[str, os.PathLike]) -> bool:
    """True when `path` holds sweep.csv and sweep.yaml (what `confml sweep` writes)."""
    path = os.fspath(path)
    return all(os.path.isfile(os.path.join(path, f)) for f in ("sweep.csv", "sweep.yaml"))


def read_sweep(sweep_dir: Union[str, os.PathLike]) -> SweepResult:
    """Reads a sweep folder's sweep.csv (and summary.md) into a SweepResult.

    NotFoundError for a missing folder or a folder that is not a sweep;
    DataLossError naming the line for a sweep.csv `confml sweep` did not write."""
    sweep_dir = os.fspath(sweep_dir)
    if not os.path.isdir(sweep_dir):
        raise NotFoundError(f"sweep folder '{sweep_dir}' does not exist")
    if not is_sweep_dir(sweep_dir):
        raise NotFoundError(f"'{sweep_dir}' is not a sweep folder: it lacks sweep.csv or "
                            "sweep.yaml (confml sweep writes both)")
    with open(os.path.join(sweep_dir, "sweep.csv"), encoding="utf-8", newline="") as f:
        text = f.read()
    header = next(csv.reader(io.StringIO(text)), [])
    # The grid keys sit between `cell` and `seed` (dotted keys are never `seed`).
    if not header or header[0] != "cell" or "seed" not in header:
        raise DataLossError(f"{os.path.join(sweep_dir, 'sweep.csv')}:1: not a sweep.csv header "
                            f"(expected cell, the grid keys, {', '.join(_FIXED_COLUMNS)}, ...)")
    grid_keys = header[1:header.index("seed")]
    try:
        rows = _rows(_confml._parse_sweep_csv(text, grid_keys))
    except DataLossError as e:
        raise DataLossError(f"{sweep_dir}: {e}") from None
    summary = ""
    summary_path = os.path.join(sweep_dir, "summary.md")
    if os.path.exists(summary_path):
        with open(summary_path, encoding="utf-8") as f:
            summary = f.read()
    seeds = sorted({r.seed for r in rows})
    return SweepResult(dir=sweep_dir, grid_keys=grid_keys, rows=rows, seeds=seeds,
                       summary_markdown=summary)


def sweep_summary(result: Union[SweepResult, str, os.PathLike],
                  metric: str = "final_test_accuracy") -> list[CellSummary]:
    """result.summary(metric) for a SweepResult or a sweep folder."""
    if not isinstance(result, SweepResult):
        result = read_sweep(result)
    return result.summary(metric)
