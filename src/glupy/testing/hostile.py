"""hostile: misbehaving translators the chaos fuzzer does not cover, for tests/integration/test_hostile.py.

Each class misbehaves in one way a careless (or malicious) author could, chosen by
the name a FOP is about, so that a test can make one FOP misbehave while others
of the same client are measured. Where the bridge is known to fail the contract
(issue 11: the process lives, keeps serving every other FOP, and answers the bad
FOP with an errno), the test that uses the class is marked xfail with the cause.

* :class:`Careless`: plain ``def`` handlers (blocking, returning a Wind they did
  not await, a generator, an async generator), generator handlers that swallow
  everything thrown into them and never end, a FopError subclass whose errno
  changes each time it is read, a BaseException subclass, an exception whose
  ``__str__`` blocks.
* :class:`EvilEntries`: readdir(p) replies whose entries are objects whose ``name``
  attribute empties the reply's own list (the last reference to the entry).
* :class:`SlowDel`: per-fd and per-inode contexts whose ``__del__`` blocks, with no
  ``release``/``forget`` hook.
* :class:`GilHog`: a getxattr that holds the GIL in one C call for ``block`` seconds,
  and a per-fd context on every open file.
* :class:`SlowStatedump`: a statedump hook that blocks ``block`` seconds.
* :class:`Exhaust`: a getxattr that blocks its worker ``block`` seconds (more of them
  than the bridge has workers).
* :class:`HugeErrors`: exceptions with a 20 MB message, and with 20,000 chained causes.
* :class:`LoopStopper`: stops the event loop behind ``glupy.on_loop``.
* :class:`InFlightWinder` over :class:`InFlightReader`: an Xdata changed by a thread
  while a wind carrying it is still below.
* :class:`ProcessWide`: misbehaviours that reach past the handler into the whole
  process: signals sent to it (a profiling timer armed), a coroutine that blocks the
  event loop, a finalizer in cyclic garbage that blocks whichever thread collects it.
* :class:`Prier`: reaches into its child's context slots through the Xlator object
  (``self.child.xlator.fd_ctx_get(fd)``: storage/posix's C data), and has ``release``
  and ``forget`` hooks that raise on every call.
* :class:`BadHooks` subclasses: handlers that are not methods (``stat = None``, a
  property that raises), for load-time refusals.
"""

from __future__ import annotations

import asyncio
import ctypes
import errno
import logging
import os
import signal
import socket
import sys
import threading
import time
from typing import Any

import glupy
from glupy.replies import ReaddirpReply, ReaddirReply

__all__ = ["Careless", "EvilEntries", "SlowDel", "GilHog", "SlowStatedump", "SlowReconfigure", "Spinner", "Exhaust", "HugeErrors",
           "LoopStopper", "Stasher", "Liar", "Escaper", "BadLife", "HandlerIsNone", "HandlerPropertyRaises", "CarelessBase", "ProcessWide", "InFlightWinder", "InFlightReader", "Prier"]


class CarelessBase(BaseException):
    """A BaseException subclass (not an Exception) raised by a handler."""


class ShiftyFopError(glupy.FopError):
    """A FopError whose errno is a property: valid the first time it is read, then 0, -1, 10**12, 'x'."""

    def __init__(self) -> None:
        super().__init__(errno.EACCES)
        self._reads = 0

    @property  # type: ignore[override]
    def errno(self) -> Any:
        self._reads += 1
        return [errno.EACCES, 0, -1, 10**12, "x"][min(self._reads - 1, 4)]

    @errno.setter
    def errno(self, value: Any) -> None:
        pass


class _SlowStr(Exception):
    """An exception whose str() and repr() block for a while (logging it holds the worker)."""

    seconds = 2.0

    def __str__(self) -> str:
        time.sleep(self.seconds)
        return "slow to print"

    __repr__ = __str__


class Careless(glupy.Translator):
    """Misbehaviours by name (lookups) and by xattr name (getxattr):

    * lookup ``sleep-*``: a plain ``def`` handler that blocks ``block`` seconds, then ENOENT;
    * lookup ``wind-*``: a plain ``def`` returning ``self.child.lookup(...)`` unawaited (the
      bridge may step it or answer EIO: either is an answer); every other name: a plain
      ``def`` returning a coroutine that winds;
    * lookup ``gen-*``: a plain ``def`` that is a generator (yields the wind, returns the reply);
    * lookup ``agen-*``: an async generator;
    * lookup ``shifty-*``: raises a FopError whose errno property changes on every read;
    * lookup ``base-*``: raises a BaseException subclass;
    * lookup ``slowstr-*``: raises an exception whose str() blocks 2 s;
    * getxattr ``user.swallow``: a generator that swallows whatever is thrown into it and
      yields junk forever (never ends: answered at fop-timeout; holds its worker for ever).
    """

    block = glupy.Option(float, default=5.0, min=0)

    def lookup(self, loc: Any, xdata: Any) -> Any:
        name = loc.name or ""
        if name.startswith("sleep-"):
            time.sleep(self.block)
            raise glupy.FopError(errno.ENOENT)
        if name.startswith("gen-"):
            return self._gen_lookup(loc, xdata)
        if name.startswith("agen-"):
            return self._agen_lookup(loc, xdata)
        if name.startswith("shifty-"):
            raise ShiftyFopError()
        if name.startswith("base-"):
            raise CarelessBase("a BaseException from a handler")
        if name.startswith("slowstr-"):
            raise _SlowStr()
        if name.startswith("wind-"):
            return self.child.lookup(loc, xdata)  # the forgotten await, in a plain def
        return self._forward(loc, xdata)  # a plain def returning a coroutine

    async def _forward(self, loc: Any, xdata: Any) -> Any:
        return await self.child.lookup(loc, xdata)

    def _gen_lookup(self, loc: Any, xdata: Any) -> Any:
        reply = yield self.child.lookup(loc, xdata)
        return reply

    async def _agen_lookup(self, loc: Any, xdata: Any) -> Any:
        yield await self.child.lookup(loc, xdata)

    def getxattr(self, loc: Any, name: Any, xdata: Any) -> Any:
        if name == "user.swallow":
            return self._swallow()
        return self.child.getxattr(loc, name, xdata)

    def _swallow(self) -> Any:
        deadline = time.monotonic() + 30  # never ends as far as the FOP is concerned
        while time.monotonic() < deadline:
            try:
                yield 42
            except BaseException:  # noqa: BLE001 - the point: it ignores everything
                time.sleep(0.01)


#: logged when an entry's ``name`` finds that only the call reading it references it: the
#: reader (the bridge converting the reply) holds no reference, and uses a freed object next
UNHELD_ENTRY = "hostile: a directory entry is read by a caller that holds no reference to it"


class _EvilEntry:
    """A directory entry whose ``name`` empties the list it is in (dropping the last
    reference to itself) before answering."""

    type = 8
    xdata = None

    def __init__(self, holder: list, real: Any) -> None:
        self._holder = holder
        self._real = real
        self.ino = real.ino
        self.off = real.off  # the next readdir goes on after the real entry: the listing ends

    @property
    def name(self) -> str:
        entries = self._holder.pop()
        entries.clear()
        if sys.getrefcount(self) <= 2:  # this call's own references: whoever reads us holds none
            logging.getLogger("glupy.hostile").error(UNHELD_ENTRY)
        _scratch = [bytearray(64) for _ in range(2000)]  # reuse the freed memory
        return "e0"

    @property
    def stat(self) -> Any:
        return self._real.stat

    @property
    def inode(self) -> Any:
        return self._real.inode


def _evil_entries(real: Any) -> list:
    holder: list = []
    entries = [_EvilEntry(holder, real)]
    holder.append(entries)
    return entries


class EvilEntries(glupy.Translator):
    """Once armed (a lookup of the name ``arm-evil``, answered ENOENT), the first readdir(p)
    of a directory (offset 0) answers one entry, an object whose ``name`` empties the
    reply's list; the listing goes on from the real entry's offset."""

    armed = False

    async def lookup(self, loc: Any, xdata: Any) -> Any:
        if loc.name == "arm-evil":
            self.armed = True
            raise glupy.FopError(errno.ENOENT)
        return await self.child.lookup(loc, xdata)

    async def readdirp(self, fd: Any, size: Any, off: Any, xdata: Any) -> Any:
        reply = await self.child.readdirp(fd, size, off, xdata)
        real = [e for e in reply.entries if e.name not in (".", "..")]
        if not real or not self.armed or off != 0:
            return reply
        return ReaddirpReply(_evil_entries(real[0]), reply.xdata, op_ret=1)

    async def readdir(self, fd: Any, size: Any, off: Any, xdata: Any) -> Any:
        reply = await self.child.readdir(fd, size, off, xdata)
        real = [e for e in reply.entries if e.name not in (".", "..")]
        if not real or not self.armed or off != 0:
            return reply
        return ReaddirReply(_evil_entries(real[0]), reply.xdata, op_ret=1)


class _BlocksOnDel:
    """A context object whose ``__del__`` blocks for a while."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def __del__(self) -> None:
        time.sleep(self.seconds)


class SlowDel(glupy.Translator):
    """Files opened under names ``slowdel-*`` get a per-fd context, and names looked up as
    ``slowforget-*`` a per-inode context, whose ``__del__`` blocks ``block`` seconds;
    the class has no release/forget hook (GlusterFS drops the context on whichever of
    its threads releases the fd or forgets the inode)."""

    block = glupy.Option(float, default=5.0, min=0)

    async def open(self, loc: Any, flags: Any, fd: Any, xdata: Any) -> Any:
        reply = await self.child.open(loc, flags, fd, xdata)
        if (loc.path or "").rpartition("/")[2].startswith("slowdel-"):
            self.set_fd_ctx(fd, _BlocksOnDel(self.block))
        return reply

    async def lookup(self, loc: Any, xdata: Any) -> Any:
        reply = await self.child.lookup(loc, xdata)
        if (loc.name or "").startswith("slowforget-"):
            self.set_inode_ctx(reply.inode, _BlocksOnDel(self.block))
        return reply


class GilHog(glupy.Translator):
    """getxattr ``user.gilhog`` holds the GIL ``block`` seconds in one C call (libc's
    sleep called through ctypes.PyDLL, which keeps the GIL, as any long C call does);
    every opened file gets a (harmless) per-fd context."""

    block = glupy.Option(float, default=5.0, min=0)

    async def getxattr(self, loc: Any, name: Any, xdata: Any) -> Any:
        if name == "user.gilhog":
            ctypes.PyDLL(None).sleep(int(self.block))
            raise glupy.FopError(errno.ENODATA)
        return await self.child.getxattr(loc, name, xdata)

    async def open(self, loc: Any, flags: Any, fd: Any, xdata: Any) -> Any:
        reply = await self.child.open(loc, flags, fd, xdata)
        self.set_fd_ctx(fd, "a plain context")
        return reply


class SlowStatedump(glupy.Translator):
    """A statedump hook that blocks ``block`` seconds."""

    block = glupy.Option(float, default=20.0, min=0)

    async def stat(self, loc: Any, xdata: Any) -> Any:
        return await self.child.stat(loc, xdata)

    def statedump(self) -> dict[str, Any]:
        time.sleep(self.block)
        return {"slept": self.block}


class Spinner(glupy.Translator):
    """getxattr ``user.spin`` loops in Python for ever (``while True``), catching every
    Exception; ``user.spin-all`` catches BaseException too (nothing can stop it)."""

    async def getxattr(self, loc: Any, name: Any, xdata: Any) -> Any:
        if name in ("user.spin", "user.spin-all"):
            swallowed = BaseException if name == "user.spin-all" else Exception
            while True:
                try:
                    sum(range(1000))
                except swallowed:  # noqa: BLE001 - careless (or hostile) on purpose
                    pass
        return await self.child.getxattr(loc, name, xdata)


class SlowReconfigure(glupy.Translator):
    """A reconfigure hook that blocks ``block`` seconds (as one calling a slow service
    would), whatever changed; stats go through Python."""

    block = glupy.Option(float, default=20.0, min=0)
    tag = glupy.Option(str, default="")

    async def stat(self, loc: Any, xdata: Any) -> Any:
        return await self.child.stat(loc, xdata)

    def reconfigure(self, changed: Any) -> None:
        time.sleep(self.block)
        self.log.info("reconfigured after %.0f s: %s", self.block, sorted(changed))


class Exhaust(glupy.Translator):
    """getxattr ``user.block`` holds its worker ``block`` seconds (time.sleep); lookups go
    through Python unchanged (they need a worker too)."""

    block = glupy.Option(float, default=25.0, min=0)

    async def getxattr(self, loc: Any, name: Any, xdata: Any) -> Any:
        if name == "user.block":
            time.sleep(self.block)
        return await self.child.getxattr(loc, name, xdata)

    async def lookup(self, loc: Any, xdata: Any) -> Any:
        return await self.child.lookup(loc, xdata)


class HugeErrors(glupy.Translator):
    """lookup ``huge-*`` raises a ValueError with a 20 MB message; ``chain-*`` an exception
    with 20,000 chained causes."""

    async def lookup(self, loc: Any, xdata: Any) -> Any:
        name = loc.name or ""
        if name.startswith("huge-"):
            raise ValueError("y" * 20_000_000)
        if name.startswith("chain-"):
            error: BaseException | None = None
            for i in range(20_000):
                try:
                    raise KeyError(i) from error
                except KeyError as e:
                    error = e
            assert error is not None
            raise error
        return await self.child.lookup(loc, xdata)


class LoopStopper(glupy.Translator):
    """lookup ``stoploop`` stops the event loop glupy runs (``glupy.event_loop().stop()``);
    ``nap-*`` awaits ``glupy.sleep(0.05)`` and answers ENOENT."""

    async def lookup(self, loc: Any, xdata: Any) -> Any:
        name = loc.name or ""
        if name == "stoploop":
            glupy.event_loop().stop()
            raise glupy.FopError(errno.ENOENT)
        if name.startswith("nap-"):
            await glupy.sleep(0.05)
            raise glupy.FopError(errno.ENOENT)
        return await self.child.lookup(loc, xdata)


class HandlerIsNone(glupy.Translator):
    """``stat = None``: not a handler (refused at load)."""

    stat = None


class HandlerPropertyRaises(glupy.Translator):
    """``stat`` is a property that raises (refused at load)."""

    @property
    def stat(self) -> Any:
        raise ZeroDivisionError("the stat property fails by design")



class Stasher(glupy.Translator):
    """Keeps what FOPs hand it (their fd, Loc, xdata, frame, replies, Winds) and uses them
    after those FOPs ended, by xattr name (getxattr on any file):

    * open / lookup / stat: the fd, Loc, xdata, caller frame and reply are kept in ``self.kept``;
    * ``user.stale-read``: reads every attribute of every kept object;
    * ``user.stale-write``: winds a writev on the fd kept from an earlier open (closed by now);
    * ``user.stale-lookup``: winds a lookup with a Loc kept from an earlier lookup;
    * ``user.stale-xdata``: winds a stat with the xdata of an earlier FOP;
    * ``user.thread-wind``: a threading.Thread (no FOP running on it) winds a stat and steps it;
    * ``user.to-thread-wind``: glupy.to_thread makes the wind; the handler awaits it;
    * ``user.twice``: awaits one Wind twice;
    * ``user.other-wind``: awaits a Wind made (not awaited) by an earlier FOP;
    * ``user.many``: gathers 3000 stat winds;
    * ``user.leave``: makes 500 Winds it never awaits and returns;
    * ``user.loop-wind``: an asyncio task on glupy's loop awaits a Wind made by the handler;
    * ``user.old-frame``: reads the caller (uid, pid, ...) of a frame kept from an earlier FOP.
    """

    def _glupy_kept(self) -> dict[str, Any]:
        kept = self.__dict__.get("kept")
        if kept is None:
            kept = self.__dict__["kept"] = {}
        return kept

    async def open(self, loc: Any, flags: Any, fd: Any, xdata: Any) -> Any:
        reply = await self.child.open(loc, flags, fd, xdata)
        kept = self._glupy_kept()
        kept.update(open_fd=fd, open_loc=loc, open_xdata=xdata, open_reply=reply, open_frame=self.caller)
        return reply

    async def lookup(self, loc: Any, xdata: Any) -> Any:
        reply = await self.child.lookup(loc, xdata)
        kept = self._glupy_kept()
        if loc.name and loc.name.startswith("keep-"):
            kept.update(lookup_loc=loc, lookup_xdata=xdata, lookup_reply=reply, lookup_frame=self.caller)
        return reply

    async def getxattr(self, loc: Any, name: Any, xdata: Any) -> Any:
        kept = self._glupy_kept()
        if name == "user.stale-read":
            out = []
            for key, obj in list(kept.items()):
                for attr in dir(obj):
                    if attr.startswith("__"):
                        continue
                    try:
                        value = getattr(obj, attr)
                        out.append(f"{key}.{attr}={value!r:.60}")
                        if isinstance(value, object) and not callable(value):
                            for sub in dir(value):
                                if not sub.startswith("__"):
                                    repr(getattr(value, sub, None))
                    except Exception as e:  # noqa: BLE001
                        out.append(f"{key}.{attr}!{type(e).__name__}")
            self.log.info("stale-read: %d values", len(out))
            raise glupy.FopError(errno.ENODATA)
        if name == "user.stale-write":
            reply = await self.child.writev(kept["open_fd"], b"stale", 0, 0, None)
            self.log.info("stale-write: %r", getattr(reply, "op_ret", reply))
            raise glupy.FopError(errno.ENODATA)
        if name == "user.stale-lookup":
            reply = await self.child.lookup(kept["lookup_loc"], None)
            self.log.info("stale-lookup: %r", getattr(reply, "op_ret", reply))
            raise glupy.FopError(errno.ENODATA)
        if name == "user.stale-xdata":
            await self.child.stat(loc, kept.get("open_xdata") or kept.get("lookup_xdata"))
            raise glupy.FopError(errno.ENODATA)
        if name == "user.thread-wind":
            result: dict[str, Any] = {}

            def run() -> None:
                try:
                    w = self.child.stat(kept.get("lookup_loc") or loc, None)
                    result["wind"] = repr(w)
                    try:
                        it = w.__await__()
                        result["step"] = repr(next(it))
                    except BaseException as e:  # noqa: BLE001
                        result["step"] = repr(e)
                except BaseException as e:  # noqa: BLE001
                    result["error"] = repr(e)

            t = __import__("threading").Thread(target=run)
            t.start()
            t.join(5)
            self.log.info("thread-wind: %r", result)
            raise glupy.FopError(errno.ENODATA)
        if name == "user.to-thread-wind":
            w = await glupy.to_thread(self.child.stat, loc, None)
            reply = await w
            self.log.info("to-thread-wind: %r", getattr(reply, "op_ret", reply))
            raise glupy.FopError(errno.ENODATA)
        if name == "user.twice":
            w = self.child.stat(loc, None)
            await w
            try:
                await w
            except Exception as e:  # noqa: BLE001
                self.log.info("twice: %r", e)
            raise glupy.FopError(errno.ENODATA)
        if name == "user.make-wind":
            kept["wind"] = self.child.stat(loc, None)
            raise glupy.FopError(errno.ENODATA)
        if name == "user.other-wind":
            reply = await kept["wind"]
            self.log.info("other-wind: %r", getattr(reply, "op_ret", reply))
            raise glupy.FopError(errno.ENODATA)
        if name == "user.many":
            replies = await glupy.gather(*[self.child.stat(loc, None) for _ in range(3000)],
                                         return_exceptions=True)
            self.log.info("many: %d", len(replies))
            raise glupy.FopError(errno.ENODATA)
        if name == "user.leave":
            kept["left"] = [self.child.stat(loc, None) for _ in range(500)]
            raise glupy.FopError(errno.ENODATA)
        if name == "user.loop-wind":
            w = self.child.stat(loc, None)

            async def on_loop() -> Any:
                return await w

            try:
                reply = await glupy.on_loop(on_loop())
                self.log.info("loop-wind: %r", getattr(reply, "op_ret", reply))
            except Exception as e:  # noqa: BLE001
                self.log.info("loop-wind: %r", e)
            raise glupy.FopError(errno.ENODATA)
        if name == "user.old-frame":
            frame = kept.get("lookup_frame") or kept.get("open_frame")
            self.log.info("old-frame: %r", [getattr(frame, a, None) for a in ("uid", "gid", "pid", "groups",
                                                                               "lk_owner", "client")])
            raise glupy.FopError(errno.ENODATA)
        return await self.child.getxattr(loc, name, xdata)


class _OddItems(dict):
    """A mapping whose ``items()`` is not a list of (key, value) pairs."""

    def __init__(self, items: list) -> None:
        super().__init__()
        self._items = items

    def items(self) -> Any:  # type: ignore[override]
        return list(self._items)


class _RaisingIndex:
    def __index__(self) -> int:
        raise ZeroDivisionError("__index__ fails by design")


class _HugeIndex:
    def __index__(self) -> int:
        return 2**80


class Liar(glupy.Translator):
    """Values whose protocols lie, by xattr name (getxattr on any file); each answers ENODATA
    when the odd value is refused with an exception:

    * ``user.items-short``: ``Xdata(m)`` where ``m.items()`` gives a 1-tuple;
    * ``user.items-int``: ... gives an int instead of a pair;
    * ``user.items-list``: ... gives a [key, value] list instead of a tuple (a pair, as for dict);
    * ``user.index-raises`` / ``user.index-huge``: a truncate wound with an offset whose
      ``__index__`` raises / returns 2**80.
    """

    async def getxattr(self, loc: Any, name: Any, xdata: Any) -> Any:
        odd = {"user.items-short": [("user.k",)], "user.items-int": [7],
               "user.items-list": [["user.k", b"v"]]}
        if name in odd:
            from glupy.types import Xdata

            try:
                made = Xdata(_OddItems(odd[name]))
                self.log.info("%s: made %r", name, made)
            except Exception as e:  # noqa: BLE001
                self.log.info("%s: refused %r", name, e)
            raise glupy.FopError(errno.ENODATA)
        if name in ("user.index-raises", "user.index-huge"):
            off = _RaisingIndex() if name == "user.index-raises" else _HugeIndex()
            try:
                await self.child.truncate(loc, off, None)
            except Exception as e:  # noqa: BLE001
                self.log.info("%s: refused %r", name, e)
            raise glupy.FopError(errno.ENODATA)
        return await self.child.getxattr(loc, name, xdata)


class _WindsOnDel:
    """A context whose ``__del__`` winds (a stat of the path it kept), steps the Wind, then raises.
    (It keeps the path, not the Loc: a context holding a Loc of its own inode is refused.)"""

    def __init__(self, xl: Any, loc: Any) -> None:
        self.xl = xl
        self.path = loc.path

    def __del__(self) -> None:
        w = self.xl.child.stat(glupy.Loc(path=self.path), None)
        try:
            next(w.__await__())
        finally:
            raise RuntimeError("__del__ fails by design after winding")


class _LyingInt(int):
    def __index__(self) -> int:
        raise ZeroDivisionError("__index__ fails by design")

    def __int__(self) -> int:
        raise ZeroDivisionError("__int__ fails by design")

    def __eq__(self, other: object) -> bool:
        raise ZeroDivisionError("__eq__ fails by design")

    def __hash__(self) -> int:
        raise ZeroDivisionError("__hash__ fails by design")

    def __bool__(self) -> bool:
        raise ZeroDivisionError("__bool__ fails by design")


class _LyingStr(str):
    def __str__(self) -> str:
        raise ZeroDivisionError("__str__ fails by design")

    def __len__(self) -> int:
        return -1

    def __eq__(self, other: object) -> bool:
        return True

    __hash__ = str.__hash__

    def encode(self, *a: Any, **k: Any) -> bytes:  # type: ignore[override]
        raise ZeroDivisionError("encode fails by design")


class Escaper(glupy.Translator):
    """Handlers that leave by odd exits, by lookup name:

    * ``sysexit-*``: raises SystemExit; ``kbint-*``: KeyboardInterrupt; ``genexit-*``:
      GeneratorExit; ``stopiter-*``: StopIteration; ``memerr-*``: MemoryError;
    * ``recurse-*``: recursion without end (RecursionError, deep in the handler);
    * ``closed-*``: returns a coroutine it already closed; ``started-*``: one it already stepped;
    * ``lyingerr-*``: FopError whose errno is an int subclass whose every dunder raises;
    * ``lyingret-*``: a reply object whose op_ret is that int subclass;
    * ``lyingname-*``: winds the lookup with a Loc whose name is a str subclass that lies;
    * ``delwind-*``: opens nothing, but sets an inode context whose ``__del__`` winds and raises.
    """

    async def lookup(self, loc: Any, xdata: Any) -> Any:
        name = loc.name or ""
        if name.startswith("sysexit-"):
            raise SystemExit(3)
        if name.startswith("kbint-"):
            raise KeyboardInterrupt
        if name.startswith("genexit-"):
            raise GeneratorExit
        if name.startswith("stopiter-"):
            raise StopIteration(5)
        if name.startswith("memerr-"):
            raise MemoryError
        if name.startswith("recurse-"):
            def down(n: int) -> int:
                return down(n + 1) + 1
            down(0)
        if name.startswith("lyingerr-"):
            raise glupy.FopError(_LyingInt(errno.EACCES))
        reply = await self.child.lookup(loc, xdata)
        if name.startswith("lyingret-"):
            reply.op_ret = _LyingInt(0)
            return reply
        if name.startswith("delwind-") and reply.inode is not None:
            self.set_inode_ctx(reply.inode, _WindsOnDel(self, loc))
        return reply

    def stat(self, loc: Any, xdata: Any) -> Any:
        name = (loc.path or "").rpartition("/")[2]
        if name.startswith("closed-"):
            c = self._stat(loc, xdata)
            c.close()
            return c
        if name.startswith("started-"):
            c = self._stat(loc, xdata)
            try:
                c.send(None)
            except BaseException:  # noqa: BLE001
                pass
            return c
        return self._stat(loc, xdata)

    async def _stat(self, loc: Any, xdata: Any) -> Any:
        return await self.child.stat(loc, xdata)


class _EndlessItems:
    """A statedump mapping whose ``items()`` never ends, each entry a fresh 10 KB string."""

    def items(self) -> Any:
        i = 0
        while True:
            yield f"key-{i}", "v" * 10_000
            i += 1


class BadLife(glupy.Translator):
    """Lifecycle hooks that leave oddly, chosen by options ``init_does``, ``fini_does`` and
    ``dump_does``: ``exit`` (sys.exit(7)), ``kbint`` (KeyboardInterrupt), ``block`` (sleep
    ``block`` seconds), ``recurse`` (RecursionError), ``long`` (entries longer than a
    statedump line of GlusterFS: a value of 5,000 characters, a key of 5,000), ``endless``
    (a statedump mapping whose items() never ends), ``spin`` (loops in Python for ever,
    swallowing every Exception), ``nothing``."""

    init_does = glupy.Option(str, default="nothing")
    fini_does = glupy.Option(str, default="nothing")
    dump_does = glupy.Option(str, default="nothing")
    block = glupy.Option(float, default=30.0, min=0)

    def _do(self, what: str) -> Any:
        if what == "exit":
            sys.exit(7)
        if what == "kbint":
            raise KeyboardInterrupt
        if what == "block":
            time.sleep(self.block)
        if what == "recurse":
            def down() -> Any:
                return down()
            down()
        if what == "spin":  # loops for ever, swallowing every Exception
            while True:
                try:
                    sum(range(1000))
                except Exception:  # noqa: BLE001 - careless on purpose
                    pass
        if what == "endless":  # a mapping whose items() never ends (a generator mistake)
            return _EndlessItems()
        if what == "long":  # e.g. the paths a translator saw recently
            return {"recent": ",".join(f"/projects/obj/file-{i:05d}.o" for i in range(200)), "k" * 5000: "v"}
        return {"did": what}

    def init(self) -> None:
        self._do(self.init_does)

    def fini(self) -> None:
        self._do(self.fini_does)

    def statedump(self) -> Any:
        return self._do(self.dump_does)

    async def stat(self, loc: Any, xdata: Any) -> Any:
        return await self.child.stat(loc, xdata)


async def _blocks_its_loop(seconds: float) -> None:
    time.sleep(seconds)  # the classic asyncio mistake: a blocking call in an async def


class _FinalizerBlocks:
    """In a reference cycle (only the collector frees it); its ``__del__`` blocks."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.me = self

    def __del__(self) -> None:
        time.sleep(self.seconds)


def _raising_profile(frame: Any, event: str, arg: Any) -> None:
    raise RuntimeError("a bug in a profiler")


class _HangingSink(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        time.sleep(3600)


class ProcessWide(glupy.Translator):
    """Misbehaviours that reach past the handler into the whole process, by xattr name:
    getxattr ``user.WHERE.KIND``, acted on by the instance whose option ``where`` is
    WHERE (``client``, ``brick``), which then answers ENODATA; other names pass on.

    * ``kill-NAME``: sends signal SIGNAME (PROF, XCPU, XFSZ, IO, PWR, SYS, RTMIN...) to
      its own process; each of these ended a GlusterFS process without a log line (KILL,
      SEGV, ABRT, TERM, STOP and QUIT, which end or stop it at once, are refused: EIO);
    * ``os-exit``, ``abort``: ``os._exit(1)``, ``os.abort()`` ("exit on error"; refused: EIO);
    * ``tid-kill``: SIGKILL to its own thread's id (which ends the whole process; refused: EIO);
    * ``watchdog-exit``: ``faulthandler.dump_traceback_later(0.2, exit=True)`` (refused: EIO);
    * ``socket-close-all``: ``socket.socket(fileno=fd).close()`` of every fd from 3 to 4095
      (GlusterFS's own connections are refused);
    * ``itimer-prof``: arms a profiling timer of 10 ms of CPU
      (``signal.setitimer(signal.ITIMER_PROF, ...)``), as a sampling profiler would;
    * ``loopblock``: awaits, through ``glupy.on_loop``, a coroutine that calls
      ``time.sleep(block)`` (blocking the event loop, not only itself);
    * ``gcdel``: leaves an object in a reference cycle whose ``__del__`` sleeps ``block``
      seconds (it runs where the cyclic garbage is collected);
    * ``nap``: an innocent handler: ``await glupy.sleep(0.001)`` and a few thousand
      small allocations (over the collector's threshold: a collection comes due);
    * ``loopnap``: an innocent handler on the event loop: ``await
      glupy.on_loop(asyncio.sleep(0.001))``;
    * ``readlink-huge``: winds a readlink of the file asking for 1 GiB (storage/posix puts
      that buffer on its stack: it ended the process below, a brick even from a client);

    * ``fsetattr``: winds a chmod 0600 of the file on an anonymous fd (its errno if it fails);
    * ``profile-raises``: ``threading.setprofile`` of a function that raises (a buggy
      profiler "for my threads"): every thread threading starts later runs it first;
    * ``logsink-hangs``: the root logger at DEBUG with one handler that blocks for an hour
      (``logging.basicConfig``, a log sink whose peer stopped reading);
    * ``tothread``: ``await glupy.to_thread(int)``;

    and, with the option ``refuse-fsetattr``, every fsetattr raises FopError(EACCES) (under
    protocol/server of GlusterFS 10.3, a failed fsetattr answered with any errno but ENOENT
    or ESTALE crashed the brick).
    """

    where = glupy.Option(str, default="client")
    block = glupy.Option(float, default=5.0, min=0)
    refuse_fsetattr = glupy.Option(bool, default=False)

    async def fsetattr(self, fd: Any, stbuf: Any, valid: Any, xdata: Any) -> Any:
        if self.refuse_fsetattr:
            raise glupy.FopError(errno.EACCES)
        return await self.child.fsetattr(fd, stbuf, valid, xdata)

    async def getxattr(self, loc: Any, name: Any, xdata: Any) -> Any:
        prefix = f"user.{self.where}."
        if not (name or "").startswith(prefix):
            return await self.child.getxattr(loc, name, xdata)
        kind = name[len(prefix):]
        if kind.startswith("kill-"):
            os.kill(os.getpid(), getattr(signal, "SIG" + kind[len("kill-"):]))
        elif kind == "socket-close-all":  # every fd wrapped in a socket object and closed
            for fd in range(3, 4096):
                try:
                    socket.socket(fileno=fd).close()
                except OSError:
                    continue
        elif kind == "tid-kill":  # "stop my stuck thread": SIGKILL to a thread's id ends the whole process
            os.kill(threading.get_native_id(), signal.SIGKILL)
        elif kind == "watchdog-exit":  # "dump the stacks and restart if I hang"
            import faulthandler

            faulthandler.dump_traceback_later(0.2, exit=True)
        elif kind == "os-exit":  # "exit on error", as a script would
            os._exit(1)
        elif kind == "abort":
            os.abort()
        elif kind == "itimer-prof":
            signal.setitimer(signal.ITIMER_PROF, 0.01)
        elif kind == "loopblock":
            await glupy.on_loop(_blocks_its_loop(self.block))
        elif kind == "gcdel":
            _FinalizerBlocks(self.block)
        elif kind == "nap":
            await glupy.sleep(0.001)
            garbage = [{"i": i} for i in range(5000)]
            del garbage
        elif kind == "loopnap":
            await glupy.on_loop(asyncio.sleep(0.001))
        elif kind == "readlink-huge":
            await self.child.readlink(loc, 1 << 30, None)
        elif kind == "profile-raises":
            threading.setprofile(_raising_profile)
        elif kind == "logsink-hangs":
            logging.basicConfig(level=logging.DEBUG, handlers=[_HangingSink()], force=True)
        elif kind == "tothread":
            await glupy.to_thread(int)
        elif kind == "fsetattr":  # a chmod 0600 on an anonymous fd: its errno, or ENODATA
            ia = glupy.Iatt()
            ia.mode = 0o100600
            await self.child.fsetattr(glupy.Fd.anonymous_for(loc.inode), ia, int(glupy.SetAttr.MODE), None)
        raise glupy.FopError(errno.ENODATA)


#: what InFlightReader saw of the setxattr InFlightWinder wound (both in one process)
IN_FLIGHT: dict[str, Any] = {}
IN_FLIGHT_XATTR = "user.inflight"


class InFlightWinder(glupy.Translator):
    """getxattr ``user.inflight``: winds a setxattr of an Xdata of its own
    (``{"user.inflight": b"before"}``) and, from a thread, 50 ms later, while the wind is
    still below (InFlightReader holds it 0.3 s), keeps changing that Xdata (the value,
    200 more keys), as a translator keeping an Xdata for later might; answers with what
    the translator below saw, as JSON."""

    async def getxattr(self, loc: Any, name: Any, xdata: Any) -> Any:
        if name != IN_FLIGHT_XATTR:
            return await self.child.getxattr(loc, name, xdata)
        mine = glupy.Xdata({IN_FLIGHT_XATTR: b"before"})

        def meddle() -> None:
            time.sleep(0.05)
            for i in range(200):
                mine[IN_FLIGHT_XATTR] = b"after"
                mine[f"user.junk{i}"] = b"j" * 100
                if i % 2:
                    del mine[f"user.junk{i - 1}"]

        threading.Thread(target=meddle, daemon=True).start()
        await self.child.setxattr(loc, mine, 0, None)
        import json

        return glupy.GetxattrReply(dict=glupy.Xdata({name: json.dumps(IN_FLIGHT).encode()}))


class InFlightReader(glupy.Translator):
    """A setxattr of ``user.inflight``: waits 0.3 s, notes what its dict holds then
    (IN_FLIGHT), and passes it on."""

    async def setxattr(self, loc: Any, dict: Any, flags: Any, xdata: Any) -> Any:
        if dict is not None and IN_FLIGHT_XATTR in dict:
            await glupy.sleep(0.3)
            IN_FLIGHT["value"] = dict.raw(IN_FLIGHT_XATTR).rstrip(b"\0").decode()
            IN_FLIGHT["keys"] = len(dict)
        return await self.child.setxattr(loc, dict, flags, xdata)


class Prier(glupy.Translator):
    """open of ``pry-*``: reads and writes its child's per-fd and per-inode context slots
    through the child's Xlator object (storage/posix keeps a ``struct posix_fd`` there,
    which read as a Python object crashed the client), and remembers what each call did,
    answered by getxattr ``user.pried``. Every open file gets a context; ``release`` and
    ``forget`` raise on every call (each a traceback: the log is rate-limited)."""

    def init(self) -> None:
        self.pried: list[str] = []

    async def open(self, loc: Any, flags: Any, fd: Any, xdata: Any) -> Any:
        reply = await self.child.open(loc, flags, fd, xdata)
        if "/pry-" in (loc.path or ""):
            xl = self.child.xlator
            for call in (lambda: xl.fd_ctx_get(fd), lambda: xl.inode_ctx_get(fd.inode),
                         lambda: xl.fd_ctx_set(fd, "mine"), lambda: xl.inode_ctx_set(fd.inode, None)):
                try:
                    self.pried.append(repr(call()))
                except Exception as error:  # noqa: BLE001 - what the bridge answered is the point
                    self.pried.append(type(error).__name__)
        self.set_fd_ctx(fd, "ctx")
        self.set_inode_ctx(fd.inode, "ctx")
        return reply

    def release(self, ctx: Any) -> None:
        raise RuntimeError("release hook failed: " + "x" * 2000)

    def forget(self, ctx: Any) -> None:
        raise RuntimeError("forget hook failed")

    async def getxattr(self, loc: Any, name: Any, xdata: Any) -> Any:
        if name == "user.pried":
            return glupy.GetxattrReply(dict=glupy.Xdata({name: ",".join(self.pried).encode()}))
        return await self.child.getxattr(loc, name, xdata)
