"""Python classes generated from the registries' parameter declarations.

Every registered aggregator and attack declares its parameters once, in a C++
ComponentSpec (or in ``confml.register_aggregator/register_attack`` for Python
classes). This module turns each declaration into a class whose keyword
arguments are exactly those parameters, validated by the same ResolveParams a
config section goes through, so ``Krum(f=2)`` and ``aggregator: {name: krum,
f: 2}`` accept and reject the same values with the same messages.

``confml.defenses`` and ``confml.attacks`` hold the classes; this module holds
what they share.
"""

from __future__ import annotations

import inspect
import keyword
import re
import threading
from typing import Any, Callable, Dict, List

from . import _confml

_PY_TYPES = {
    "bool": bool, "int": int, "double": float, "string": str,
    "int list": List[int], "double list": List[float], "string list": List[str],
}


def class_name(registered: str) -> str:
    """CamelCase of a registered name: fang_krum -> FangKrum, min-max -> MinMax."""
    parts = [p for p in re.split(r"[^0-9A-Za-z]+", registered) if p]
    name = "".join(p[:1].upper() + p[1:] for p in parts) or "Component"
    if name[0].isdigit() or keyword.iskeyword(name):
        name = "C" + name
    return name


def _unkeyword(params: dict) -> dict:
    # lambda_=... -> lambda: the PEP 8 spelling of a parameter named by a keyword.
    out = {}
    for k, v in params.items():
        if k.endswith("_") and keyword.iskeyword(k[:-1]):
            k = k[:-1]
        out[k] = v
    return out


class Component:
    """A registered component with resolved parameters (base of the generated classes).

    ``params`` is every parameter, defaults filled, as a config section would
    hold them; ``to_config()`` is that section (``{"name": ..., **params}``).
    Instances are values: equal when the name and parameters are equal.
    """

    kind = ""            # "aggregator" or "attack"
    registered_name = ""  # the registry's name, e.g. "fang_krum"
    spec: Dict[str, Any] = {}
    _resolve: Callable[[str, dict], dict] = staticmethod(lambda name, kwargs: dict(kwargs))

    def __init__(self, **params: Any) -> None:
        # Same resolution as a config section: unknown names (with the nearest
        # declared one), types, ranges and choices, then the defaults.
        self._params = type(self)._resolve(self.registered_name, _unkeyword(params))

    @property
    def params(self) -> dict:
        """The resolved parameters (a copy: instances do not change)."""
        return dict(self._params)

    def to_config(self) -> dict:
        """The config section that selects this component with these parameters."""
        return {"name": self.registered_name, **self._params}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self._params.items())
        return f"{type(self).__name__}({args})"

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, Component) and other.kind == self.kind
                and other.registered_name == self.registered_name and other._params == self._params)

    def __hash__(self) -> int:
        return hash((self.kind, self.registered_name, repr(sorted(self._params.items()))))


def _docstring(spec: dict, extra: str) -> str:
    lines = [spec["doc"].strip() or f"The {spec['kind']} '{spec['name']}'.", "",
             f"Registered name: ``{spec['name']}`` (config: ``{spec['kind']}: {{name: {spec['name']}}}``).",
             ""]
    if spec["params"]:
        lines.append("Parameters (keyword only)")
        lines.append("-------------------------")
        for p in spec["params"]:
            default = "required" if p["required"] else f"default {p['default']!r}"
            alias = f" (pass as {p['name']}_)" if keyword.iskeyword(p["name"]) else ""
            lines.append(f"{p['name']}{alias} : {p['constraint']}, {default}")
            if p["doc"]:
                lines.append(f"    {p['doc']}")
    else:
        lines.append("No parameters.")
    if extra:
        lines += ["", extra.strip()]
    return "\n".join(lines)


def _signature(spec: dict) -> inspect.Signature:
    params = [inspect.Parameter("self", inspect.Parameter.POSITIONAL_ONLY)]
    for p in spec["params"]:
        shown = p["name"] + "_" if keyword.iskeyword(p["name"]) else p["name"]
        if not shown.isidentifier():
            continue  # still accepted through **{...}; just not shown
        params.append(inspect.Parameter(
            shown, inspect.Parameter.KEYWORD_ONLY,
            default=inspect.Parameter.empty if p["required"] else p["default"],
            annotation=_PY_TYPES.get(p["type"], inspect.Parameter.empty)))
    return inspect.Signature(params)


def make_class(base: type, spec: dict, module: str, extra_doc: str = "") -> type:
    """A subclass of `base` for one declaration."""
    name = class_name(spec["name"])

    def __init__(self, **params: Any) -> None:  # noqa: N807 (the generated class's own)
        base.__init__(self, **params)

    __init__.__signature__ = _signature(spec)
    __init__.__doc__ = _docstring(spec, extra_doc)
    __init__.__qualname__ = f"{name}.__init__"
    cls = type(name, (base,), {
        "__init__": __init__, "__doc__": __init__.__doc__, "__module__": module,
        "registered_name": spec["name"], "spec": spec,
    })
    return cls


class ClassTable:
    """The generated classes of one registry, rebuilt when the registry grows.

    A module exposes them with ``__getattr__``/``__dir__`` and keeps ``__all__``
    in step, so a Python class registered after import appears the same way as
    a built-in one.
    """

    def __init__(self, base: type, specs: Callable[[], list], module: str, all_list: list,
                 extra_doc: Callable[[dict], str] = lambda spec: "") -> None:
        self._base, self._specs, self._module = base, specs, module
        self._all, self._extra_doc = all_list, extra_doc
        self._fixed = list(all_list)  # the module's own names, listed first
        self._classes: Dict[str, type] = {}   # class name -> class
        self._by_registered: Dict[str, type] = {}
        self._lock = threading.Lock()

    def refresh(self) -> None:
        with self._lock:
            for spec in self._specs():
                known = self._by_registered.get(spec["name"])
                if known is not None and known.spec == spec:
                    continue
                cls = make_class(self._base, spec, self._module, self._extra_doc(spec))
                clash = self._classes.get(cls.__name__)
                if clash is not None and clash.registered_name != spec["name"]:
                    # Two registered names with one CamelCase (a_b and a-b):
                    # the first keeps it, the other is reachable by_name().
                    self._by_registered[spec["name"]] = cls
                    continue
                self._classes[cls.__name__] = cls
                self._by_registered[spec["name"]] = cls
            self._all[:] = self._fixed + sorted(self._classes)

    def get(self, attr: str):
        cls = self._classes.get(attr)
        if cls is None:
            self.refresh()
            cls = self._classes.get(attr)
        return cls

    def by_name(self, registered: str) -> type:
        cls = self._by_registered.get(registered)
        if cls is None:
            self.refresh()
            cls = self._by_registered.get(registered)
        if cls is None:
            raise _confml.NotFoundError(
                f"no {self._base.kind} registered as '{registered}'; known: "
                + ", ".join(sorted(self._by_registered)))
        return cls

    def names(self) -> list:
        self.refresh()
        return sorted(self._classes)

    def module_hooks(self, module_globals: dict):
        """The module's ``__getattr__`` and ``__dir__`` over these classes."""
        def getattr_(attr: str):
            cls = self.get(attr)
            if cls is None:
                raise AttributeError(f"module {self._module!r} has no attribute {attr!r}")
            return cls

        def dir_():
            self.refresh()
            return sorted(set(module_globals) | set(self._all))

        return getattr_, dir_
