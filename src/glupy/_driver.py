"""The task driver: runs ``async def`` FOP handlers on GlusterFS's callback model.

There is no event loop. A FOP handler's coroutine is stepped by :class:`Task`:
awaiting ``self.child.lookup(...)`` yields a :class:`Wind` request to the task,
which hands it to the backend (the C bridge, or the in-process harness). The
backend either returns the reply at once (the child answered synchronously, on
this thread, inside the wind) or returns :data:`PENDING` and later calls the
task's ``resume`` from whichever thread the reply arrives on. The task then
sends the reply into the coroutine; a reply with ``op_ret < 0`` is thrown in as
:class:`~glupy.FopError`. When the coroutine returns, the task answers the FOP
(unwinds) through the backend.

Stepping is a loop, not recursion, so a handler that winds many times to
children that answer synchronously does not grow the stack. The GIL serialises
the driver's state changes; the one counter touched from several threads (in
:class:`Gather`) has its own lock.

Inside GlusterFS the bridge runs the common path of this loop in C
(native/task.c: winds whose replies succeed, then the FOP's own reply class) and
hands a handler to :func:`make_takeover`'s function where it leaves that path;
from there this module runs it to its end. This module is therefore the
specification of the driver's behaviour, and the in-process harness runs it
whole.
"""

from __future__ import annotations

import errno as _errno
import logging
import sys
import threading
import time
import traceback
from functools import partial
from typing import Any, Awaitable, Callable, Iterable, Protocol

from glupy import _process
from glupy._validate import ReplyError, check_reply, none_returned, valid_errno
from glupy.errors import FopError, failure_text
from glupy.fop_table import MAX_ERRNO, TAKEOVERS
from glupy.replies import REPLY_BY_ID


class _Pending:
    def __repr__(self) -> str:
        return "PENDING"


#: returned by a backend's wind when the reply will arrive later via the callback
PENDING: Any = _Pending()


class Backend(Protocol):
    """What the driver needs from the process it runs in."""

    def wind(self, frame: Any, child: Any, fop: int, args: tuple, callback: Callable[[Any], None],
             lk_owner: bytes | None = None) -> Any:
        """Send a FOP to a child: the reply, or PENDING and later callback(reply). With
        `lk_owner`, on a frame of the translator's own that carries that lock owner."""

    def unwind(self, frame: Any, fop: int, op_ret: int, op_errno: int, reply: Any) -> None:
        """Answer the FOP that `frame` carries."""

    def log_exception(self, domain: str, context: str, exc: BaseException) -> None:
        """Write a traceback to the process's log."""

    def post(self, fn: Callable[[Any], None], arg: Any) -> None:
        """Call fn(arg) soon on a thread that may run handler code (the bridge's
        workers; the harness's caller), from any thread."""


class _PyWind:
    """An awaitable FOP on a child; created by :class:`glupy.Child` methods.

    Inside GlusterFS the native bridge's ``Wind`` (same attributes) replaces it,
    so that the bridge can drive the common path of a handler in C."""

    __slots__ = ("child", "fop", "args", "lk_owner")

    def __init__(self, child: Any, fop: int, args: tuple, lk_owner: bytes | None = None) -> None:
        self.child = child
        self.fop = fop
        self.args = args
        self.lk_owner = lk_owner

    def __await__(self):
        return (yield self)

    def __repr__(self) -> str:
        return f"<Wind fop={self.fop} to {self.child!r}>"


_native = sys.modules.get("glupy._glupy")  # present when loaded by the bridge
Wind: Any = _native.Wind if _native is not None else _PyWind
_WIND_TYPES = (Wind, _PyWind)


def outcome(reply: Any) -> tuple[Any, BaseException | None]:
    """(value, exception) to resume a coroutine with, from a backend's reply."""
    if isinstance(reply, BaseException):
        return None, reply
    if reply.op_ret < 0:
        return None, FopError(reply.op_errno, reply=reply)
    return reply, None


def drivable(obj: Any) -> bool:
    """Whether a handler's return value is a coroutine (or generator) to drive. A
    Wind has send() too (it is awaitable), but a plain `def` handler returning one
    forgot to await it: that is answered as a result (EIO, as when an async handler
    returns one), never wound behind the handler's back."""
    return hasattr(obj, "send") and hasattr(obj, "throw")


def issue_wind(backend: Backend, frame: Any, wind: Any,
               on_reply: Callable[[Any], None]) -> tuple[Any, BaseException | None]:
    """Wind `wind` (a Wind of either kind: the bridge's, or the pure-Python one of a
    host that imported glupy before the bridge loaded) through the backend: the
    outcome to resume a coroutine with when the reply is already there, else
    (PENDING, None) and the reply comes later through on_reply(reply). The one
    place Python winds: Task.step and Gather.issue both come here (the bridge's C
    driver does the same in native/task.c: gp_task_wind)."""
    try:
        reply = backend.wind(frame, wind.child, wind.fop, wind.args, on_reply, wind.lk_owner)
    except BaseException as error:  # noqa: BLE001 - e.g. a bad argument type: the handler sees it
        return None, error
    return (PENDING, None) if reply is PENDING else outcome(reply)


def tail_await_code(handler: Any) -> Any:
    """The code object of `handler` (a bound ``async def``) if every ``await`` in it is a
    ``return await X``: the coroutine, once the awaited value is back, returns it and runs
    nothing else (no ``try``/``with`` around it, no assignment, nothing after). Else None.

    The bridge's C driver uses it (native/task.c): when such a handler awaits a wind of its
    own FOP directly, the child's reply is checked as an answer from Python would be
    (native/gen_glue.py: validate) and unwound in C where it arrives, as a tail call's; the
    coroutine is then finished on a worker with None, which it returns and nobody sees. The
    FOP keeps its deadline and its reply's checks; it saves the reply's round trip through
    Python and, on a client, the hand-over of the reply to a worker. Known for the
    interpreter's bytecode of CPython 3.11 only; None elsewhere (the ordinary path)."""
    if sys.implementation.name != "cpython" or sys.version_info[:2] != (3, 11):
        return None
    func = getattr(handler, "__func__", None)
    code = getattr(func, "__code__", None)
    if code is None or getattr(handler, "__self__", None) is None or not code.co_flags & _CO_COROUTINE:
        return None
    if code.co_exceptiontable:  # a try, a with: something may run after the await
        return None
    import dis

    ops = list(dis.get_instructions(code))
    at = {op.offset: op for op in ops}
    sends = [op for op in ops if op.opname == "SEND"]
    # each await is SEND (to the value's use), YIELD_VALUE: its use must be RETURN_VALUE
    if not sends or len(sends) != sum(op.opname == "YIELD_VALUE" for op in ops):
        return None
    if any(getattr(at.get(op.argval), "opname", None) != "RETURN_VALUE" for op in sends):
        return None
    return code


_CO_COROUTINE = 0x80


class Task:
    """Drives one coroutine: a FOP handler, or a coroutine run by gather()."""

    __slots__ = ("backend", "frame", "fop", "coro", "done", "domain")

    def __init__(self, backend: Backend, frame: Any, fop: int, coro: Any, domain: str,
                 done: Callable[[Any, BaseException | None], None] | None = None) -> None:
        self.backend = backend
        self.frame = frame
        self.fop = fop
        self.coro = coro
        self.done = done
        self.domain = domain

    def resume(self, reply: Any) -> None:
        """Called by the backend when a pending wind's reply arrives."""
        value, exc = outcome(reply)
        self.step(value, exc)

    def step(self, value: Any, exc: BaseException | None) -> None:
        # current_frame() finds this frame on the stack: nothing to record per step
        coro = self.coro
        while True:
            try:
                request = coro.send(value) if exc is None else coro.throw(exc)
            except StopIteration as stop:
                self._finish(stop.value, None)
                return
            except BaseException as error:  # noqa: BLE001 - every failure becomes an errno
                self._finish(None, error)
                return
            value, exc = self._issue(request)
            if value is PENDING:
                return

    def waiting(self) -> bool:
        """Whether the handler can still be resumed (not abandoned at its deadline)."""
        return getattr(self.coro, "cr_frame", True) is not None

    def resume_outcome(self, outcome: tuple[Any, BaseException | None]) -> None:
        """Resume with (value, exception): a sleep, a thread or an asyncio awaitable ended."""
        if getattr(self.coro, "cr_frame", True) is None:
            return  # closed: abandoned at its deadline (see abandon), nothing to resume
        self.step(*outcome)

    def _issue(self, request: Any) -> tuple[Any, BaseException | None]:
        """What a handler awaited: a wind (of either kind: the bridge's C driver hands
        over a pure-Python one, made where glupy was imported before the bridge
        loaded, as in a gfapi host), a gather, a sleep, a blocking call or an
        asyncio awaitable."""
        if type(request) in _WIND_TYPES:  # the common case
            return issue_wind(self.backend, self.frame, request, self.resume)
        if type(request) is Gather:
            return request.issue(self)
        if type(request) is Future:
            outcome = request._wait(partial(self.backend.post, self.resume_outcome), self.waiting)
            return (PENDING, None) if outcome is None else outcome
        if type(request) in _ELSEWHERE:
            if type(request) is Sleep and not _valid_seconds(request.seconds):
                # changed after sleep() checked it: a NaN at the head of the timers' heap
                # held every glupy.sleep of the process (a ninth red-team session)
                return None, ValueError(f"sleep() needs a finite number of seconds >= 0, not {request.seconds!r}")
            post = self.backend.post
            SERVICES.start(request, partial(post, self.resume_outcome))
            return PENDING, None
        return None, TypeError(
            f"a glupy handler can only await glupy operations (self.child.<fop>(...), glupy.gather(...), "
            f"glupy.sleep(...), glupy.to_thread(...), glupy.on_loop(...), a glupy.Future), not {request!r}; "
            f"an asyncio awaitable goes through glupy.on_loop(awaitable)")

    def _finish(self, result: Any, error: BaseException | None) -> None:
        if self.done is not None:
            self.done(result, error)
        else:
            answer(self.backend, self.frame, self.fop, result, error, self.domain)


def answer(backend: Backend, frame: Any, fop: int, result: Any, error: BaseException | None, domain: str) -> None:
    """Unwind a FOP with a handler's result or exception. Never raises.

    Whatever the handler gave, the FOP is answered exactly once: its reply if it
    passes :func:`glupy._validate.check_reply`, the errno of a valid FopError,
    and otherwise EIO with a (rate-limited) log line naming the handler's fault."""
    reply_cls = REPLY_BY_ID[fop]
    try:
        if error is None and type(result) in _WIND_TYPES:
            tail_call(backend, frame, fop, result, domain)
            return
        if error is None:
            if result is None:
                refused = none_returned(fop)
                if refused is not None:
                    raise refused
                reply = reply_cls()
            else:
                reply = result
            if type(reply) is not reply_cls:
                raise ReplyError(f"the {reply_cls.fop} handler returned {type(result).__name__}, "
                                 f"expected {reply_cls.__name__}")
            check_reply(fop, reply)
            backend.unwind(frame, fop, reply.op_ret, reply.op_errno, reply)
        elif isinstance(error, FopError):
            if not valid_errno(error.errno):
                raise ReplyError(f"the {reply_cls.fop} handler raised FopError({error.errno!r}): "
                                 f"not an errno (1..{MAX_ERRNO})") from error
            carried = error.reply if type(error.reply) is reply_cls else None
            backend.unwind(frame, fop, -1, error.errno, carried)
        else:
            raise error
    except BaseException as failure:  # noqa: BLE001 - the brick must keep serving
        report(backend, domain, f"{reply_cls.fop}: the handler failed, answering EIO", failure)
        try:
            backend.unwind(frame, fop, -1, _errno.EIO, None)
        except BaseException as again:  # noqa: BLE001 - e.g. already answered
            report(backend, domain, f"{reply_cls.fop}: cannot answer EIO", again)


def tail_call(backend: Backend, frame: Any, fop: int, wind: Any, domain: str) -> None:
    """A handler returned ``self.child.<fop>(...)`` without awaiting it: pass the FOP on
    to that child, and its reply, whatever it is, to the caller unchanged (as a C
    translator winds with the default callback). Only the handler's own FOP can go on so,
    on the caller's frame (no ``lk_owner``: a translator's own locks are awaited). The
    native bridge does this in C (gp_tail); this is the same for the harness and for
    handlers the Python driver runs. Raises what makes it impossible."""
    if wind.fop != fop:
        raise ReplyError(f"the {REPLY_BY_ID[fop].fop} handler returned an unawaited wind of "
                         f"{REPLY_BY_ID[wind.fop].fop if wind.fop in REPLY_BY_ID else wind.fop!r}: returning a wind "
                         f"passes the FOP on, so it must be the same FOP (await it to use its reply)")
    if wind.lk_owner is not None:
        raise ReplyError("a returned (tail) wind goes on the caller's frame: lk_owner needs await")

    def forward(reply: Any) -> None:
        if isinstance(reply, BaseException):
            answer(backend, frame, fop, None, reply, domain)
        else:
            backend.unwind(frame, fop, reply.op_ret, reply.op_errno, reply)

    reply = backend.wind(frame, wind.child, wind.fop, wind.args, forward, None)
    if reply is not PENDING:
        forward(reply)


class LogLimiter:
    """At most `burst` tracebacks per translator and FOP in each `window` seconds.

    A handler that fails on every FOP must not fill the disk with tracebacks nor
    spend the volume's time writing them (every log line is a synchronous write
    in GlusterFS): past the burst, failures are counted, and the next traceback
    logged after the window says how many were left out."""

    def __init__(self, burst: int = 5, window: float = 10.0) -> None:
        self.burst = burst
        self.window = window
        self.lock = threading.Lock()
        self.slots: dict[tuple[str, str], list[float]] = {}  # key -> [window start, logged, suppressed]

    def admit(self, key: tuple[str, str]) -> tuple[bool, int]:
        """(log it?, how many were suppressed before it)."""
        now = time.monotonic()
        with self.lock:
            slot = self.slots.get(key)
            if slot is None or now - slot[0] >= self.window:
                suppressed = int(slot[2]) if slot else 0
                self.slots[key] = [now, 1, 0]
                if len(self.slots) > 4096:  # bound the table: forget the oldest windows
                    for old in sorted(self.slots, key=lambda k: self.slots[k][0])[:2048]:
                        del self.slots[old]
                return True, suppressed
            if slot[1] < self.burst:
                slot[1] += 1
                return True, 0
            slot[2] += 1
            return False, 0


LIMITER = LogLimiter()


def report(backend: Backend, domain: str, context: str, exc: BaseException) -> None:
    """Log a handler's failure through the backend, rate-limited per translator and FOP."""
    limiter = getattr(backend, "log_limiter", LIMITER)
    logged, suppressed = limiter.admit((domain, context.split(":", 1)[0]))
    if not logged:
        return
    if suppressed:
        context = f"{context} ({suppressed} more failures like this were not logged)"
    try:
        backend.log_exception(domain, context, exc)
    except BaseException:  # noqa: BLE001 - logging must never fail a FOP
        pass


# What the bridge's C driver (native/task.c) hands over, and where (numbered in fop_table).
TAKEOVER_CALLED, TAKEOVER_ERROR, TAKEOVER_RESULT, TAKEOVER_REPLY, TAKEOVER_REQUEST = (
    TAKEOVERS.index(kind) for kind in ("called", "error", "result", "reply", "request"))


def make_takeover(backend: Backend) -> Callable[..., None]:
    """``takeover(frame, fop, handler, coro, kind, obj)`` bound to a backend.

    The native bridge runs the common path of every handler in C (winds whose
    replies succeed, then the FOP's reply). Where a handler leaves that path, the
    bridge calls this once and this driver runs the handler to its end."""

    def takeover(frame: Any, fop: int, handler: Any, coro: Any, kind: int, obj: Any) -> None:
        domain = _domain(handler)
        if kind == TAKEOVER_CALLED:
            if drivable(obj):
                frame.coro = obj  # for the report if it misses its deadline
                Task(backend, frame, fop, obj, domain).step(None, None)
            else:  # a plain `def` handler answered directly
                answer(backend, frame, fop, obj, None, domain)
        elif kind == TAKEOVER_ERROR:
            answer(backend, frame, fop, None, obj, domain)
        elif kind == TAKEOVER_RESULT:
            answer(backend, frame, fop, obj, None, domain)
        else:
            task = Task(backend, frame, fop, coro, domain)
            if kind == TAKEOVER_REPLY:
                value, exc = outcome(obj)
            else:
                value, exc = task._issue(obj)
                if value is PENDING:
                    return
            task.step(value, exc)

    return takeover


def where_stuck(frame: Any, thread: int) -> str:
    """Where the handler of `frame` is: the stack of the thread running it, or
    the await chain of its suspended coroutine."""
    if thread:
        running = sys._current_frames().get(thread)
        if running is not None:
            return "running, at:\n" + "".join(traceback.format_stack(running)).rstrip()
    coro = getattr(frame, "coro", None)
    lines = []
    while coro is not None and len(lines) < 32:
        f = getattr(coro, "cr_frame", None) or getattr(coro, "gi_frame", None)
        if f is not None:
            lines.append(f'  File "{f.f_code.co_filename}", line {f.f_lineno}, in {f.f_code.co_name}')
        coro = getattr(coro, "cr_await", None) or getattr(coro, "gi_yieldfrom", None)
        if coro is not None and not (hasattr(coro, "cr_frame") or hasattr(coro, "gi_frame")):
            lines.append(f"  awaiting {coro!r}")
            break
    if not lines:
        return "suspended (no coroutine known)"
    return "suspended, awaiting at:\n" + "\n".join(lines)


def abandon(frame: Any) -> None:
    """A FOP was answered at its deadline while its handler waits: cancel what it
    awaits on the event loop or the thread pool (an asyncio request that never
    completes would otherwise live forever) and close its coroutine, so that its
    ``finally`` blocks run now and nothing resumes it later. A handler running
    right now on a thread (blocked, spinning) cannot be stopped: it is left to end."""
    coro = getattr(frame, "coro", None)
    awaited = coro
    while awaited is not None:
        # the innermost is the generator of a request's __await__ (``yield self``)
        suspended = getattr(awaited, "gi_frame", None)
        request = suspended.f_locals.get("self") if suspended is not None else None
        future = getattr(request, "future", None) if type(request) in (OnLoop, ToThread) else None
        if future is not None:
            future.cancel()
        awaited = getattr(awaited, "cr_await", None) or getattr(awaited, "gi_yieldfrom", None)
    if coro is not None:
        try:
            coro.close()
        except BaseException:  # noqa: BLE001 - running elsewhere, or a finally that raised
            pass


def _domain(handler: Any) -> str:
    owner = getattr(handler, "__self__", None)
    return getattr(owner, "name", "glupy")


def observe(observer: Callable[..., Any], args: tuple) -> None:
    """Call an observer (glupy.observer) with a FOP's arguments and its reply (the last of
    `args`). Never raises: what it returns is dropped (a coroutine is closed: an observer
    cannot await), what it raises is logged through its translator's logger,
    rate-limited as handlers' failures are."""
    try:
        result = observer(*args)
        if drivable(result):
            result.close()
            raise TypeError(f"observer {getattr(observer, '__qualname__', observer)!r} returned {result!r}: "
                            f"an observer is a plain def (it cannot await)")
    except BaseException as error:  # noqa: BLE001 - an observer's failure must not reach GlusterFS
        domain = _domain(observer)
        name = getattr(observer, "__name__", "?")
        logged, suppressed = LIMITER.admit((domain, f"observer {name}"))
        if logged:
            log = getattr(getattr(observer, "__self__", None), "log", None) or logging.getLogger("glupy")
            more = f" ({suppressed} more failures like this were not logged)" if suppressed else ""
            log.error("observer %s failed%s:\n%s", name, more, failure_text(error))


def start(backend: Backend, frame: Any, fop: int, handler: Callable[..., Any], args: tuple, domain: str) -> None:
    """Run the handler of one FOP."""
    try:
        coro = handler(*args)
    except BaseException as error:  # noqa: BLE001
        answer(backend, frame, fop, None, error, domain)
        return
    if not drivable(coro):
        # a plain `def` handler answered directly
        answer(backend, frame, fop, coro, None, domain)
        return
    Task(backend, frame, fop, coro, domain).step(None, None)


class Gather:
    """Awaitable that runs several winds or coroutines concurrently; see :func:`gather`."""

    __slots__ = ("items", "return_exceptions", "results", "errors", "remaining", "lock", "task")

    def __init__(self, items: Iterable[Awaitable[Any]], return_exceptions: bool) -> None:
        self.items = list(items)
        self.return_exceptions = return_exceptions

    def __await__(self):
        return (yield self)

    def issue(self, task: Task) -> tuple[Any, BaseException | None]:
        n = len(self.items)
        self.results: list[Any] = [None] * n
        self.errors: list[BaseException | None] = [None] * n
        self.remaining = n + 1  # +1 until every item has been issued
        self.lock = threading.Lock()
        self.task = task
        for i, item in enumerate(self.items):
            if type(item) in _WIND_TYPES:
                value, error = issue_wind(task.backend, task.frame, item, partial(self._reply, i))
                if value is not PENDING:
                    self._store(i, value, error)
                    self._arrive()
            elif drivable(item):
                Task(task.backend, task.frame, task.fop, item, task.domain, done=partial(self._done, i)).step(None, None)
            else:
                self._store(i, None, TypeError(f"gather() takes glupy winds or coroutines, not {item!r}"))
                self._arrive()
        if self._arrive():
            return self._outcome()
        return PENDING, None

    def _store(self, i: int, value: Any, error: BaseException | None) -> None:
        self.results[i] = value
        self.errors[i] = error

    def _arrive(self) -> bool:
        with self.lock:
            self.remaining -= 1
            return self.remaining == 0

    def _reply(self, i: int, reply: Any) -> None:
        self._store(i, *outcome(reply))
        if self._arrive():
            self.task.step(*self._outcome())

    def _done(self, i: int, value: Any, error: BaseException | None) -> None:
        self._store(i, value, error)
        if self._arrive():
            self.task.step(*self._outcome())

    def _outcome(self) -> tuple[Any, BaseException | None]:
        if self.return_exceptions:
            return [e if e is not None else r for r, e in zip(self.results, self.errors)], None
        for error in self.errors:
            if error is not None:
                return None, error
        return list(self.results), None


def gather(*aws: Awaitable[Any], return_exceptions: bool = False) -> Gather:
    """Run winds (``self.children[i].writev(...)``) or coroutines concurrently.

    ``await gather(a, b)`` returns their results in order. Like asyncio.gather, the
    first exception is raised (after all have finished, so no wind is left in
    flight), or with ``return_exceptions=True`` exceptions take their place in the list.
    """
    return Gather(aws, return_exceptions)


# ---------------------------------------------------------------- awaiting more than winds


def _nothing() -> None:
    pass


def _valid_seconds(seconds: Any) -> bool:
    return type(seconds) is float and 0 <= seconds < float("inf")  # (False for NaN)


class Sleep:
    """``await glupy.sleep(seconds)``: resume after a while, holding no thread."""

    __slots__ = ("seconds",)

    def __init__(self, seconds: float) -> None:
        seconds = float(seconds)
        if not _valid_seconds(seconds):
            raise ValueError(f"sleep() needs a finite number of seconds >= 0, not {seconds}")
        self.seconds = seconds

    def __await__(self):
        return (yield self)


class ToThread:
    """``await glupy.to_thread(fn, *args)``: run a blocking call on a thread of its own."""

    __slots__ = ("fn", "args", "kwargs", "future")

    def __init__(self, fn: Callable[..., Any], args: tuple, kwargs: dict) -> None:
        if not callable(fn):
            raise TypeError(f"to_thread() needs a callable, not {fn!r}")
        self.fn, self.args, self.kwargs = fn, args, kwargs
        self.future: Any = None  # once started: cancelled if the handler is abandoned

    def __await__(self):
        return (yield self)


class OnLoop:
    """``await glupy.on_loop(awaitable)``: run an asyncio awaitable on the bridge's event loop."""

    __slots__ = ("awaitable", "future")

    def __init__(self, awaitable: Any) -> None:
        if not hasattr(awaitable, "__await__"):
            raise TypeError(f"on_loop() needs an awaitable (a coroutine, a future...), not {awaitable!r}")
        self.awaitable = awaitable
        self.future: Any = None  # once started: cancelled if the handler is abandoned

    def __await__(self):
        return (yield self)


_ELSEWHERE = (Sleep, ToThread, OnLoop)


#: a Future drops the waiters of handlers abandoned at their deadline once it has this many
FUTURE_PRUNE_AT = 32


class Future:
    """A value that one handler (or any thread) gives and other handlers await,
    holding no thread while they wait: ``done = glupy.Future()``; ``value = await
    done`` in one handler, ``done.set_result(value)`` (or ``set_exception(error)``)
    in another, or in a thread of a library. Every handler awaiting it resumes (on
    the bridge's workers) with the value or the exception; awaiting one that is
    done resumes at once. A handler waiting for one that never comes is answered at
    its FOP's deadline like any other. Thread-safe; not an asyncio future (those go
    through :func:`on_loop`)."""

    __slots__ = ("_lock", "_outcome", "_waiters")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._outcome: tuple[Any, BaseException | None] | None = None
        # (deliver, whether its handler still waits): those abandoned at their deadline are
        # dropped as more come (each kept its Task and coroutine: 148 FOPs answered at their
        # deadline left 148 waiters on a Future never set)
        self._waiters: list[tuple[Callable[[tuple[Any, BaseException | None]], None], Callable[[], bool] | None]] = []

    def done(self) -> bool:
        """Whether a result or an exception has been set."""
        return self._outcome is not None

    def result(self) -> Any:
        """The value (or raise the exception) of a done Future; never waits."""
        outcome = self._outcome
        if outcome is None:
            raise RuntimeError("this Future is not done: await it")
        if outcome[1] is not None:
            raise outcome[1]
        return outcome[0]

    def set_result(self, value: Any) -> None:
        """Give the value: every handler awaiting it resumes with it."""
        self._set((value, None))

    def set_exception(self, error: BaseException) -> None:
        """Give an exception: every handler awaiting it resumes raising it."""
        if not isinstance(error, BaseException):
            raise TypeError(f"set_exception() needs an exception, not {error!r}")
        self._set((None, error))

    def _set(self, outcome: tuple[Any, BaseException | None]) -> None:
        with self._lock:
            if self._outcome is not None:
                raise RuntimeError("this Future is already done")
            self._outcome = outcome
            waiters, self._waiters = self._waiters, []
        for deliver, _ in waiters:
            deliver(outcome)

    def _wait(self, deliver: Callable[[tuple[Any, BaseException | None]], None],
              waiting: Callable[[], bool] | None = None) -> tuple[Any, BaseException | None] | None:
        """The outcome if done; else None, and deliver(outcome) once it is set (unless
        waiting() says by then that nobody waits any more)."""
        with self._lock:
            if self._outcome is None:
                if len(self._waiters) >= FUTURE_PRUNE_AT:
                    self._waiters = [w for w in self._waiters if w[1] is None or w[1]()]
                self._waiters.append((deliver, waiting))
                return None
            return self._outcome

    def __await__(self):
        return (yield self)

    def __repr__(self) -> str:
        return f"<glupy.Future {'done' if self._outcome is not None else 'pending'}>"


def sleep(seconds: float) -> Sleep:
    """Wait `seconds` without holding any thread: ``await glupy.sleep(0.5)``.

    Never ``time.sleep`` in a handler: it holds one of the bridge's workers."""
    return Sleep(seconds)


def to_thread(fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> ToThread:
    """Run a blocking call (file or network I/O, a lock, a slow library) on a thread
    of glupy's pool and resume with its result: ``await glupy.to_thread(requests.get, url)``."""
    return ToThread(fn, args, kwargs)


def on_loop(awaitable: Any) -> OnLoop:
    """Run an asyncio awaitable on the event loop the bridge runs (one per process)
    and resume with its result: ``await glupy.on_loop(session.get(url))``.

    Create the awaitable without awaiting it (a coroutine object, a future of
    :func:`event_loop`); asyncio clients that bind to a loop (aiohttp sessions,
    redis.asyncio pools) are made on that loop, e.g. ``await glupy.on_loop(make_client())``."""
    return OnLoop(awaitable)


def event_loop() -> Any:
    """The asyncio event loop glupy runs for :func:`on_loop` (started on first use, and
    replaced by a new one when something on it blocks it for more than half a second:
    see docs/threading.md)."""
    return SERVICES.loop()


async def _awaited(awaitable: Any) -> Any:
    return await awaitable


def _serve_loop(loop: Any, heartbeat: "_Heartbeat") -> None:
    """Run the services' asyncio loop for good: a handler may stop it
    (``glupy.event_loop().stop()``), and asyncio lets a SystemExit or
    KeyboardInterrupt raised in a task or a callback out of ``run_forever``; either
    would leave every later on_loop waiting for its deadline, for ever. It runs again
    at once. It ends, closed, once it was given up as stalled, came back and has no
    task left (_Services._retire_when_idle); a loop closed otherwise ends the thread
    too, and the next use makes a new one (_Services.loop)."""
    while not loop.is_closed():
        try:
            loop.run_forever()
        except BaseException:  # noqa: BLE001 - the task that raised it has it as its result
            time.sleep(0.001)  # (not a busy loop, should run_forever fail at once for good)
        if heartbeat.closing:
            loop.close()


class _Heartbeat:
    """Whether an asyncio loop turns: a callback that notes the time every
    :attr:`EVERY` seconds on the loop. A loop that has not noted it for
    :attr:`STALLED` seconds is held by a coroutine or a callback that blocks (a
    ``time.sleep`` or a blocking client in an ``async def`` given to on_loop). A loop
    given up (:attr:`given_up`) beats once more when it turns again: ``recovered(self)``."""

    EVERY = 0.1
    STALLED = 0.5

    def __init__(self, loop: Any, recovered: Callable[["_Heartbeat"], None]) -> None:
        self.loop = loop
        self.last = time.monotonic()
        self.thread: int | None = None  # the loop's thread, for its stack
        self.given_up = False
        self.closing = False  # given up, turned again, no task left: its thread closes it
        self.recovered = recovered

    def beat(self) -> None:
        self.thread = threading.get_ident()
        self.last = time.monotonic()
        if _native is not None:
            _native.loop_beat()  # the memory watch's view of the loop (native/workers.c)
        if self.given_up:
            self.recovered(self)
        else:
            self.loop.call_later(self.EVERY, self.beat)

    def stalled_for(self) -> float:
        """Seconds since the loop last turned, if that is more than STALLED, else 0."""
        age = time.monotonic() - self.last
        return age if age > self.STALLED else 0.0

    def where(self) -> str:
        """The stack of the loop's thread, innermost call last."""
        frame = sys._current_frames().get(self.thread) if self.thread is not None else None
        return "".join(traceback.format_stack(frame)) if frame is not None else "(not known)\n"


class _Timers:
    """The timers of glupy.sleep: one thread of glupy's own that runs nothing but their
    deliveries (a hand-back of the handler to the workers), so no translator's code
    can hold it up. (On the asyncio loop, one coroutine blocking the loop held up
    every handler's sleep of the process.)"""

    def __init__(self) -> None:
        import heapq
        import itertools

        self._push, self._pop = heapq.heappush, heapq.heappop
        self._order = itertools.count()  # equal times: first come, first served
        self._due: list[tuple[float, int, Callable[[Any], None], Any]] = []
        self._cond = threading.Condition(threading.Lock())
        self._started = False

    def call_later(self, seconds: float, fn: Callable[[Any], None], arg: Any) -> None:
        """fn(arg) on the timers' thread in `seconds` (finite, >= 0: a NaN would stay at the
        head of the heap, and the thread would spin on it for good)."""
        if not _valid_seconds(float(seconds)):
            raise ValueError(f"call_later() needs a finite number of seconds >= 0, not {seconds!r}")
        with self._cond:
            order = next(self._order)
            self._push(self._due, (time.monotonic() + seconds, order, fn, arg))
            if not self._started:
                self._started = True
                _start_thread(self._run, "glupy-timers")
            elif self._due[0][1] == order:  # the new first: the thread waits for a later one
                self._cond.notify()

    #: the longest single wait (a condition's timeout has a platform maximum: a sleep of
    #: 1e10 s made the wait raise OverflowError and ended the thread, and every sleep of
    #: the process with it)
    LONGEST_WAIT = 3600.0

    def _run(self) -> None:
        while True:
            try:
                with self._cond:
                    while True:
                        wait = self._due[0][0] - time.monotonic() if self._due else self.LONGEST_WAIT
                        if wait <= 0:
                            _, _, fn, arg = self._pop(self._due)
                            break
                        self._cond.wait(min(wait, self.LONGEST_WAIT))
                fn(arg)
            except BaseException:  # noqa: BLE001 - nothing may end the timers
                pass
            fn = arg = None


_STACK_LOCK = threading.Lock()


def _start_thread(target: Callable[..., None], name: str, *args: Any) -> None:
    """A daemon thread of glupy's own, with glupy's stack (:data:`glupy._process.THREAD_STACK`,
    as the bridge's workers): a translator may have set a small one for its threads
    (``threading.stack_size`` is process-wide), and ordinary code on a 64 KiB stack
    crashed the process. Started
    with ``_thread``, not ``threading.Thread``: the hooks a translator sets for the
    threads threading starts (``threading.setprofile``, ``threading.settrace``) are
    not run in it; a profile function that raised ended glupy-timers as it started,
    and every later glupy.sleep of the process waited for its deadline."""
    import _thread

    with _STACK_LOCK:
        wanted = threading.stack_size(_process.THREAD_STACK)
        try:
            _thread.start_new_thread(_run_thread, (target, name, args))
        finally:
            threading.stack_size(wanted)


def watch_translator_threads() -> None:
    """Make the threads translators start with ``threading`` known to the bridge's memory
    watch (native/workers.c): while the process is over its memory limit and growing fast,
    one that has been computing for two ticks gets MemoryError, as a handler running that
    long does. A seventh red-team session's hoarding loop, moved to a thread of its own,
    had the OOM killer end the process. Installed once, in a GlusterFS daemon; glupy's own
    threads start with ``_thread`` and are not watched this way."""
    assert _native is not None
    begin, end = _native.thread_begin, _native.thread_end
    run_thread = threading.Thread._bootstrap_inner  # type: ignore[attr-defined]

    def _bootstrap_inner(self: threading.Thread) -> None:
        begin()
        try:
            run_thread(self)
        finally:
            end()

    threading.Thread._bootstrap_inner = _bootstrap_inner  # type: ignore[attr-defined]


def _run_thread(target: Callable[..., None], name: str, args: tuple[Any, ...]) -> None:
    try:
        threading.current_thread().name = name  # threading's view of it (a "dummy" thread), for reports
    except Exception:  # noqa: BLE001 - a name is not worth the thread
        pass
    try:
        target(*args)
    except BaseException:  # noqa: BLE001 - _thread would print it to stderr; the target reports its own
        pass


class _QuietAsyncio(logging.Filter):
    """``with _QUIET_ASYNCIO:`` drops what asyncio logs on this thread meanwhile. Making
    a loop logs "Using selector" at DEBUG; with the root logger at DEBUG and a handler
    that blocks (a log sink that stopped reading, set up by a translator's init), making
    glupy's loop blocked the thread under the services' lock, and every later on_loop of
    the process with it."""

    def __init__(self) -> None:
        super().__init__()
        self._here = threading.local()

    def filter(self, record: logging.LogRecord) -> bool:
        return not getattr(self._here, "quiet", False)

    def __enter__(self) -> None:
        logger = logging.getLogger("asyncio")
        if self not in logger.filters:  # (a translator may have reset them)
            logger.addFilter(self)
        self._here.quiet = True

    def __exit__(self, *exc: Any) -> None:
        self._here.quiet = False


_QUIET_ASYNCIO = _QuietAsyncio()


class _ThreadPool:
    """The threads of :func:`to_thread`: an idle one takes a call, else a new one starts
    (at most :attr:`MAX_THREADS`); idle ones end after :attr:`IDLE_SECONDS`. A call that
    never returns holds its own thread only: 32 such calls took a fixed pool of 32 from
    every later to_thread for good."""

    MAX_THREADS = 512
    IDLE_SECONDS = 30.0

    def __init__(self) -> None:
        import queue

        self._lock = threading.Lock()
        self._calls: Any = queue.SimpleQueue()
        self._threads = 0
        self._waiting = 0  # threads waiting for a call that no queued call is promised to
        self._unpromised = 0  # queued calls no thread was promised for (all busy, at the maximum)

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        from concurrent.futures import Future as ThreadFuture

        future: Any = ThreadFuture()
        with self._lock:
            if self._waiting:
                self._waiting -= 1
            elif self._threads < self.MAX_THREADS:
                try:
                    _start_thread(self._run, "glupy-to-thread")
                except BaseException:
                    # (no thread to spare: RuntimeError "can't start new thread") a thread
                    # counted but never started would be promised calls for good
                    if not self._threads:
                        raise  # the handler gets it; nothing was queued
                    self._unpromised += 1  # one of the running threads takes it
                else:
                    self._threads += 1
            else:
                self._unpromised += 1
            self._calls.put((future, fn, args, kwargs))
        return future

    def _run(self) -> None:
        import queue

        # the bridge's memory watch raises MemoryError in a call running long (native/workers.c)
        begin, end = (_native.call_begin, _native.call_end) if _native is not None else (_nothing, _nothing)
        while True:
            try:
                future, fn, args, kwargs = self._calls.get(timeout=self.IDLE_SECONDS)
            except queue.Empty:
                with self._lock:
                    if self._waiting:  # no call is on its way to this thread: end it
                        self._waiting -= 1
                        self._threads -= 1
                        return
                continue
            if future.set_running_or_notify_cancel():
                begin()
                try:
                    try:
                        result = fn(*args, **kwargs)
                    finally:  # (before the handler may go on)
                        end()
                except BaseException as error:  # noqa: BLE001 - the handler gets it raised
                    future.set_exception(error)
                else:
                    future.set_result(result)
                    del result
            del future, fn, args, kwargs
            with self._lock:
                if self._unpromised:
                    self._unpromised -= 1
                else:
                    self._waiting += 1


class _Services:
    """The threads behind sleep, to_thread and on_loop: timers, an asyncio loop and a
    thread pool, started on first use, daemon threads (they never hold a FOP hostage)."""

    #: loops given up as stalled and still stuck (each keeps its thread) before a stalled
    #: loop is used anyway: a loop that turns again counts no more, and ends once its
    #: tasks have
    MAX_STUCK_LOOPS = 16

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self._loop: Any = None
        self._heartbeat: _Heartbeat | None = None
        self._stuck_loops = 0
        self._pool: Any = None
        self.timers = _Timers()

    def loop(self) -> Any:
        """The loop for on_loop: a new one when there is none, when it was closed, or
        when it has not turned for _Heartbeat.STALLED seconds (logged, with where it is
        stuck). The stalled loop keeps its thread and its tasks (asyncio's objects are
        bound to their loop): they go on when it does."""
        with self.lock:
            loop, heartbeat = self._loop, self._heartbeat
            stalled = 0.0
            if loop is not None and not loop.is_closed() and heartbeat is not None:
                if self._stuck_loops < self.MAX_STUCK_LOOPS:
                    stalled = heartbeat.stalled_for()
                if not stalled:
                    return loop
            import asyncio

            if stalled:
                heartbeat.given_up = True
                self._stuck_loops += 1
                logging.getLogger("glupy").error(
                    "glupy's asyncio loop has not turned for %.1f s: a coroutine or callback on it blocks (a "
                    "time.sleep or a blocking call in an async def given to glupy.on_loop: use glupy.to_thread for "
                    "those). Later on_loop calls go to a new loop; what waits on the old one goes on when it does. "
                    "The old loop's thread is at:\n%s", stalled, heartbeat.where())
            with _QUIET_ASYNCIO:
                loop = asyncio.new_event_loop()
            self._heartbeat = heartbeat = _Heartbeat(loop, self._recovered)
            loop.call_soon(heartbeat.beat)
            _start_thread(_serve_loop, "glupy-asyncio", loop, heartbeat)
            self._loop = loop
            return loop

    def _recovered(self, heartbeat: _Heartbeat) -> None:
        """A loop given up as stalled turns again (on its thread): it counts as stuck no
        more, and ends once it has no task left."""
        with self.lock:
            self._stuck_loops -= 1
        self._retire_when_idle(heartbeat)

    def _retire_when_idle(self, heartbeat: _Heartbeat) -> None:
        import asyncio

        if asyncio.all_tasks(heartbeat.loop):
            heartbeat.loop.call_later(1.0, self._retire_when_idle, heartbeat)
        else:
            heartbeat.closing = True
            heartbeat.loop.stop()

    def pool(self) -> Any:
        with self.lock:
            if self._pool is None:
                self._pool = _ThreadPool()
            return self._pool

    def start(self, request: Any, deliver: Callable[[tuple[Any, BaseException | None]], None]) -> None:
        """Begin `request`; deliver((value, exception)) from another thread when it ends."""

        def done(future: Any) -> None:
            try:
                deliver((future.result(), None))
            except BaseException as error:  # noqa: BLE001 - the handler sees it raised
                deliver((None, error))

        if type(request) is Sleep:
            self.timers.call_later(request.seconds, deliver, (None, None))
        elif type(request) is ToThread:
            request.future = self.pool().submit(request.fn, *request.args, **request.kwargs)
            request.future.add_done_callback(done)
        else:
            import asyncio

            request.future = asyncio.run_coroutine_threadsafe(_awaited(request.awaitable), self.loop())
            request.future.add_done_callback(done)


SERVICES = _Services()


def current_frame() -> Any:
    """The frame of the FOP whose handler is running on this thread, or None.

    Inside GlusterFS the bridge knows it (it sets it whenever it runs a handler or
    resumes one). Elsewhere (the in-process harness) it is found on the call
    stack: the Task stepping the handler, or the entry point of a plain handler,
    so that the hot path records nothing per step."""
    native = sys.modules.get("glupy._glupy")
    if native is not None:
        frame = native.current_frame()
        if frame is not None:
            return frame
    f = sys._getframe(1)
    while f is not None:
        code = f.f_code
        if code is _STEP_CODE:
            return f.f_locals["self"].frame
        if code is _START_CODE:
            return f.f_locals["frame"]
        f = f.f_back
    return None


_STEP_CODE = Task.step.__code__
_START_CODE = start.__code__
