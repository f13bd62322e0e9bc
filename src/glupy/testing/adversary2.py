"""adversary2: misbehaving translators beyond glupy.testing.adversary, hostile and chaos,
for tests/integration/test_adversary2.py (issue 11: whatever a handler or hook does, the
process keeps its PID, serves every other FOP, and answers the bad FOP with an errno).

Most classes misbehave by the name a FOP is about (a getxattr's attribute name, a
lookup's or stat's entry name), so that one FOP misbehaves while others are measured;
the ones acting on data (readv, writev, readdirp) are chosen with the option ``mode``.

* :class:`LateMutator` (``mode``): writev winds a ``bytearray``/``memoryview`` and a
  thread keeps resizing/overwriting/releasing it after the wind (``wind-bytearray``,
  ``wind-memoryview``, ``wind-mmap``); readv answers with a ``bytearray``/``memoryview``
  a thread keeps mutating, resizing, releasing, or an mmap it closes
  (``reply-bytearray``, ``reply-memoryview``, ``reply-mmap``).
* :class:`OddXdata`: getxattr ``user.x-KIND`` answers (``reply``) or winds (``wind``) with
  Xdata holding an odd value: ``bigint`` (2**200), ``negint`` (-2**70), ``dict``,
  ``list``, ``lyingbytes`` (``__bytes__`` returning a str), ``raisingbytes``,
  ``blockingbytes`` (``__bytes__`` sleeps 30 s), ``lyingindex``, ``lyingstr``,
  ``nulkey`` (a key with a NUL), ``surrogatekey`` (a key that is not UTF-8),
  ``emptykey``, ``hugekey`` (1 MB key), ``many`` (100,000 keys), ``huge`` (bytes of
  1.1 GB), ``self`` (an Xdata holding itself), ``float-nan``; the form is
  ``user.x-reply-KIND``, ``user.x-wind-KIND`` or ``user.x-setx-KIND`` (a setxattr wound
  with it); ``user.x-gil-N`` holds the GIL N seconds in one C call (libc sleep through
  ctypes.PyDLL), as the 100,000-key Xdata does for about 100 s.
* :class:`OddNumbers`: stat/lookup replies by name ``num-FIELD-VALUE`` put VALUE
  (``huge``: 2**64+5, ``neg``: -1, ``i64``: 2**63, ``nan``) into one Iatt FIELD;
  statfs answers a Statvfs with the option ``statvfs`` (``neg`` or ``huge``); lk answers
  a Flock with start -1 and len 2**70.
* :class:`OddDirs` (``mode``): readdirp answers ``other-inode`` (every entry with the
  directory's own inode), ``thousands`` (20,000 entries), ``duplicates`` (one name
  five times), ``dotdot`` (``.`` and ``..`` with file inodes), ``stat-none`` (entries
  without stat or inode), ``gfid-mismatch`` (stat gfid of another file).
* :class:`CtxDel`: an ftruncate of an open file to a size of ``CTX_KINDS`` sets an
  fd/inode context whose ``__del__`` raises (``raise``), blocks 30 s (``block``),
  re-sets a context on the same fd (``resurrect``), or spawns a thread that keeps the
  fd (``thread``); the last two hold the fd in its own context, which is refused.
* :class:`Futures`: getxattr ``user.f-never`` (awaits a Future never set),
  ``user.f-twice`` (set twice), ``user.f-late`` (set from a thread 3 s later, after its
  FOP timed out), ``user.f-self`` (a Future whose result is itself), ``user.f-exc-junk``
  (set_exception with a non-exception), ``user.f-exc-base`` (set_exception with
  SystemExit), ``user.f-gather`` (gather of a stat, a failing getxattr, a readlink of a
  file, and a never-set Future), ``user.f-gather-junk`` (gather of an int and a
  coroutine), ``user.f-gather-same`` (one Wind twice in a gather).
* :class:`Observers`: observers (``@glupy.observer``) of stat/getxattr/setxattr that
  raise, block 30 s, mutate the reply in place, keep the reply and mutate it from a
  thread later (``user.o-*`` attribute names; stat by name ``o-*``).
* :class:`Flood`: getxattr ``user.flood-N`` logs N messages of 1 MB each from
  ``self.log`` in a tight loop; ``user.flood-thread`` floods from a thread for 5 s;
  ``user.flood-names-N`` logs N messages of 16 KiB each under a new child logger of
  ``self.log`` and N under new top-level loggers.
* :class:`Forker`: getxattr ``user.fork-exit`` forks, the child ``os._exit(0)``;
  ``user.fork-live`` forks and the child returns into the handler (winds in a copy of
  the process with one thread), ``user.fork-sleep`` forks and the child sleeps 20 s.
* :class:`BadFini`: ``fini`` that blocks (``fini_block`` seconds), raises, or starts a
  thread that winds after fini (option ``fini``: ``block``, ``raise``, ``thread``,
  ``exit`` (sys.exit), ``recurse`` (RecursionError)).
* :class:`BadReconfigure`: a reconfigure hook that raises, returns junk, or changes
  ``self`` options into junk (by the option ``how``).
* :class:`UpcallNotify`: notify hook answering UPCALL (19) events (a brick with
  features.cache-invalidation) by ``how``: ``block`` (30 s), ``raise``, ``false``,
  ``junk`` (a str), ``down`` (SOME_DESCENDENT_DOWN), ``child-down`` (CHILD_DOWN),
  ``parent-down`` (PARENT_DOWN).
* :class:`CallerCycles`: every lookup leaves a reference cycle holding its Caller
  (as an exception's traceback cycle would), every stat reads ``self.caller.groups``;
  the option ``threshold`` sets ``gc.set_threshold`` and turns Python's own collection
  back on (1: a collection at nearly every allocation, on the thread allocating).
* :class:`LoopBreaker`: getxattr ``user.loop-exit`` awaits a coroutine raising
  SystemExit on the bridge's event loop, ``user.loop-kbint`` schedules a callback
  raising KeyboardInterrupt there, ``user.loop-stop`` stops the loop; ``user.nap``
  awaits ``glupy.sleep(0.05)``.
* :class:`ThreadHog`: getxattr ``user.hog`` awaits ``glupy.to_thread`` of a call that
  never returns; ``user.thr`` of a 10 ms sleep.
* :class:`SmallStacks`: init sets ``threading.stack_size(64 KiB)`` (process-wide);
  getxattr ``user.repr-N`` runs ``repr`` of a list nested N deep through
  ``glupy.to_thread``.
"""

from __future__ import annotations

import asyncio
import errno
import gc
import logging
import mmap
import os
import sys
import threading
import time
from typing import Any

import glupy
from glupy.replies import GetxattrReply, LkReply, LookupReply, ReaddirpReply, ReadvReply, StatfsReply, StatReply

__all__ = ["LateMutator", "OddXdata", "OddNumbers", "OddDirs", "CtxDel", "Futures", "Observers", "Flood", "Forker",
           "BadFini", "BadReconfigure", "UpcallNotify"]


def _name(loc: Any) -> str:
    return (loc.name or (loc.path or "").rpartition("/")[2] or "")


def _spin(fn: Any, seconds: float) -> None:
    """Run fn() on a daemon thread in a loop for *seconds* (exceptions swallowed)."""

    def run() -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            try:
                fn()
            except Exception:  # noqa: BLE001
                pass
            time.sleep(0)

    threading.Thread(target=run, daemon=True).start()


class LateMutator(glupy.Translator):
    """Buffers changed by another thread after the FOP that carried them (see module doc)."""

    mode = glupy.Option(str, default="")

    async def writev(self, fd: Any, data: Any, offset: Any, flags: Any, xdata: Any) -> Any:
        m = self.mode
        if m == "wind-bytearray":
            ba = bytearray(bytes(data))

            def churn() -> None:
                ba.extend(b"z" * 65536)
                del ba[:]
                ba.extend(bytes(data))

            _spin(churn, 5)
            return await self.child.writev(fd, ba, offset, flags, xdata)
        if m == "wind-memoryview":
            ba = bytearray(bytes(data))
            mv = memoryview(ba)

            def overwrite() -> None:
                mv[: len(mv)] = b"Q" * len(mv)

            _spin(overwrite, 5)
            return await self.child.writev(fd, mv, offset, flags, xdata)
        if m == "wind-mmap":
            mm = mmap.mmap(-1, max(len(data), 1))
            mm[: len(data)] = bytes(data)
            mv = memoryview(mm)[: len(data)]
            reply = self.child.writev(fd, mv, offset, flags, xdata)

            def close() -> None:
                time.sleep(0.001)
                try:
                    mv.release()
                    mm.close()
                except Exception:  # noqa: BLE001
                    pass

            threading.Thread(target=close, daemon=True).start()
            return await reply
        return await self.child.writev(fd, data, offset, flags, xdata)

    async def readv(self, fd: Any, size: Any, offset: Any, flags: Any, xdata: Any) -> Any:
        reply = await self.child.readv(fd, size, offset, flags, xdata)
        m = self.mode
        raw = bytes(reply.data)
        if m == "reply-bytearray":
            ba = bytearray(raw)

            def churn() -> None:
                ba.extend(b"z" * 65536)
                del ba[:]
                ba.extend(raw)

            _spin(churn, 5)
            return ReadvReply(data=ba, buf=reply.buf, xdata=reply.xdata)
        if m == "reply-memoryview":
            ba = bytearray(raw)
            mv = memoryview(ba)

            def overwrite() -> None:
                mv[:] = b"Q" * len(mv)

            _spin(overwrite, 5)
            return ReadvReply(data=mv, buf=reply.buf, xdata=reply.xdata)
        if m == "reply-mmap":
            mm = mmap.mmap(-1, max(len(raw), 1))
            mm[: len(raw)] = raw
            mv = memoryview(mm)[: len(raw)]

            def close() -> None:
                time.sleep(0.001)
                try:
                    mv.release()
                    mm.close()
                except Exception:  # noqa: BLE001
                    pass

            threading.Thread(target=close, daemon=True).start()
            return ReadvReply(data=mv, buf=reply.buf, xdata=reply.xdata)
        return reply


class _LyingBytes:
    def __bytes__(self) -> Any:
        return "not bytes"


class _RaisingBytes:
    def __bytes__(self) -> bytes:
        raise ZeroDivisionError("__bytes__ fails by design")

    def __str__(self) -> str:
        raise ZeroDivisionError("__str__ fails by design")


class _BlockingBytes:
    def __bytes__(self) -> bytes:
        time.sleep(30)
        return b"late"


class _LyingIndex:
    def __index__(self) -> Any:
        return "seven"

    def __int__(self) -> int:
        raise ZeroDivisionError("__int__ fails by design")


class _LyingStr(str):
    def __str__(self) -> Any:
        return 5

    def encode(self, *a: Any, **k: Any) -> Any:  # type: ignore[override]
        raise ZeroDivisionError("encode fails by design")


def _odd_xdata(kind: str) -> Any:
    X = glupy.Xdata
    if kind == "bigint":
        return X({"user.v": 2**200})
    if kind == "negint":
        return X({"user.v": -(2**70)})
    if kind == "dict":
        return X({"user.v": {"a": {"b": 1}}})
    if kind == "list":
        return X({"user.v": [1, b"2", "3"]})
    if kind == "lyingbytes":
        return X({"user.v": _LyingBytes()})
    if kind == "raisingbytes":
        return X({"user.v": _RaisingBytes()})
    if kind == "blockingbytes":
        return X({"user.v": _BlockingBytes()})
    if kind == "lyingindex":
        return X({"user.v": _LyingIndex()})
    if kind == "lyingstr":
        return X({"user.v": _LyingStr("abc")})
    if kind == "nulkey":
        return X({"user.a\0b": b"v"})
    if kind == "surrogatekey":
        return X({"user.\udcff": b"v"})
    if kind == "emptykey":
        return X({"": b"v"})
    if kind == "hugekey":
        return X({"user." + "k" * (1 << 20): b"v"})
    if kind == "many":
        return X({f"user.k{i}": b"v" for i in range(100_000)})
    if kind == "huge":
        return X({"user.v": b"\0" * (1100 << 20)})
    if kind == "self":
        x = X({"user.v": b"v"})
        try:
            x["user.self"] = x
        except Exception:  # noqa: BLE001
            pass
        return x
    if kind == "float-nan":
        return X({"user.v": float("nan"), "user.w": float("inf")})
    raise ValueError(kind)


class OddXdata(glupy.Translator):
    """getxattr ``user.x-reply-KIND`` / ``user.x-wind-KIND`` (see module doc). Building the
    Xdata may already raise in the handler (TypeError: EIO, as the contract allows)."""

    async def getxattr(self, loc: Any, name: Any, xdata: Any) -> Any:
        if not (name or "").startswith("user.x-"):
            return await self.child.getxattr(loc, name, xdata)
        if name.startswith("user.x-gil-"):
            import ctypes

            ctypes.PyDLL(None).sleep(int(name.rsplit("-", 1)[1]))  # a long C call holding the GIL
            raise glupy.FopError(errno.ENODATA)
        _, how, kind = name.split("-", 2)
        x = _odd_xdata(kind)
        if how == "reply":
            return GetxattrReply(dict=x, xdata=x, op_ret=len(x) if hasattr(x, "__len__") else 1)
        if how == "wind":
            await self.child.getxattr(loc, "user.k", x)
            raise glupy.FopError(errno.ENODATA)
        if how == "setx":
            await self.child.setxattr(loc, x, 0, None)
            raise glupy.FopError(errno.ENODATA)
        raise glupy.FopError(errno.EINVAL)


_NUMS = {"huge": 2**64 + 5, "neg": -1, "i64": 2**63, "big": 10**30, "nan": float("nan")}


class OddNumbers(glupy.Translator):
    """Replies with out-of-range numbers in their Iatt/Statvfs/Flock (see module doc)."""

    statvfs = glupy.Option(str, default="")

    def _spoil(self, name: str, buf: Any) -> Any:
        if not name.startswith("num-"):
            return buf
        _, field, value = name.split("-", 2)
        b = buf.copy()
        setattr(b, field, _NUMS[value])
        return b

    async def stat(self, loc: Any, xdata: Any) -> Any:
        name = _name(loc)
        if name.startswith("num-"):
            reply = await self.child.stat(glupy.Loc(loc.path, inode=loc.inode, parent=loc.parent,
                                                    gfid=loc.gfid, pargfid=loc.pargfid), xdata)
            return StatReply(buf=self._spoil(name, reply.buf), xdata=reply.xdata)
        return await self.child.stat(loc, xdata)

    async def lookup(self, loc: Any, xdata: Any) -> Any:
        name = _name(loc)
        reply = await self.child.lookup(loc, xdata)
        if name.startswith("num-"):
            return LookupReply(inode=reply.inode, buf=self._spoil(name, reply.buf), xdata=reply.xdata,
                               postparent=reply.postparent)
        return reply

    async def statfs(self, loc: Any, xdata: Any) -> Any:
        reply = await self.child.statfs(loc, xdata)
        if self.statvfs:
            b = reply.buf.copy()
            v = -5 if self.statvfs == "neg" else 2**64 + 9
            for f in ("f_blocks", "f_bfree", "f_bavail", "f_files", "f_ffree", "f_bsize", "f_namemax"):
                setattr(b, f, v)
            return StatfsReply(buf=b, xdata=reply.xdata)
        return reply

    async def lk(self, fd: Any, cmd: Any, lock: Any, xdata: Any) -> Any:
        reply = await self.child.lk(fd, cmd, lock, xdata)
        f = reply.lock.copy() if reply.lock is not None else glupy.Flock()
        f.start = -1
        f.len = 2**70
        f.pid = -(2**40)
        return LkReply(lock=f, xdata=reply.xdata)


class OddDirs(glupy.Translator):
    """readdirp replies with odd entries (``mode``, see module doc)."""

    mode = glupy.Option(str, default="")

    async def readdirp(self, fd: Any, size: Any, offset: Any, xdata: Any) -> Any:
        reply = await self.child.readdirp(fd, size, offset, xdata)
        m = self.mode
        ents = list(reply.entries)
        files = [e for e in ents if e.name not in (".", "..")]
        if not files or offset != 0 and m != "thousands":
            return reply
        D = glupy.Dirent
        if m == "other-inode":
            out = [D(name=e.name, ino=e.ino, off=e.off, type=e.type, stat=e.stat, inode=fd.inode) for e in ents]
        elif m == "thousands":
            if offset >= 20_000:
                return ReaddirpReply(entries=[], xdata=reply.xdata)
            base = files[0]
            out = [D(name=f"n{i}", ino=base.ino, off=i + 1, type=base.type, stat=base.stat, inode=base.inode)
                   for i in range(offset, min(offset + 5000, 20_000))]
        elif m == "duplicates":
            base = files[0]
            out = [D(name=base.name, ino=base.ino, off=i + 1, type=base.type, stat=base.stat, inode=base.inode)
                   for i in range(5)]
        elif m == "dotdot":
            base = files[0]
            out = [D(name=n, ino=base.ino, off=i + 1, type=base.type, stat=base.stat, inode=base.inode)
                   for i, n in enumerate((".", ".."))] + files
        elif m == "stat-none":
            out = [D(name=e.name, ino=e.ino, off=e.off, type=e.type) for e in ents]
        elif m == "gfid-mismatch":
            other = files[-1].stat
            out = [D(name=e.name, ino=e.ino, off=e.off, type=e.type, stat=other, inode=e.inode) for e in ents]
        else:
            return reply
        return ReaddirpReply(entries=out, xdata=reply.xdata)


class _DelRaises:
    def __del__(self) -> None:
        raise ZeroDivisionError("__del__ fails by design")


class _DelBlocks:
    def __del__(self) -> None:
        time.sleep(30)


class _DelResurrects:
    def __init__(self, xl: Any, fd: Any) -> None:
        self.xl, self.fd = xl, fd

    def __del__(self) -> None:
        try:
            self.xl.set_fd_ctx(self.fd, _DelResurrects(self.xl, self.fd))
        except Exception:  # noqa: BLE001
            pass


class _DelThread:
    def __init__(self, fd: Any) -> None:
        self.fd = fd

    def __del__(self) -> None:
        fd = self.fd

        def keep() -> None:
            time.sleep(3)
            try:
                _ = (fd.inode, fd.flags, fd.inode.gfid)
            except Exception:  # noqa: BLE001
                pass

        threading.Thread(target=keep, daemon=True).start()


#: CtxDel's kinds, by the size an ftruncate asks for
CTX_KINDS = {1001: "raise", 1002: "block", 1003: "resurrect", 1004: "thread"}


class CtxDel(glupy.Translator):
    """ftruncate of an open file to one of :data:`CTX_KINDS`' sizes: an fd context (and inode
    context) with a hostile ``__del__`` on that fd (see module doc); answers ENODATA.
    (An fgetxattr did this before, but a FUSE getxattr of an open file comes as getxattr,
    by inode: the contexts were never set.)"""

    async def ftruncate(self, fd: Any, offset: Any, xdata: Any) -> Any:
        kinds = {"raise": lambda: _DelRaises(), "block": lambda: _DelBlocks(),
                 "resurrect": lambda: _DelResurrects(self, fd), "thread": lambda: _DelThread(fd)}
        kind = CTX_KINDS.get(offset)
        if kind is None:
            return await self.child.ftruncate(fd, offset, xdata)
        self.set_fd_ctx(fd, kinds[kind]())
        self.set_inode_ctx(fd.inode, kinds[kind]())
        raise glupy.FopError(errno.ENODATA)


class Futures(glupy.Translator):
    """glupy.Future and glupy.gather misuse, by getxattr name (see module doc)."""

    async def getxattr(self, loc: Any, name: Any, xdata: Any) -> Any:
        n = name or ""
        if n == "user.f-never":
            await glupy.Future()
        elif n == "user.f-twice":
            f = glupy.Future()
            f.set_result(1)
            try:
                f.set_result(2)
            except Exception as e:  # noqa: BLE001
                self.log.info("second set_result: %r", e)
            await f
        elif n == "user.f-late":
            f = glupy.Future()

            def late() -> None:
                time.sleep(3)
                f.set_result(GetxattrReply(dict=glupy.Xdata({"user.late": b"1"})))
                f2 = glupy.Future()
                f2.set_exception(ValueError("late"))

            threading.Thread(target=late, daemon=True).start()
            return await f
        elif n == "user.f-self":
            f = glupy.Future()
            f.set_result(f)
            return await f
        elif n == "user.f-exc-junk":
            f = glupy.Future()
            try:
                f.set_exception(5)  # type: ignore[arg-type]
            except Exception as e:  # noqa: BLE001
                self.log.info("set_exception(5): %r", e)
                f.set_exception(TypeError("x"))
            await f
        elif n == "user.f-exc-base":
            f = glupy.Future()
            f.set_exception(SystemExit(3))
            await f
        elif n == "user.f-gather":
            await glupy.gather(self.child.stat(loc, None), self.child.getxattr(loc, "user.absent", None),
                               self.child.readlink(loc, 100, None), glupy.Future())
        elif n == "user.f-gather-junk":
            async def co() -> int:
                return 1

            await glupy.gather(5, co())  # type: ignore[arg-type]
        elif n == "user.f-gather-same":
            w = self.child.stat(loc, None)
            await glupy.gather(w, w)
        else:
            return await self.child.getxattr(loc, name, xdata)
        raise glupy.FopError(errno.ENODATA)


class Observers(glupy.Translator):
    """Observers that raise, block, mutate the reply, keep it for a thread (see module doc);
    a writev observer that takes 20 ms on every write to a file named ``slow-*`` (slower
    than the writes: the data of those waiting piles up)."""

    kept: list[Any] = []

    @glupy.observer
    def writev(self, fd: Any, data: Any, offset: Any, flags: Any, xdata: Any, reply: Any) -> None:
        if self._slow_writes.get(fd.inode.gfid):
            time.sleep(0.02)

    @glupy.observer
    def create(self, loc: Any, flags: Any, mode: Any, umask: Any, fd: Any, xdata: Any, reply: Any) -> None:
        if (loc.name or "").startswith("slow-") and reply.op_ret >= 0 and reply.inode is not None:
            self._slow_writes[reply.inode.gfid] = True

    _slow_writes: dict[Any, bool] = {}

    @glupy.observer
    def getxattr(self, loc: Any, name: Any, xdata: Any, reply: Any) -> None:
        self._observe(name or "", loc, reply)

    @glupy.observer
    def stat(self, loc: Any, xdata: Any, reply: Any) -> None:
        self._observe("user." + _name(loc), loc, reply)

    def _observe(self, n: str, loc: Any, reply: Any) -> None:
        if n.startswith("user.o-raise"):
            raise ZeroDivisionError("observer fails by design")
        if n.startswith("user.o-block"):
            time.sleep(30)
        if n.startswith("user.o-base"):
            raise SystemExit(4)
        if n.startswith("user.o-mutate"):
            for attr in ("op_ret", "op_errno", "buf", "dict", "xdata"):
                try:
                    setattr(reply, attr, None)
                except Exception:  # noqa: BLE001
                    pass
            try:
                loc.inode = None
            except Exception:  # noqa: BLE001
                pass
        if n.startswith("user.o-keep"):
            self.kept.append((loc, reply))

            def later() -> None:
                time.sleep(0.5)
                for lo, r in list(self.kept):
                    try:
                        _ = (lo.path, lo.inode, lo.inode and lo.inode.gfid, r.xdata and dict(r.xdata.items()),
                             getattr(r, "buf", None) and r.buf.size)
                    except Exception:  # noqa: BLE001
                        pass

            _spin(later, 3)


class Flood(glupy.Translator):
    """Log flooding from handlers (see module doc)."""

    async def getxattr(self, loc: Any, name: Any, xdata: Any) -> Any:
        n = name or ""
        if n.startswith("user.flood-thread"):
            log = self.log

            def flood() -> None:
                end = time.monotonic() + 5
                while time.monotonic() < end:
                    log.error("x" * 4096)

            threading.Thread(target=flood, daemon=True).start()
            raise glupy.FopError(errno.ENODATA)
        if n.startswith("user.flood-names-"):  # a new child logger for every message
            msg = "z" * (16 << 10)
            for i in range(int(n.rsplit("-", 1)[1])):
                self.log.getChild(f"path-{i}").error(msg)
                logging.getLogger(f"audit-{i}").error(msg)  # and loggers outside glupy's
            raise glupy.FopError(errno.ENODATA)
        if n.startswith("user.flood-"):
            msg = "y" * (1 << 20)
            for _ in range(int(n.rsplit("-", 1)[1])):
                self.log.error(msg)
            raise glupy.FopError(errno.ENODATA)
        return await self.child.getxattr(loc, name, xdata)


class Forker(glupy.Translator):
    """os.fork in a handler (see module doc)."""

    async def getxattr(self, loc: Any, name: Any, xdata: Any) -> Any:
        n = name or ""
        if n.startswith("user.fork-"):
            pid = os.fork()
            if pid == 0:
                if n == "user.fork-exit":
                    os._exit(0)
                if n == "user.fork-sleep":
                    time.sleep(20)
                    os._exit(0)
                # fork-live: the child goes on in the handler
                await self.child.stat(loc, None)
                raise glupy.FopError(errno.ENODATA)
            self.log.info("forked %d", pid)
            raise glupy.FopError(errno.ENODATA)
        return await self.child.getxattr(loc, name, xdata)


class BadFini(glupy.Translator):
    """fini hooks that misbehave (option ``fini``; see module doc)."""

    fini_how = glupy.Option(str, default="")
    fini_block = glupy.Option(float, default=30.0)

    async def stat(self, loc: Any, xdata: Any) -> Any:
        return await self.child.stat(loc, xdata)

    def fini(self) -> None:
        how = self.fini_how
        if how == "block":
            time.sleep(self.fini_block)
        elif how == "raise":
            raise ZeroDivisionError("fini fails by design")
        elif how == "exit":
            sys.exit(7)
        elif how == "recurse":
            def r(n: int) -> int:
                return r(n + 1) + 1

            r(0)
        elif how == "thread":
            child = self.child

            def later() -> None:
                time.sleep(0.2)
                try:
                    child.stat(glupy.Loc("/"), None)
                except Exception:  # noqa: BLE001
                    pass

            threading.Thread(target=later, daemon=True).start()
        elif how == "spin":
            end = time.monotonic() + self.fini_block
            while time.monotonic() < end:
                pass


class BadReconfigure(glupy.Translator):
    """reconfigure hooks that misbehave (option ``how``: raise, base, junk, self-junk, exit)."""

    how = glupy.Option(str, default="")
    knob = glupy.Option(str, default="a")

    async def stat(self, loc: Any, xdata: Any) -> Any:
        return await self.child.stat(loc, xdata)

    def reconfigure(self, changed: Any) -> Any:
        how = self.how
        if how == "raise":
            raise ZeroDivisionError("reconfigure fails by design")
        if how == "base":
            raise KeyboardInterrupt()
        if how == "exit":
            sys.exit(9)
        if how == "junk":
            return object()
        if how == "self-junk":
            self._glupy_values = None  # type: ignore[attr-defined]
            self.child = None  # type: ignore[assignment]
        return None


class UpcallNotify(glupy.Translator):
    """notify hook on UPCALL events (option ``how``; see module doc)."""

    how = glupy.Option(str, default="")

    def notify(self, event: Any, source: Any) -> Any:
        if int(event) != 19:
            return None
        how = self.how
        if how == "block":
            time.sleep(30)
        elif how == "raise":
            raise ZeroDivisionError("notify fails by design")
        elif how == "false":
            return False
        elif how == "junk":
            return "junk"
        elif how == "down":
            return glupy.Event.SOME_DESCENDENT_DOWN
        elif how == "child-down":
            return glupy.Event.CHILD_DOWN
        elif how == "parent-down":
            return glupy.Event.PARENT_DOWN
        elif how == "exit":
            raise SystemExit(5)
        return None


class CallerCycles(glupy.Translator):
    """Callers left in cyclic garbage, and Caller.groups read (see module doc)."""

    threshold = glupy.Option(int, default=0)

    def init(self) -> None:
        if self.threshold:  # and Python's own collection on: glupy collects on a thread of its own otherwise
            gc.set_threshold(self.threshold, 10, 10)
            gc.enable()

    async def lookup(self, loc: Any, xdata: Any) -> Any:
        box: dict[str, Any] = {"caller": self.caller}
        box["self"] = box
        return await self.child.lookup(loc, xdata)

    async def stat(self, loc: Any, xdata: Any) -> Any:
        self.caller.groups  # noqa: B018 - as a permission check would read them
        return await self.child.stat(loc, xdata)


class LoopBreaker(glupy.Translator):
    """BaseExceptions and stop() on the bridge's event loop (see module doc)."""

    async def getxattr(self, loc: Any, name: Any, xdata: Any) -> Any:
        n = name or ""
        if n == "user.loop-exit":
            async def leave() -> None:
                raise SystemExit(0)

            try:
                await glupy.on_loop(leave())
            except BaseException as error:  # noqa: BLE001 - expected: it comes back here
                self.log.info("loop-exit: %r", error)
            raise glupy.FopError(errno.ENODATA)
        if n == "user.loop-kbint":
            def interrupt() -> None:
                raise KeyboardInterrupt

            glupy.event_loop().call_soon_threadsafe(interrupt)
            raise glupy.FopError(errno.ENODATA)
        if n == "user.loop-stop":
            glupy.event_loop().call_soon_threadsafe(glupy.event_loop().stop)
            raise glupy.FopError(errno.ENODATA)
        if n == "user.nap":
            await glupy.sleep(0.05)
            await glupy.on_loop(asyncio.sleep(0.01))
            raise glupy.FopError(errno.ENODATA)
        return await self.child.getxattr(loc, name, xdata)


class ThreadHog(glupy.Translator):
    """to_thread calls that never return (see module doc)."""

    def init(self) -> None:
        self.never = threading.Event()

    async def getxattr(self, loc: Any, name: Any, xdata: Any) -> Any:
        n = name or ""
        if n == "user.hog":
            await glupy.to_thread(self.never.wait)
            raise glupy.FopError(errno.ENODATA)
        if n == "user.thr":
            await glupy.to_thread(time.sleep, 0.01)
            raise glupy.FopError(errno.ENODATA)
        return await self.child.getxattr(loc, name, xdata)

    def fini(self) -> None:
        self.never.set()


def _nested_repr(depth: int) -> int:
    nested: list[Any] = []
    for _ in range(depth):
        nested = [nested]
    return len(repr(nested))


class SmallStacks(glupy.Translator):
    """A process-wide small thread stack (see module doc)."""

    def init(self) -> None:
        threading.stack_size(64 * 1024)  # "the helper threads of this translator need little"

    async def getxattr(self, loc: Any, name: Any, xdata: Any) -> Any:
        n = name or ""
        if n.startswith("user.repr-"):
            await glupy.to_thread(_nested_repr, int(n[len("user.repr-"):]))
            raise glupy.FopError(errno.ENODATA)
        return await self.child.getxattr(loc, name, xdata)

    def fini(self) -> None:
        threading.stack_size(0)
