"""confml: a testbed for confidential machine learning on Arm CCA.

Notebook entry points::

    import confml
    r = confml.run("experiments/fashion_mnist_cnn.yaml", overrides={"train.epochs": 1})
    r.metrics["test_accuracy"]          # NumPy array, one value per epoch
    again = confml.load(r.run_dir)      # the same numbers, read from the run folder
    confml.plot(r.run_dir)              # PNG curves next to the results
    s = confml.sweep("experiments/sweeps/sign_flip_aggregators.yaml", seeds=[1, 2])
    confml.plot_sweep(s.dir)            # mean ± sd over seeds against a grid key

A config is a path to a YAML file or a dict with the same sections. Every
error is a subclass of confml.Error (InvalidArgumentError is also a ValueError,
NotFoundError also a LookupError, ...).
"""

from __future__ import annotations

import copy
import json
import os
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence, Union

from . import _confml
from ._confml import (  # noqa: F401  (re-exported)
    DataLossError,
    Error,
    FailedPreconditionError,
    InternalError,
    InvalidArgumentError,
    NotFoundError,
    OutOfRangeError,
    PermissionDeniedError,
    UnauthenticatedError,
    UnimplementedError,
    config_reference_markdown,
    config_schema,
    load_fashion_mnist,
    partition_dirichlet,
    partition_iid,
    partition_shards,
    read_results,
)

__version__ = _confml.__version__

ConfigLike = Union[str, os.PathLike, Mapping[str, Any]]
Overrides = Union[None, Mapping[str, Any], Sequence[str]]


@dataclass
class RunResult:
    """What a run produced: its folder, per-epoch metrics and the resolved config."""

    run_dir: str
    metrics: dict
    final_test_accuracy: float
    config: str
    provenance: dict = field(default_factory=dict)
    complete: bool = True
    # Federated runs: per-round NumPy columns and the final model's hash.
    rounds: dict = field(default_factory=dict)
    final_state_hash: str = ""
    # Flows, and runs with realms or an attack: named outcomes (e.g.
    # "attack.success", "inputs_leaked"), attestation decisions, events.
    outcome: dict = field(default_factory=dict)
    admissions: list = field(default_factory=list)
    events: list = field(default_factory=list)
    tee_modeled_seconds: float = 0.0


def _override_list(overrides: Overrides) -> list[str]:
    if overrides is None:
        return []
    if isinstance(overrides, Mapping):
        # JSON scalars and lists are valid YAML flow values.
        return [f"{k}={json.dumps(v)}" for k, v in overrides.items()]
    if isinstance(overrides, str):
        raise InvalidArgumentError("overrides must be a dict or a list of 'key.sub=value' strings, not a str")
    return [str(o) for o in overrides]


class _Rewritten(dict):
    """A config file's sections after aggregator=/attack= replaced some.

    `origin` is the file it came from: the run treats it as that file (its
    folder anchors relative paths as in `confml run FILE`, provenance names
    it), while error messages name the rewrite.
    """

    def __init__(self, sections: Mapping[str, Any], origin: str) -> None:
        super().__init__(sections)
        self.origin = origin


def _config_args(config: ConfigLike) -> tuple[str, bool, str, str]:
    """(text or path, is_text, source for messages, origin file or "")."""
    if isinstance(config, _Rewritten):
        return (json.dumps(config, indent=1), True,
                f"{config.origin} (with aggregator=/attack= of confml.run)", config.origin)
    if isinstance(config, Mapping):
        # YAML is a superset of JSON; one key a line keeps error line numbers useful.
        return json.dumps(config, indent=1), True, "<dict>", ""
    if isinstance(config, (str, os.PathLike)):
        return os.fspath(config), False, os.fspath(config), ""
    raise InvalidArgumentError(f"config must be a path or a dict, not {type(config).__name__}")


def resolve_config(config: ConfigLike, overrides: Overrides = None) -> str:
    """Validates a config and returns it resolved (every default filled) as YAML text."""
    text_or_path, is_text, source, origin = _config_args(config)
    return _confml._resolve_config(text_or_path, is_text, _override_list(overrides), source, origin)


def _section_keys(section: str) -> set:
    # The section's own keys (attack.malicious_fraction), which survive a
    # change of component; the component's parameters do not.
    for s in config_schema():
        if s["name"] == section:
            return {p["name"] for p in s["keys"]["params"]} | {"name"}
    return {"name"}


def _with_components(config: ConfigLike, components: Mapping[str, Any]) -> ConfigLike:
    chosen = {k: v for k, v in components.items() if v is not None}
    if not chosen:
        return config
    if isinstance(config, Mapping):
        cfg = copy.deepcopy(dict(config))
    elif isinstance(config, (str, os.PathLike)):
        import yaml  # Debian's python3-yaml

        resolve_config(config)  # a faulty file is reported with its own file:line
        with open(os.fspath(config), encoding="utf-8") as f:
            cfg = _Rewritten(yaml.safe_load(f), os.fspath(config))
    else:
        raise InvalidArgumentError(f"config must be a path or a dict, not {type(config).__name__}")
    for section, obj in chosen.items():
        if hasattr(obj, "to_config") and getattr(obj, "kind", section) == section:
            new = obj.to_config()
        elif isinstance(obj, Mapping) and "name" in obj:
            new = dict(obj)
        else:
            raise InvalidArgumentError(
                f"{section}= takes a confml.{'defenses' if section == 'aggregator' else 'attacks'} "
                f"object or a {{'name': ...}} dict, not {obj!r}")
        old = cfg.get(section) or {}
        keep = _section_keys(section) - {"name"}
        cfg[section] = {**{k: v for k, v in old.items() if k in keep}, **new}
    return cfg


def run(config: ConfigLike, overrides: Overrides = None, *, progress: str = "none",
        write_run_dir: bool = True, aggregator: Any = None, attack: Any = None) -> RunResult:
    """Runs an experiment. The GIL is released while it trains.

    progress: "none", "lines", "bar" or "auto" (printed on stderr).
    write_run_dir: False keeps everything in memory (run_dir is then "").
    aggregator, attack: a confml.defenses / confml.attacks object (or its
    to_config() dict) that replaces the config's section; the section's own
    keys (attack.malicious_fraction) are kept, overrides apply after.
    """
    config = _with_components(config, {"aggregator": aggregator, "attack": attack})
    text_or_path, is_text, source, origin = _config_args(config)
    r = _confml._run(text_or_path, is_text, _override_list(overrides), source, origin, progress,
                     write_run_dir)
    prov = {}
    if r["run_dir"]:
        prov = _read_json(os.path.join(r["run_dir"], "provenance.json"))
    return RunResult(run_dir=r["run_dir"], metrics=r["metrics"],
                     final_test_accuracy=r["final_test_accuracy"], config=r["config"],
                     provenance=prov, rounds=r["rounds"], final_state_hash=r["final_state_hash"],
                     outcome=r["outcome"], admissions=r["admissions"], events=r["events"],
                     tee_modeled_seconds=r["tee_modeled_seconds"])


def _read_json(path: str) -> dict:
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        return {}


def load(run_dir: Union[str, os.PathLike]) -> RunResult:
    """Reads a finished (or interrupted) run folder."""
    run_dir = os.fspath(run_dir)
    if not os.path.isdir(run_dir):
        raise NotFoundError(f"run folder '{run_dir}' does not exist")
    r = read_results(os.path.join(run_dir, "results.h5"))
    return RunResult(run_dir=run_dir, metrics=r["metrics"],
                     final_test_accuracy=r["final_test_accuracy"], config=r["config"],
                     provenance=_read_json(os.path.join(run_dir, "provenance.json")),
                     complete=r["complete"])


def plot(run_dir: Union[str, os.PathLike], out_dir: Union[str, os.PathLike, None] = None) -> list[str]:
    """Writes PNG figures of a run (accuracy and loss curves), or of a sweep
    folder (plot_sweep's defaults); returns their paths."""
    from . import plotting  # matplotlib is imported only when plotting
    from .sweeps import is_sweep_dir

    out = None if out_dir is None else os.fspath(out_dir)
    if is_sweep_dir(run_dir):
        return plotting.plot_sweep(os.fspath(run_dir), out)
    return plotting.plot_run(os.fspath(run_dir), out)

# Sweeps: seeds x grid of a config file, as `confml sweep` (confml/sweeps.py,
# python/src/bind_sweep.cc); see docs/python.md and docs/sweeps.md.
from .sweeps import (  # noqa: E402,F401  (re-exported)
    CellSummary,
    SweepResult,
    SweepRow,
    is_sweep_dir,
    read_sweep,
    sweep,
    sweep_summary,
)


def plot_sweep(sweep_dir: Union[str, os.PathLike], out_dir: Union[str, os.PathLike, None] = None,
               metric: Union[str, Sequence[str], None] = None, x: Union[str, None] = None) -> list[str]:
    """Writes one PNG per metric of a sweep folder (mean ± sd over seeds
    against one grid key; what `confml plot SWEEP_DIR` writes); returns their paths."""
    from . import plotting

    return plotting.plot_sweep(os.fspath(sweep_dir), None if out_dir is None else os.fspath(out_dir),
                               metric=metric, x=x)

# The TEE layer (bind_tee.cc) and aggregators defined in Python (bind_aggregator.cc);
# see docs/python.md.
from ._confml import (  # noqa: E402,F401  (re-exported)
    Aggregator,
    EcKey,
    NonceRegistry,
    Policy,
    Realm,
    TeeBackend,
    Verdict,
    aggregate_fedavg,
    aggregator_names,
    create_aggregator,
    decode_token,
    reference_rim,
    register_aggregator,
    tee_backend,
    tee_backend_names,
    verify_token,
)

# Attacks defined in Python (bind_attack.cc); see docs/python.md.
from ._confml import Attack, attack_names, register_attack  # noqa: E402,F401  (re-exported)


# Aggregators and attacks as objects with their declared parameters as keyword
# arguments (confml/defenses.py, confml/attacks.py); see docs/python.md.
from . import attacks, defenses  # noqa: E402


def register_aggregator(name: str, cls: type, params: Any = None, doc: Any = None) -> None:
    """Registers a confml.Aggregator subclass under `name` for configs and confml.defenses.

    params maps each parameter to its default (its type is the parameter's
    type) or to (default, doc); the config's values are passed to cls(**params).
    """
    _confml.register_aggregator(name, cls, params, doc)
    defenses._table.refresh()


def register_attack(name: str, cls: type, params: Any = None, doc: Any = None) -> None:
    """Registers a confml.Attack subclass under `name` for configs and confml.attacks.

    params maps each parameter to its default (its type is the parameter's
    type) or to (default, doc); the config's values are passed to cls(**params).
    """
    _confml.register_attack(name, cls, params, doc)
    attacks._table.refresh()
