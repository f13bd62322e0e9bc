"""Findings of a red-team session (2026-12-08): a per-inode or per-fd context that holds its
own inode or fd is refused (a cycle through GlusterFS's reference counts that Python's garbage
collector cannot see), and so is a listing far bigger than any caller asks for; a Future forgets
the handlers abandoned at their deadline."""

from __future__ import annotations

import errno
import uuid

import pytest

import glupy
from glupy import _pytypes as T
from glupy.testing.fixtures import glupy_harness  # noqa: F401 - the fixture
from glupy.translator import _refers_back as refers_back


class Holder:
    def __init__(self, **held):
        self.__dict__.update(held)


class Slotted:
    __slots__ = ("held",)

    def __init__(self, held):
        self.held = held


def test_refers_back_finds_the_inode_or_fd_a_context_is_stored_for() -> None:
    inode, other = T.Inode(uuid.uuid4()), T.Inode(uuid.uuid4())
    fd, other_fd = T.Fd(inode), T.Fd(other)
    assert refers_back(Holder(fd=fd), fd=fd) == "the context.fd"
    assert refers_back({"k": [Slotted(fd)]}, fd=fd) == "the context['k'][0].held"
    assert refers_back(Holder(fd=other_fd, inode=inode, n=1), fd=fd) is None  # (the fd's inode: no cycle)
    assert refers_back(inode, inode=inode) == "the context"
    assert refers_back((T.Loc("/d/f", inode=other, parent=inode),), inode=inode) == "the context[0]"
    assert refers_back([fd], inode=inode) == "the context[0]"  # an fd holds its inode
    assert refers_back([other_fd, other, "x", b"y", 3], inode=inode) is None

    class Unreadable:
        def __getattribute__(self, name):
            raise RuntimeError(name)

    assert refers_back(Unreadable(), fd=fd) is None  # stored as it is


class StoresItself(glupy.Translator):
    """create of "f*" keeps Holder(fd=fd) as the fd's context, lookup of "c*" keeps [Inode] as
    the inode's; other names get a plain context (their path, their gfid)."""

    async def create(self, loc, flags, mode, umask, fd, xdata):
        self.set_fd_ctx(fd, Holder(fd=fd) if loc.name.startswith("f") else Holder(path=loc.path))
        return await self.child.create(loc, flags, mode, umask, fd, xdata)

    async def lookup(self, loc, xdata):
        reply = await self.child.lookup(loc, xdata)
        if reply.op_ret == 0 and loc.name and loc.name[0] in "cp":
            self.set_inode_ctx(reply.inode, [reply.inode] if loc.name[0] == "c" else {"gfid": reply.inode.gfid})
        return reply


def test_a_context_holding_its_own_fd_or_inode_fails_the_fop_with_a_clear_error(glupy_harness, caplog) -> None:
    h = glupy_harness(StoresItself)
    h.create("/plain", b"x")  # a context without a reference back is stored
    with pytest.raises(glupy.FopError) as info:
        h.create("/f", b"x")
    assert info.value.errno == errno.EIO
    assert "set_fd_ctx: the context holds the fd it is set on (the context.fd)" in caplog.text
    h.create("/cat", b"x")  # (its lookup before the create finds nothing: nothing stored)
    assert h.stat("/plain").size == 1
    with pytest.raises(glupy.FopError) as info:
        h.stat("/cat")
    assert info.value.errno == errno.EIO
    assert "set_inode_ctx: the context holds the inode it is set on (the context[0])" in caplog.text


def test_a_listing_bigger_than_any_caller_asks_for_is_refused() -> None:
    """glupy._validate (the Python driver's and the harness's rules; the bridge's generated
    unwinders make the same check): readdir(p) entries counted as storage/posix counts them
    (DIRENT_BYTES + name + NUL) may not exceed READDIR_REPLY_MAX."""
    from glupy._validate import ReplyError, check_reply
    from glupy.fop_table import DIRENT_BYTES, FOP_ID, READDIR_REPLY_MAX
    from glupy.replies import ReaddirpReply, ReaddirReply
    from glupy.types import Dirent

    fits = READDIR_REPLY_MAX // (DIRENT_BYTES + 10)
    for cls, fop in ((ReaddirpReply, "readdirp"), (ReaddirReply, "readdir")):
        check_reply(FOP_ID[fop], cls([Dirent(name=f"{i:09d}") for i in range(fits)], None))
        with pytest.raises(ReplyError, match="more than any caller asks for"):
            check_reply(FOP_ID[fop], cls([Dirent(name=f"{i:09d}") for i in range(fits + 10)], None))


def test_a_future_drops_the_waiters_of_handlers_abandoned_at_their_deadline() -> None:
    from glupy._driver import FUTURE_PRUNE_AT, Future

    never = Future()
    delivered = []
    for _ in range(3 * FUTURE_PRUNE_AT):
        never._wait(delivered.append, lambda: False)  # answered at its deadline, coroutine closed
    assert len(never._waiters) <= FUTURE_PRUNE_AT
    for _ in range(2):
        never._wait(delivered.append, lambda: True)
    never.set_result(7)
    assert delivered.count((7, None)) >= 2
