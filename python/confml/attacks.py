"""Attacks as objects: one class per registered attack.

Each class takes exactly the attack's declared parameters as keyword
arguments, validated as a config's ``attack:`` section is::

    import confml
    from confml.attacks import SignFlip, Idlg

    r = confml.run("experiments/fedavg_synthetic.yaml", attack=SignFlip(scale=4))
    SignFlip(scale=-1)          # InvalidArgumentError naming 'scale' and its range
    SignFlip(scael=4)           # InvalidArgumentError: unknown parameter (did you mean 'scale'?)
    Idlg(iterations=50).to_config()   # {'name': 'idlg', 'position': 'runtime', ...}

    # The inversion attacks also run standalone on one captured update:
    rec = confml.attacks.invert(Idlg(iterations=8), global_state, update, model="lenet_dlg",
                                sample_shape=[1, 28, 28], num_classes=10, local_lr=0.1)
    rec["images"], rec["labels"]

Names are the CamelCase of the registered names (``fang_krum`` ->
``FangKrum``); ``__all__`` lists them, and attacks registered from Python with
``confml.register_attack`` appear the same way.
"""

from __future__ import annotations

from typing import Any, Mapping, Optional, Sequence, Union

import numpy as np

from . import _confml
from ._components import ClassTable, Component

__all__ = ["AttackComponent", "by_name", "invert", "names"]

_INVERSION = ("dlg", "idlg", "inverting_gradients")


class AttackComponent(Component):
    """Base of the generated attack classes: ``confml.run(cfg, attack=obj)`` attaches it."""

    kind = "attack"
    _resolve = staticmethod(_confml._resolve_attack_params)


def _inversion_extra(spec: dict) -> str:
    if spec["name"] in _INVERSION:
        return ("Also runs standalone on one update: ``confml.attacks.invert(obj, global_state, "
                "update, model=..., sample_shape=..., num_classes=...)``.")
    return ""


_table = ClassTable(AttackComponent, _confml._attack_specs, __name__, __all__, _inversion_extra)


def by_name(name: str) -> type:
    """The class of the attack registered as `name` (e.g. "sign_flip")."""
    return _table.by_name(name)


def names() -> list:
    """The class names, one per registered attack."""
    return _table.names()


def invert(attack: Union[AttackComponent, str], global_state: Any, update: Any, *, model: str,
           sample_shape: Sequence[int], num_classes: int,
           model_params: Optional[Mapping[str, Any]] = None, num_samples: int = 1,
           local_epochs: int = 1, local_batch_size: int = 32, local_lr: float = 0.05,
           data_min: Optional[Sequence[float]] = None, data_max: Optional[Sequence[float]] = None,
           labels: Optional[Sequence[int]] = None, seed: int = 0) -> dict:
    """Reconstructs the training samples behind one model update.

    Runs the C++ attacks::ReconstructFromUpdate with the attack's parameters
    (``iterations``, ``restarts``, ``lr`` and the method's own), exactly as the
    dlg, idlg and inverting_gradients modules do after a run. The update is
    the device's delta (FlatState layout of `model` with `model_params`) from
    `global_state`, made by `local_epochs` of plain SGD with `local_lr` on
    `num_samples` samples in batches of `local_batch_size` (one step: the
    update is -lr times the gradient). data_min/data_max: the per-channel box
    the reconstruction is clamped to (model input scale). labels: the samples'
    true labels in training order, given exactly when the attack has
    ``labels="known"``.

    Returns {"images": (num_samples, *sample_shape) float32, "labels": list,
    "loss": final matching loss, "restarts_run", "local_steps"}. The GIL is
    released while it optimises.
    """
    if isinstance(attack, str):
        attack = by_name(attack)()
    if not isinstance(attack, AttackComponent) or attack.registered_name not in _INVERSION:
        raise _confml.InvalidArgumentError(
            f"invert: {attack!r} is not a gradient inversion attack ({', '.join(_INVERSION)})")
    return _confml._invert(
        attack.registered_name, attack.params, model, dict(model_params or {}),
        [int(d) for d in sample_shape], int(num_classes),
        np.asarray(global_state, dtype=np.float32).reshape(-1),
        np.asarray(update, dtype=np.float32).reshape(-1), int(num_samples), int(local_epochs),
        int(local_batch_size), float(local_lr),
        None if data_min is None else np.asarray(data_min, dtype=np.float32).reshape(-1),
        None if data_max is None else np.asarray(data_max, dtype=np.float32).reshape(-1),
        None if labels is None else np.asarray(labels, dtype=np.int64).reshape(-1),
        int(seed))


__getattr__, __dir__ = _table.module_hooks(globals())


_table.refresh()
