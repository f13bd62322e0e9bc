"""Handlers await more than winds: glupy.sleep, glupy.to_thread, glupy.on_loop (asyncio)."""
import asyncio
import errno
import threading
import time

import pytest

import glupy
from glupy.testing.fixtures import glupy_harness  # noqa: F401

class Waits(glupy.Translator):
    async def stat(self, loc, xdata):
        await glupy.sleep(0.05)
        v = await glupy.to_thread(lambda: threading.current_thread().name)
        w = await glupy.on_loop(asyncio.sleep(0.01, result="loop"))
        r = await self.child.stat(loc, xdata)
        self.seen = (v, w)
        return r

def test_waits(glupy_harness, tmp_path):
    h = glupy_harness(Waits)
    h.create("/f", b"x")
    t = time.monotonic()
    assert h.stat("/f").size == 1
    assert time.monotonic() - t >= 0.05
    inst = h.top.instance
    assert inst.seen[0].startswith("glupy-to-thread") and inst.seen[1] == "loop"


class Raises(glupy.Translator):
    async def stat(self, loc, xdata):
        try:
            await glupy.to_thread(lambda: 1 / 0)
        except ZeroDivisionError:
            pass
        await glupy.on_loop(asyncio.sleep(0))
        raise glupy.FopError(errno.EROFS)


def test_exceptions_come_back_into_the_handler(glupy_harness):
    h = glupy_harness(Raises)
    h.create("/f", b"x")
    with pytest.raises(glupy.FopError) as e:
        h.stat("/f")
    assert e.value.errno == errno.EROFS


class Forever(glupy.Translator):
    async def stat(self, loc, xdata):
        await glupy.sleep(3600)


def test_a_handler_that_never_answers_is_reported(glupy_harness):
    h = glupy_harness(Forever)
    h.fop_timeout = 0.2
    h.create("/f", b"x")
    with pytest.raises(Exception, match="not answered within 0.2 s"):
        h.stat("/f")


def test_bad_arguments_are_refused_in_the_handler():
    with pytest.raises(ValueError):
        glupy.sleep(-1)
    for endless in (float("inf"), float("nan")):
        with pytest.raises(ValueError, match="finite"):
            glupy.sleep(endless)
    with pytest.raises(TypeError):
        glupy.to_thread(42)
    with pytest.raises(TypeError):
        glupy.on_loop(42)


def test_abandon_cancels_what_an_expired_handler_awaits_and_closes_it() -> None:
    """At its deadline a handler waiting on the event loop is abandoned: the asyncio
    request is cancelled (it would otherwise live forever), the coroutine's finally runs,
    and the cancellation arriving afterwards resumes nothing."""
    from types import SimpleNamespace

    from glupy import _driver

    never = asyncio.Event()
    cleaned: list[str] = []

    async def handler() -> None:
        try:
            await glupy.on_loop(never.wait())
        finally:
            cleaned.append("finally")

    coro = handler()
    request = coro.send(None)  # what the handler awaits: an OnLoop
    delivered: list = []
    _driver.SERVICES.start(request, delivered.append)
    task = _driver.Task(None, None, 0, coro, "test")
    _driver.abandon(SimpleNamespace(coro=coro))
    assert cleaned == ["finally"]
    deadline = time.monotonic() + 5
    while not delivered and time.monotonic() < deadline:
        time.sleep(0.01)
    assert request.future.cancelled()
    value, error = delivered[0]
    assert isinstance(error, BaseException)  # CancelledError
    task.resume_outcome(delivered[0])  # a closed coroutine: nothing happens, nothing raises


def test_the_timers_outlive_a_far_timer() -> None:
    """A timer further away than a condition's wait can take (1e10 s: the wait raised
    OverflowError and ended the timers' thread, and every later glupy.sleep of the
    process waited for its deadline) leaves the timers serving the nearer ones."""
    import threading

    from glupy._driver import _Timers

    timers, fired = _Timers(), threading.Event()
    timers.call_later(1e10, lambda _: None, None)
    timers.call_later(0.01, lambda _: fired.set(), None)
    assert fired.wait(5)
    again = threading.Event()
    timers.call_later(0.01, lambda _: again.set(), None)
    assert again.wait(5)


def test_a_stalled_event_loop_is_replaced_then_retired_once_it_turns_again(monkeypatch) -> None:
    """A loop held by a blocking coroutine is given up at the next use (a new loop serves
    it); when the block ends it counts as stuck no more, and is closed once idle. Many
    blocks one after the other (each given up, each ending) never use up the loops."""
    import asyncio
    import time

    from glupy._driver import _Heartbeat, _Services

    monkeypatch.setattr(_Heartbeat, "STALLED", 0.2)
    monkeypatch.setattr(_Services, "MAX_STUCK_LOOPS", 2)

    import threading

    async def blocks(seconds: float, started: threading.Event) -> None:
        started.set()
        time.sleep(seconds)

    services = _Services()
    loops = [services.loop()]
    for _ in range(services.MAX_STUCK_LOOPS + 3):
        # stalled once the block has run 0.35 s (the last beat is older still), and still
        # blocked when the next loop is asked for; timed from the block's start, not from
        # its submission, which a loaded machine may run late
        started = threading.Event()
        asyncio.run_coroutine_threadsafe(blocks(1.0, started), loops[-1])
        assert started.wait(5)
        time.sleep(0.35)
        loops.append(services.loop())
        assert loops[-1] is not loops[-2]
        assert asyncio.run_coroutine_threadsafe(asyncio.sleep(0, "ok"), loops[-1]).result(2) == "ok"
    deadline = time.monotonic() + 10
    while not all(loop.is_closed() for loop in loops[:-1]) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert all(loop.is_closed() for loop in loops[:-1]) and services._stuck_loops == 0
    assert not loops[-1].is_closed()
