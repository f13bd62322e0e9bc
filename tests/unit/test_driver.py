"""The task driver against a scripted backend: sync and async replies, errors, gather, threads."""

from __future__ import annotations

import errno
import sys
import threading
from typing import Any

import pytest

import glupy
from glupy import _driver
from glupy.constants import Fop
from glupy.errors import FopError
from glupy.replies import FlushReply, LookupReply, ReadvReply, StatReply, WritevReply


@pytest.fixture(autouse=True)
def fresh_log_limiter(monkeypatch):
    """Each test its own budget of logged tracebacks."""
    monkeypatch.setattr(_driver, "LIMITER", _driver.LogLimiter())


class Backend:
    """Answers winds from a script; records unwinds and logged exceptions."""

    def __init__(self, answer=None, asynchronous=False):
        self.answer = answer or (lambda fop, args: LookupReply(inode="i", buf="b", postparent="pp", op_ret=0))
        self.asynchronous = asynchronous
        self.pending = []
        self.unwound = []
        self.logged = []
        self.winds = []
        self.owners = []

    def wind(self, frame, child, fop, args, callback, lk_owner=None):
        self.winds.append((child, fop, args))
        self.owners.append(lk_owner)
        reply = self.answer(fop, args)
        if self.asynchronous:
            self.pending.append((callback, reply))
            return _driver.PENDING
        return reply

    def unwind(self, frame, fop, op_ret, op_errno, reply):
        self.unwound.append((fop, op_ret, op_errno, reply))

    def log_exception(self, domain, context, exc):
        self.logged.append((context, exc))

    def deliver_all(self):
        while self.pending:
            callback, reply = self.pending.pop(0)
            callback(reply)


def run(backend, handler, fop=Fop.LOOKUP, args=("loc", None)):
    _driver.start(backend, "frame", int(fop), handler, args, "test")


child = glupy.Child("child0", 0)


async def passthrough_lookup(loc, xdata):
    return await child.lookup(loc, xdata)


@pytest.mark.parametrize("asynchronous", [False, True])
def test_passthrough_returns_the_childs_reply(asynchronous):
    expected = LookupReply(inode="i", buf="b", postparent="pp", op_ret=0)
    b = Backend(lambda fop, args: expected, asynchronous)
    run(b, passthrough_lookup)
    b.deliver_all()
    assert b.winds == [("child0", Fop.LOOKUP, ("loc", None))]
    assert b.unwound == [(Fop.LOOKUP, 0, 0, expected)]


def test_error_reply_raises_fop_error_and_propagates_the_full_reply():
    failed = LookupReply(postparent="pp", op_ret=-1, op_errno=errno.ENOENT)
    b = Backend(lambda fop, args: failed)
    seen = []

    async def handler(loc, xdata):
        try:
            return await child.lookup(loc, xdata)
        except glupy.FopError as e:
            seen.append(e.errno)
            raise

    run(b, handler)
    assert seen == [errno.ENOENT]
    assert b.unwound == [(Fop.LOOKUP, -1, errno.ENOENT, failed)]


def test_raising_fop_error_answers_that_errno_without_a_reply():
    b = Backend()

    async def handler(loc, xdata):
        raise glupy.FopError(errno.EROFS)

    run(b, handler)
    assert b.unwound == [(Fop.LOOKUP, -1, errno.EROFS, None)]
    assert b.logged == []


def test_a_bug_answers_eio_and_logs_the_traceback():
    b = Backend()

    async def handler(loc, xdata):
        return 1 / 0

    run(b, handler)
    assert b.unwound == [(Fop.LOOKUP, -1, errno.EIO, None)]
    assert isinstance(b.logged[0][1], ZeroDivisionError)


def test_wrong_reply_type_answers_eio():
    b = Backend()

    async def handler(loc, xdata):
        return StatReply()

    run(b, handler)
    assert b.unwound[0][1:3] == (-1, errno.EIO)
    assert "expected LookupReply" in str(b.logged[0][1])


def test_returning_none_is_an_empty_success_only_where_nothing_is_required():
    b = Backend()

    async def handler(*args):
        return None

    run(b, handler)  # lookup: inode, buf and postparent are required
    assert b.unwound[0][1:] == (-1, errno.EIO, None)
    assert "returned None, but a successful lookup reply must carry inode, buf, postparent" in str(b.logged[0][1])
    run(b, handler, Fop.FLUSH, ("fd", None))
    fop, op_ret, op_errno, reply = b.unwound[1]
    assert (fop, op_ret, op_errno, type(reply)) == (Fop.FLUSH, 0, 0, FlushReply)


def test_plain_function_handler_answers_directly():
    b = Backend()
    run(b, lambda loc, xdata: LookupReply(inode="i", buf="b", postparent="pp", op_ret=0))
    assert b.unwound[0][1] == 0 and b.winds == []


def test_a_returned_wind_passes_the_fop_on_and_its_reply_back_unchanged():
    """A handler returning self.child.<fop>(...) unawaited is a tail call: the FOP goes to
    the child once and the child's reply, a failure too, is the answer as it is."""
    failed = LookupReply(op_ret=-1, op_errno=errno.ENOENT)
    for asynchronous in (False, True):
        b = Backend(answer=lambda fop, args: failed, asynchronous=asynchronous)
        run(b, lambda loc, xdata: child.lookup(loc, xdata))  # a plain def

        async def handler(loc, xdata):
            return child.lookup(loc, xdata)

        run(b, handler)  # an async def returning the wind
        b.deliver_all()
        assert len(b.winds) == 2 and [u[1:] for u in b.unwound] == [(-1, errno.ENOENT, failed)] * 2
        assert b.logged == []


def test_a_returned_wind_of_another_fop_or_with_an_owner_is_refused():
    b = Backend()
    run(b, lambda loc, xdata: child.stat(loc, xdata))  # a lookup handler returning a stat
    run(b, lambda loc, xdata: child.lookup(loc, xdata, lk_owner=b"me"))
    assert [u[1:3] for u in b.unwound] == [(-1, errno.EIO)] * 2 and b.winds == []
    assert "same FOP" in str(b.logged[0][1]) and "lk_owner" in str(b.logged[1][1])


def test_an_awaitable_that_is_not_a_wind_is_not_driven():
    class AwaitableWind:  # awaitable, with send() but no throw(): neither a coroutine nor a Wind
        def send(self, value):
            raise AssertionError("driven as if it were a coroutine")

    b = Backend()
    _driver.make_takeover(b)("frame", int(Fop.LOOKUP), passthrough_lookup, None, _driver.TAKEOVER_CALLED,
                             AwaitableWind())
    assert b.unwound[0][1:3] == (-1, errno.EIO) and b.winds == []


def test_a_wind_handed_over_by_the_bridge_is_wound():
    """The C driver hands a request it does not know (a pure-Python Wind, made where
    glupy was imported before the bridge loaded: a gfapi host) to the takeover,
    which winds it like any other."""
    b = Backend()

    async def handler(loc, xdata):
        reply = await wind
        return reply

    wind = child.lookup("loc", None)
    coro = handler("loc", None)
    assert coro.send(None) is wind  # where the C driver stopped: the handler awaits `wind`
    _driver.make_takeover(b)("frame", int(Fop.LOOKUP), handler, coro, _driver.TAKEOVER_REQUEST, wind)
    assert b.winds == [("child0", int(Fop.LOOKUP), ("loc", None))]
    assert b.unwound[0][1] == 0 and b.logged == []


def test_awaiting_something_else_is_a_clear_error():
    b = Backend()

    class Foreign:
        def __await__(self):
            yield "not glupy"

    async def handler(loc, xdata):
        await Foreign()

    run(b, handler)
    assert b.unwound[0][1:3] == (-1, errno.EIO)
    assert "can only await glupy operations" in str(b.logged[0][1])


def test_many_synchronous_winds_do_not_grow_the_stack():
    b = Backend()

    async def handler(loc, xdata):
        for _ in range(20000):
            await child.lookup(loc, xdata)
        return await child.lookup(loc, xdata)

    run(b, handler)
    assert len(b.winds) == 20001 and b.unwound[0][1] == 0


def test_readv_reply_counts_its_data():
    assert ReadvReply(data=b"abcd").op_ret == 4
    assert WritevReply(op_ret=7).op_ret == 7


@pytest.mark.parametrize("asynchronous", [False, True])
def test_gather_returns_results_in_order(asynchronous):
    b = Backend(lambda fop, args: LookupReply(inode="i", buf=args[0], postparent="pp", op_ret=0), asynchronous)
    c1 = glupy.Child("child1", 1)

    async def sub(tag):
        r = await child.lookup(tag, None)
        return r.buf + "!"

    async def handler(loc, xdata):
        results = await glupy.gather(child.lookup("a", None), c1.lookup("b", None), sub("c"))
        return LookupReply(inode="i", buf=[results[0].buf, results[1].buf, results[2]], postparent="pp", op_ret=0)

    run(b, handler)
    b.deliver_all()
    assert b.unwound[0][3].buf == ["a", "b", "c!"]


def test_gather_raises_first_error_after_all_finish_or_returns_exceptions():
    def answer(fop, args):
        return LookupReply(op_ret=-1, op_errno=errno.EIO) if args[0] == "bad" else LookupReply(inode="i", buf="b", postparent="pp", op_ret=0)

    b = Backend(answer, asynchronous=True)
    outcomes = []

    async def handler(loc, xdata):
        mixed = await glupy.gather(child.lookup("ok", None), child.lookup("bad", None), return_exceptions=True)
        outcomes.append([type(x).__name__ for x in mixed])
        await glupy.gather(child.lookup("ok", None), child.lookup("bad", None))

    run(b, handler)
    b.deliver_all()
    assert outcomes == [["LookupReply", "FopError"]]
    assert b.unwound[0][1:3] == (-1, errno.EIO)


def test_replies_arriving_on_other_threads_resume_exactly_once():
    """Callbacks race from many threads; the handler must finish once with all results."""
    for _ in range(50):
        b = Backend(lambda fop, args: LookupReply(inode="i", buf=args[0], postparent="pp", op_ret=0), asynchronous=True)

        async def handler(loc, xdata):
            results = await glupy.gather(*(child.lookup(i, None) for i in range(16)))
            return LookupReply(inode="i", buf=[r.buf for r in results], postparent="pp", op_ret=0)

        run(b, handler)
        threads = [threading.Thread(target=cb, args=(reply,)) for cb, reply in b.pending]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(b.unwound) == 1
        assert b.unwound[0][3].buf == list(range(16))


def test_current_frame_is_visible_inside_a_handler_only():
    b = Backend()
    frames = []

    async def handler(loc, xdata):
        frames.append(_driver.current_frame())
        await child.lookup(loc, xdata)
        frames.append(_driver.current_frame())

    run(b, handler)
    assert frames == ["frame", "frame"]
    assert _driver.current_frame() is None


@pytest.mark.parametrize("asynchronous", [False, True])
def test_lk_owner_reaches_the_backend_for_winds_and_gathers(asynchronous):
    backend = Backend(asynchronous=asynchronous)

    async def handler(loc, xdata):
        await child.lookup(loc, xdata, lk_owner=b"mine")
        await glupy.gather(child.lookup(loc, xdata), child.lookup(loc, xdata, lk_owner=b"other"))
        return await child.lookup(loc, xdata)

    run(backend, handler)
    backend.deliver_all()
    backend.deliver_all()
    backend.deliver_all()
    assert backend.owners == [b"mine", None, b"other", None]
    assert [u[1] for u in backend.unwound] == [0]


# ---------------------------------------------------------------- tail awaits (native/task.c)


class _TailShapes:
    child: Any = None

    async def tail(self, loc, xdata):
        return await self.child.stat(loc, xdata)

    async def guarded(self, loc, xdata):
        if loc is None:
            raise FopError(errno.EINVAL)
        return await self.child.stat(loc, xdata)

    async def two_tails(self, loc, xdata):
        if xdata:
            return await self.child.stat(loc, xdata)
        return await self.child.stat(loc, None)

    async def kept(self, loc, xdata):
        reply = await self.child.stat(loc, xdata)
        return reply

    async def first_of_two(self, loc, xdata):
        await self.child.stat(loc, xdata)
        return await self.child.stat(loc, xdata)

    async def in_try(self, loc, xdata):
        try:
            return await self.child.stat(loc, xdata)
        finally:
            pass

    async def in_with(self, loc, xdata):
        with open("/dev/null"):
            return await self.child.stat(loc, xdata)

    async def no_await(self, loc, xdata):
        return None

    def plain(self, loc, xdata):
        return self.child.stat(loc, xdata)


@pytest.mark.skipif(sys.version_info[:2] != (3, 11) or sys.implementation.name != "cpython",
                    reason="tail awaits are recognised in CPython 3.11's bytecode only")
@pytest.mark.parametrize("name, tail", [("tail", True), ("guarded", True), ("two_tails", True), ("kept", False),
                                        ("first_of_two", False), ("in_try", False), ("in_with", False),
                                        ("no_await", False), ("plain", False)])
def test_tail_await_code_recognises_only_return_await(name: str, tail: bool) -> None:
    """The bridge answers a reply in C only for handlers whose every await is `return await`:
    nothing of the handler may run after the reply comes back."""
    from glupy._driver import tail_await_code

    method = getattr(_TailShapes(), name)
    assert (tail_await_code(method) is method.__func__.__code__) is tail
    assert tail_await_code(_TailShapes.tail) is None  # unbound: not a handler


def test_the_passthrough_handlers_are_tail_awaits() -> None:
    from glupy._driver import tail_await_code
    from glupy.translators.passthrough import Passthrough

    inst = Passthrough.__new__(Passthrough)
    expected = sys.version_info[:2] == (3, 11) and sys.implementation.name == "cpython"
    assert (tail_await_code(inst.stat) is not None) is expected
    assert (tail_await_code(inst.getxattr) is not None) is expected
    from glupy.testing.translators import AwaitMistakes

    assert (tail_await_code(AwaitMistakes.__new__(AwaitMistakes).lookup) is not None) is expected


def test_a_to_thread_whose_thread_cannot_start_leaves_the_pool_as_it_was(monkeypatch) -> None:
    """No thread to spare (RuntimeError "can't start new thread"): with no thread of the
    pool running, the call raises and nothing is left queued or counted; with one running,
    the call waits for it. (Before: a thread was counted but never started, and later calls
    were promised to it for good.)"""
    pool = _driver._ThreadPool()
    real_start = _driver._start_thread

    def cannot_start(*args: Any) -> None:
        raise RuntimeError("can't start new thread")

    monkeypatch.setattr(_driver, "_start_thread", cannot_start)
    with pytest.raises(RuntimeError, match="can't start new thread"):
        pool.submit(lambda: 1)
    assert (pool._threads, pool._calls.qsize(), pool._unpromised) == (0, 0, 0)

    monkeypatch.setattr(_driver, "_start_thread", real_start)
    release = threading.Event()
    first = pool.submit(release.wait, 10)
    monkeypatch.setattr(_driver, "_start_thread", cannot_start)
    second = pool.submit(lambda: "ran")
    assert pool._threads == 1
    release.set()
    assert first.result(10) is True
    assert second.result(10) == "ran"

