"""The Python half of the bridge, imported by the native xlator inside a GlusterFS process.

The native code calls :func:`create` from the xlator's init and :func:`start` for
every FOP the class overrides. Everything here must turn failures into log lines
and errnos: an exception escaping into C would leave a FOP unanswered.
"""

from __future__ import annotations

import io
import logging
import sys
import traceback
import uuid
from typing import Any, Mapping

from glupy import _driver
from glupy import _glupy  # type: ignore[attr-defined]  # created by the native bridge
from glupy._glupy import EMBEDDED  # type: ignore[import-not-found]
from glupy.errors import OptionError, TranslatorLoadError, init_error_line
from glupy.replies import REPLY_BY_ID
from glupy.loader import bind_handlers, resolve
from glupy.translator import Translator
from glupy.types import Dirent, LockInfo, Upcall


class _GlusterLogHandler(logging.Handler):
    """Python logging into the process's GlusterFS log (brick stderr goes nowhere)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            _glupy.log(record.name, record.levelno, self.format(record))
        except Exception:  # noqa: BLE001 - logging must never fail a FOP
            pass


class _LogStream(io.TextIOBase):
    """sys.stdout/sys.stderr of an embedded interpreter: lines go to the GlusterFS log."""

    def __init__(self, level: int) -> None:
        self.level = level
        self.buffer_text = ""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self.buffer_text += text
        while "\n" in self.buffer_text:
            line, self.buffer_text = self.buffer_text.split("\n", 1)
            if line.strip():
                _glupy.log("glupy.stdio", self.level, line)
        return len(text)


def _setup_logging() -> None:
    logger = logging.getLogger("glupy")
    if not any(isinstance(h, _GlusterLogHandler) for h in logger.handlers):
        handler = _GlusterLogHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)  # GlusterFS's own log level filters
    logger.propagate = False
    if EMBEDDED:
        sys.stdout = _LogStream(logging.INFO)
        sys.stderr = _LogStream(logging.ERROR)


class _Backend:
    """The driver's backend inside GlusterFS: the native module."""

    wind = staticmethod(_glupy.wind)
    unwind = staticmethod(_glupy.unwind)

    @staticmethod
    def log_exception(domain: str, context: str, exc: BaseException) -> None:
        log_exception(domain, context, exc)

    post = staticmethod(_glupy.submit)  # resume handlers on the bridge's workers


BACKEND = _Backend()


def log_exception(domain: str, context: str, exc: BaseException) -> None:
    """Write `context: exception` and its traceback to the GlusterFS log."""
    text = "".join(traceback.format_exception(exc)).rstrip()
    _glupy.log(domain if domain.startswith("glupy") else f"glupy.{domain}", logging.ERROR, f"{context}:\n{text}")


def report_stuck(xlator: str, frame: Any, fop: str, timeout: float, thread: int) -> None:
    """Called by the bridge's reporter thread when a FOP missed its deadline
    (option fop-timeout): log which handler and where it is stuck, rate-limited."""
    where = _driver.where_stuck(frame, thread)
    # answered ETIMEDOUT at once: winds still out are on call stacks of their own
    message = (f"{fop}: the handler did not answer within {timeout:g} s (option fop-timeout): answered ETIMEDOUT; "
               f"its late result will be discarded. It is {where}")
    if not thread:
        _driver.abandon(frame)
    logged, suppressed = _driver.LIMITER.admit((xlator, f"{fop}-deadline"))
    if logged:
        if suppressed:
            message += f"\n({suppressed} more timeouts like this were not logged)"
        _glupy.log(f"glupy.{xlator}", logging.ERROR, message)


#: called by the bridge where a handler leaves the path its C driver runs:
#: takeover(frame, fop, handler, coro, kind, obj)
takeover = _driver.make_takeover(BACKEND)


# ---------------------------------------------------------------- loading


def create(xlator: Any, module_spec: str, class_name: str) -> tuple[Translator, dict[int, Any], dict[str, Any]]:
    """Load and set up a translator for the native xlator `xlator`.

    Returns (instance, {GF_FOP number: bound handler}, {hook name: callable}).
    """
    cls = resolve(module_spec, class_name)
    options = {k: v for k, v in xlator.options.items()}
    inst = cls.__new__(cls)
    inst._glupy_setup(xlator, options)
    inst.__init__()
    inst.init()

    handlers = bind_handlers(inst)
    hooks: dict[str, Any] = {
        "named_lookups_only": bool(inst.named_lookups_only),
        "fresh_lookups_only": bool(inst.fresh_lookups_only),
        "missing_names": inst.missing_names,  # the three as init() left them
        "fini": inst.fini,
        "reconfigure": lambda opts: _reconfigure(inst, opts),
        "statedump": lambda: _statedump(inst, handlers),
    }
    for name in ("notify", "forget", "release", "releasedir"):
        method = getattr(inst, name, None)
        if method is not None:
            hooks[name] = _notify_hook(inst, method) if name == "notify" else method
    inst.log.info("%s.%s handles %s", cls.__module__, cls.__qualname__,
                  ", ".join(sorted(getattr(h, "__name__", "?") for h in handlers.values())) or "no FOPs")
    return inst, handlers, hooks


def _notify_hook(inst: Translator, method: Any) -> Any:
    from glupy.constants import Event

    by_xlator = {c.xlator: c for c in inst.children}

    def hook(event: int, source: Any) -> Any:
        try:
            event_value: Any = Event(event)
        except ValueError:
            event_value = event
        if type(source) is dict:  # the bridge's upcall data
            source = Upcall(**source)
        else:
            source = by_xlator.get(source, source)
        return method(event_value, source)

    return hook


def _reconfigure(inst: Translator, options: Mapping[str, Any]) -> None:
    new = type(inst)._glupy_parse(dict(options.items()), initial=False)
    old = inst._glupy_values
    changed = {}
    for key, opt in type(inst).options.items():
        if old.get(opt.attr) != new[opt.attr]:
            if not opt.reconfigurable:
                raise OptionError(f"option {key} cannot change while running; restart the volume")
            changed[key] = (old.get(opt.attr), new[opt.attr])
    inst._glupy_values = new
    if changed:
        inst.log.info("reconfigured: %s", ", ".join(f"{k}={v[1]!r}" for k, v in changed.items()))
        inst.reconfigure(changed)


def _statedump(inst: Translator, handlers: Mapping[int, Any]) -> list[tuple[str, str]]:
    items = [("handled-fops", ",".join(sorted(h.__name__ for h in handlers.values())))]
    for key, opt in type(inst).options.items():
        items.append((f"option.{key}", str(getattr(inst, opt.attr))))
    for key, value in inst.statedump().items():
        items.append((str(key), str(value)))
    return items


def describe_init_error(exc: BaseException) -> str:
    """One line saying why a translator could not start; the traceback goes to the log too."""
    if not isinstance(exc, (TranslatorLoadError, SyntaxError)):
        log_exception("glupy", "translator start-up failed", exc)
    return init_error_line(exc)


_setup_logging()
_glupy.register(uuid.UUID, Dirent, LockInfo, _driver.PENDING, dict(REPLY_BY_ID))
