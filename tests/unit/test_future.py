"""glupy.Future: a value one handler (or a thread) gives and other handlers await."""

from __future__ import annotations

import errno
import threading

import pytest

import glupy
from glupy.testing.fixtures import glupy_harness  # noqa: F401 - the fixture


class Waiting(glupy.Translator):
    """stat waits for a Future that a timer thread sets; getxattr awaits one already done."""

    def init(self) -> None:
        self.got: list = []

    async def stat(self, loc, xdata):
        fut = glupy.Future()
        threading.Timer(0.05, fut.set_result, ("from a thread",)).start()
        self.got.append(await fut)
        return await self.child.stat(loc, xdata)

    async def getxattr(self, loc, name, xdata):
        if name == "user.done":
            fut = glupy.Future()
            fut.set_result(7)
            self.got.append(await fut)
            self.got.append(await fut)  # a done Future resumes at once, every time
        elif name == "user.fails":
            fut = glupy.Future()
            threading.Timer(0.01, fut.set_exception, (glupy.FopError(errno.EROFS),)).start()
            await fut
        return await self.child.getxattr(loc, name, xdata)


def test_a_handler_awaits_a_value_another_thread_gives(glupy_harness) -> None:
    h = glupy_harness(Waiting)
    h.create("/f", b"abc")
    assert h.stat("/f").size == 3
    assert h.top.instance.got == ["from a thread"]


def test_a_done_future_and_an_exception(glupy_harness) -> None:
    h = glupy_harness(Waiting)
    h.create("/f", b"abc")
    with pytest.raises(glupy.FopError):
        h.getxattr("/f", "user.done")  # the child has no such xattr: ENODATA, after the awaits
    assert h.top.instance.got == [7, 7]
    with pytest.raises(glupy.FopError) as info:
        h.getxattr("/f", "user.fails")
    assert info.value.errno == errno.EROFS


def test_every_waiter_resumes_and_a_future_is_set_once() -> None:
    fut = glupy.Future()
    seen: list = []
    assert fut._wait(seen.append) is None and fut._wait(seen.append) is None
    assert not fut.done()
    with pytest.raises(RuntimeError):
        fut.result()
    fut.set_result("v")
    assert seen == [("v", None), ("v", None)] and fut.done() and fut.result() == "v"
    with pytest.raises(RuntimeError):
        fut.set_result("again")
    with pytest.raises(TypeError):
        glupy.Future().set_exception("not an exception")
