"""Finding and checking translator classes: used by the bridge at init and by the CLI before attaching."""

from __future__ import annotations

import hashlib
import importlib
import importlib.metadata
import sys
from pathlib import Path
from typing import Any, Mapping

from glupy.errors import TranslatorLoadError
from glupy.fop_table import FOP_ID
from glupy.replies import REPLY_BY_ID
from glupy.translator import Translator, is_fop_handler, is_observer


def resolve(module_spec: str, class_name: str = "") -> type[Translator]:
    """The Translator class named by ``module[:Class]`` (and/or class_name)."""
    module_name, _, spec_class = module_spec.partition(":")
    class_name = class_name or spec_class
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        if error.name and module_name.startswith(error.name):
            raise TranslatorLoadError(
                f"no Python module named {error.name!r} in the environment of {sys.executable}; install the package "
                f"that provides it into that environment, or check the spelling") from None
        raise
    if class_name:
        cls = getattr(module, class_name, None)
        if cls is None:
            raise TranslatorLoadError(f"module {module_name} has no class {class_name!r}")
        if not (isinstance(cls, type) and issubclass(cls, Translator)):
            raise TranslatorLoadError(f"{module_name}.{class_name} is not a subclass of glupy.Translator")
        return cls
    found = [c for c in vars(module).values()
             if isinstance(c, type) and issubclass(c, Translator) and c is not Translator
             and c.__module__ == module.__name__]
    if len(found) != 1:
        names = ", ".join(sorted(c.__name__ for c in found)) or "none"
        raise TranslatorLoadError(
            f"module {module_name} defines {len(found)} Translator classes ({names}); name one with "
            f"`option class NAME` or module:Class")
    return found[0]


def overridden_fops(cls: type[Translator]) -> dict[str, int]:
    """{fop name: GF_FOP number} of the FOP handlers the class defines."""
    return {name: num for name, num in FOP_ID.items() if num in REPLY_BY_ID and is_fop_handler(cls, name)}



def bind_handlers(inst: Translator) -> tuple[dict[int, Any], dict[int, Any]]:
    """({GF_FOP number: bound handler}, {GF_FOP number: bound observer}) of an initialised
    instance, checked as the bridge needs them (each a method; missing_names only with a
    lookup handler)."""
    cls = type(inst)
    handlers, observers = {}, {}
    for name, num in overridden_fops(cls).items():
        method = getattr(inst, name)
        if not callable(method):
            raise TranslatorLoadError(f"{cls.__qualname__}.{name} is not a method")
        (observers if is_observer(cls, name) else handlers)[num] = method
    check_missing_names(inst, handlers)
    return handlers, observers


def check_missing_names(inst: Translator, handlers: Mapping[int, Any]) -> None:
    """Raise TranslatorLoadError unless the instance's ``missing_names`` (as init() left it)
    is None or a MissingNames of this process (the bridge's type inside GlusterFS) that a
    lookup handler stands behind."""
    missing = inst.missing_names
    if missing is None:
        return
    from glupy import types

    cls = type(inst)
    expected = getattr(types, "MissingNames")  # the native type inside GlusterFS
    if not isinstance(missing, expected):
        raise TranslatorLoadError(f"{cls.__qualname__}.missing_names must be a glupy.MissingNames, "
                                  f"not {type(missing).__name__}")
    if FOP_ID["lookup"] not in handlers:
        raise TranslatorLoadError(f"{cls.__qualname__} sets missing_names but defines no lookup handler: "
                                  "the bridge answers from it only in front of one")


def validate(module_spec: str, class_name: str = "", options: Mapping[str, Any] | None = None) -> type[Translator]:
    """Import the class and check option values as the bridge would; raises TranslatorLoadError."""
    cls = resolve(module_spec, class_name)
    cls._glupy_parse(dict(options or {}), initial=True)
    return cls


def identity(cls: type) -> str:
    """``VERSION+sha256.DIGEST`` of the module that defines `cls`: its package's
    version (``__version__`` or the installed distribution's) and the first 16 hex
    digits of the SHA-256 of its source file. ``glupy attach`` records it in the
    volume's options (option ``identity``); every process that loads the translator
    checks that its own module has the same (:func:`check_identity`)."""
    module = sys.modules[cls.__module__]
    path = getattr(module, "__file__", None)
    digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16] if path else "none"
    return f"{_version_of(module)}+sha256.{digest}"


def _version_of(module: Any) -> str:
    top = module.__name__.partition(".")[0]
    for candidate in (module, sys.modules.get(top)):
        version = getattr(candidate, "__version__", None)
        if isinstance(version, str) and version:
            return version.replace(",", ".").replace(" ", "")
    try:
        for dist in importlib.metadata.packages_distributions().get(top, []):
            return importlib.metadata.version(dist)
    except Exception:  # noqa: BLE001 - broken metadata: no version
        pass
    return "unversioned"


def check_identity(cls: type, expected: str | bytes | None) -> None:
    """TranslatorLoadError unless the module here is the one the volume was attached with."""
    if isinstance(expected, (bytes, bytearray)):  # a volfile value inside GlusterFS: NUL-terminated
        expected = bytes(expected).rstrip(b"\0").decode("utf-8", "replace")
    if not expected:
        return
    found = identity(cls)
    if found != expected:
        raise TranslatorLoadError(
            f"module {cls.__module__} on this host is {found}, but the volume was attached with {expected}: "
            "install that version here, or record the new one with `glupy refresh VOLUME NAME` once every "
            "host has it")
