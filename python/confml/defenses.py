"""Aggregation rules as objects: one class per registered aggregator.

Each class takes exactly the aggregator's declared parameters as keyword
arguments, validated as a config's ``aggregator:`` section is::

    import numpy as np
    import confml
    from confml.defenses import Krum, Flame

    krum = Krum(f=2)                       # Krum(f=1.5) or Krum(ff=2): InvalidArgumentError
    krum.params                            # {'f': 2}
    krum.to_config()                       # {'name': 'krum', 'f': 2}
    new_global = krum.aggregate(global_model, updates)    # updates: (n, d) array of deltas
    krum.last_report["selected_clients"]
    confml.run("experiments/fedavg_synthetic.yaml", aggregator=Flame(lambda_=0.001))

Names are the CamelCase of the registered names (``trimmed_mean`` ->
``TrimmedMean``); ``__all__`` lists them, and aggregators registered from
Python with ``confml.register_aggregator`` appear the same way.
A parameter whose name is a Python keyword (FLAME's ``lambda``) is passed as
``**{"lambda": 0.01}`` or with a trailing underscore, ``lambda_=0.01``.
"""

from __future__ import annotations

from typing import Any, Optional, Sequence

import numpy as np

from . import _confml
from ._components import ClassTable, Component

__all__ = ["AggregatorComponent", "by_name", "names"]


def _updates_list(updates: Any, weights: Optional[Sequence[int]]) -> list:
    rows = [np.asarray(u, dtype=np.float32).reshape(-1) for u in updates]
    if weights is None:
        weights = [1] * len(rows)
    weights = list(weights)
    if len(weights) != len(rows):
        raise _confml.InvalidArgumentError(
            f"weights has {len(weights)} entries for {len(rows)} updates")
    out = []
    for i, (w, row) in enumerate(zip(weights, rows)):
        if isinstance(w, (bool, np.bool_)) or int(w) != w or w < 0:
            raise _confml.InvalidArgumentError(
                f"weights[{i}] = {w!r}: weights are sample counts, non-negative integers")
        out.append((i, int(w), row))
    return out


class AggregatorComponent(Component):
    """Base of the generated aggregator classes.

    ``aggregate(global_model, updates, weights=None)`` runs the C++ rule (the
    same object a config builds) on NumPy arrays and returns the new global
    model, ``global_model + delta``, as the federated engine applies it.
    ``aggregate_delta`` returns the delta alone. ``last_report`` holds which
    clients (row indices) the last call selected and rejected, with reasons.
    """

    kind = "aggregator"
    _resolve = staticmethod(_confml._resolve_aggregator_params)

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.last_report: dict = {"selected_clients": [], "rejected": []}
        self._rule = None

    def create(self) -> "_confml.Aggregator":
        """The underlying confml.Aggregator (built once, kept: some rules carry state)."""
        if self._rule is None:
            self._rule = _confml.create_aggregator(self.registered_name, **self._params)
        return self._rule

    def aggregate_delta(self, updates: Any, weights: Optional[Sequence[int]] = None, *,
                        global_model: Any = None, round: int = 1, seed: int = 0,
                        server_update: Any = None) -> np.ndarray:
        """The aggregated delta of `updates` (rows are client deltas).

        weights: each client's sample count (default 1 each; FedAvg-style rules
        weight by it). global_model: the model before the round (FLAME clusters
        the local models global + delta). server_update: the runtime's own
        delta on its root data (FLTrust). seed: the round's seed (FLAME noise).
        """
        g = None if global_model is None else np.asarray(global_model, dtype=np.float32).reshape(-1)
        s = None if server_update is None else np.asarray(server_update, dtype=np.float32).reshape(-1)
        delta, report = self.create()._aggregate_with_context(
            _updates_list(updates, weights), int(round), int(seed), g, s)
        self.last_report = report
        return delta

    def aggregate(self, global_model: Any, updates: Any, weights: Optional[Sequence[int]] = None,
                  *, round: int = 1, seed: int = 0, server_update: Any = None) -> np.ndarray:
        """The new global model: global_model + the aggregated delta of `updates`."""
        g = np.asarray(global_model, dtype=np.float32).reshape(-1)
        delta = self.aggregate_delta(updates, weights, global_model=g, round=round, seed=seed,
                                     server_update=server_update)
        return g + delta


_table = ClassTable(AggregatorComponent, _confml._aggregator_specs, __name__, __all__)


def by_name(name: str) -> type:
    """The class of the aggregator registered as `name` (e.g. "trimmed_mean")."""
    return _table.by_name(name)


def names() -> list:
    """The class names, one per registered aggregator."""
    return _table.names()


__getattr__, __dir__ = _table.module_hooks(globals())


_table.refresh()
