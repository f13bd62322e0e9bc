"""The Python half of the bridge, imported by the native xlator inside a GlusterFS process.

The native code calls :func:`create` from the xlator's init and :func:`start` for
every FOP the class overrides. Everything here must turn failures into log lines
and errnos: an exception escaping into C would leave a FOP unanswered.
"""

from __future__ import annotations

import io
import logging
import sys
import uuid
from typing import Any

from glupy import _driver, lifecycle
from glupy import _glupy  # type: ignore[attr-defined]  # created by the native bridge
from glupy._glupy import EMBEDDED  # type: ignore[import-not-found]
from glupy.errors import TranslatorLoadError, failure_text, init_error_line
from glupy.replies import REPLY_BY_ID
from glupy.loader import resolve
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
    text = failure_text(exc)  # bounded: a 20 MB message or a chain of 20,000 causes would flood the log
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
    """Load and start a translator for the native xlator `xlator` (its volfile options).

    Returns (instance, {GF_FOP number: bound handler}, {hook name: callable}).
    """
    return _for_bridge(lifecycle.start(xlator, resolve(module_spec, class_name), xlator.options))


def reload(xlator: Any, module_spec: str, class_name: str, old: Translator,
           options: Any) -> tuple[Translator, dict[int, Any], dict[str, Any]]:
    """The translator's module imported again and a new instance to take over from
    `old` (lifecycle.reload: options `options`, init(), migrate(old)), returned as
    create() returns it; raises, changing nothing, if any step fails. The bridge keeps
    routing to Python every FOP the old class handled (the new instance forwards
    those it dropped)."""
    new = lifecycle.reload(xlator, module_spec, class_name, old, options)
    module = sys.modules[type(new.instance).__module__]
    new.instance.log.info("reloaded %s from %s", type(new.instance).__qualname__, module.__file__)
    return _for_bridge(new)


#: what the bridge's observer thread calls for each observation (observer, args)
observe = _driver.observe


def _for_bridge(started: lifecycle.Started) -> tuple[Translator, dict[int, Any], dict[str, Any]]:
    hooks = dict(started.hooks)
    hooks["observers"] = started.observers  # the bridge keeps these FOPs in C (gp_obs_fop_NAME)
    # handlers whose every await is `return await ...`: their own FOP's reply may be answered in C
    hooks["tail_awaits"] = {fop: code for fop, handler in started.handlers.items()
                            if (code := _driver.tail_await_code(handler)) is not None}
    if "notify" in hooks:
        hooks["notify"] = _notify_hook(started.instance, hooks["notify"])
    return started.instance, started.handlers, hooks


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


def describe_init_error(exc: BaseException) -> str:
    """One line saying why a translator could not start; the traceback goes to the log too."""
    if not isinstance(exc, (TranslatorLoadError, SyntaxError)):
        log_exception("glupy", "translator start-up failed", exc)
    return init_error_line(exc)


_setup_logging()
_glupy.register(uuid.UUID, Dirent, LockInfo, _driver.PENDING, dict(REPLY_BY_ID))
