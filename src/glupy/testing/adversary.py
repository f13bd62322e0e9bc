"""adversary: misbehaving translators neither glupy.testing.chaos nor glupy.testing.hostile
covers, for tests/integration/test_adversary.py (issue 11: whatever a handler does, the
process keeps its PID, serves every other FOP, and answers the bad FOP with an errno).

Each class misbehaves by the name a FOP is about (a lookup's name, a getxattr's
attribute name), so that a test can make one FOP misbehave while others of the same
client are measured.

* :class:`SelfWinder`: winds (or tail-calls) a FOP to its own xlator: unbounded C recursion
  on a worker, SIGSEGV (client and brick).
* :class:`EventTwister`: notify turns CHILD_UP into another event (PARENT_UP: unbounded
  notify recursion at start-up, SIGSEGV).
* :class:`OddHandlers`: handlers that are descriptors, staticmethods, classes, partials,
  lambdas, fake coroutines, properties, per-instance attributes (all answered).
* :class:`Internals`: handlers that replace self.child/children/name/log/_glupy_xlator and the
  option values, call the private _glupy.unwind/_glupy.submit, decoy their frame's coroutine
  (all answered).
* :class:`LocForger`: winds every Loc FOP with hand-made Locs (some crash storage/posix).
"""

from __future__ import annotations

import errno
import functools
import time
from typing import Any

import glupy
from glupy.constants import ROOT_GFID

__all__ = ["SelfWinder", "EventTwister", "OddHandlers", "Internals", "LocForger"]


def _name(loc: Any) -> str:
    return (loc.name or (loc.path or "").rpartition("/")[2] or "")


class SelfWinder(glupy.Translator):
    """Winds to its own xlator (not a child), by lookup name:

    * ``selfwind-*``: ``await`` a lookup wound to ``Child(self._glupy_xlator)``: the FOP comes
      back into this handler, which winds it again, without end;
    * ``selftail-*``: returns (tail call) a lookup wound to its own xlator: the same loop,
      on the caller's frame, outside any deadline;
    * ``selfstat-*``: awaits a stat of the same Loc wound to its own xlator (the stat is not
      handled in Python: passes to posix in C; one extra hop, then answered).
    """

    def lookup(self, loc: Any, xdata: Any) -> Any:
        name = _name(loc)
        me = glupy.Child(self._glupy_xlator, 0)
        if name.startswith("selftail-"):
            return me.lookup(loc, xdata)
        return self._lookup(me, name, loc, xdata)

    async def _lookup(self, me: Any, name: str, loc: Any, xdata: Any) -> Any:
        if name.startswith("selfwind-"):
            return await me.lookup(loc, xdata)
        if name.startswith("selfstat-"):
            await me.stat(loc, xdata)
            raise glupy.FopError(errno.ENOENT)
        return await self.child.lookup(loc, xdata)


class EventTwister(glupy.Translator):
    """notify turns the events it sees into others (``turn``: an event number, 0 for none):
    CHILD_UP from its child goes on to its parents as event ``turn``, with CHILD_UP's own
    data (the child's xlator) -- a translator answering an event with another one, as the
    API allows ("return another Event to pass that on instead")."""

    turn = glupy.Option(int, default=0)

    def notify(self, event: Any, source: Any) -> Any:
        if event == glupy.Event.CHILD_UP and self.turn:
            return self.turn
        return None

    async def stat(self, loc: Any, xdata: Any) -> Any:
        return await self.child.stat(loc, xdata)


class _FakeCoro:
    """Quacks like a coroutine (send/throw/close) without being one: its send() winds the
    lookup it was made for once, then returns junk for ever; throw() swallows everything."""

    def __init__(self, xl: Any, loc: Any, xdata: Any) -> None:
        self.wind = xl.child.lookup(loc, xdata)
        self.sent = 0

    def send(self, value: Any) -> Any:
        self.sent += 1
        if self.sent == 1:
            return self.wind
        if self.sent > 3:
            raise StopIteration(value)
        return 42  # not a glupy awaitable

    def throw(self, *exc: Any) -> Any:
        return 43

    def close(self) -> None:
        raise RuntimeError("close fails by design")


class _CallableHandler:
    """A handler that is an object with __call__ (not a function): returns a coroutine."""

    def __get__(self, obj: Any, owner: Any) -> Any:
        return self if obj is None else functools.partial(self.__call__, obj)

    async def __call__(self, xl: Any, loc: Any, xdata: Any) -> Any:
        return await xl.child.stat(loc, xdata)


async def _free_readlink(loc: Any, size: Any, xdata: Any) -> Any:
    raise glupy.FopError(errno.EINVAL)


class _AccessClass:
    """A class used as a handler: calling it makes an instance (neither a reply nor a coroutine)."""

    def __init__(self, *args: Any) -> None:
        self.args = args


class OddHandlers(glupy.Translator):
    """Handlers that are not ``async def`` methods:

    * ``stat``: a descriptor object whose ``__call__`` is a coroutine function (works);
    * ``readlink``: a ``staticmethod`` (no self: the arguments shift, TypeError: EIO);
    * ``access``: a class (calling it makes an instance: not a reply: EIO);
    * ``statfs``: a ``functools.partial`` of a coroutine function (works);
    * ``opendir``: a property giving a lambda returning a coroutine that, for a directory
      named ``d``, answers with another FOP's reply (a stat's: the wrong class: EIO);
    * ``lookup``: a plain def returning, by name: ``fake-*`` an object with send/throw/close
      that is not a coroutine (winds once, then yields junk, swallows what is thrown into it);
      ``property-*`` the value of a property that raises; every other name goes on;
    * ``getxattr``: set per instance in init (the class's own is never used): a
      ``lambda`` tail-calling the child;
    * ``setxattr``: an async generator function; ``removexattr``: a generator function
      whose generator yields the child's wind and then a second, unawaited one;
    * ``__getattr__`` on the class answering every unknown attribute (a FOP not defined is
      looked up through it by nobody: it stays in C).
    """

    stat = _CallableHandler()
    readlink = staticmethod(_free_readlink)
    access = _AccessClass

    def __init__(self) -> None:  # no super().__init__(): glupy sets up before __init__ runs
        self.inits = self.__dict__.get("inits", 0) + 1

    def init(self) -> None:
        self.getxattr = lambda loc, name, xdata: self.child.getxattr(loc, name, xdata)  # type: ignore[method-assign]

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return lambda *a, **k: glupy.FopError(errno.EPERM)

    async def _statfs(self, tag: str, loc: Any, xdata: Any) -> Any:
        return await self.child.statfs(loc, xdata)

    @property
    def statfs(self) -> Any:
        return functools.partial(self._statfs, "partial")

    @property
    def opendir(self) -> Any:
        return lambda loc, fd, xdata: self._wrong(loc, fd, xdata)

    async def _wrong(self, loc: Any, fd: Any, xdata: Any) -> Any:
        if _name(loc) == "d":
            return await self.child.stat(loc, None)
        return await self.child.opendir(loc, fd, xdata)

    @property
    def _raises(self) -> Any:
        raise ZeroDivisionError("property raises by design")

    def lookup(self, loc: Any, xdata: Any) -> Any:
        name = _name(loc)
        if name.startswith("fake-"):
            return _FakeCoro(self, loc, xdata)
        if name.startswith("property-"):
            return self._raises
        return self.child.lookup(loc, xdata)

    def getxattr(self, loc: Any, name: Any, xdata: Any) -> Any:  # replaced in init
        raise glupy.FopError(errno.EPERM)

    async def setxattr(self, loc: Any, dict: Any, flags: Any, xdata: Any) -> Any:
        yield await self.child.setxattr(loc, dict, flags, xdata)

    def removexattr(self, loc: Any, name: Any, xdata: Any) -> Any:
        yield self.child.removexattr(loc, name, xdata)
        yield self.child.removexattr(loc, name, xdata)


class _HashRaises(str):
    """A str whose hash raises (a translator's ``name`` replaced by one)."""

    def __hash__(self) -> int:
        raise ZeroDivisionError("__hash__ fails by design")

    def __eq__(self, other: object) -> bool:
        raise ZeroDivisionError("__eq__ fails by design")


class _CoroDecoy:
    """Stands in for a handler's coroutine in its frame (``self.caller.coro``): every
    attribute the deadline report reads raises, and close() blocks."""

    @property
    def cr_frame(self) -> Any:
        raise ZeroDivisionError("cr_frame fails by design")

    @property
    def cr_await(self) -> Any:
        raise ZeroDivisionError("cr_await fails by design")

    def close(self) -> None:
        time.sleep(30)


class Internals(glupy.Translator):
    """Handlers that tamper with glupy's own state, by xattr name (getxattr):

    * ``user.child-junk`` / ``user.children-junk``: ``self.child`` / ``self.children`` become
      junk for the rest of the translator's life (later handlers that wind fail: EIO);
      ``user.child-back`` puts them back;
    * ``user.name-hash``: ``self.name`` becomes a str whose hash and == raise, then the
      handler fails (the failure path uses the name to rate-limit its log line);
    * ``user.log-junk``: ``self.log`` becomes an int, then the handler fails;
    * ``user.xlator-junk``: ``self._glupy_xlator`` becomes None and the handler sets an
      inode context; ``user.values-junk``: the parsed option values become a list;
    * ``user.unwind-direct``: calls the private ``_glupy.unwind`` on its own frame with a
      success, then returns a reply too (answered twice); ``user.unwind-junk``: the same with
      a reply of another FOP's class and op_ret 5;
    * ``user.coro-decoy``: replaces its frame's coroutine (``self.caller.coro``) with an object
      whose attributes raise and whose close() blocks, then waits past its deadline;
    * ``user.submit-block``: hands the private ``_glupy.submit`` 80 calls that block 20 s
      (more than the bridge has workers), then answers ENODATA.
    """

    stall = glupy.Option(float, default=20.0, min=0)

    def init(self) -> None:
        self.saved = (self.child, self.children, self.name, self.log, self._glupy_xlator, self._glupy_values)

    def _restore(self) -> None:
        self.child, self.children, self.name, self.log, self._glupy_xlator, self._glupy_values = self.saved

    async def getxattr(self, loc: Any, name: Any, xdata: Any) -> Any:
        from glupy import _glupy  # type: ignore[attr-defined]

        if name == "user.child-junk":
            self.child = "not a child"  # type: ignore[assignment]
            raise glupy.FopError(errno.ENODATA)
        if name == "user.children-junk":
            self.children = 7  # type: ignore[assignment]
            raise glupy.FopError(errno.ENODATA)
        if name == "user.child-back":
            self._restore()
            raise glupy.FopError(errno.ENODATA)
        if name == "user.name-hash":
            self.name = _HashRaises("adv")
            try:
                raise ValueError("a failure after the name was replaced")
            finally:
                pass
        if name == "user.log-junk":
            self.log = 5  # type: ignore[assignment]
            raise ValueError("a failure after the logger was replaced")
        if name == "user.xlator-junk":
            self._glupy_xlator = None
            self.set_inode_ctx(loc.inode, "x")
        if name == "user.values-junk":
            self._glupy_values = [1, 2]
            raise glupy.FopError(errno.ENODATA)
        if name == "user.unwind-direct":
            reply = await self.child.getxattr(loc, "user.k", xdata)
            _glupy.unwind(self.caller, glupy.Fop.GETXATTR, reply.op_ret, 0, reply)
            return reply
        if name == "user.unwind-junk":
            st = await self.child.stat(loc, None)
            _glupy.unwind(self.caller, glupy.Fop.GETXATTR, 5, 0, st)
            return st
        if name == "user.coro-decoy":
            self.caller.coro = _CoroDecoy()
            await glupy.sleep(self.stall)
        if name == "user.submit-block":
            for _ in range(80):
                _glupy.submit(time.sleep, self.stall)
            raise glupy.FopError(errno.ENODATA)
        return await self.child.getxattr(loc, name, xdata)


def _forged_loc(variant: str, loc: Any) -> Any:
    """A Loc built by hand: ``empty`` (nothing), ``path`` (a path, no inode, no gfid),
    ``entry`` (parent gfid and name, no inode: an entry to create), ``wrong`` (the path of
    the request with the inode of its parent directory), ``real`` (the request's own Loc)."""
    Loc = glupy.Loc
    if variant == "empty":
        return Loc()
    if variant == "path":
        return Loc("/forged-path")
    if variant == "entry":
        return Loc("/forged-entry", pargfid=ROOT_GFID)
    if variant == "wrong":
        return Loc(loc.path, inode=loc.parent, parent=loc.parent)
    if variant == "real":
        return loc
    raise ValueError(variant)


class LocForger(glupy.Translator):
    """getxattr ``user.forge-FOP-VARIANT``: winds FOP to the child with a hand-made Loc
    (see :func:`_forged_loc`), answers ENODATA whatever happens (the child's reply or
    error is logged). FOPs: stat lookup access readlink truncate open opendir mkdir mknod
    create symlink unlink rmdir link rename setxattr getxattr removexattr setattr statfs
    xattrop inodelk entrylk."""

    async def getxattr(self, loc: Any, name: Any, xdata: Any) -> Any:
        if not (name or "").startswith("user.forge-"):
            return await self.child.getxattr(loc, name, xdata)
        fop, variant = name[len("user.forge-"):].rsplit("-", 1)
        f = _forged_loc(variant, loc)
        c = self.child
        args: dict[str, Any] = {
            "stat": lambda: c.stat(f, None), "lookup": lambda: c.lookup(f, None),
            "access": lambda: c.access(f, 4, None), "readlink": lambda: c.readlink(f, 4096, None),
            "truncate": lambda: c.truncate(f, 0, None),
            "open": lambda: c.open(f, os_flags(), glupy.Fd.anonymous_for(loc.inode), None),
            "opendir": lambda: c.opendir(f, glupy.Fd.anonymous_for(loc.inode), None),
            "mkdir": lambda: c.mkdir(f, 0o755, 0, None), "mknod": lambda: c.mknod(f, 0o10644, 0, 0, None),
            "create": lambda: c.create(f, os_flags(), 0o644, 0, glupy.Fd.anonymous_for(loc.inode), None),
            "symlink": lambda: c.symlink("target", f, 0, None), "unlink": lambda: c.unlink(f, 0, None),
            "rmdir": lambda: c.rmdir(f, 0, None), "link": lambda: c.link(loc, f, None),
            "rename": lambda: c.rename(f, f, None),
            "setxattr": lambda: c.setxattr(f, glupy.Xdata({"user.k": b"v"}), 0, None),
            "getxattr": lambda: c.getxattr(f, None, None), "removexattr": lambda: c.removexattr(f, "user.k", None),
            "setattr": lambda: c.setattr(f, None, 0, None), "statfs": lambda: c.statfs(f, None),
            "xattrop": lambda: c.xattrop(f, 0, glupy.Xdata({"trusted.afr.x": b"\0" * 12}), None),
            "inodelk": lambda: c.inodelk("d", f, 6, glupy.Flock(type=1), None),
            "entrylk": lambda: c.entrylk("d", f, "n", 0, 1, None),
        }
        try:
            reply = await args[fop]()
            self.log.info("forge %s %s: %r", fop, variant, getattr(reply, "op_ret", reply))
        except Exception as e:  # noqa: BLE001
            self.log.info("forge %s %s: refused %r", fop, variant, e)
        raise glupy.FopError(errno.ENODATA)


def os_flags() -> int:
    import os

    return os.O_RDWR
