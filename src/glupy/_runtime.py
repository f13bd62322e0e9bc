"""The Python half of the bridge, imported by the native xlator inside a GlusterFS process.

The native code calls :func:`create` from the xlator's init and :func:`start` for
every FOP the class overrides. Everything here must turn failures into log lines
and errnos: an exception escaping into C would leave a FOP unanswered.
"""

from __future__ import annotations

import gc
import io
import logging
import sys
import threading
import time
import uuid
from typing import Any

from glupy import _driver, _process, lifecycle
from glupy import _glupy  # type: ignore[attr-defined]  # created by the native bridge
from glupy._glupy import EMBEDDED  # type: ignore[import-not-found]
from glupy.errors import HandlerTimedOut  # noqa: F401 - the bridge raises it in stuck handlers (workers.c)
from glupy.errors import TranslatorLoadError, failure_text, init_error_line
from glupy.replies import REPLY_BY_ID
from glupy.loader import resolve
from glupy.translator import Translator
from glupy.types import Dirent, LockInfo, Upcall


class _LogBudget:
    """How much each translator may write to the GlusterFS log: a handler logging in a
    loop must not fill the disk of a brick. Messages are cut to :attr:`MAX_MESSAGE`
    characters; each translator's loggers (``glupy.NAME`` and its children) may write
    :attr:`BURST` bytes at once, refilled at :attr:`RATE` bytes a second; what is over
    is dropped and counted, and the count is logged once they may write again. All
    other loggers (a library's, ``logging.getLogger("audit")``) share one budget, and so
    do translators past :attr:`MAX_BUDGETS`: a budget per logger name gave a translator
    logging under a new child logger per path a new burst each time (49 MB in seconds)."""

    RATE = 1 << 20
    BURST = 8 << 20
    MAX_MESSAGE = 16 << 10
    MAX_BUDGETS = 256
    OTHERS = "(other loggers)"

    @classmethod
    def _budget(cls, logger: str) -> str:
        parts = logger.split(".", 2)
        return ".".join(parts[:2]) if parts[0] == "glupy" and len(parts) > 1 else cls.OTHERS

    class _Allowance:
        """One logger's: bytes it may write now (as of `when`), and what it dropped since
        it last wrote."""

        __slots__ = ("bytes", "when", "dropped", "dropped_bytes")

        def __init__(self, allowed: float, when: float) -> None:
            self.bytes, self.when, self.dropped, self.dropped_bytes = allowed, when, 0, 0

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._allowances: dict[str, _LogBudget._Allowance] = {}

    def write(self, logger: str, level: int, message: str) -> None:
        if len(message) > self.MAX_MESSAGE:
            message = f"{message[:self.MAX_MESSAGE]} [... {len(message) - self.MAX_MESSAGE} more characters cut]"
        size = len(message)
        now = time.monotonic()
        key = self._budget(logger)
        with self._lock:
            a = self._allowances.get(key)
            if a is None:
                if len(self._allowances) >= self.MAX_BUDGETS:
                    key = self.OTHERS
                a = self._allowances.get(key) or self._Allowance(float(self.BURST), now)
                self._allowances[key] = a
            a.bytes = min(float(self.BURST), a.bytes + (now - a.when) * self.RATE)
            a.when = now
            if a.bytes < size:
                a.dropped += 1
                a.dropped_bytes += size
                return
            a.bytes -= size
            dropped, dropped_bytes = a.dropped, a.dropped_bytes
            a.dropped = a.dropped_bytes = 0
        if dropped:
            _glupy.log(logger, logging.WARNING, f"{dropped} log messages ({dropped_bytes} bytes) dropped: more than "
                                                f"{self.RATE >> 20} MiB a second")
        _glupy.log(logger, level, message)


_log_budget = _LogBudget()


class _GlusterLogHandler(logging.Handler):
    """Python logging into the process's GlusterFS log (brick stderr goes nowhere), within
    each logger's :class:`_LogBudget`.

    Without the lock logging.Handler takes around emit(): every translator's logger
    goes through this one handler, and formatting runs the caller's ``__str__``. One
    that blocked 5 s held every FOP that logged, of every translator, for as long; and
    a handler answered at its deadline while it waited for that lock (HandlerTimedOut
    raised inside Handler.acquire(), between the lock taken and handle()'s ``try``)
    kept it for good (a seventh red-team session). GlusterFS's log is thread-safe, and
    so is :class:`_LogBudget`."""

    def createLock(self) -> None:  # noqa: N802 - logging's name
        self.lock = None

    def emit(self, record: logging.LogRecord) -> None:
        try:
            _log_budget.write(record.name, record.levelno, self.format(record))
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
                _log_budget.write("glupy.stdio", self.level, line)
        if len(self.buffer_text) > _LogBudget.MAX_MESSAGE:  # a line without end: do not grow for ever
            _log_budget.write("glupy.stdio", self.level, self.buffer_text)
            self.buffer_text = ""
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


class _Collector:
    """Python's collection of cyclic garbage on a thread of glupy's own.

    Python collects when a count of allocations crosses a threshold, on whichever
    thread allocates then, and runs the finalizers (``__del__``) of the garbage it
    finds there: a finalizer that blocked (a translator's object in a reference cycle
    whose ``__del__`` waits for something) held up an unrelated FOP's handler for as
    long, on a brick and on a client. Here automatic collection is off
    (``gc.disable()``) and this thread collects as Python's thresholds say, checking
    the counts every :attr:`EVERY` seconds when there is garbage to expect (up to
    :attr:`IDLE` when there is none). A finalizer that blocks holds this thread, and
    collections with it, not a FOP; a translator that calls ``gc.enable()`` gets
    Python's own behaviour back. Full collections are held to a share of the time
    (:attr:`FULL_SHARE`), as Python's own rule holds them to a share of the objects."""

    EVERY = 0.05
    IDLE = 1.0
    FULL_SHARE = 0.05

    def __init__(self) -> None:
        self.full_took = 0.0
        self.full_ended = 0.0

    def start(self) -> None:
        gc.disable()
        _driver._start_thread(self._run, "glupy-gc")

    def _run(self) -> None:
        delay = self.EVERY
        while True:
            time.sleep(delay)
            try:
                delay = self.EVERY if self._collect_due() else min(self.IDLE, delay * 2)
            except BaseException:  # noqa: BLE001 - a finalizer's exception must not end collecting
                delay = self.EVERY

    def _collect_due(self) -> bool:
        """Collect the oldest generation whose count is over its threshold; whether
        allocations are coming (check again soon)."""
        if gc.isenabled():
            return False  # a translator turned Python's own collection back on
        counts, thresholds = gc.get_count(), gc.get_threshold()
        if not thresholds[0]:
            return False  # gc.set_threshold(0): collection off
        for generation in (2, 1, 0):
            if counts[generation] > thresholds[generation]:
                now = time.monotonic()
                if generation == 2 and now - self.full_ended < self.full_took / self.FULL_SHARE:
                    continue
                gc.collect(generation)
                if generation == 2:
                    self.full_ended = time.monotonic()
                    self.full_took = self.full_ended - now
                return True
        return counts[0] > thresholds[0] // 4


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


def log_limited(domain: str, context: str, exc: BaseException) -> None:
    """A hook's failure, or the bridge's (native gp_log_exception): logged as
    log_exception does, rate-limited per translator and context as handlers' failures
    are (a release hook raising on every close wrote a traceback per close)."""
    logged, suppressed = _driver.LIMITER.admit((domain, context))
    if not logged:
        return
    if suppressed:
        context = f"{context} ({suppressed} more failures like this were not logged)"
    log_exception(domain, context, exc)


def report_stuck(xlator: str, frame: Any, fop: str, timeout: float, thread: int) -> None:
    """Called by the bridge's reporter thread when a FOP missed its deadline
    (option fop-timeout): log which handler and where it is stuck, rate-limited."""
    where = (_driver.where_stuck(frame, thread) if frame is not None else
             "not started: it waited for the GIL, which another thread held all that time (a handler in a long "
             "C call, or building something huge)")
    # answered ETIMEDOUT at once: winds still out are on call stacks of their own
    message = (f"{fop}: the handler did not answer within {timeout:g} s (option fop-timeout): answered ETIMEDOUT; "
               f"its late result will be discarded{', and glupy.errors.HandlerTimedOut raised in it' if thread else ''}. "
               f"It is {where}")
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
    if EMBEDDED:
        _process.keep_bricks_open(xlator)
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
if EMBEDDED:
    _process.guard()  # what a translator may not change in a GlusterFS process
    _driver.watch_translator_threads()
    _Collector().start()
_glupy.register(uuid.UUID, Dirent, LockInfo, _driver.PENDING, dict(REPLY_BY_ID))
