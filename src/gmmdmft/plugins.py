"""Plug-ins by import path: ``"module:attr"`` strings -> objects, and the contract checks.

A loss, an output function (activation) or anything else the model takes can be given as a
built-in name (``"logistic"``), an object, or an import path ``"package.module:Name"``. The
string is what travels: it goes into the parameters, the content key and the job payloads, and
every process (a spawned pool worker, a Dask worker) imports it again, so a plug-in works
wherever its module can be imported. ``Name`` may be dotted (``"mod:Class.attr"``); if it names a
class, the class is instantiated without arguments.

:func:`check_contract` probes an object on a grid of inputs before any compute: each method
must exist, accept a numpy array and return finite numbers of the same shape; anything else
is one :class:`~gmmdmft.ParameterError` line naming the parameter and the reason.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import sys
from pathlib import Path

import numpy as np

from ._validation import ParameterError, ParameterTypeError, one_line

__all__ = ["check_contract", "fingerprint", "import_path", "is_import_path", "load", "resolve"]


def is_import_path(text) -> bool:
    """Whether ``text`` looks like ``"module:attr"``."""
    return isinstance(text, str) and text.count(":") == 1 and all(text.split(":"))


def load(name: str, spec: str):
    """The object named by the import path ``spec`` (an instance: a class is instantiated).

    ``name`` is the parameter (``"loss"``) the messages name.
    """
    module_name, _, attr = spec.partition(":")
    label = f"{name} = {spec!r}"
    try:
        module = importlib.import_module(module_name)
    except Exception as e:  # noqa: BLE001 - any import failure is the user's to fix
        raise ParameterError(f"{label}: cannot import module {module_name!r} ({type(e).__name__}: "
                             f"{one_line(e)}); is it on the Python path?") from None
    obj = module
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise ParameterError(f"{label}: module {module_name!r} has no attribute "
                                 f"{attr!r}") from None
    if inspect.isclass(obj):
        try:
            obj = obj()
        except Exception as e:  # noqa: BLE001
            raise ParameterError(f"{label}: cannot create {attr}() without arguments "
                                 f"({type(e).__name__}: {one_line(e)}); give an instance "
                                 "('module:instance') instead") from None
    return obj


def import_path(obj) -> str:
    """The import path that :func:`load` turns back into an object like ``obj``.

    An object knows its own path if it has a ``spec`` attribute (the built-ins and every
    object loaded by path have one); otherwise the path of its class is used when importing it
    gives that class and the class needs no arguments. Else a ``<...>`` description, which
    :func:`load` refuses: such an object works in this process only.
    """
    spec = getattr(obj, "spec", None)
    if isinstance(spec, str):
        return spec
    cls = type(obj)
    path = f"{cls.__module__}:{cls.__qualname__}"
    try:
        same = load("object", path).__class__ is cls and cls.__module__ != "__main__"
    except ParameterError:
        same = False
    return path if same else f"<{cls.__qualname__} object defined in {cls.__module__}>"


def fingerprint(spec: str) -> str | None:
    """sha256 of the source file of the module behind an import path (None for a built-in
    name or a module without a file): two versions of a plug-in get different cache keys."""
    if not is_import_path(spec):
        return None
    module = sys.modules.get(spec.partition(":")[0])
    path = getattr(module, "__file__", None)
    if not path:
        return None
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return None


def check_contract(name: str, shown: str, obj, methods, probe: np.ndarray) -> None:
    """Call each of ``methods`` of ``obj`` on the array ``probe``; each must return a finite
    float array of the probe's shape (a scalar is broadcast). ``shown`` names the object in the
    message. Raises one ParameterError line."""
    label = f"{name} = {shown}"
    for method in methods:
        fn = getattr(obj, method, None)
        if not callable(fn):
            raise ParameterError(f"{label} has no method {method}() (the contract: "
                                 f"{', '.join(m + '(x)' for m in methods)} on numpy arrays)")
        try:
            with np.errstate(all="ignore"):
                out = np.asarray(fn(probe.copy()), dtype=float)
        except Exception as e:  # noqa: BLE001
            raise ParameterError(f"{label}: {method}(x) failed on a numpy array "
                                 f"({type(e).__name__}: {one_line(e)})") from None
        if out.shape not in ((), probe.shape):
            raise ParameterError(f"{label}: {method}(x) returned shape {out.shape} for an input "
                                 f"of shape {probe.shape}")
        bad = ~np.isfinite(np.broadcast_to(out, probe.shape))
        if bad.any():
            x = float(probe[np.flatnonzero(bad)[0]])
            raise ParameterError(f"{label}: {method}(x) is not finite at x = {x:g} (it must be "
                                 f"finite for x in [{probe.min():g}, {probe.max():g}])")


def resolve(name: str, spec, builtins: dict, methods, probe: np.ndarray, what: str):
    """The object of ``spec``: a built-in name (``builtins[name]()``), an import path, or an
    object; import paths and objects are checked against the contract ``methods`` on
    ``probe``. ``what`` names the contract in messages ("a loss with value, d1, d2")."""
    names = ", ".join(builtins)
    if isinstance(spec, str):
        if spec in builtins:
            return builtins[spec]()
        if not is_import_path(spec):
            raise ParameterError(f"{name} = {spec!r} is not one of: {names} (or an import path "
                                 f"'module:attr' of {what})")
        obj, shown = load(name, spec), repr(spec)
    elif spec is None or isinstance(spec, (int, float, bool)):
        raise ParameterTypeError(f"{name} = {spec!r} must be a name ({names}), an import path "
                                 f"'module:attr' or {what}")
    else:
        obj, shown = spec, f"<{type(spec).__name__} object>"
    check_contract(name, shown, obj, methods, probe)
    return obj
