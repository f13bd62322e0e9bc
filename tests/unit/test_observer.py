"""Observers (glupy.observer): they see a FOP and its reply, they do not change it."""

from __future__ import annotations

import errno
import logging

import pytest

import glupy
from glupy import FopError
from glupy.constants import Fop
from glupy.loader import bind_handlers
from glupy.testing.fixtures import glupy_harness  # noqa: F401 - the fixture


class Watching(glupy.Translator):
    """Observes create, writev and stat; handles nothing."""

    def init(self) -> None:
        self.seen: list[tuple] = []

    @glupy.observer
    def create(self, loc, flags, mode, umask, fd, xdata, reply):
        self.seen.append(("create", loc.path, reply.op_ret, self.caller.uid))

    @glupy.observer
    def writev(self, fd, data, offset, flags, xdata, reply):
        self.seen.append(("writev", bytes(data), offset, reply.op_ret))

    @glupy.observer
    def stat(self, loc, xdata, reply):
        self.seen.append(("stat", loc.path, reply.op_ret, reply.op_errno))

    @glupy.observer
    def lookup(self, loc, xdata, reply):
        if reply.op_ret < 0:
            self.seen.append(("lookup", loc.path, reply.op_ret, reply.op_errno))


class Failing(glupy.Translator):
    """Observers that raise, return a coroutine, or return junk: the FOPs are not affected."""

    @glupy.observer
    def stat(self, loc, xdata, reply):
        raise RuntimeError("an observer's bug")

    @glupy.observer
    async def writev(self, fd, data, offset, flags, xdata, reply):  # an observer cannot await
        raise AssertionError("never run")

    @glupy.observer
    def create(self, loc, flags, mode, umask, fd, xdata, reply):
        return object()


class Both(Watching):
    async def lookup(self, loc, xdata):
        return await self.child.lookup(loc, xdata)


def test_observers_are_not_handlers(glupy_harness) -> None:
    handlers, observers = bind_handlers(glupy_harness(Both).top.instance)
    assert set(handlers) == {int(Fop.LOOKUP)}
    assert set(observers) == {int(Fop.CREATE), int(Fop.WRITEV), int(Fop.STAT)}  # lookup: Both's handler


def test_an_observer_sees_the_arguments_the_reply_and_the_caller(glupy_harness) -> None:
    h = glupy_harness(Watching)
    h.create("/f", b"hello", 0o644)
    ia = h.stat("/f")
    assert ia.size == 5  # the reply reached the caller unchanged
    assert errno_of(h.stat, "/missing") == errno.ENOENT
    seen = h.top.instance.seen
    assert ("create", "/f", 0, 0) in seen  # uid 0: the harness's default caller
    assert ("writev", b"hello", 0, 5) in seen
    assert ("stat", "/f", 0, 0) in seen
    assert ("lookup", "/missing", -1, errno.ENOENT) in seen  # failures are observed too


def test_what_an_observer_does_wrong_is_logged_and_the_fops_succeed(glupy_harness, caplog) -> None:
    h = glupy_harness(Failing)
    with caplog.at_level(logging.ERROR):
        h.create("/f", b"abc", 0o644)
        assert h.stat("/f").size == 3
    text = caplog.text
    assert "observer stat failed" in text and "an observer's bug" in text
    assert "observer writev failed" in text and "cannot await" in text
    assert "observer create" not in text  # a value returned is dropped, not an error


def errno_of(fn, *args) -> int:
    with pytest.raises(FopError) as info:
        fn(*args)
    return info.value.errno
